"""Checking tokens remotely, through wxauth's ``POST /v1/introspect``, with a short cache.

The revocation bound: a token revoked at time *R* (logout, expiry) is refused by every
``RemoteVerifier`` from *R* + ``cache_ttl`` on. A positive answer is cached for at most
``cache_ttl`` seconds counted from when the question was *sent* (so a slow answer does not
stretch the bound), and never past the token's own expiry. Negative answers (unknown,
revoked, garbage) are cached for ``negative_ttl``: a token never becomes valid again, so
that cache cannot let anything in; it only spares wxauth repeated questions.

When wxauth cannot be reached (refused connection, timeout, 5xx), a fresh cached answer
still counts; without one the check fails with :class:`~wxauth.errors.AuthUnavailable`
(503 ``auth_unavailable`` with Retry-After). A stale positive is never used.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import httpx
from pydantic import SecretStr, ValidationError

from wxauth.core.tokens import hash_token, looks_like_token
from wxauth.errors import AuthUnavailable, InvalidToken, ServerMisconfigured
from wxauth.integrations.cache import TtlCache
from wxauth.integrations.identity import Identity, utc_from_timestamp
from wxauth.integrations.settings import MAX_CACHE_TTL, VerifierSettings
from wxauth.wire import Introspection

log = logging.getLogger(__name__)

INTROSPECT_PATH = "/v1/introspect"


class RemoteVerifier:
    """A :class:`~wxauth.integrations.identity.TokenVerifier` asking a wxauth server.

    ``clock`` (monotonic seconds) and ``wall_clock`` (epoch seconds) are parameters so that
    tests can move time; ``transport`` lets tests reach wxauth in-process.
    """

    def __init__(
        self,
        server_url: str,
        service_key: str | SecretStr,
        *,
        cache_ttl: float = 10.0,
        negative_ttl: float = 30.0,
        max_entries: int = 10_000,
        timeout: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        appid: str | None = None,
    ) -> None:
        for name, ttl in (("cache_ttl", cache_ttl), ("negative_ttl", negative_ttl)):
            if not 0 <= ttl <= MAX_CACHE_TTL:
                raise ValueError(f"{name} must be between 0 and {MAX_CACHE_TTL:g} seconds")
        key = service_key if isinstance(service_key, SecretStr) else SecretStr(service_key)
        self._auth = {"Authorization": f"Bearer {key.get_secret_value()}"}
        self._http = httpx.AsyncClient(base_url=server_url, timeout=timeout, transport=transport)
        self._server_url = server_url
        self._cache: TtlCache[Identity | None] = TtlCache(max_entries)
        self._inflight: dict[str, asyncio.Future[Identity | None]] = {}
        self.cache_ttl = cache_ttl
        self.negative_ttl = negative_ttl
        self._clock = clock
        self._wall_clock = wall_clock
        self.appid = appid  # when set, only tokens of this app are accepted
        self._question: dict[str, str] = {} if appid is None else {"appid": appid}

    @classmethod
    def from_settings(
        cls, settings: VerifierSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> RemoteVerifier:
        return cls(
            settings.server_url,
            settings.service_key,
            cache_ttl=settings.verify_cache_ttl,
            negative_ttl=settings.verify_negative_ttl,
            max_entries=settings.verify_cache_size,
            timeout=settings.verify_timeout,
            transport=transport,
            appid=settings.verify_appid,
        )

    def __repr__(self) -> str:
        return f"RemoteVerifier({self._server_url!r}, cache_ttl={self.cache_ttl:g})"

    async def verify(self, token: str) -> Identity:
        if not looks_like_token(token):
            raise InvalidToken()  # garbage never costs a round trip
        key = hash_token(token)  # the cache holds hashes, never tokens
        entry = self._cache.get(key, self._clock())
        identity = entry.value if entry is not None else await self._ask_once(key, token)
        if identity is None:
            raise InvalidToken()
        return identity

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _ask_once(self, key: str, token: str) -> Identity | None:
        """One question in flight per token: concurrent checks of it share the answer."""
        pending = self._inflight.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._ask(key, token))
            self._inflight[key] = pending
            pending.add_done_callback(lambda _: self._inflight.pop(key, None))
        return await asyncio.shield(pending)

    async def _ask(self, key: str, token: str) -> Identity | None:
        sent_at = self._clock()
        answer = await self._introspect(token)
        if not answer.active:
            self._cache.put(key, None, sent_at + self.negative_ttl)
            return None
        identity = _identity(answer)
        if self.appid is not None and identity.appid != self.appid:
            self._cache.put(key, None, sent_at + self.negative_ttl)
            return None  # the service refuses it too; this is the belt to its braces
        lifetime = min(self.cache_ttl, identity.expires_at.timestamp() - self._wall_clock())
        if lifetime > 0:
            self._cache.put(key, identity, sent_at + lifetime)
        return identity

    async def _introspect(self, token: str) -> Introspection:
        try:
            response = await self._http.post(
                INTROSPECT_PATH, json={"token": token, **self._question}, headers=self._auth
            )
        except httpx.HTTPError as exc:
            log.warning("wxauth introspection failed: %s", type(exc).__name__)
            raise AuthUnavailable() from exc
        if response.status_code == 200:
            try:
                return Introspection.model_validate_json(response.content)
            except ValidationError as exc:
                log.warning("wxauth introspection answered something unexpected")
                raise AuthUnavailable() from exc
        raise _failure(response)


def _identity(answer: Introspection) -> Identity:
    if answer.sub is None or answer.client_id is None or answer.user is None:
        raise AuthUnavailable("The login service answered an incomplete introspection.")
    if answer.openid is None or answer.exp is None or answer.iat is None:
        raise AuthUnavailable("The login service answered an incomplete introspection.")
    return Identity(
        user_id=answer.sub,
        appid=answer.client_id,
        openid=answer.openid,
        unionid=answer.unionid,
        issued_at=utc_from_timestamp(answer.iat),
        expires_at=utc_from_timestamp(answer.exp),
        user=answer.user,
        person_id=answer.person_id,
    )


def _failure(response: httpx.Response) -> AuthUnavailable | ServerMisconfigured:
    status = response.status_code
    if status == 429 or status >= 500:
        log.warning("wxauth introspection answered %d", status)
        return AuthUnavailable(retry_after=_retry_after(response))
    # 401: the service key is wrong; 404: the URL is. Either way the operator must act.
    log.error("wxauth introspection answered %d: check the server URL and service key", status)
    return ServerMisconfigured()


def _retry_after(response: httpx.Response) -> int:
    value = response.headers.get("retry-after", "")
    return min(int(value), 60) if value.isdigit() else 5
