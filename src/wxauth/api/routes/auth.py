"""POST /v1/login and POST /v1/logout.

The limits of a login are budgets of *failures* (a made-up, used or foreign code, a
malformed request, a bad signature), checked before the login and spent once its answer is
known, so that any number of people log in as long as their phones send what WeChat gave
them (a valid code only comes from a real WeChat client): per client address, and, when the
operator sets one, per appid (the same failures, of a known app, from every address). A
successful login spends neither: a surge of real users is never refused. WeChat's own
failures (503, 502, 45011) and refusals of a real user (403) are nobody's fault at the
address and spend nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from wxauth.api.deps import AuthDep, StateDep, client_info
from wxauth.api.schemas import ErrorBody, LoginRequest, LoginResponse, LogoutRequest, UserPublic
from wxauth.api.state import ApiState, api_state
from wxauth.errors import InvalidCode, InvalidRequest, InvalidSignature, SessionKeyStale

LOGIN_FAILURES = "login-ip"  # the scope of the per-address failure budget
APP_FAILURES = "login-appid"  # the scope of the per-appid failure budget


def client_fault(error: Exception) -> bool:
    """Whether a failed login was what the client sent: it spends the address's budget."""
    if isinstance(error, SessionKeyStale):  # a real phone that called wx.login again since
        return False
    return isinstance(error, InvalidCode | InvalidRequest | InvalidSignature)


class LoginRoute(APIRoute):
    """Wraps the whole route, body validation included (a 400/422 is raised before the
    endpoint runs): refuses an address over its failure budget first, and spends the
    budget when the answer is the client's fault."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            state = api_state(request)
            address = client_address(state, request)
            limit = state.settings.rate_limit_login_ip
            await state.limiter.check(LOGIN_FAILURES, address, limit)
            try:
                return await handler(request)
            except (RequestValidationError, InvalidRequest, InvalidCode, InvalidSignature) as exc:
                if isinstance(exc, RequestValidationError) or client_fault(exc):
                    await state.limiter.failed(LOGIN_FAILURES, address, limit)
                raise

        return guarded


def client_address(state: ApiState, request: Request) -> str:
    return state.client_ip(request) or "unknown"


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


async def login(body: LoginRequest, request: Request) -> LoginResponse:
    """Exchange a ``wx.login`` code for a wxauth session token."""
    # The app's objects are read from its state rather than injected: each dependency costs
    # FastAPI more per call than the login's own work outside WeChat and the database.
    state = api_state(request)
    client = client_info(request)
    if body.device is not None:
        client = dataclasses.replace(client, device=body.device.to_core())
    key, limit = await appid_budget(state, body.appid)
    await state.limiter.check(APP_FAILURES, key, limit)
    try:
        result = await state.wiring.login.login(
            body.code, appid=body.appid, client=client, proof=body.proof()
        )
    except (InvalidRequest, InvalidCode, InvalidSignature) as exc:
        if client_fault(exc):
            await state.limiter.failed(APP_FAILURES, key, limit)
        raise
    return LoginResponse(
        token=result.token,
        expires_in=result.expires_in,
        user=UserPublic.of(result.user),
        new_user=result.new_user,
    )


router.add_api_route(
    "/login", login, methods=["POST"], responses=ERRORS, route_class_override=LoginRoute
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
        429: {
            "model": ErrorBody,
            "description": "rate_limited (per token, or failed token checks per address)",
        },
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


async def appid_budget(state: ApiState, appid: str | None) -> tuple[str, int]:
    """The key and size of an appid's budget of failed logins: the app's own if it has
    one, else ``WXAUTH_RATE_LIMIT_LOGIN_APPID`` (0: none; an unknown appid is refused
    later, by the service, without calling WeChat, and has none)."""
    served = await state.wiring.registry.served()
    app = next((a for a in served if a.appid == appid), None)
    if appid is None and len(served) == 1:
        app = served[0]
    limit = state.settings.rate_limit_login_appid
    if app is None:
        return "-", 0 if appid is not None else limit
    return app.appid, limit if app.rate_limit_login is None else app.rate_limit_login
