"""FastAPI dependencies, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from wxauth.api.ratelimit import RateLimiter
from wxauth.core.models import ClientInfo, User
from wxauth.core.service import Authenticated, WxAuth
from wxauth.errors import InvalidToken

bearer = HTTPBearer(auto_error=False, description="The wxauth session token from /v1/login.")


def get_service(request: Request) -> WxAuth:
    service: WxAuth = request.app.state.wxauth
    return service


ServiceDep = Annotated[WxAuth, Depends(get_service)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def bearer_token(credentials: Credentials) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise InvalidToken()
    return credentials.credentials


TokenDep = Annotated[str, Depends(bearer_token)]


def get_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.limiter
    return limiter


LimiterDep = Annotated[RateLimiter, Depends(get_limiter)]


async def current_auth(
    service: ServiceDep, token: TokenDep, limiter: LimiterDep, request: Request
) -> Authenticated:
    await limiter.hit_token(token, request.app.state.settings.rate_limit_token)
    return await service.authenticate(token)


AuthDep = Annotated[Authenticated, Depends(current_auth)]


async def current_user(auth: AuthDep) -> User:
    return auth.user


CurrentUser = Annotated[User, Depends(current_user)]


def client_info(request: Request) -> ClientInfo:
    user_agent = request.headers.get("user-agent")
    return ClientInfo(
        user_agent=user_agent[:256] if user_agent else None,
        ip=request.app.state.client_ip(request),
    )


ClientDep = Annotated[ClientInfo, Depends(client_info)]
