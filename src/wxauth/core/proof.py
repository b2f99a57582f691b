"""Profiles with proof: userInfo the phone sends is stored only when WeChat's crypto vouches
for it, under the user's session_key.

Two forms: ``rawData`` + ``signature`` (SHA-1 of rawData and the session_key) or
``encryptedData`` + ``iv`` (AES under the session_key, watermarked with the appid). What
verifies is read as WeChat's userInfo and cleaned like any profile: placeholders dropped,
over-long or control-character text dropped.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from wxauth.core.models import ProfileUpdate
from wxauth.core.profile import (
    NICKNAME_MAX,
    bad_nickname_reason,
    bad_text_reason,
    from_wechat_user_info,
)
from wxauth.errors import InvalidRequest, InvalidSignature
from wxauth.wechat.crypto import decrypt, verify_raw_data

TEXT_LIMITS = {
    "nickname": NICKNAME_MAX,
    "avatar_url": 1024,
    "country": 64,
    "province": 64,
    "city": 64,
    "language": 16,
}


@dataclass(frozen=True, slots=True)
class SignedData:
    """``rawData`` and its ``signature`` from getUserInfo / getUserProfile."""

    raw_data: str = field(repr=False)
    signature: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class EncryptedData:
    """``encryptedData`` and ``iv`` from getUserInfo or the getPhoneNumber button."""

    encrypted_data: str = field(repr=False)
    iv: str = field(repr=False)


Proof = SignedData | EncryptedData


def open_encrypted(
    proof: EncryptedData, session_key: str, *, appid: str, openid: str
) -> dict[str, Any]:
    """Decrypt and check that the data names this user (when it names anyone)."""
    data = decrypt(session_key, proof.encrypted_data, proof.iv, appid=appid)
    if data.get("openId", openid) != openid:
        raise InvalidRequest("The encrypted data belongs to another WeChat user.")
    return data


def verified_user_info(
    proof: Proof, session_key: str, *, appid: str, openid: str
) -> dict[str, Any]:
    """The userInfo that ``proof`` carries, once verified; a wxauth error otherwise."""
    if isinstance(proof, EncryptedData):
        return open_encrypted(proof, session_key, appid=appid, openid=openid)
    if not verify_raw_data(proof.raw_data, proof.signature, session_key):
        raise InvalidSignature(
            "The signature does not match rawData under the current session_key; if the phone "
            "called wx.login since, log in again and retry."
        )
    try:
        info = json.loads(proof.raw_data)
    except ValueError:
        raise InvalidRequest("rawData is not JSON.") from None
    if not isinstance(info, dict):
        raise InvalidRequest("rawData is not a JSON object.")
    return info


def verified_profile(proof: Proof, session_key: str, *, appid: str, openid: str) -> ProfileUpdate:
    """The profile fields of a verified userInfo, unfit text left out."""
    update = from_wechat_user_info(
        verified_user_info(proof, session_key, appid=appid, openid=openid)
    )
    unfit = {
        name: None
        for name, limit in TEXT_LIMITS.items()
        if isinstance(value := getattr(update, name), str)
        and (len(value) > limit or bad_text_reason(value))
    }
    if update.nickname is not None and bad_nickname_reason(update.nickname):
        unfit["nickname"] = None
    if update.avatar_url and not update.avatar_url.startswith(("https://", "http://")):
        unfit["avatar_url"] = None
    return dataclasses.replace(update, **unfit) if unfit else update
