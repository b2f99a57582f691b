"""Redis behind the in-process session cache, shared by every process, and the login-code
guard.

Keys (all under the ``WXAUTH_REDIS_PREFIX``)::

    s:<token hash>      a Session as JSON, or the tombstone "-" after a revocation
    u:<user id>         a User as JSON, or the tombstone "-" after a change
    code:<sha256>       a login code being (or already) exchanged, 5 minutes
    invalidate          pub/sub channel: "s:<hash>" or "u:<id>" for every forget

A forget writes the tombstone and publishes in one round trip. Every process listens on
the channel and drops the entry from its in-process tier, so a revocation is seen by all
of them at once; should a message be lost, the in-process TTL (at most one second) bounds
the staleness. Fills never overwrite a tombstone, so a read that raced a revocation cannot
put the revoked session back.

Redis failing never fails a request: lookups fall back to SQL and the failure is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from wxauth.core.cache import MAX_FILL_AGE_S, LocalSessionCache, SessionCache
from wxauth.core.codes import CODE_CLAIM_TTL_S, code_fingerprint
from wxauth.core.models import Session, User

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from wxauth.config import Settings

log = logging.getLogger(__name__)

TOMBSTONE = b"-"
TOMBSTONE_TTL_MS = int(2 * MAX_FILL_AGE_S * 1000)  # outlives any fill that may race it
RECONNECT_DELAY_S = 1.0
T = TypeVar("T", Session, User)

# SET each key to its value unless it holds the tombstone. KEYS: session, user;
# ARGV: session json, user json, tombstone, ttl in ms.
PUT_SCRIPT = """
for i = 1, 2 do
  if redis.call('GET', KEYS[i]) ~= ARGV[3] then
    redis.call('SET', KEYS[i], ARGV[i], 'PX', ARGV[4])
  end
end
return 1
"""


def _redis_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import RedisError

    return (RedisError, OSError)


def encode(record: Session | User) -> bytes:
    return orjson.dumps(dataclasses.asdict(record))


def decode(kind: type[T], raw: bytes | str | None) -> T | None:
    """A record from its JSON; None for a miss, a tombstone or an entry of another shape."""
    if raw is None or raw in (TOMBSTONE, TOMBSTONE.decode()):
        return None
    try:
        data: dict[str, Any] = orjson.loads(raw)
        for name, value in data.items():
            if name.endswith("_at") and value is not None:
                data[name] = datetime.fromisoformat(value)
        return kind(**data)
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return None  # written by another version of wxauth: read it from SQL instead


class RedisSessionCache:
    """Two tiers: ``local`` (this process, a short TTL) in front of Redis (every process)."""

    def __init__(self, redis: Redis, local: LocalSessionCache, *, prefix: str, ttl_s: int) -> None:
        self._redis = redis
        self.local = local
        self._prefix = prefix
        self._ttl_ms = ttl_s * 1000
        self.channel = f"{prefix}invalidate"
        self._errors = _redis_errors()
        self._put = redis.register_script(PUT_SCRIPT)
        self._listener: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    def __repr__(self) -> str:
        return f"RedisSessionCache(prefix={self._prefix!r})"

    def _key(self, kind: str, ident: str) -> str:
        return f"{self._prefix}{kind}:{ident}"

    async def get(self, token_hash: str) -> tuple[Session, User] | None:
        self.listen()
        found = await self.local.get(token_hash)
        if found is not None:
            return found
        try:
            session = decode(Session, await self._redis.get(self._key("s", token_hash)))
            if session is None:
                return None
            user = decode(User, await self._redis.get(self._key("u", session.user_id)))
        except self._errors as exc:
            log.warning("session cache: Redis unavailable (%s); reading SQL", type(exc).__name__)
            return None
        if user is None:
            return None
        await self.local.put(session, user)
        return session, user

    async def put(self, session: Session, user: User) -> None:
        await self.local.put(session, user)
        keys = [self._key("s", session.token_hash), self._key("u", user.id)]
        args: list[bytes | int] = [encode(session), encode(user), TOMBSTONE, self._ttl_ms]
        try:
            await self._put(keys=keys, args=args)
        except self._errors as exc:
            log.warning("session cache: Redis unavailable (%s); not cached", type(exc).__name__)

    async def forget_session(self, token_hash: str) -> None:
        await self.local.forget_session(token_hash)
        await self._forget("s", token_hash)

    async def forget_user(self, user_id: str) -> None:
        await self.local.forget_user(user_id)
        await self._forget("u", user_id)

    async def _forget(self, kind: str, ident: str) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(self._key(kind, ident), TOMBSTONE, px=TOMBSTONE_TTL_MS)
                pipe.publish(self.channel, f"{kind}:{ident}")
                await pipe.execute()
        except self._errors as exc:
            # SQL already holds the change; only other processes' caches may lag behind.
            log.error("session cache: could not publish a change (%s)", type(exc).__name__)

    def listen(self) -> None:
        """Start following the invalidation channel (once; on first use)."""
        if self._listener is None or self._listener.done():
            self._listener = asyncio.get_running_loop().create_task(self._follow())

    async def _follow(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    self.local.clear()  # messages may have been missed while away
                    self.subscribed.set()
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            self._drop(message["data"])
            except self._errors as exc:
                self.subscribed.clear()
                log.warning("session cache: invalidation channel lost (%s)", type(exc).__name__)
                await asyncio.sleep(RECONNECT_DELAY_S)

    def _drop(self, data: bytes) -> None:
        kind, _, ident = data.decode("ascii", "replace").partition(":")
        if kind == "s":
            self.local.evict_session(ident)
        elif kind == "u":
            self.local.evict_user(ident)

    async def aclose(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        self.local.clear()


class RedisCodeGuard:
    """:class:`~wxauth.core.codes.CodeGuard` on ``SET NX``: the first claim wins for five
    minutes. Without Redis it lets the login through (WeChat itself refuses a reused code)."""

    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._errors = _redis_errors()

    def __repr__(self) -> str:
        return f"RedisCodeGuard(prefix={self._prefix!r})"

    def _key(self, appid: str, code: str) -> str:
        return f"{self._prefix}code:{code_fingerprint(appid, code)}"

    async def claim(self, appid: str, code: str) -> bool:
        try:
            won = await self._redis.set(self._key(appid, code), b"1", nx=True, ex=CODE_CLAIM_TTL_S)
        except self._errors as exc:
            log.warning("code guard: Redis unavailable (%s); passing", type(exc).__name__)
            return True
        return bool(won)

    async def release(self, appid: str, code: str) -> None:
        try:
            await self._redis.delete(self._key(appid, code))
        except self._errors as exc:
            log.warning("code guard: Redis unavailable (%s)", type(exc).__name__)


def build_session_cache(settings: Settings, redis: Redis | None) -> SessionCache | None:
    """The cache ``settings`` ask for: none, in-process only, or in-process over Redis."""
    if settings.session_cache_ttl <= 0:
        return None
    local = LocalSessionCache(ttl=settings.session_cache_local_ttl)
    if redis is None:
        return local
    return RedisSessionCache(
        redis, local, prefix=settings.redis_prefix, ttl_s=settings.session_cache_ttl
    )
