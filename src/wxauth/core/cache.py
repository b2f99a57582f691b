"""A cache in front of session lookups, so that a token check needs no SQL round trip.

:class:`CachedStore` wraps any :class:`~wxauth.core.ports.Store` and keeps ``(Session, User)``
pairs in a :class:`SessionCache`. Its consistency contract:

- a revoked session or a changed user is forgotten by the cache before the call that
  revoked or changed it returns;
- an entry read before such a change can outlive it by at most the in-process TTL of the
  process that read it (:data:`MAX_LOCAL_TTL_S`, one second): shared tiers refuse to take
  it back (see ``wxauth.storage.redis_cache``), and a fill whose read took longer than
  :data:`MAX_FILL_AGE_S` is dropped.

Expiry is not the cache's business: :class:`~wxauth.core.service.WxAuth` checks every
session it is given against the clock, cached or not.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from wxauth.core.insights import AppCounts, Count, EventQuery, LatencyCount, LoginCount
from wxauth.core.models import (
    ENDED_REVOKED,
    AccountEvent,
    App,
    GuardedLogin,
    LoginEvent,
    LoginRecord,
    Session,
    SigningKey,
    User,
)
from wxauth.core.ports import Clock, Store, utcnow
from wxauth.core.webhooks import WebhookStore

MAX_LOCAL_TTL_S = 1.0
MAX_FILL_AGE_S = 5.0

Monotonic = Callable[[], float]
V = TypeVar("V")


class SessionCache(Protocol):
    """Where :class:`CachedStore` keeps what it has read. Failures are the cache's to absorb:
    ``get`` answers ``None`` rather than raise."""

    async def get(self, token_hash: str) -> tuple[Session, User] | None: ...

    async def put(self, session: Session, user: User) -> None: ...

    async def forget_session(self, token_hash: str) -> None: ...

    async def forget_user(self, user_id: str) -> None: ...

    async def aclose(self) -> None: ...


class LocalSessionCache:
    """An in-process TTL cache. Entries live ``ttl`` seconds, at most ``max_entries`` of each
    kind (the oldest go first). Safe for one event loop; no locks needed.

    **Vouched entries.** Where something follows every invalidation published to this
    process (the Redis tier's channel listener), it sets :attr:`current_as_of`: a moment by
    which every invalidation published before it has been applied here. While that moment
    is less than ``ttl`` ago, an entry may outlive ``ttl``, up to ``hold`` seconds: what it
    could have missed is then no older than ``ttl`` either, so the staleness bound stays
    ``ttl`` and a hot session is not read again every ``ttl``. No entry is vouched for

    - past the moment its session needs a touch (``touch_interval`` after it was last
      seen), ends idle or expires: the other processes' touches are read back then, and a
      session that another process kept alive is never refused for a stale idle time;
    - when its session or user was forgotten here in the last :data:`MAX_FILL_AGE_S`: the
      read that filled it may predate that change.
    """

    def __init__(
        self,
        ttl: float = MAX_LOCAL_TTL_S,
        *,
        max_entries: int = 100_000,
        monotonic: Monotonic = time.monotonic,
        hold: float = 0.0,
        touch_interval: timedelta | None = None,
        wall: Clock = utcnow,
    ) -> None:
        self.ttl = ttl
        self.hold = hold
        self.current_as_of = -math.inf
        self._touch_interval = touch_interval
        self._max = max_entries
        self.monotonic = monotonic
        self._wall = wall
        self._sessions: OrderedDict[str, _Entry[Session]] = OrderedDict()
        self._users: OrderedDict[str, _Entry[User]] = OrderedDict()
        # The cached sessions of each user: forgetting a user forgets them too, or another
        # session of theirs would put the user back beside a session that has since changed.
        self._by_user: dict[str, set[str]] = {}
        # What was forgotten lately, and when: a fill of it is not vouched for.
        self._forgotten: OrderedDict[str, float] = OrderedDict()

    def __repr__(self) -> str:
        return f"LocalSessionCache(ttl={self.ttl}, sessions={len(self._sessions)})"

    def _vouched(self, now: float) -> bool:
        return now - self.current_as_of < self.ttl

    async def get(self, token_hash: str) -> tuple[Session, User] | None:
        now = self.monotonic()
        vouched = self._vouched(now)
        session = _fresh(self._sessions, token_hash, now, vouched)
        if session is None:
            return None
        user = _fresh(self._users, session.user_id, now, vouched)
        return None if user is None else (session, user)

    async def put(self, session: Session, user: User) -> None:
        if self.ttl <= 0:
            return
        now = self.monotonic()
        deadline = now + self.ttl
        session_hold = user_hold = deadline
        if self.hold > self.ttl and not self._lately_forgotten(now, session.token_hash, user.id):
            user_hold = now + self.hold
            session_hold = min(user_hold, now + self._seconds_left(session))
        entry = _Entry(deadline, session_hold, session)
        for dropped in _store(self._sessions, session.token_hash, entry, self._max):
            self._unindex(dropped.value)
        user_entry = _Entry(deadline, user_hold, user)
        for dropped_user in _store(self._users, user.id, user_entry, self._max):
            self._drop_sessions_of(dropped_user.value.id)
        self._by_user.setdefault(user.id, set()).add(session.token_hash)

    def _seconds_left(self, session: Session) -> float:
        """Until the session needs a touch, ends idle or expires, by the wall clock."""
        ends = min(session.idle_expires_at, session.expires_at)
        if self._touch_interval is not None:
            ends = min(ends, session.last_seen_at + self._touch_interval)
        return (ends - self._wall()).total_seconds()

    def _lately_forgotten(self, now: float, *keys: str) -> bool:
        self._prune_forgotten(now)
        return any(key in self._forgotten for key in keys)

    def _remember_forgetting(self, key: str) -> None:
        if self.hold > self.ttl:
            now = self.monotonic()
            self._forgotten[key] = now
            self._forgotten.move_to_end(key)
            self._prune_forgotten(now)

    def _prune_forgotten(self, now: float) -> None:
        forgotten = self._forgotten
        while forgotten:
            key, when = next(iter(forgotten.items()))
            if now - when < MAX_FILL_AGE_S:
                return
            del forgotten[key]

    async def forget_session(self, token_hash: str) -> None:
        self.evict_session(token_hash)

    async def forget_user(self, user_id: str) -> None:
        self.evict_user(user_id)

    def evict_session(self, token_hash: str) -> None:
        self._remember_forgetting(token_hash)
        entry = self._sessions.pop(token_hash, None)
        if entry is not None:
            self._unindex(entry.value)

    def evict_user(self, user_id: str) -> None:
        self._remember_forgetting(user_id)
        self._users.pop(user_id, None)
        self._drop_sessions_of(user_id)

    def _drop_sessions_of(self, user_id: str) -> None:
        for token_hash in self._by_user.pop(user_id, ()):
            self._sessions.pop(token_hash, None)

    def _unindex(self, session: Session) -> None:
        hashes = self._by_user.get(session.user_id)
        if hashes is not None:
            hashes.discard(session.token_hash)
            if not hashes:
                del self._by_user[session.user_id]

    def clear(self) -> None:
        """Forget everything, and vouch for nothing until :attr:`current_as_of` moves on."""
        self.current_as_of = -math.inf
        self._sessions.clear()
        self._users.clear()
        self._by_user.clear()

    async def aclose(self) -> None:
        self.clear()


@dataclasses.dataclass(frozen=True, slots=True)
class _Entry(Generic[V]):
    deadline: float  # believed until then
    hold: float  # and until then while vouched for (see LocalSessionCache)
    value: V


def _fresh(entries: OrderedDict[str, _Entry[V]], key: str, now: float, vouched: bool) -> V | None:
    entry = entries.get(key)
    if entry is None or (entry.deadline <= now and not (vouched and now < entry.hold)):
        return None  # an expired entry stays until it is replaced or pushed out
    return entry.value


def _store(entries: OrderedDict[str, V], key: str, value: V, limit: int) -> list[V]:
    """Keep ``value`` under ``key``; return the oldest entries pushed out by the limit."""
    entries[key] = value
    entries.move_to_end(key)
    dropped = []
    while len(entries) > limit:
        dropped.append(entries.popitem(last=False)[1])
    return dropped


class CachedStore:
    """A :class:`~wxauth.core.ports.Store` that answers ``find_session`` from a cache.

    Writes go to the wrapped store first, then the cache forgets what they changed. Every
    method of the ``Store`` contract is spelled out here (as django's ``cached_db`` does),
    so that mypy refuses a ``CachedStore`` that misses a new one and no write can slip past
    the cache.
    """

    def __init__(
        self, store: Store, cache: SessionCache, *, monotonic: Monotonic = time.monotonic
    ) -> None:
        self.store = store
        self.cache = cache
        self.monotonic = monotonic

    def __repr__(self) -> str:
        return f"CachedStore({self.store!r}, {self.cache!r})"

    @property
    def webhooks(self) -> WebhookStore:
        return self.store.webhooks

    async def find_session(self, token_hash: str) -> tuple[Session, User] | None:
        cached = await self.cache.get(token_hash)
        if cached is not None:
            return cached
        started = self.monotonic()
        found = await self.store.find_session(token_hash)
        # A slow read may predate a revocation whose tombstone has already gone.
        if found is not None and self.monotonic() - started < MAX_FILL_AGE_S:
            await self.cache.put(*found)
        return found

    async def touch_session(
        self, token_hash: str, last_seen_at: datetime, idle_expires_at: datetime
    ) -> None:
        await self.store.touch_session(token_hash, last_seen_at, idle_expires_at)
        cached = await self.cache.get(token_hash)
        if cached is not None:
            session, user = cached
            touched = dataclasses.replace(
                session, last_seen_at=last_seen_at, idle_expires_at=idle_expires_at
            )
            await self.cache.put(touched, user)

    async def revoke_session(
        self, token_hash: str, now: datetime, *, reason: str = ENDED_REVOKED
    ) -> bool:
        revoked = await self.store.revoke_session(token_hash, now, reason=reason)
        await self.cache.forget_session(token_hash)
        return revoked

    async def record_login(self, record: LoginRecord) -> tuple[User, bool]:
        user, created = await self.store.record_login(record)
        if not created:
            await self.cache.forget_user(user.id)
        return user, created

    async def record_login_unless_blocked(self, record: LoginRecord) -> GuardedLogin:
        done = await self.store.record_login_unless_blocked(record)
        if done.user is not None and not done.created:
            await self.cache.forget_user(done.user.id)
        return done

    async def update_user(self, user_id: str, changes: dict[str, Any], now: datetime) -> User:
        try:
            return await self.store.update_user(user_id, changes, now)
        finally:
            await self.cache.forget_user(user_id)

    async def set_phone(self, user_id: str, phone: str, country_code: str, now: datetime) -> User:
        try:
            return await self.store.set_phone(user_id, phone, country_code, now)
        finally:
            await self.cache.forget_user(user_id)

    async def revoke_user_sessions(
        self,
        user_id: str,
        now: datetime,
        *,
        reason: str = ENDED_REVOKED,
        keep: str | None = None,
    ) -> int:
        try:
            return await self.store.revoke_user_sessions(user_id, now, reason=reason, keep=keep)
        finally:
            await self.cache.forget_user(user_id)  # a cached session needs its user: all go

    async def cap_sessions(
        self, user_id: str, appid: str, *, keep: str, cap: int, now: datetime
    ) -> list[str]:
        try:
            return await self.store.cap_sessions(user_id, appid, keep=keep, cap=cap, now=now)
        finally:
            await self.cache.forget_user(user_id)

    async def disable_user(
        self, user_id: str, *, reason: str, ends_at: datetime | None, now: datetime
    ) -> User:
        try:
            return await self.store.disable_user(user_id, reason=reason, ends_at=ends_at, now=now)
        finally:
            await self.cache.forget_user(user_id)

    async def enable_user(self, user_id: str, now: datetime) -> User:
        try:
            return await self.store.enable_user(user_id, now)
        finally:
            await self.cache.forget_user(user_id)

    async def find_user(self, appid: str, openid: str) -> User | None:
        return await self.store.find_user(appid, openid)

    async def due_deletions(self, now: datetime, *, limit: int = 100) -> list[str]:
        return await self.store.due_deletions(now, limit=limit)

    async def add_account_event(self, event: AccountEvent) -> None:
        await self.store.add_account_event(event)

    async def list_account_events(
        self, *, limit: int, user_id: str | None = None
    ) -> list[AccountEvent]:
        return await self.store.list_account_events(limit=limit, user_id=user_id)

    async def delete_user(self, user_id: str) -> bool:
        try:
            return await self.store.delete_user(user_id)
        finally:
            await self.cache.forget_user(user_id)

    async def get_user(self, user_id: str) -> User | None:
        return await self.store.get_user(user_id)

    async def get_session_key(self, appid: str, openid: str) -> str | None:
        return await self.store.get_session_key(appid, openid)

    async def ping(self) -> None:
        await self.store.ping()

    async def add_login_event(self, event: LoginEvent) -> None:
        await self.store.add_login_event(event)

    async def list_login_events(
        self, *, limit: int, user_id: str | None = None
    ) -> list[LoginEvent]:
        return await self.store.list_login_events(limit=limit, user_id=user_id)

    async def purge_login_events(self, before: datetime) -> int:
        return await self.store.purge_login_events(before)

    async def avatar_urls(self, containing: str) -> set[str]:
        return await self.store.avatar_urls(containing)

    async def list_users(
        self, *, appid: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[User]:
        return await self.store.list_users(appid=appid, limit=limit, offset=offset)

    async def list_sessions(self, user_id: str) -> list[Session]:
        return await self.store.list_sessions(user_id)

    async def delete_expired_sessions(self, before: datetime, *, batch_size: int = 1000) -> int:
        # Only sessions already past their idle expiry go: a cached copy of one is refused
        # by its own expiry check, so there is nothing to forget.
        return await self.store.delete_expired_sessions(before, batch_size=batch_size)

    # -- signing keys (access JWTs): nothing cached, nothing to forget ---------------------

    async def add_signing_key(self, key: SigningKey) -> None:
        await self.store.add_signing_key(key)

    async def list_signing_keys(self) -> list[SigningKey]:
        return await self.store.list_signing_keys()

    async def delete_signing_keys(self, retired_before: datetime) -> int:
        return await self.store.delete_signing_keys(retired_before)

    # -- the operator console: reads only, nothing to forget ------------------------------

    async def search_users(
        self, query: str, *, appid: str | None = None, limit: int = 50
    ) -> list[User]:
        return await self.store.search_users(query, appid=appid, limit=limit)

    async def login_counts(
        self, since: datetime, *, bucket_s: int, appid: str | None = None
    ) -> list[LoginCount]:
        return await self.store.login_counts(since, bucket_s=bucket_s, appid=appid)

    async def new_user_counts(
        self, since: datetime, *, bucket_s: int, appid: str | None = None
    ) -> list[Count]:
        return await self.store.new_user_counts(since, bucket_s=bucket_s, appid=appid)

    async def count_live_sessions(self, now: datetime, *, appid: str | None = None) -> int:
        return await self.store.count_live_sessions(now, appid=appid)

    async def latency_counts(
        self, since: datetime, *, bucket_s: int, appid: str | None = None
    ) -> list[LatencyCount]:
        return await self.store.latency_counts(since, bucket_s=bucket_s, appid=appid)

    async def app_counts(self, now: datetime) -> list[AppCounts]:
        return await self.store.app_counts(now)

    async def search_login_events(self, query: EventQuery) -> list[LoginEvent]:
        return await self.store.search_login_events(query)

    # -- apps, persons and the platform ---------------------------------------------------

    async def save_app(self, app: App) -> App:
        # Apps are not cached here: the registry (wxauth.core.apps) reloads them itself, and
        # token checks refuse a disabled app's sessions whatever this cache holds.
        return await self.store.save_app(app)

    async def get_app(self, appid: str) -> App | None:
        return await self.store.get_app(appid)

    async def list_apps(self) -> list[App]:
        return await self.store.list_apps()

    async def revoke_app_sessions(self, appid: str, now: datetime, *, reason: str) -> int:
        # The sessions are many and not indexed by app here; a cached one is refused by the
        # token check's app status until it expires from the cache.
        return await self.store.revoke_app_sessions(appid, now, reason=reason)

    async def link_person(self, user_id: str, unionid: str, now: datetime) -> User:
        try:
            return await self.store.link_person(user_id, unionid, now)
        finally:
            await self.cache.forget_user(user_id)

    async def person_users(self, person_id: str) -> list[User]:
        return await self.store.person_users(person_id)

    async def set_person(
        self, user_ids: Sequence[str], person_id: str, *, merged: str | None, now: datetime
    ) -> int:
        try:
            return await self.store.set_person(user_ids, person_id, merged=merged, now=now)
        finally:
            for user_id in user_ids:
                await self.cache.forget_user(user_id)

    async def save_component_ticket(
        self, component_appid: str, ticket_enc: str, received_at: datetime
    ) -> None:
        await self.store.save_component_ticket(component_appid, ticket_enc, received_at)

    async def get_component_ticket(self, component_appid: str) -> tuple[str, datetime] | None:
        return await self.store.get_component_ticket(component_appid)
