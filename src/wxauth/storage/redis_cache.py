"""Redis behind the in-process session cache, shared by every process, and the login-code
guard.

Keys (all under the ``WXAUTH_REDIS_PREFIX``)::

    s:<token hash>      "<stamp>|<Session as JSON>", or the tombstone "-" after a revocation
    u:<user id>         "<stamp>|<User as JSON>", or the tombstone "-" after a change
    code:<sha256>       a login code being (or already) exchanged, 5 minutes
    invalidate          pub/sub channel: "s:<hash>" or "u:<id>" for every forget

A forget writes the tombstone and publishes in one round trip. Every process listens on
the channel and drops the entry from its in-process tier, so a revocation is seen by all
of them at once; should a message be lost, the in-process TTL (at most one second) bounds
the staleness. Fills never overwrite a tombstone, so a read that raced a revocation cannot
put the revoked session back.

A stamp (Redis's own clock, in microseconds, when the entry was written) ties each session
to its user's entry: the user's entry is written once per generation (``NX``), and a session
entry older than its user's entry is not believed. So when a change of the user (revoking
all their sessions, a ban) has tombstoned their entry, the sessions cached before it stay
unbelieved even after the tombstone is gone and another session has cached the user anew.

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

from wxauth.core.cache import MAX_FILL_AGE_S, LocalSessionCache
from wxauth.core.codes import CODE_CLAIM_TTL_S, code_fingerprint
from wxauth.core.models import Session, User

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

TOMBSTONE = b"-"
TOMBSTONE_TTL_MS = int(2 * MAX_FILL_AGE_S * 1000)  # outlives any fill that may race it
RECONNECT_DELAY_S = 1.0
T = TypeVar("T", Session, User)

# Cache a session and its user unless either holds the tombstone. The user's entry is kept
# if it is there (NX: its stamp marks the start of its generation); both are stamped with
# Redis's clock. KEYS: session, user; ARGV: session json, user json, tombstone, ttl in ms.
PUT_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[3] or redis.call('GET', KEYS[2]) == ARGV[3] then
  return 0
end
local t = redis.call('TIME')
local stamp = t[1] .. string.format('%06d', t[2])
redis.call('SET', KEYS[2], stamp .. '|' .. ARGV[2], 'PX', ARGV[4], 'NX')
redis.call('SET', KEYS[1], stamp .. '|' .. ARGV[1], 'PX', ARGV[4])
return 1
"""


def _redis_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import RedisError

    return (RedisError, OSError)


def encode(record: Session | User) -> bytes:
    return orjson.dumps(dataclasses.asdict(record))


def decode(kind: type[T], raw: bytes | str | None) -> tuple[int, T] | None:
    """A record and its stamp from ``"<stamp>|<json>"``; None for a miss, a tombstone or an
    entry of another shape."""
    if raw is None:
        return None
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    stamp, sep, body = text.partition("|")
    if not sep or not stamp.isdigit():
        return None  # the tombstone, or written by another version of wxauth: read SQL
    try:
        data: dict[str, Any] = orjson.loads(body)
        for name, value in data.items():
            if name.endswith("_at") and value is not None:
                data[name] = datetime.fromisoformat(value)
        return int(stamp), kind(**data)
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return None


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
            user = decode(User, await self._redis.get(self._key("u", session[1].user_id)))
        except self._errors as exc:
            log.warning("session cache: Redis unavailable (%s); reading SQL", type(exc).__name__)
            return None
        if user is None or session[0] < user[0]:
            return None  # no user, or a session cached before the user last changed
        await self.local.put(session[1], user[1])
        return session[1], user[1]

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
