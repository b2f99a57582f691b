"""What the core needs from the outside, as Protocols."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from wxauth.core.models import LoginRecord, Session, User

Clock = Callable[[], datetime]


class WeChatSessionLike(Protocol):
    @property
    def openid(self) -> str: ...
    @property
    def session_key(self) -> str: ...
    @property
    def unionid(self) -> str | None: ...


class WeChatGateway(Protocol):
    async def code2session(self, appid: str, secret: str, code: str) -> WeChatSessionLike: ...


class Store(Protocol):
    """Persistence for users, sessions and session_keys.

    ``record_login`` is atomic: the user row (created once per (appid, openid), even when
    first logins race), the encrypted session_key and the new session land together or not
    at all.
    """

    async def record_login(self, record: LoginRecord) -> tuple[User, bool]:
        """Upsert the user, store the session_key, create the session; return (user, created)."""
        ...

    async def find_session(self, token_hash: str) -> tuple[Session, User] | None: ...

    async def touch_session(
        self, token_hash: str, last_seen_at: datetime, idle_expires_at: datetime
    ) -> None: ...

    async def revoke_session(self, token_hash: str, now: datetime) -> bool: ...

    async def get_user(self, user_id: str) -> User | None: ...

    async def update_user(self, user_id: str, changes: dict[str, Any], now: datetime) -> User: ...

    async def get_session_key(self, appid: str, openid: str) -> str | None:
        """The encrypted session_key stored for (appid, openid)."""
        ...

    async def ping(self) -> None: ...
