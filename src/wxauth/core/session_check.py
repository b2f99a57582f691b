"""Is the stored session_key still the one WeChat holds? (/wxa/checksession)

Decrypting with a stale key fails; asking WeChat first tells "log in again" apart from
"the data is broken" when an app needs to know before it decrypts.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from wxauth.core.models import User
from wxauth.core.session_keys import SessionKeys


class SessionKeyChecker(Protocol):
    async def check_session_key(self, appid: str, openid: str, session_key: str) -> bool: ...


class SessionKeyStatus(StrEnum):
    VALID = "valid"
    STALE = "stale"  # WeChat holds a newer key (the phone logged in again) or none
    MISSING = "missing"  # nothing stored for this user


async def session_key_status(
    user: User, session_keys: SessionKeys, checker: SessionKeyChecker
) -> SessionKeyStatus:
    session_key = await session_keys.session_key(user)
    if session_key is None:
        return SessionKeyStatus.MISSING
    valid = await checker.check_session_key(user.appid, user.openid, session_key)
    return SessionKeyStatus.VALID if valid else SessionKeyStatus.STALE
