"""The access_token manager: one valid token per appid, fetched as rarely as WeChat allows.

- Cached with a margin: a token is replaced ``margin`` seconds before it expires (at most half
  its life early, since a stable token may come back with only 300 s left).
- One refresh at a time per appid in a process (an ``asyncio.Lock``, re-checked once held).
- With a :class:`SharedTokenCache` (Redis), processes share the token and take a lock with a
  bounded wait before fetching, re-checking the shared cache once they hold it.
- On 40001/42001 the token is dropped only if it is still the one that failed
  (compare-and-delete), one new token is got and the call is retried once; a second refusal
  is an error, never a loop.

``/cgi-bin/stable_token`` is the default source: it hands out the same token until five
minutes before expiry, so a process that races another does not invalidate its token.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from wxauth.errors import InvalidRequest
from wxauth.wechat.server_api import AccessToken, AccessTokenRejected

log = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_MARGIN_S = 300


@dataclass(frozen=True, slots=True)
class CachedToken:
    """A token and when to stop using it (epoch seconds)."""

    token: str = field(repr=False)
    refresh_at: float
    expires_at: float

    def fresh(self, now: float) -> bool:
        return now < self.refresh_at


class TokenSource(Protocol):
    async def fetch_access_token(
        self, appid: str, secret: str, *, stable: bool = True, force_refresh: bool = False
    ) -> AccessToken: ...


class SharedTokenCache(Protocol):
    """Tokens shared between processes (Redis), with a cross-process lock."""

    async def load(self, appid: str) -> CachedToken | None: ...

    async def store(self, appid: str, token: CachedToken) -> None: ...

    async def discard(self, appid: str, token: str) -> bool:
        """Delete the cached token only if it is still ``token``; whether it was deleted."""
        ...

    def lock(self, appid: str) -> AbstractAsyncContextManager[bool]:
        """Hold the refresh lock for ``appid``; yields False when the bounded wait ran out."""
        ...


class AccessTokens:
    """Hands out access tokens for the configured apps (see the module docstring)."""

    def __init__(
        self,
        source: TokenSource,
        apps: Mapping[str, str],
        *,
        stable: bool = True,
        margin: int = DEFAULT_MARGIN_S,
        shared: SharedTokenCache | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._source = source
        self._apps = apps  # read on each use: a live view (the apps registry) stays live
        self._stable = stable
        self._margin = margin
        self._shared = shared
        self._clock = clock
        self._local: dict[str, CachedToken] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._rejected: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"AccessTokens(apps={sorted(self._apps)}, shared={self._shared is not None})"

    async def get(self, appid: str) -> str:
        """A token for ``appid`` that is not near its expiry."""
        if appid not in self._apps:
            raise InvalidRequest("Unknown appid: this server is not configured for it.")
        cached = self._local.get(appid)
        if cached is not None and cached.fresh(self._clock()):
            return cached.token
        async with self._locks[appid]:
            cached = self._local.get(appid)
            if cached is not None and cached.fresh(self._clock()):
                return cached.token
            cached = await self._refresh(appid)
            self._local[appid] = cached
            return cached.token

    async def current(self, appid: str) -> CachedToken:
        """The token :meth:`get` hands out, with when it expires (for relaying it)."""
        await self.get(appid)
        return self._local[appid]

    async def peek(self, appid: str) -> CachedToken | None:
        """The token held for ``appid`` (in this process, else in the shared cache), never
        fetching one: None when neither holds it. For showing its state."""
        cached = self._local.get(appid)
        if cached is None and self._shared is not None:
            cached = await self._shared.load(appid)
        return cached

    async def discard(self, appid: str, token: str) -> None:
        """Forget ``token`` (here and in the shared cache) if it is still the cached one."""
        cached = self._local.get(appid)
        if cached is not None and cached.token == token:
            del self._local[appid]
        self._rejected[appid] = token
        if self._shared is not None:
            await self._shared.discard(appid, token)

    async def call(self, appid: str, request: Callable[[str], Awaitable[T]]) -> T:
        """Run ``request(token)``; on a refused token, drop it, get another, retry once."""
        token = await self.get(appid)
        try:
            return await request(token)
        except AccessTokenRejected as exc:
            log.warning("access_token for %s refused (%s); retry once", appid, exc.wechat_errcode)
            await self.discard(appid, token)
        return await request(await self.get(appid))

    async def _refresh(self, appid: str) -> CachedToken:
        if self._shared is None:
            return await self._fetch(appid)
        cached = await self._shared.load(appid)
        if cached is not None and cached.fresh(self._clock()):
            return cached
        async with self._shared.lock(appid) as held:
            cached = await self._shared.load(appid)  # another process may have just fetched
            if cached is not None and cached.fresh(self._clock()):
                return cached
            if not held:
                log.warning("access_token lock for %s not free in time; fetching anyway", appid)
            cached = await self._fetch(appid)
            await self._shared.store(appid, cached)
            return cached

    async def _fetch(self, appid: str) -> CachedToken:
        secret = self._apps[appid]
        fetched = await self._source.fetch_access_token(appid, secret, stable=self._stable)
        if self._stable and fetched.token == self._rejected.get(appid):
            # WeChat refused this very token, yet still hands it out: ask for a new one.
            fetched = await self._source.fetch_access_token(
                appid, secret, stable=True, force_refresh=True
            )
        self._rejected.pop(appid, None)
        now = self._clock()
        early = max(min(self._margin, fetched.expires_in / 2), 0)
        log.info("access_token for %s fetched, valid %s s", appid, fetched.expires_in)
        expires_at = now + fetched.expires_in
        return CachedToken(fetched.token, refresh_at=expires_at - early, expires_at=expires_at)
