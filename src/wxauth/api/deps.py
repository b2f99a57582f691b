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
    """The bearer token, or "" when there is none (:func:`authenticate_token` refuses it)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        return ""
    return credentials.credentials


async def bearer_token(credentials: Credentials) -> str:
    return token_of(credentials)


TokenDep = Annotated[str, Depends(bearer_token)]  # unchecked: pass it to authenticate_token


async def current_auth(request: Request, credentials: Credentials) -> Authenticated:
    # Flat on purpose: each level of nested dependencies costs FastAPI more than the
    # token check itself once sessions are cached.
    return await authenticate_token(request, api_state(request), token_of(credentials))


async def authenticate_request(request: Request) -> Authenticated:
    """What ``AuthDep`` gives, without FastAPI's dependency injection (for the hottest
    routes): the bearer token of ``request``, checked; :class:`InvalidToken` otherwise."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    return await authenticate_token(request, api_state(request), token)


# The app a request expects its token to be of (a header, or the query's ``appid``): a
# token of another app is then refused as invalid.
APPID_HEADER = "x-wxauth-appid"


def expected_appid(request: Request) -> str | None:
    found = request.headers.get(APPID_HEADER)
    if not found and request.scope.get("query_string"):  # no query: nothing to parse
        found = request.query_params.get("appid")
    return found or None


TOKEN_FAILURES = "token-failures-ip"  # noqa: S105 - the scope of the per-address budget of failed checks


async def authenticate_token(request: Request, state: ApiState, token: str) -> Authenticated:
    """The token check, then the per-token rate limit.

    With ``X-WxAuth-Appid`` (or ``?appid=``) the token must be of that app. The token is
    counted only once it is known to be real: counting first would give every
    made-up token a key of its own. A failed check (no token, or one that is unknown,
    expired or revoked) spends the client address's budget of failures instead, and past
    it the answer is 429 with Retry-After rather than 401: one key per address, whatever
    the number of tokens tried. A valid token is never refused by that budget.
    """
    try:
        if not token:
            raise InvalidToken()
        appid = expected_appid(request)
        auth = await state.wiring.authenticator.authenticate(token, appid=appid)
    except InvalidToken:
        limit = state.settings.rate_limit_token_failures_ip
        address = state.client_ip(request) or "unknown"
        await state.limiter.check(TOKEN_FAILURES, address, limit)
        await state.limiter.failed(TOKEN_FAILURES, address, limit)
        raise
    await state.limiter.hit_token(token, state.settings.rate_limit_token)
    return auth


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
