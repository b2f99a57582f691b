"""POST /v1/login and POST /v1/logout."""

from __future__ import annotations

from fastapi import APIRouter, Response

from wxauth.api.deps import ClientDep, ServiceDep, TokenDep
from wxauth.api.schemas import ErrorBody, LoginRequest, LoginResponse, UserPublic

router = APIRouter(prefix="/v1", tags=["session"])

ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorBody, "description": "invalid_code or invalid_request"},
    403: {"model": ErrorBody, "description": "login_blocked"},
    429: {"model": ErrorBody, "description": "rate_limited"},
    502: {"model": ErrorBody, "description": "wechat_error"},
    503: {"model": ErrorBody, "description": "wechat_unavailable"},
}


@router.post("/login", responses=ERRORS)
async def login(body: LoginRequest, service: ServiceDep, client: ClientDep) -> LoginResponse:
    """Exchange a ``wx.login`` code for a wxauth session token."""
    result = await service.login(body.code, appid=body.appid, client=client)
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
    responses={401: {"model": ErrorBody, "description": "invalid_token"}},
)
async def logout(service: ServiceDep, token: TokenDep) -> Response:
    """Revoke the token: it stops working everywhere."""
    await service.authenticate(token)
    await service.logout(token)
    return Response(status_code=204)
