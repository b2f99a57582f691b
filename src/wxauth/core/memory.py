"""An in-memory :class:`~wxauth.core.ports.Store` for unit tests and experiments."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from wxauth.core.insights import (
    AppCounts,
    Count,
    EventQuery,
    LatencyCount,
    LoginCount,
    bucket_start,
    phone_tail,
)
from wxauth.core.memory_webhooks import MemoryWebhookStore
from wxauth.core.models import (
    ENDED_DISABLED,
    ENDED_REPLACED,
    ENDED_REVOKED,
    USER_ACTIVE,
    USER_DISABLED,
    AccountEvent,
    App,
    GuardedLogin,
    LoginEvent,
    LoginRecord,
    Session,
    SigningKey,
    User,
)
from wxauth.core.ports import login_unless_blocked
from wxauth.core.webhooks import (
    Event,
    LoginOutbox,
    Wanted,
    phone_bound,
    sessions_revoked,
    user_deleted,
    user_disabled,
    user_enabled,
    user_updated,
)
from wxauth.errors import NotFound


class MemoryStore:
    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.sessions: dict[str, Session] = {}
        self.session_keys: dict[tuple[str, str], str] = {}
        self._by_openid: dict[tuple[str, str], str] = {}
        self._lock = asyncio.Lock()
        self.events: list[LoginEvent] = []
        self.account_events: list[AccountEvent] = []
        self.apps: dict[str, App] = {}
        # persons: id -> (unionid, merged_into)
        self.persons: dict[str, tuple[str | None, str | None]] = {}
        self.tickets: dict[str, tuple[str, datetime]] = {}
        self.signing_keys: list[SigningKey] = []
        self.webhooks = MemoryWebhookStore()

    async def _wanted(self) -> Wanted:
        return await self.webhooks.gate.current()

    def _emit(self, wanted: Wanted, *events: Event | None) -> None:
        if wanted:
            self.webhooks.add_rows(wanted.rows(events))

    def _revoked(self, wanted: Wanted, ended: list[Session], reason: str, now: datetime) -> None:
        """The ``session.revoked`` events of ``ended``, one per user."""
        by_user: dict[str, list[Session]] = {}
        for session in ended:
            by_user.setdefault(session.user_id, []).append(session)
        self._emit(
            wanted,
            *(
                sessions_revoked(uid, ss[0].appid, [s.public_id for s in ss], reason, now)
                for uid, ss in by_user.items()
            ),
        )

    async def record_login_unless_blocked(self, record: LoginRecord) -> GuardedLogin:
        return await login_unless_blocked(self, record)

    async def record_login(self, record: LoginRecord) -> tuple[User, bool]:
        outbox = LoginOutbox.of(await self._wanted(), record.appid, record.profile)
        async with self._lock:
            now = record.session.created_at
            user_id = self._by_openid.get((record.appid, record.openid))
            created = user_id is None
            if user_id is None:
                user = User(
                    id=record.new_user_id,
                    appid=record.appid,
                    openid=record.openid,
                    unionid=record.unionid,
                    created_at=now,
                    updated_at=now,
                    last_login_at=now,
                    **record.profile,
                )
                self._by_openid[(record.appid, record.openid)] = user.id
            else:
                old = self.users[user_id]
                user = dataclasses.replace(
                    old,
                    unionid=record.unionid or old.unionid,
                    last_login_at=now,
                    updated_at=now if record.profile else old.updated_at,
                    **record.profile,
                )
            self.users[user.id] = user
            self.session_keys[(record.appid, record.openid)] = record.session_key_ciphertext
            session = dataclasses.replace(record.session, user_id=user.id)
            self.sessions[session.token_hash] = session
            if record.event is not None:
                self._add_event(dataclasses.replace(record.event, user_id=user.id))
            if outbox is not None:
                self.webhooks.add_rows(outbox.rows(user, created, record.profile, now))
            return user, created

    async def find_session(self, token_hash: str) -> tuple[Session, User] | None:
        session = self.sessions.get(token_hash)
        if session is None:
            return None
        return session, self.users[session.user_id]

    async def touch_session(
        self, token_hash: str, last_seen_at: datetime, idle_expires_at: datetime
    ) -> None:
        session = self.sessions.get(token_hash)
        if session is not None:
            self.sessions[token_hash] = dataclasses.replace(
                session, last_seen_at=last_seen_at, idle_expires_at=idle_expires_at
            )

    async def revoke_session(
        self, token_hash: str, now: datetime, *, reason: str = ENDED_REVOKED
    ) -> bool:
        wanted = await self._wanted()
        session = self.sessions.get(token_hash)
        if session is None or session.revoked_at is not None:
            return False
        self.sessions[token_hash] = dataclasses.replace(
            session, revoked_at=now, revoked_reason=reason
        )
        self._revoked(wanted, [session], reason, now)
        return True

    async def get_user(self, user_id: str) -> User | None:
        return self.users.get(user_id)

    async def update_user(self, user_id: str, changes: dict[str, Any], now: datetime) -> User:
        wanted = await self._wanted()
        user = self._update(user_id, changes, now)
        self._emit(wanted, user_updated(user, changes, now))
        return user

    def _update(self, user_id: str, changes: dict[str, Any], now: datetime) -> User:
        if user_id not in self.users:
            raise NotFound("No such user.")
        user = dataclasses.replace(self.users[user_id], updated_at=now, **changes)
        self.users[user_id] = user
        return user

    async def get_session_key(self, appid: str, openid: str) -> str | None:
        return self.session_keys.get((appid, openid))

    async def ping(self) -> None:
        return None

    # -- audit and operator tools ---------------------------------------------------------

    async def add_login_event(self, event: LoginEvent) -> None:
        self._add_event(event)

    def _add_event(self, event: LoginEvent) -> None:
        self.events.append(dataclasses.replace(event, id=len(self.events) + 1))

    async def list_login_events(
        self, *, limit: int, user_id: str | None = None
    ) -> list[LoginEvent]:
        chosen = (e for e in reversed(self.events) if user_id is None or e.user_id == user_id)
        return list(itertools.islice(chosen, limit))

    async def purge_login_events(self, before: datetime) -> int:
        kept = [e for e in self.events if e.at >= before]
        purged = len(self.events) - len(kept)
        self.events[:] = kept
        return purged

    async def avatar_urls(self, containing: str) -> set[str]:
        found = (user.avatar_url for user in self.users.values())
        return {url for url in found if url is not None and containing in url}

    async def list_users(
        self, *, appid: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[User]:
        chosen = [u for u in self.users.values() if appid is None or u.appid == appid]
        return chosen[offset : offset + limit]

    async def list_sessions(self, user_id: str) -> list[Session]:
        chosen = [s for s in self.sessions.values() if s.user_id == user_id]
        return sorted(chosen, key=lambda s: s.created_at, reverse=True)

    async def revoke_user_sessions(
        self,
        user_id: str,
        now: datetime,
        *,
        reason: str = ENDED_REVOKED,
        keep: str | None = None,
    ) -> int:
        wanted = await self._wanted()
        return len(self._revoke_user(wanted, user_id, now, reason, keep))

    def _revoke_user(
        self, wanted: Wanted, user_id: str, now: datetime, reason: str, keep: str | None
    ) -> list[Session]:
        live = [
            s
            for s in self.sessions.values()
            if s.user_id == user_id and not s.revoked_at and s.token_hash != keep
        ]
        for session in live:
            self.sessions[session.token_hash] = dataclasses.replace(
                session, revoked_at=now, revoked_reason=reason
            )
        self._revoked(wanted, live, reason, now)
        return live

    # -- accounts -------------------------------------------------------------------------

    async def find_user(self, appid: str, openid: str) -> User | None:
        user_id = self._by_openid.get((appid, openid))
        return None if user_id is None else self.users[user_id]

    async def cap_sessions(
        self, user_id: str, appid: str, *, keep: str, cap: int, now: datetime
    ) -> list[str]:
        wanted = await self._wanted()
        async with self._lock:
            live = [
                s
                for s in self.sessions.values()
                if s.user_id == user_id
                and s.appid == appid
                and s.token_hash != keep
                and s.is_active(now)
            ]
            live.sort(key=lambda s: (s.last_seen_at, s.created_at), reverse=True)
            ended = [s.token_hash for s in live[max(cap - 1, 0) :]]
            for token_hash in ended:
                self.sessions[token_hash] = dataclasses.replace(
                    self.sessions[token_hash], revoked_at=now, revoked_reason=ENDED_REPLACED
                )
            self._revoked(wanted, live[max(cap - 1, 0) :], ENDED_REPLACED, now)
            return ended

    async def disable_user(
        self, user_id: str, *, reason: str, ends_at: datetime | None, now: datetime
    ) -> User:
        changes = {"status": USER_DISABLED, "disabled_reason": reason, "disabled_ends_at": ends_at}
        wanted = await self._wanted()
        user = self._update(user_id, changes, now)
        self._emit(wanted, user_disabled(user, now))
        self._revoke_user(wanted, user_id, now, ENDED_DISABLED, None)
        return user

    async def enable_user(self, user_id: str, now: datetime) -> User:
        changes = {"status": USER_ACTIVE, "disabled_reason": None, "disabled_ends_at": None}
        wanted = await self._wanted()
        user = self._update(user_id, changes, now)
        self._emit(wanted, user_enabled(user, now))
        return user

    async def due_deletions(self, now: datetime, *, limit: int = 100) -> list[str]:
        due = [
            u
            for u in self.users.values()
            if u.deletion_due_at is not None and u.deletion_due_at <= now
        ]
        due.sort(key=lambda u: (u.deletion_due_at or now, u.id))
        return [u.id for u in due[:limit]]

    async def add_account_event(self, event: AccountEvent) -> None:
        self.account_events.append(dataclasses.replace(event, id=len(self.account_events) + 1))

    async def list_account_events(
        self, *, limit: int, user_id: str | None = None
    ) -> list[AccountEvent]:
        chosen = (
            e for e in reversed(self.account_events) if user_id is None or e.user_id == user_id
        )
        return list(itertools.islice(chosen, limit))

    async def delete_user(self, user_id: str) -> bool:
        wanted = await self._wanted()
        async with self._lock:
            user = self.users.pop(user_id, None)
            if user is None:
                return False
            self._emit(wanted, user_deleted(user, datetime.now(UTC)))
            self._by_openid.pop((user.appid, user.openid), None)
            self.session_keys.pop((user.appid, user.openid), None)
            for token_hash in [h for h, s in self.sessions.items() if s.user_id == user_id]:
                del self.sessions[token_hash]
            self.events[:] = [e for e in self.events if e.user_id != user_id]
            self.account_events[:] = [
                dataclasses.replace(e, ip=None) if e.user_id == user_id else e
                for e in self.account_events
            ]
            return True

    async def set_phone(self, user_id: str, phone: str, country_code: str, now: datetime) -> User:
        wanted = await self._wanted()
        user = self._update(user_id, {"phone": phone, "phone_country_code": country_code}, now)
        self._emit(wanted, phone_bound(user, now))
        return user

    async def delete_expired_sessions(self, before: datetime, *, batch_size: int = 1000) -> int:
        expired = [h for h, s in self.sessions.items() if s.idle_expires_at < before]
        for token_hash in expired:
            del self.sessions[token_hash]
        return len(expired)

    # -- signing keys (access JWTs) ---------------------------------------------------------

    async def add_signing_key(self, key: SigningKey) -> None:
        self.signing_keys[:] = [
            k if k.retired_at is not None else dataclasses.replace(k, retired_at=key.created_at)
            for k in self.signing_keys
        ]
        self.signing_keys.append(key)

    async def list_signing_keys(self) -> list[SigningKey]:
        return sorted(self.signing_keys, key=lambda k: (k.created_at, k.kid), reverse=True)

    async def delete_signing_keys(self, retired_before: datetime) -> int:
        kept = [
            k for k in self.signing_keys if not (k.retired_at and k.retired_at < retired_before)
        ]
        deleted = len(self.signing_keys) - len(kept)
        self.signing_keys[:] = kept
        return deleted

    # -- the operator console -------------------------------------------------------------

    async def search_users(
        self, query: str, *, appid: str | None = None, limit: int = 50
    ) -> list[User]:
        tail = phone_tail(query)

        def matches(u: User) -> bool:
            exact = query in (u.id, u.openid, u.unionid)
            in_nickname = bool(query) and u.nickname is not None and query in u.nickname
            in_phone = tail is not None and u.phone is not None and u.phone.endswith(tail)
            return exact or in_nickname or in_phone

        found = [
            u for u in self.users.values() if (appid is None or u.appid == appid) and matches(u)
        ]
        found.sort(
            key=lambda u: (u.created_at.timestamp() if u.created_at else 0.0, u.id), reverse=True
        )
        return found[:limit]

    async def login_counts(
        self, since: datetime, *, bucket_s: int, appid: str | None = None
    ) -> list[LoginCount]:
        counts: dict[tuple[datetime, str, str | None], int] = {}
        for e in self.events:
            if e.at >= since and (appid is None or e.appid == appid):
                key = (bucket_start(e.at, bucket_s), e.result, e.error_code)
                counts[key] = counts.get(key, 0) + 1
        return [LoginCount(*key, count) for key, count in sorted(counts.items(), key=_by_key)]

    async def new_user_counts(
        self, since: datetime, *, bucket_s: int, appid: str | None = None
    ) -> list[Count]:
        counts: dict[datetime, int] = {}
        for u in self.users.values():
            created = u.created_at
            if created is not None and created >= since and (appid is None or u.appid == appid):
                start = bucket_start(created, bucket_s)
                counts[start] = counts.get(start, 0) + 1
        return [Count(start, counts[start]) for start in sorted(counts)]

    async def count_live_sessions(self, now: datetime, *, appid: str | None = None) -> int:
        return sum(
            1
            for s in self.sessions.values()
            if s.is_active(now) and (appid is None or s.appid == appid)
        )

    async def latency_counts(
        self, since: datetime, *, bucket_s: int, appid: str | None = None
    ) -> list[LatencyCount]:
        counts: dict[tuple[datetime, int], int] = {}
        for e in self.events:
            if e.wechat_ms is not None and e.at >= since and (appid is None or e.appid == appid):
                key = (bucket_start(e.at, bucket_s), e.wechat_ms)
                counts[key] = counts.get(key, 0) + 1
        return [LatencyCount(start, ms, counts[start, ms]) for start, ms in sorted(counts)]

    async def app_counts(self, now: datetime) -> list[AppCounts]:
        people = collections.Counter(u.appid for u in self.users.values())
        live = collections.Counter(s.appid for s in self.sessions.values() if s.is_active(now))
        return [AppCounts(a, people[a], live[a]) for a in sorted(set(people) | set(live))]

    async def search_login_events(self, query: EventQuery) -> list[LoginEvent]:
        def matches(e: LoginEvent) -> bool:
            return (
                (query.since is None or e.at >= query.since)
                and (query.until is None or e.at < query.until)
                and (query.appid is None or e.appid == query.appid)
                and (query.user_id is None or e.user_id == query.user_id)
                and (query.result is None or e.result == query.result)
            )

        return list(itertools.islice(filter(matches, reversed(self.events)), query.limit))

    # -- apps, persons and the platform ---------------------------------------------------

    async def save_app(self, app: App) -> App:
        self.apps[app.appid] = app
        return app

    async def get_app(self, appid: str) -> App | None:
        return self.apps.get(appid)

    async def list_apps(self) -> list[App]:
        return [self.apps[appid] for appid in sorted(self.apps)]

    async def revoke_app_sessions(self, appid: str, now: datetime, *, reason: str) -> int:
        wanted = await self._wanted()
        live = [s for s in self.sessions.values() if s.appid == appid and s.revoked_at is None]
        for session in live:
            self.sessions[session.token_hash] = dataclasses.replace(
                session, revoked_at=now, revoked_reason=reason
            )
        self._revoked(wanted, live, reason, now)
        return len(live)

    async def link_person(self, user_id: str, unionid: str, now: datetime) -> User:
        wanted = await self._wanted()
        async with self._lock:
            user = self.users.get(user_id)
            if user is None:
                raise NotFound("No such user.")
            found = next((pid for pid, (u, _) in self.persons.items() if u == unionid), None)
            if found is None and user.person not in self.persons:
                self.persons[user.person] = (unionid, None)
                found = user.person
            target = user.person if found is None else self._resolved(found)
            own = user.person
            user = dataclasses.replace(
                user, person_id=target, unionid=user.unionid or unionid, updated_at=now
            )
            self.users[user_id] = user
            if user.person != own:
                self._emit(wanted, user_updated(user, {"person_id": target}, now))
            return user

    def _resolved(self, person_id: str) -> str:
        for _ in range(16):  # merges form short chains; never loop on a cycle
            merged = self.persons.get(person_id, (None, None))[1]
            if merged is None:
                break
            person_id = merged
        return person_id

    async def person_users(self, person_id: str) -> list[User]:
        found = [u for u in self.users.values() if u.person == person_id]
        return sorted(found, key=lambda u: (u.created_at or datetime.min, u.id))

    async def set_person(
        self, user_ids: Sequence[str], person_id: str, *, merged: str | None, now: datetime
    ) -> int:
        wanted = await self._wanted()
        async with self._lock:
            moved = 0
            for user_id in user_ids:
                user = self.users.get(user_id)
                if user is not None:
                    moved_user = dataclasses.replace(user, person_id=person_id, updated_at=now)
                    self.users[user_id] = moved_user
                    moved += 1
                    if user.person != person_id:
                        changes = {"person_id": person_id}
                        self._emit(wanted, user_updated(moved_user, changes, now))
            marked = merged if merged is not None else person_id
            if marked in self.persons:
                unionid = self.persons[marked][0]
                self.persons[marked] = (unionid, person_id if merged is not None else None)
            return moved

    async def save_component_ticket(
        self, component_appid: str, ticket_enc: str, received_at: datetime
    ) -> None:
        old = self.tickets.get(component_appid)
        if old is None or old[1] <= received_at:
            self.tickets[component_appid] = (ticket_enc, received_at)

    async def get_component_ticket(self, component_appid: str) -> tuple[str, datetime] | None:
        return self.tickets.get(component_appid)


def since_epoch() -> datetime:
    return datetime.fromtimestamp(0, tz=UTC)


def _by_key(item: tuple[tuple[datetime, str, str | None], int]) -> tuple[datetime, str, str]:
    (start, result, code), _ = item
    return start, result, code or ""
