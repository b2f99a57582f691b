"""POST /v1/login and POST /v1/logout."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Request, Response

from wxauth.api.deps import AuthDep, StateDep, client_info
from wxauth.api.ratelimit import RateLimiter
from wxauth.api.schemas import ErrorBody, LoginRequest, LoginResponse, LogoutRequest, UserPublic
from wxauth.api.state import api_state
from wxauth.config import Settings
from wxauth.core.models import ClientInfo

router = APIRouter(prefix="/v1", tags=["session"])

ERRORS: dict[int | str, dict[str, object]] = {
    400: {
        "model": ErrorBody,
        "description": "invalid_code, invalid_request, invalid_signature or session_key_stale",
    },
    403: {
        "model": ErrorBody,
        "description": "login_blocked, or account_disabled (with `reason` and `until`)",
    },
    422: {"model": ErrorBody, "description": "invalid_request: a wrong field or value"},
    429: {"model": ErrorBody, "description": "rate_limited"},
    502: {"model": ErrorBody, "description": "wechat_error"},
    503: {"model": ErrorBody, "description": "wechat_unavailable"},
}


@router.post("/login", responses=ERRORS)
async def login(body: LoginRequest, request: Request) -> LoginResponse:
    """Exchange a ``wx.login`` code for a wxauth session token."""
    # The app's objects are read from its state rather than injected: each dependency costs
    # FastAPI more per call than the login's own work outside WeChat and the database.
    state = api_state(request)
    client = client_info(request)
    if body.device is not None:
        client = dataclasses.replace(client, device=body.device.to_core())
    await login_limits(state.limiter, state.settings, client, body.appid)
    result = await state.wiring.login.login(
        body.code, appid=body.appid, client=client, proof=body.proof()
    )
    return LoginResponse(
        token=result.token,
        expires_in=result.expires_in,
        user=UserPublic.of(result.user),
        new_user=result.new_user,
    )


@router.post(
    "/logout",
    status_code=204,
    response_class=Response,
    responses={
        400: {"model": ErrorBody, "description": "invalid_request: malformed JSON"},
        401: {"model": ErrorBody, "description": "invalid_token or session_replaced"},
        403: {"model": ErrorBody, "description": "account_disabled"},
        422: {"model": ErrorBody, "description": "invalid_request: an unknown scope"},
    },
)
async def logout(
    state: StateDep, auth: AuthDep, request: Request, body: LogoutRequest | None = None
) -> Response:
    """End this session (``scope`` ``current``, the default), every session of the user
    (``all``), or every one but this (``others``): they stop working everywhere at once."""
    scope = body.scope if body is not None else "current"
    await state.wiring.accounts.logout(auth, scope, state.client_ip(request))
    return Response(status_code=204)


async def login_limits(
    limiter: RateLimiter, settings: Settings, client: ClientInfo, appid: str | None
) -> None:
    """Per client IP, then per appid (an unknown appid is refused later, by the service)."""
    await limiter.hit("login-ip", client.ip or "unknown", settings.rate_limit_login_ip)
    if appid is None or appid in settings.apps:
        key = appid or settings.default_appid or "-"
        await limiter.hit("login-appid", key, settings.rate_limit_login_appid)
