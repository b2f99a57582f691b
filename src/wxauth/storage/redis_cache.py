"""Redis behind the in-process session cache, shared by every process, and the login-code
guard.

Keys (all under the ``WXAUTH_REDIS_PREFIX``)::

    s:<token hash>      "<stamp>|<epoch>|<user id>|<Session as JSON>", or the tombstone "-"
                        after a revocation
    u:<user id>         "<stamp>|<epoch>|<user id>|<User as JSON>", or the tombstone "-"
                        after a change
    epoch               the cache's generation; entries of another generation are not believed
    code:<sha256>       a login code being (or already) exchanged, 5 minutes
    invalidate          pub/sub channel: "s:<hash>" or "u:<id>" for every forget, "epoch"
                        when a process has bumped the epoch

A forget writes the tombstone and publishes in one round trip. Every process listens on
the channel and drops the entry from its in-process tier, so a revocation is seen by all
of them at once; should a message be lost, the in-process TTL (at most one second) bounds
the staleness. The listener also pings Redis on its subscribed connection, whose answer
comes after every message published before it: while the answers keep coming, the
in-process tier may hold a hot entry longer than its TTL without weakening that bound
(:class:`~wxauth.core.cache.LocalSessionCache`, "vouched entries"). Fills never overwrite
a tombstone, so a read that raced a revocation cannot put the revoked session back.

A stamp (Redis's own clock, in microseconds, when the entry was written) ties each session
to its user's entry: the user's entry is written once per generation, and a session entry
older than its user's entry is not believed. So when a change of the user (revoking all
their sessions, a ban) has tombstoned their entry, the sessions cached before it stay
unbelieved even after the tombstone is gone and another session has cached the user anew.

The database is the truth; no cache may bring back what it has revoked, whatever Redis does.
A change made while Redis could not be told (a logout during an outage) leaves stale entries
in Redis. So a process that has seen Redis fail (:class:`~wxauth.storage.redis_health.
RedisHealth`) bumps the epoch before it believes Redis again, which retires every entry
written before the outage; until then it reads the database.

Redis failing never fails a request: lookups fall back to SQL, and the outage is logged
once (by the health object), not once per request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from wxauth.core.cache import MAX_FILL_AGE_S, LocalSessionCache
from wxauth.core.codes import CODE_CLAIM_TTL_S, code_fingerprint
from wxauth.core.models import Session, User
from wxauth.storage.redis_batch import ScriptBatch
from wxauth.storage.redis_health import RedisHealth

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

log = logging.getLogger(__name__)

TOMBSTONE = b"-"
TOMBSTONE_TTL_MS = int(2 * MAX_FILL_AGE_S * 1000)  # outlives any fill that may race it
RECONNECT_DELAY_S = 1.0
LISTEN_POLL_S = 0.5  # how often the invalidation listener looks up from the channel
FORGET_TRIES = 2  # one more send when the first answer was lost to load
EPOCH_MESSAGE = b"epoch"  # on the channel: a new epoch, every process drops its own tier
MAX_PINGS_IN_FLIGHT = 8  # unanswered pings remembered; an older one's answer is ignored
T = TypeVar("T", Session, User)

# A session and its user in one round trip. KEYS: session, epoch; ARGV: the user key prefix.
GET_SCRIPT = """
local s = redis.call('GET', KEYS[1])
if not s then return false end
local uid = string.match(s, '^%d+|%d+|([^|]*)|')
if not uid then return {s, false, false} end
return {s, redis.call('GET', ARGV[1] .. uid), redis.call('GET', KEYS[2])}
"""

# Cache a session and its user unless either holds the tombstone. The user's entry is kept
# if it is of this epoch (its stamp marks the start of its generation); everything is
# stamped with Redis's clock and the epoch. KEYS: session, user, epoch; ARGV: session json,
# user json, tombstone, ttl in ms, user id.
PUT_SCRIPT = """
local u = redis.call('GET', KEYS[2])
if u == ARGV[3] or redis.call('GET', KEYS[1]) == ARGV[3] then
  return 0
end
local epoch = redis.call('GET', KEYS[3]) or '0'
local t = redis.call('TIME')
local head = t[1] .. string.format('%06d', t[2]) .. '|' .. epoch .. '|' .. ARGV[5] .. '|'
if (not u) or string.match(u, '^%d+|(%d+)|') ~= epoch then
  redis.call('SET', KEYS[2], head .. ARGV[2], 'PX', ARGV[4])
end
redis.call('SET', KEYS[1], head .. ARGV[1], 'PX', ARGV[4])
return 1
"""


def _redis_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import RedisError

    return (RedisError, OSError)


def encode(record: Session | User) -> bytes:
    return orjson.dumps(dataclasses.asdict(record))


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    stamp: int
    epoch: int


def decode(kind: type[T], raw: bytes | str | None) -> tuple[Entry, T] | None:
    """A record and its stamp and epoch from ``"<stamp>|<epoch>|<user id>|<json>"``; None for
    a miss, a tombstone or an entry of another shape."""
    if raw is None:
        return None
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    parts = text.split("|", 3)
    if len(parts) != 4 or not (parts[0].isdigit() and parts[1].isdigit()):
        return None  # the tombstone, or written by another version of wxauth: read SQL
    try:
        data: dict[str, Any] = orjson.loads(parts[3])
        for name, value in data.items():
            if name.endswith("_at") and value is not None:
                data[name] = datetime.fromisoformat(value)
        return Entry(int(parts[0]), int(parts[1])), kind(**data)
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return None


def believed(
    session: tuple[Entry, Session] | None, user: tuple[Entry, User] | None, epoch: int
) -> tuple[Session, User] | None:
    """The pair, if both entries are of this epoch and the session is not older than its
    user's entry."""
    if session is None or user is None:
        return None
    (s_entry, s), (u_entry, u) = session, user
    if s_entry.epoch != epoch or u_entry.epoch != epoch or s_entry.stamp < u_entry.stamp:
        return None
    if s.user_id != u.id:
        return None
    return s, u


class RedisSessionCache:
    """Two tiers: ``local`` (this process, a short TTL) in front of Redis (every process)."""

    def __init__(
        self,
        redis: Redis,
        local: LocalSessionCache,
        *,
        prefix: str,
        ttl_s: int,
        health: RedisHealth | None = None,
    ) -> None:
        self._redis = redis
        self.local = local
        self._prefix = prefix
        self._ttl_ms = ttl_s * 1000
        self.channel = f"{prefix}invalidate"
        self._epoch_key = f"{prefix}epoch"
        self.health = health or RedisHealth()
        self._outages_seen = self.health.outages
        self._unheard = False  # a forget never reached Redis: retire everything before trusting it
        self._errors = _redis_errors()
        self._get = redis.register_script(GET_SCRIPT)
        self._put = redis.register_script(PUT_SCRIPT)
        self._listener: asyncio.Task[None] | None = None
        self._closed = False
        self.subscribed = asyncio.Event()

    def __repr__(self) -> str:
        return f"RedisSessionCache(prefix={self._prefix!r})"

    def _key(self, kind: str, ident: str) -> str:
        return f"{self._prefix}{kind}:{ident}"

    async def _trusted(self) -> bool:
        """Whether Redis may be asked now; after an outage, once the epoch has been bumped."""
        if not self.health.usable():
            return False
        if self._unheard or self.health.outages != self._outages_seen:
            outages = self.health.outages
            # Every process drops its in-process tier too: one that holds entries vouched
            # for (and so reads Redis seldom) would otherwise see the new epoch late.
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.incr(self._epoch_key)
                pipe.publish(self.channel, EPOCH_MESSAGE)
                await self.health.ask(pipe.execute())
            self._outages_seen, self._unheard = outages, False
            self.local.clear()
            log.info("session cache: entries from before the Redis outage retired")
        return True

    async def get(self, token_hash: str) -> tuple[Session, User] | None:
        self.listen()
        found = await self.local.get(token_hash)
        if found is not None:
            return found
        try:
            if not await self._trusted():
                return None
            raw = await self.health.ask(
                self._get(
                    keys=[self._key("s", token_hash), self._epoch_key], args=[self._key("u", "")]
                )
            )
        except self._errors as exc:
            self.health.failed(exc)
            return None
        self.health.succeeded()
        if not raw:
            return None
        session_raw, user_raw, epoch = raw
        pair = believed(decode(Session, session_raw), decode(User, user_raw), int(epoch or 0))
        if pair is not None:
            await self.local.put(*pair)
        return pair

    async def put(self, session: Session, user: User) -> None:
        await self.local.put(session, user)
        keys = [self._key("s", session.token_hash), self._key("u", user.id), self._epoch_key]
        args: list[bytes | int | str] = [
            encode(session),
            encode(user),
            TOMBSTONE,
            self._ttl_ms,
            user.id,
        ]
        try:
            if await self._trusted():
                await self.health.ask(self._put(keys=keys, args=args))
                self.health.succeeded()
        except self._errors as exc:
            self.health.failed(exc)

    async def forget_session(self, token_hash: str) -> None:
        await self.local.forget_session(token_hash)
        await self._forget("s", token_hash)

    async def forget_user(self, user_id: str) -> None:
        await self.local.forget_user(user_id)
        await self._forget("u", user_id)

    async def _forget(self, kind: str, ident: str) -> None:
        # SQL already holds the change. If Redis cannot be told, the outage is on record:
        # this process bumps the epoch before it believes Redis again, and the others (whose
        # invalidation channel dropped) do the same. A forget whose answer this process was
        # too busy to read is sent again (a tombstone and a message: doing it twice is
        # harmless); should that fail too, the epoch is bumped at the next chance.
        for _ in range(FORGET_TRIES):
            if not self.health.usable():
                return
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.set(self._key(kind, ident), TOMBSTONE, px=TOMBSTONE_TTL_MS)
                    pipe.publish(self.channel, f"{kind}:{ident}")
                    await self.health.ask(pipe.execute())
            except self._errors as exc:
                if self.health.failed(exc):
                    return  # an outage: the epoch is bumped once Redis is back
                continue
            self.health.succeeded()
            return
        self._unheard = True  # retire every entry before believing Redis again

    def listen(self) -> None:
        """Start following the invalidation channel (once; on first use)."""
        if self._listener is None or self._listener.done():
            self._listener = asyncio.get_running_loop().create_task(self._follow())

    async def _follow(self) -> None:
        while not self._closed:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    self.local.clear()  # messages may have been missed while away
                    self.subscribed.set()
                    await self._read(pubsub)
            except self._errors as exc:
                self.subscribed.clear()
                self.local.current_as_of = -math.inf
                if self._closed:
                    # redis-py may turn the cancellation of aclose() into a connection
                    # error: the listener is done, not Redis.
                    return
                self.health.failed(exc, what="Redis (the cache's invalidation channel)")
                await asyncio.sleep(RECONNECT_DELAY_S)

    async def _read(self, pubsub: PubSub) -> None:
        """Apply every invalidation, and vouch for the local tier: a ``PING`` on the
        subscribed connection is answered after every message Redis published before it,
        so its answer means that everything published before it was sent has been applied
        here (``LocalSessionCache.current_as_of``)."""
        loop, local = asyncio.get_running_loop(), self.local
        sent: dict[bytes, float] = {}
        vouching = local.hold > local.ttl > 0
        ping_every = local.ttl / 4 if vouching else math.inf
        next_ping, serial = (loop.time() if vouching else math.inf), 0
        while not self._closed:
            now = loop.time()
            if now >= next_ping:
                if len(sent) >= MAX_PINGS_IN_FLIGHT:  # unanswered so far: Redis is slow
                    del sent[next(iter(sent))]
                serial += 1
                nonce = str(serial).encode()
                sent[nonce] = local.monotonic()
                await pubsub.ping(nonce)
                next_ping = now + ping_every
            # Polled rather than awaited for ever: redis-py's listen() can swallow a
            # cancellation, and aclose() must not wait on it.
            wait = max(0.0, min(LISTEN_POLL_S, next_ping - loop.time()))
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=wait)
            if message is None:
                continue
            if message["type"] == "message":
                self._drop(message["data"])
            elif message["type"] == "pong" and message["data"] in sent:
                answered = sent.pop(message["data"])
                for nonce in [n for n, at in sent.items() if at < answered]:
                    del sent[nonce]  # answered in order: an earlier ping's answer is lost
                local.current_as_of = max(local.current_as_of, answered)

    def _drop(self, data: bytes) -> None:
        if data == EPOCH_MESSAGE:
            self.local.clear()
            return
        kind, _, ident = data.decode("ascii", "replace").partition(":")
        if kind == "s":
            self.local.evict_session(ident)
        elif kind == "u":
            self.local.evict_user(ident)

    async def aclose(self) -> None:
        self._closed = True
        if self._listener is not None:
            self._listener.cancel()
            # It ends at its next poll at the latest, whatever became of the cancellation.
            await asyncio.wait([self._listener], timeout=2 * LISTEN_POLL_S)
            self._listener = None
        self.local.clear()


# The first claim of a key wins: a claim returns nothing when it set the key, otherwise the
# value that holds it. Each claim carries a value of its own, so a claim retried after its
# answer was lost (a timeout) recognises itself instead of taking itself for a replay.
CLAIM_TRIES = 2  # one more ask when the first answer was lost to load
CLAIM_SCRIPT = """
local held = redis.call('GET', KEYS[1])
if held then return held end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return false
"""


class RedisCodeGuard:
    """:class:`~wxauth.core.codes.CodeGuard` on Redis: the first claim wins for five
    minutes. A claim whose answer is lost to this process's own load is asked again (it is
    idempotent); while Redis is really down the guard lets the login through: the process's
    own guard still holds, and WeChat itself refuses a code used twice (40163)."""

    def __init__(self, redis: Redis, *, prefix: str, health: RedisHealth | None = None) -> None:
        self._redis = redis
        self._prefix = prefix
        self.health = health or RedisHealth()
        self._errors = _redis_errors()
        self._batch = ScriptBatch(redis, CLAIM_SCRIPT)
        self.passed = 0  # logins let through unguarded (Redis down, or no answer in time)

    def __repr__(self) -> str:
        return f"RedisCodeGuard(prefix={self._prefix!r})"

    @property
    def pipelines(self) -> int:
        """Pipelines that carried claims made while another was on its way."""
        return self._batch.pipelines

    def _key(self, appid: str, code: str) -> str:
        return f"{self._prefix}code:{code_fingerprint(appid, code)}"

    async def claim(self, appid: str, code: str) -> bool:
        mine = secrets.token_bytes(12)
        keys = [self._key(appid, code)]
        args: list[bytes | int] = [mine, CODE_CLAIM_TTL_S]
        for _ in range(CLAIM_TRIES):
            if not self.health.usable():
                break
            try:
                # Sent with the claims made while another is on its way (ScriptBatch).
                held = await self.health.ask(self._batch(keys, args))
            except self._errors as exc:
                if self.health.failed(exc):
                    break  # down: let it through, as logged once for the outage
                continue  # this process was too busy to read the answer: ask again
            self.health.succeeded()
            return held is None or held == mine
        self.passed += 1
        return True

    async def release(self, appid: str, code: str) -> None:
        if not self.health.usable():
            return
        try:
            await self.health.ask(self._redis.delete(self._key(appid, code)))
        except self._errors as exc:
            self.health.failed(exc)
