"""The user's control of their account: sessions as devices, closing the account, and
exporting its data (POST /v1/me/sessions/{id}/revoke, /v1/me/delete, GET /v1/me/export)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from wxauth.api.deps import AuthDep, StateDep
from wxauth.api.schemas import (
    DeleteAccountRequest,
    DeleteAccountResponse,
    ErrorBody,
    SessionList,
    SessionOut,
)

router = APIRouter(
    prefix="/v1/me",
    tags=["account"],
    responses={
        401: {"model": ErrorBody, "description": "invalid_token or session_replaced"},
        403: {"model": ErrorBody, "description": "account_disabled"},
        429: {"model": ErrorBody, "description": "rate_limited (per token)"},
    },
)

EXPORT_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {"model": ErrorBody, "description": "rate_limited: per token, or one export a minute"}
}


@router.get("/sessions")
async def list_sessions(auth: AuthDep, state: StateDep) -> SessionList:
    """The user's live sessions (their devices), most recently used first; ``current`` is
    the one making this request."""
    live = await state.wiring.accounts.active_sessions(auth.user)
    current = auth.session.token_hash
    return SessionList(sessions=[SessionOut.of(s, current=s.token_hash == current) for s in live])


@router.post(
    "/sessions/{session_id}/revoke",
    status_code=204,
    response_class=Response,
    responses={404: {"model": ErrorBody, "description": "not_found: no such session of yours"}},
)
async def revoke_session(
    session_id: str, auth: AuthDep, state: StateDep, request: Request
) -> Response:
    """End one of the user's sessions (another device, or this one): its token stops
    working at once."""
    await state.wiring.accounts.revoke_session(auth, session_id, state.client_ip(request))
    return Response(status_code=204)


@router.post(
    "/delete",
    responses={
        400: {"model": ErrorBody, "description": "invalid_request: malformed JSON"},
        422: {"model": ErrorBody, "description": 'invalid_request: no "confirm": "DELETE"'},
    },
)
async def delete_account(
    body: DeleteAccountRequest, auth: AuthDep, state: StateDep, request: Request
) -> DeleteAccountResponse:
    """Close the account. Every session ends now; the profile, phone, avatar, session_key
    and sessions are erased now, or after ``WXAUTH_ACCOUNT_DELETION_GRACE`` seconds unless
    the user logs in before (which cancels it)."""
    done = await state.wiring.accounts.request_deletion(auth.user, state.client_ip(request))
    return DeleteAccountResponse(deleted=done.due_at is None, due_at=done.due_at)


@router.get("/export", responses=EXPORT_LIMITED)
async def export_data(auth: AuthDep, state: StateDep, request: Request) -> JSONResponse:
    """Everything stored about the user, as JSON: profile, phone, sessions, login and
    account events. Never the session_key (only whether one is stored) nor token hashes."""
    await state.limiter.hit("export", auth.user.id, state.settings.rate_limit_export)
    data = await state.wiring.accounts.export(auth.user, state.client_ip(request))
    return JSONResponse(data, headers={"Cache-Control": "no-store"})
