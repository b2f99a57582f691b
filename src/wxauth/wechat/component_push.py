"""Receiving the Open Platform's pushes: signed, fresh, not seen before, then decrypted.

WeChat POSTs to the platform's authorization event URL with ``timestamp``, ``nonce``,
``encrypt_type=aes`` and ``msg_signature`` in the query string, and expects the plain text
``success`` within 5 seconds (WECHAT.md section 8)::

    verifier = PushVerifier(MessageCrypto(token, encoding_aes_key, component_appid), replays)
    event = await verifier.open(
        body, msg_signature=q["msg_signature"], timestamp=q["timestamp"], nonce=q["nonce"],
        now=time.time(),
    )
    if event.info_type == VERIFY_TICKET:
        keep(event.verify_ticket)
    answer SUCCESS

Every refusal is a :class:`~wxauth.errors.ComponentMessageError`: answer it with anything but
``success``.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from wxauth.errors import MalformedMessage, MessageAppidMismatch, ReplayedMessage, StaleMessage
from wxauth.wechat.component_crypto import MessageCrypto, field_text, parse_xml

SUCCESS = "success"
VERIFY_TICKET = "component_verify_ticket"
AUTHORIZED = "authorized"
UPDATE_AUTHORIZED = "updateauthorized"
UNAUTHORIZED = "unauthorized"
MAX_SKEW_S = 300.0


@dataclass(frozen=True, slots=True)
class ComponentEvent:
    """One decrypted push: its ``InfoType``, the platform's ``AppId``, its ``CreateTime``, and
    every element by tag in ``fields`` (kept out of the repr: tickets and codes are secrets)."""

    info_type: str
    component_appid: str
    create_time: int
    fields: Mapping[str, str] = field(repr=False)

    @property
    def verify_ticket(self) -> str | None:
        return self.fields.get("ComponentVerifyTicket")

    @property
    def authorizer_appid(self) -> str | None:
        return self.fields.get("AuthorizerAppid")

    @property
    def authorization_code(self) -> str | None:
        return self.fields.get("AuthorizationCode")

    @property
    def authorization_code_expires_at(self) -> int | None:
        value = self.fields.get("AuthorizationCodeExpiredTime", "")
        return int(value) if value.isdigit() else None

    @property
    def pre_auth_code(self) -> str | None:
        return self.fields.get("PreAuthCode")


def parse_event(message: str) -> ComponentEvent:
    """A decrypted push as a :class:`ComponentEvent` (:class:`MalformedMessage` if it is none)."""
    root = parse_xml(message)
    fields = {child.tag: (child.text or "").strip() for child in root}
    info_type, appid = fields.get("InfoType"), fields.get("AppId")
    created = fields.get("CreateTime", "")
    if not info_type or not appid or not created.isdigit():
        raise MalformedMessage()
    return ComponentEvent(info_type, appid, int(created), fields)


class ReplayCache(Protocol):
    """Remembers the pushes already accepted, at least until they would be stale anyway."""

    async def first_seen(self, key: str, *, until: float, now: float) -> bool:
        """Remember ``key`` until ``until``; True if it was not remembered already.

        Must be atomic: of two calls with one key, one answers True.
        """
        ...


class MemoryReplayCache:
    """A :class:`ReplayCache` for one process; the oldest keys go first past ``max_keys``."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._until: dict[str, float] = {}
        self._expiry: list[tuple[float, str]] = []
        self._max_keys = max_keys

    def __len__(self) -> int:
        return len(self._until)

    async def first_seen(self, key: str, *, until: float, now: float) -> bool:
        self._forget(lambda expires: expires <= now)
        if self._until.get(key, now) > now:
            return False
        self._forget(lambda _: len(self._until) >= self._max_keys)
        self._until[key] = until
        heapq.heappush(self._expiry, (until, key))
        return True

    def _forget(self, condition: Callable[[float], bool]) -> None:
        while self._expiry and condition(self._expiry[0][0]):
            expires, key = heapq.heappop(self._expiry)
            if self._until.get(key) == expires:
                del self._until[key]


class PushVerifier:
    """Opens pushes for one platform: signature, then freshness, decryption, appid, replay.

    ``max_skew_s`` is how far a push's ``timestamp`` may be from ``now``, either way. A push is
    remembered only once it has passed every check, so a refused one can be sent again.
    """

    def __init__(
        self, crypto: MessageCrypto, replays: ReplayCache, *, max_skew_s: float = MAX_SKEW_S
    ) -> None:
        self.crypto = crypto
        self._replays = replays
        self._max_skew_s = max_skew_s

    def __repr__(self) -> str:
        return f"PushVerifier({self.crypto!r}, max_skew_s={self._max_skew_s})"

    async def open(
        self, body: str | bytes, *, msg_signature: str, timestamp: str, nonce: str, now: float
    ) -> ComponentEvent:
        """The push's event; raises a :class:`~wxauth.errors.ComponentMessageError`."""
        message = self._checked(body, msg_signature, timestamp, nonce, now)
        event = parse_event(message)
        if event.component_appid != self.crypto.appid:
            raise MessageAppidMismatch()
        await self._remember(timestamp, nonce, now)
        return event

    async def open_xml(
        self, body: str | bytes, *, msg_signature: str, timestamp: str, nonce: str, now: float
    ) -> str:
        """The decrypted XML of any encrypted push or message, checked as :meth:`open` does."""
        message = self._checked(body, msg_signature, timestamp, nonce, now)
        await self._remember(timestamp, nonce, now)
        return message

    def _checked(
        self, body: str | bytes, msg_signature: str, timestamp: str, nonce: str, now: float
    ) -> str:
        root = parse_xml(body)
        encrypt = field_text(root, "Encrypt")
        if not encrypt:
            raise MalformedMessage()
        envelope_appid = field_text(root, "AppId")
        if envelope_appid is not None and envelope_appid.strip() != self.crypto.appid:
            raise MessageAppidMismatch()
        self.crypto.verify(msg_signature, timestamp, nonce, encrypt)
        if not timestamp.isdigit():
            raise MalformedMessage()
        if abs(now - int(timestamp)) > self._max_skew_s:
            raise StaleMessage()
        return self.crypto.decrypt(encrypt)

    async def _remember(self, timestamp: str, nonce: str, now: float) -> None:
        key = f"{self.crypto.appid}:{timestamp}:{nonce}"
        until = int(timestamp) + self._max_skew_s  # past this the push is refused as stale
        if not await self._replays.first_seen(key, until=until, now=now):
            raise ReplayedMessage()
