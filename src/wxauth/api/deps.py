"""FastAPI dependencies, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from wxauth.api.state import ApiState, api_state
from wxauth.core.models import ClientInfo, User
from wxauth.core.sessions import Authenticated
from wxauth.errors import InvalidToken

bearer = HTTPBearer(auto_error=False, description="The wxauth session token from /v1/login.")


# Every dependency here is ``async def`` although none awaits: FastAPI runs plain ``def``
# dependencies in a thread pool, and two thread hops cost more than the whole token check.


async def get_state(request: Request) -> ApiState:
    return api_state(request)


StateDep = Annotated[ApiState, Depends(get_state)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def token_of(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise InvalidToken()
    return credentials.credentials


async def bearer_token(credentials: Credentials) -> str:
    return token_of(credentials)


TokenDep = Annotated[str, Depends(bearer_token)]


async def current_auth(request: Request, credentials: Credentials) -> Authenticated:
    # Flat on purpose: each level of nested dependencies costs FastAPI more than the
    # token check itself once sessions are cached.
    return await _authenticate(api_state(request), token_of(credentials))


async def authenticate_request(request: Request) -> Authenticated:
    """What ``AuthDep`` gives, without FastAPI's dependency injection (for the hottest
    routes): the bearer token of ``request``, checked; :class:`InvalidToken` otherwise."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken()
    return await _authenticate(api_state(request), token.strip())


async def _authenticate(state: ApiState, token: str) -> Authenticated:
    """The per-token rate limit, then the token check."""
    await state.limiter.hit_token(token, state.settings.rate_limit_token)
    return await state.wiring.authenticator.authenticate(token)


AuthDep = Annotated[Authenticated, Depends(current_auth)]


async def signed_in_user(auth: AuthDep) -> User:
    return auth.user


# The user behind the request's own session token. (Other backends' routes use
# ``wxauth.integrations.fastapi.CurrentUser``, an Identity checked by a verifier.)
SignedInUser = Annotated[User, Depends(signed_in_user)]


def client_info(request: Request) -> ClientInfo:
    user_agent = request.headers.get("user-agent")
    return ClientInfo(
        user_agent=user_agent[:256] if user_agent else None,
        ip=api_state(request).client_ip(request),
    )
