"""The signed-in user: GET /v1/me and POST /v1/me/profile."""

from __future__ import annotations

import functools

from fastapi import APIRouter, Request, Response

from wxauth.api.deps import SignedInUser, StateDep, authenticate_request
from wxauth.api.schemas import ErrorBody, ProfileRequest, UserPublic
from wxauth.core.models import User
from wxauth.errors import InvalidRequest

router = APIRouter(
    prefix="/v1/me",
    tags=["user"],
    responses={
        401: {"model": ErrorBody, "description": "invalid_token or session_replaced"},
        403: {"model": ErrorBody, "description": "account_disabled"},
        429: {
            "model": ErrorBody,
            "description": "rate_limited (per token, or failed token checks per address)",
        },
    },
)


@router.get(
    "",
    response_model=UserPublic,
    openapi_extra={"security": [{"HTTPBearer": []}]},
)
async def read_me(request: Request) -> Response:
    """The signed-in user. This is the token check that clients and other backends call
    most, so it skips the dependency chain and FastAPI's re-validation of the answer."""
    auth = await authenticate_request(request)
    return Response(user_json(auth.user), media_type="application/json")


@functools.lru_cache(maxsize=4096)
def user_json(user: User) -> bytes:
    """The public JSON of ``user``, made once per version of a user (a ``User`` is an
    immutable value, equal only to a user of the same fields): a hot token's check pays a
    dictionary lookup instead of building and dumping the model."""
    return UserPublic.of(user).model_dump_json().encode()


@router.post(
    "/profile",
    responses={
        400: {
            "model": ErrorBody,
            "description": "invalid_request, invalid_signature (rawData does not match its "
            "signature) or session_key_stale",
        },
        422: {"model": ErrorBody, "description": "invalid_request: a wrong field or value"},
    },
)
async def update_profile(body: ProfileRequest, user: SignedInUser, state: StateDep) -> UserPublic:
    """Store the profile the user filled in (the anonymous ``微信用户`` placeholder is ignored).

    With ``rawData``+``signature`` or ``encryptedData``+``iv`` only what verifies under the
    stored session_key is kept; a stale key answers 400 ``session_key_stale``.
    """
    proof = body.proof()
    if proof is not None and body.to_core().changes():
        raise InvalidRequest("Send profile fields or a proof (rawData / encryptedData), not both.")
    updated = await state.wiring.login.update_profile(user, body.to_core(), proof)
    return UserPublic.of(updated)
