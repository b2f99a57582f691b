"""POST /v1/me/phone: the user's phone number, verified by WeChat."""

from __future__ import annotations

from fastapi import APIRouter

from wxauth.api.deps import SignedInUser, StateDep
from wxauth.api.proof_schemas import PhoneRequest, PhoneResponse
from wxauth.api.schemas import ErrorBody
from wxauth.core.proof import EncryptedData

router = APIRouter(prefix="/v1/me", tags=["user"])


@router.post(
    "/phone",
    responses={
        400: {"model": ErrorBody, "description": "invalid_code or session_key_stale"},
        401: {"model": ErrorBody, "description": "invalid_token"},
        429: {
            "model": ErrorBody,
            "description": "rate_limited (per token, or failed token checks per address)",
        },
        502: {"model": ErrorBody, "description": "wechat_error"},
        503: {"model": ErrorBody, "description": "wechat_unavailable"},
    },
)
async def bind_phone(body: PhoneRequest, user: SignedInUser, state: StateDep) -> PhoneResponse:
    """Store the number from a getPhoneNumber ``code`` (WeChat checks it is this user's) or,
    the older way, from ``encryptedData`` + ``iv`` under the stored session_key."""
    phones = state.wiring.phones
    if body.code is not None:
        _, phone = await phones.bind_code(user, body.code)
    else:
        assert body.encrypted_data is not None and body.iv is not None
        _, phone = await phones.bind_encrypted(user, EncryptedData(body.encrypted_data, body.iv))
    return PhoneResponse(
        phone_number=phone.phone_number,
        pure_phone_number=phone.pure_phone_number,
        country_code=phone.country_code,
    )
