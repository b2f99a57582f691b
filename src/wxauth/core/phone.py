"""Phone numbers: from a getPhoneNumber code (WeChat checks it belongs to the user) or from
the button's older ``encryptedData``; stored in E.164 form with the country code beside it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from wxauth.core.models import User
from wxauth.core.ports import Clock, Store
from wxauth.core.proof import EncryptedData, open_encrypted
from wxauth.core.session_keys import SessionKeys
from wxauth.errors import InvalidRequest, WeChatError, WxAuthError

_DIGITS = re.compile(r"^[0-9]+$")


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    phone_number: str = field(repr=False)  # E.164: "+8613800138000"
    pure_phone_number: str = field(repr=False)
    country_code: str


def parse_phone_info(
    info: Mapping[str, Any], *, error: type[WxAuthError] = WeChatError
) -> PhoneNumber:
    """Read WeChat's ``phone_info`` (countryCode may be a string or a number)."""
    country = info.get("countryCode")
    country = str(country) if isinstance(country, int | str) else ""
    pure = info.get("purePhoneNumber")
    pure = pure if isinstance(pure, str) else ""
    if not (_DIGITS.match(country) and 1 <= len(country) <= 4):
        raise error("The phone number has no valid country code.")
    if not (_DIGITS.match(pure) and 4 <= len(pure) <= 15 - len(country)):
        raise error("The phone number is not valid.")
    return PhoneNumber(f"+{country}{pure}", pure, country)


class PhoneGateway(Protocol):
    async def phone_number(self, appid: str, code: str, openid: str) -> Mapping[str, Any]:
        """WeChat's ``phone_info`` for a getPhoneNumber code, checked against ``openid``."""
        ...


class Phones:
    """Verifies and stores a user's phone number."""

    def __init__(
        self, *, gateway: PhoneGateway, store: Store, session_keys: SessionKeys, clock: Clock
    ) -> None:
        self._gateway = gateway
        self._store = store
        self._session_keys = session_keys
        self._clock = clock

    async def bind_code(self, user: User, code: str) -> tuple[User, PhoneNumber]:
        info = await self._gateway.phone_number(user.appid, code, user.openid)
        return await self._save(user, parse_phone_info(info))

    async def bind_encrypted(self, user: User, proof: EncryptedData) -> tuple[User, PhoneNumber]:
        session_key = await self._session_keys.usable(user)
        data = open_encrypted(proof, session_key, appid=user.appid, openid=user.openid)
        return await self._save(user, parse_phone_info(data, error=InvalidRequest))

    async def _save(self, user: User, phone: PhoneNumber) -> tuple[User, PhoneNumber]:
        now = self._clock()
        stored = await self._store.set_phone(user.id, phone.phone_number, phone.country_code, now)
        return stored, phone
