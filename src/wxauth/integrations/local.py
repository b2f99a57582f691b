"""Checking tokens in-process, against the same database as the wxauth service.

For a backend that can reach wxauth's database (and Redis): no network hop, no cache, so a
revoked token is refused at once. Everything goes through :meth:`WxAuth.authenticate`, so
whatever the service learns to do there (a shared session cache in Redis, say, as a caching
``Store`` handed to ``from_settings``) applies here unchanged.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from wxauth.api.app import session_policy
from wxauth.config import Settings
from wxauth.core.keyring import Keyring
from wxauth.core.ports import Clock, Store, WeChatSessionLike
from wxauth.core.service import Authenticated, WxAuth, utcnow
from wxauth.errors import ServerMisconfigured
from wxauth.integrations.identity import Identity
from wxauth.storage.engine import create_engine
from wxauth.storage.sql import SqlStore


class Authenticator(Protocol):
    async def authenticate(self, token: str) -> Authenticated: ...


class LocalVerifier:
    """A :class:`~wxauth.integrations.identity.TokenVerifier` over a ``WxAuth`` service.

    ``LocalVerifier(service)`` shares a service already running in the process (as
    :func:`wxauth.integrations.fastapi.mount_wxauth` does); :meth:`from_settings` builds one
    from the service's own settings and owns its connection pool.
    """

    def __init__(
        self, service: Authenticator, *, on_close: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self._service = service
        self._on_close = on_close

    def __repr__(self) -> str:
        return f"LocalVerifier({self._service!r})"

    @classmethod
    def from_settings(
        cls, settings: Settings, *, store: Store | None = None, clock: Clock = utcnow
    ) -> LocalVerifier:
        """A verifier reading ``settings.database_url``; ``store`` replaces the SQL store.

        Checking a token reads sessions and users only: it never calls WeChat and never
        decrypts a session_key, so neither the app secrets nor the at-rest keys are needed.
        """
        engine: AsyncEngine | None = None
        if store is None:
            engine = create_engine(settings.database_url)
            store = SqlStore(engine)
        service = WxAuth(
            apps={},
            wechat=_NoWeChat(),
            store=store,
            # Never used here: a throwaway key when the at-rest keys are not configured.
            keyring=Keyring(settings.secret_key_bytes() or [secrets.token_bytes(32)]),
            policy=session_policy(settings),
            clock=clock,
        )
        return cls(service, on_close=engine.dispose if engine is not None else None)

    async def verify(self, token: str) -> Identity:
        return Identity.of(await self._service.authenticate(token))

    async def aclose(self) -> None:
        if self._on_close is not None:
            await self._on_close()


class _NoWeChat:
    """The WeChat side of a service that only checks tokens."""

    async def code2session(self, appid: str, secret: str, code: str) -> WeChatSessionLike:
        raise ServerMisconfigured("This process only checks tokens; it does not log users in.")
