"""Checking tokens in-process, against the same database as the wxauth service.

For a backend that can reach wxauth's database (and Redis): no network hop, no cache, so a
revoked token is refused at once. Everything goes through the service's own
:class:`~wxauth.core.sessions.Authenticator`, built by :class:`~wxauth.wiring.Wiring` from
the service's settings, so token checks here behave exactly as in the service. ``appid``
makes it accept only that app's tokens.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from wxauth.config import Settings
from wxauth.core.ports import Clock, Store, utcnow
from wxauth.core.sessions import Authenticated
from wxauth.integrations.identity import Identity
from wxauth.wiring import Wiring


class Authenticator(Protocol):
    async def authenticate(self, token: str, *, appid: str | None = None) -> Authenticated: ...


class LocalVerifier:
    """A :class:`~wxauth.integrations.identity.TokenVerifier` over a token checker.

    ``LocalVerifier(authenticator)`` shares one already running in the process (as
    :func:`wxauth.api.mount.mount_wxauth` does); :meth:`from_settings` builds one from the
    service's own settings and owns its connection pool.
    """

    def __init__(
        self,
        service: Authenticator,
        *,
        on_close: Callable[[], Awaitable[None]] | None = None,
        appid: str | None = None,
    ) -> None:
        self._service = service
        self._on_close = on_close
        self.appid = appid  # when set, only tokens of this app are accepted

    def __repr__(self) -> str:
        return f"LocalVerifier({self._service!r})"

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        store: Store | None = None,
        clock: Clock = utcnow,
        appid: str | None = None,
    ) -> LocalVerifier:
        """A verifier reading ``settings.database_url`` directly (no session cache, so a
        revocation counts at once); ``store`` replaces the SQL store.

        Checking a token reads sessions and users only: it never calls WeChat and never
        decrypts a session_key, so neither the app secrets nor the at-rest keys are needed.
        """
        uncached = settings.model_copy(update={"session_cache_ttl": 0})
        wiring = Wiring(uncached, store=store, clock=clock)
        return cls(wiring.authenticator, on_close=wiring.aclose, appid=appid)

    async def verify(self, token: str) -> Identity:
        return Identity.of(await self._service.authenticate(token, appid=self.appid))

    async def aclose(self) -> None:
        if self._on_close is not None:
            await self._on_close()
