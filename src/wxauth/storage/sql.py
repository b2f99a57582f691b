"""The SQL implementation of :class:`wxauth.core.ports.Store`."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Delete,
    Insert,
    Row,
    bindparam,
    delete,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wxauth.core.insights import AppCounts, Count, EventQuery, LatencyCount, LoginCount
from wxauth.core.models import (
    ENDED_DISABLED,
    ENDED_REPLACED,
    ENDED_REVOKED,
    PUBLIC_ID_LENGTH,
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
    SESSION_REVOKED,
    LoginOutbox,
    Wanted,
    phone_bound,
    sessions_revoked,
    user_deleted,
    user_disabled,
    user_enabled,
    user_updated,
)
from wxauth.storage import insights_sql
from wxauth.storage.boundary import translated
from wxauth.storage.persons_sql import insert_ignore, link_person, update_user
from wxauth.storage.sqlite_reads import sqlite_reads
from wxauth.storage.tables import (
    SESSION_COLUMNS,
    USER_COLUMNS,
    account_events,
    apps,
    component_tickets,
    login_events,
    persons,
    sessions,
    signing_keys,
    users,
    wechat_sessions,
)
from wxauth.storage.webhooks_sql import SqlWebhookStore, write_outbox
from wxauth.storage.writes import (
    INSERT_EVENT,
    SELECT_USER_BY_OPENID,
    Writes,
    event_values,
    user_of,
    writes_for,
)

_user = user_of  # (tests and older callers import it from here)

T = TypeVar("T")


FIND_SESSION = (
    select(*SESSION_COLUMNS, *USER_COLUMNS)
    .join_from(sessions, users, sessions.c.user_id == users.c.id)
    .where(sessions.c.token_hash == bindparam("token_hash"))
)


def _session(row: Row[Any] | Mapping[str, Any]) -> Session:
    m = row._mapping if isinstance(row, Row) else row
    return Session(**{c.name: m[f"s_{c.name}"] for c in sessions.c})


def _revoke_user_sessions(
    conn: Connection,
    user_id: str,
    now: datetime,
    reason: str,
    keep: str | None,
    wanted: Wanted,
) -> int:
    live: list[ColumnElement[bool]] = [
        sessions.c.user_id == user_id,
        sessions.c.revoked_at.is_(None),
    ]
    if keep is not None:
        live.append(sessions.c.token_hash != keep)
    if not wanted:
        query = update(sessions).where(*live).values(revoked_at=now, revoked_reason=reason)
        return conn.execute(query).rowcount
    # Reported: the sessions read (locked) first, then exactly those ended.
    found = conn.execute(
        select(sessions.c.token_hash, sessions.c.appid).where(*live).with_for_update()
    ).all()
    _end_reported(conn, wanted, [(h, user_id, appid) for h, appid in found], reason, now)
    return len(found)


def _end_reported(
    conn: Connection,
    wanted: Wanted,
    ended: list[tuple[str, str, str]],
    reason: str,
    now: datetime,
) -> None:
    """End the sessions ``(token_hash, user_id, appid)`` and write their ``session.revoked``
    events, one per user."""
    hashes = [h for h, _, _ in ended]
    for start in range(0, len(hashes), 500):  # within every driver's limit of parameters
        conn.execute(
            update(sessions)
            .where(sessions.c.token_hash.in_(hashes[start : start + 500]))
            .values(revoked_at=now, revoked_reason=reason)
        )
    by_user: dict[tuple[str, str], list[str]] = {}
    for token_hash, user_id, appid in ended:
        by_user.setdefault((user_id, appid), []).append(token_hash[:PUBLIC_ID_LENGTH])
    events = [
        sessions_revoked(user_id, appid, ids, reason, now)
        for (user_id, appid), ids in by_user.items()
    ]
    write_outbox(conn, wanted.rows(events))


class SqlStore:
    """Users, sessions and session_keys in SQLite, PostgreSQL or MySQL/MariaDB.

    Reads go through the async engine (on PostgreSQL outside an explicit transaction, one
    round trip each; on a SQLite file, the token check inline). Every write is a body run by
    :attr:`writes`, the write paths of this dialect chosen when the store is built
    (:func:`wxauth.storage.writes.writes_for`): on SQLite all of them through the one writer
    thread of the process, in turn with the other processes.
    """

    def __init__(self, engine: AsyncEngine, *, webhook_ttl: float = 0.5) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name
        self._inline_reads = sqlite_reads(engine.url, FIND_SESSION)
        self.writes: Writes = writes_for(engine)
        self._autocommit_reads = self._dialect == "postgresql"
        self.webhooks = SqlWebhookStore(engine, self.writes, ttl=webhook_ttl)

    async def _wanted(self) -> Wanted:
        """The enabled subscriptions, as the writes about to run should report to."""
        return await self.webhooks.gate.current()

    def __repr__(self) -> str:
        return f"SqlStore({self._dialect})"

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncConnection]:
        """A connection, with the drivers' errors translated at the storage boundary. On
        PostgreSQL it runs each statement on its own (no ``BEGIN``/``ROLLBACK`` around a
        read: two round trips fewer)."""
        with translated():
            async with self.engine.connect() as conn:
                if self._autocommit_reads:
                    conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                yield conn

    async def _write(self, body: Callable[[Connection], T]) -> T:
        """Run ``body`` in a write transaction (see :attr:`writes`)."""
        return await self.writes.run(body)

    async def record_login(self, record: LoginRecord) -> tuple[User, bool]:
        outbox = LoginOutbox.of(await self._wanted(), record.appid, record.profile)
        return await self.writes.record_login(record, outbox)

    async def record_login_unless_blocked(self, record: LoginRecord) -> GuardedLogin:
        if self.writes.guarded_login is not None:
            outbox = LoginOutbox.of(await self._wanted(), record.appid, record.profile)
            return await self.writes.guarded_login(record, outbox)
        return await login_unless_blocked(self, record)

    async def find_session(self, token_hash: str) -> tuple[Session, User] | None:
        row: Row[Any] | Mapping[str, Any] | None = None
        if self._inline_reads is not None:
            try:
                row = self._inline_reads.first({"token_hash": token_hash})
            except sqlite3.OperationalError:
                row = await self._find_session_row(token_hash)  # busy: wait off the loop
        else:
            row = await self._find_session_row(token_hash)
        return None if row is None else (_session(row), _user(row))

    async def _find_session_row(self, token_hash: str) -> Row[Any] | None:
        async with self._reading() as conn:
            return (await conn.execute(FIND_SESSION, {"token_hash": token_hash})).first()

    async def touch_session(
        self, token_hash: str, last_seen_at: datetime, idle_expires_at: datetime
    ) -> None:
        await self.writes.touch_session(token_hash, last_seen_at, idle_expires_at)

    async def revoke_session(
        self, token_hash: str, now: datetime, *, reason: str = ENDED_REVOKED
    ) -> bool:
        query = (
            update(sessions)
            .where(sessions.c.token_hash == token_hash, sessions.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
        )
        wanted = await self._wanted()

        def body(conn: Connection) -> bool:
            if conn.execute(query).rowcount != 1:
                return False
            if wanted:
                found = conn.execute(
                    select(sessions.c.user_id, sessions.c.appid).where(
                        sessions.c.token_hash == token_hash
                    )
                ).one()
                event = sessions_revoked(
                    found.user_id, found.appid, [token_hash[:PUBLIC_ID_LENGTH]], reason, now
                )
                write_outbox(conn, wanted.rows([event]))
            return True

        return await self._write(body)

    async def get_user(self, user_id: str) -> User | None:
        async with self._reading() as conn:
            row = (await conn.execute(select(*USER_COLUMNS).where(users.c.id == user_id))).first()
        return None if row is None else _user(row)

    async def update_user(self, user_id: str, changes: dict[str, Any], now: datetime) -> User:
        wanted = await self._wanted()

        def body(conn: Connection) -> User:
            user = update_user(conn, user_id, changes, now)
            if wanted:
                write_outbox(conn, wanted.rows([user_updated(user, changes, now)]))
            return user

        return await self._write(body)

    async def get_session_key(self, appid: str, openid: str) -> str | None:
        query = select(wechat_sessions.c.session_key_enc).where(
            wechat_sessions.c.appid == appid, wechat_sessions.c.openid == openid
        )
        async with self._reading() as conn:
            value = (await conn.execute(query)).scalar_one_or_none()
        return value

    async def ping(self) -> None:
        async with self._reading() as conn:
            await conn.execute(text("SELECT 1"))

    # -- audit and operator tools ---------------------------------------------------------

    async def add_login_event(self, event: LoginEvent) -> None:
        values = event_values(event, user_id=event.user_id)
        await self._write(lambda conn: conn.execute(INSERT_EVENT, values))

    async def list_login_events(
        self, *, limit: int, user_id: str | None = None
    ) -> list[LoginEvent]:
        query = select(login_events).order_by(login_events.c.id.desc()).limit(limit)
        if user_id is not None:
            query = query.where(login_events.c.user_id == user_id)
        async with self._reading() as conn:
            rows = (await conn.execute(query)).all()
        return [LoginEvent(**row._mapping) for row in rows]

    async def purge_login_events(self, before: datetime) -> int:
        query = delete(login_events).where(login_events.c.at < before)
        return await self._write(lambda conn: conn.execute(query).rowcount)

    async def avatar_urls(self, containing: str) -> set[str]:
        url = users.c.avatar_url
        query = select(url).where(url.contains(containing, autoescape=True)).distinct()
        async with self._reading() as conn:
            return set((await conn.scalars(query)).all())

    async def list_users(
        self, *, appid: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[User]:
        query = select(*USER_COLUMNS).order_by(users.c.created_at, users.c.id)
        if appid is not None:
            query = query.where(users.c.appid == appid)
        async with self._reading() as conn:
            rows = (await conn.execute(query.limit(limit).offset(offset))).all()
        return [_user(row) for row in rows]

    async def list_sessions(self, user_id: str) -> list[Session]:
        query = (
            select(*SESSION_COLUMNS)
            .where(sessions.c.user_id == user_id)
            .order_by(sessions.c.created_at.desc())
        )
        async with self._reading() as conn:
            rows = (await conn.execute(query)).all()
        return [_session(row) for row in rows]

    async def revoke_user_sessions(
        self,
        user_id: str,
        now: datetime,
        *,
        reason: str = ENDED_REVOKED,
        keep: str | None = None,
    ) -> int:
        wanted = await self._wanted()
        return await self._write(
            lambda conn: _revoke_user_sessions(conn, user_id, now, reason, keep, wanted)
        )

    # -- accounts -------------------------------------------------------------------------

    async def find_user(self, appid: str, openid: str) -> User | None:
        async with self._reading() as conn:
            row = (
                await conn.execute(SELECT_USER_BY_OPENID, {"appid": appid, "openid": openid})
            ).first()
        return None if row is None else _user(row)

    async def cap_sessions(
        self, user_id: str, appid: str, *, keep: str, cap: int, now: datetime
    ) -> list[str]:
        live = (
            select(sessions.c.token_hash)
            .where(
                sessions.c.user_id == user_id,
                sessions.c.appid == appid,
                sessions.c.token_hash != keep,
                sessions.c.revoked_at.is_(None),
                sessions.c.idle_expires_at > now,
                sessions.c.expires_at > now,
            )
            .order_by(sessions.c.last_seen_at.desc(), sessions.c.created_at.desc())
        )

        wanted = await self._wanted()

        def body(conn: Connection) -> list[str]:
            hashes = list(conn.scalars(live).all())[max(cap - 1, 0) :]
            if hashes:
                conn.execute(
                    update(sessions)
                    .where(sessions.c.token_hash.in_(hashes), sessions.c.revoked_at.is_(None))
                    .values(revoked_at=now, revoked_reason=ENDED_REPLACED)
                )
                if wanted:
                    ids = [h[:PUBLIC_ID_LENGTH] for h in hashes]
                    event = sessions_revoked(user_id, appid, ids, ENDED_REPLACED, now)
                    write_outbox(conn, wanted.rows([event]))
            return hashes

        return await self._write(body)

    async def disable_user(
        self, user_id: str, *, reason: str, ends_at: datetime | None, now: datetime
    ) -> User:
        changes = {"status": USER_DISABLED, "disabled_reason": reason, "disabled_ends_at": ends_at}
        wanted = await self._wanted()

        def body(conn: Connection) -> User:
            user = update_user(conn, user_id, changes, now)
            if wanted:
                write_outbox(conn, wanted.rows([user_disabled(user, now)]))
            _revoke_user_sessions(conn, user_id, now, ENDED_DISABLED, None, wanted)
            return user

        return await self._write(body)

    async def enable_user(self, user_id: str, now: datetime) -> User:
        changes = {"status": USER_ACTIVE, "disabled_reason": None, "disabled_ends_at": None}
        wanted = await self._wanted()

        def body(conn: Connection) -> User:
            user = update_user(conn, user_id, changes, now)
            if wanted:
                write_outbox(conn, wanted.rows([user_enabled(user, now)]))
            return user

        return await self._write(body)

    async def due_deletions(self, now: datetime, *, limit: int = 100) -> list[str]:
        due = users.c.deletion_due_at
        query = (
            select(users.c.id)
            .where(due.is_not(None), due <= now)
            .order_by(due, users.c.id)
            .limit(limit)
        )
        async with self._reading() as conn:
            return list((await conn.scalars(query)).all())

    async def add_account_event(self, event: AccountEvent) -> None:
        values = {c.name: getattr(event, c.name) for c in account_events.c if c.name != "id"}
        await self._write(lambda conn: conn.execute(account_events.insert(), values))

    async def list_account_events(
        self, *, limit: int, user_id: str | None = None
    ) -> list[AccountEvent]:
        query = select(account_events).order_by(account_events.c.id.desc()).limit(limit)
        if user_id is not None:
            query = query.where(account_events.c.user_id == user_id)
        async with self._reading() as conn:
            rows = (await conn.execute(query)).all()
        return [AccountEvent(**row._mapping) for row in rows]

    async def delete_user(self, user_id: str) -> bool:
        wanted = await self._wanted()
        return await self._write(lambda conn: _delete_user(conn, user_id, wanted))

    async def set_phone(self, user_id: str, phone: str, country_code: str, now: datetime) -> User:
        changes = {"phone": phone, "phone_country_code": country_code}
        wanted = await self._wanted()

        def body(conn: Connection) -> User:
            user = update_user(conn, user_id, changes, now)
            if wanted:
                write_outbox(conn, wanted.rows([phone_bound(user, now)]))
            return user

        return await self._write(body)

    async def delete_expired_sessions(self, before: datetime, *, batch_size: int = 1000) -> int:
        """Delete sessions whose idle expiry is before ``before``; return how many.

        The idle expiry never passes the absolute one, so this catches both, and revoked
        sessions too once their idle expiry has passed. Deletes in batches of
        ``batch_size``, one short transaction each, so that logins are never held up.
        """
        deleted = 0
        while True:
            count = await self._write(self._expired_batch(before, batch_size))
            deleted += count
            if count < batch_size:
                return deleted

    def _expired_batch(self, before: datetime, batch_size: int) -> Callable[[Connection], int]:
        """One batch of the expired sessions deleted: how many."""
        query = self._expired_query(before, batch_size)
        return lambda conn: conn.execute(query).rowcount

    def _expired_query(self, before: datetime, batch_size: int) -> Delete:
        expired = sessions.c.idle_expires_at < before
        if self._dialect in ("mysql", "mariadb"):
            # MySQL takes no LIMIT in an IN subquery, but a LIMIT on DELETE itself.
            return delete(sessions).where(expired).with_dialect_options(mysql_limit=batch_size)
        batch = select(sessions.c.token_hash).where(expired).limit(batch_size)
        return delete(sessions).where(sessions.c.token_hash.in_(batch))

    # -- signing keys (access JWTs) ---------------------------------------------------------

    async def add_signing_key(self, key: SigningKey) -> None:
        values = {c.name: getattr(key, c.name) for c in signing_keys.c}
        retire = (
            update(signing_keys)
            .where(signing_keys.c.retired_at.is_(None))
            .values(retired_at=key.created_at)
        )

        def write(conn: Connection) -> None:
            conn.execute(retire)
            conn.execute(signing_keys.insert(), values)

        await self._write(write)

    async def list_signing_keys(self) -> list[SigningKey]:
        query = select(signing_keys).order_by(
            signing_keys.c.created_at.desc(), signing_keys.c.kid.desc()
        )
        async with self._reading() as conn:
            rows = (await conn.execute(query)).all()
        return [SigningKey(**row._mapping) for row in rows]

    async def delete_signing_keys(self, retired_before: datetime) -> int:
        retired = signing_keys.c.retired_at
        query = delete(signing_keys).where(retired.is_not(None), retired < retired_before)

        def write(conn: Connection) -> int:
            return int(conn.execute(query).rowcount)

        return await self._write(write)

    # -- the operator console (queries in wxauth.storage.insights_sql) --------------------

    async def search_users(
        self, query: str, *, appid: str | None = None, limit: int = 50
    ) -> list[User]:
        statement = insights_sql.search_users_query(query, appid, limit)
        async with self._reading() as conn:
            rows = (await conn.execute(statement)).all()
        return [_user(row) for row in rows]

    async def login_counts(
        self, since: datetime, *, bucket_s: int, appid: str | None = None
    ) -> list[LoginCount]:
        statement = insights_sql.login_counts_query(since, bucket_s, appid, self._dialect)
        async with self._reading() as conn:
            rows = (await conn.execute(statement)).all()
        return [
            LoginCount(insights_sql.from_epoch(start), result, code, count)
            for start, result, code, count in rows
        ]

    async def new_user_counts(
        self, since: datetime, *, bucket_s: int, appid: str | None = None
    ) -> list[Count]:
        statement = insights_sql.new_user_counts_query(since, bucket_s, appid, self._dialect)
        async with self._reading() as conn:
            rows = (await conn.execute(statement)).all()
        return [Count(insights_sql.from_epoch(start), count) for start, count in rows]

    async def count_live_sessions(self, now: datetime, *, appid: str | None = None) -> int:
        async with self._reading() as conn:
            count = (await conn.execute(insights_sql.live_sessions_query(now, appid))).scalar()
        return int(count or 0)

    async def latency_counts(
        self, since: datetime, *, bucket_s: int, appid: str | None = None
    ) -> list[LatencyCount]:
        statement = insights_sql.latency_counts_query(since, bucket_s, appid, self._dialect)
        async with self._reading() as conn:
            rows = (await conn.execute(statement)).all()
        return [
            LatencyCount(insights_sql.from_epoch(start), int(ms), count)
            for start, ms, count in rows
        ]

    async def app_counts(self, now: datetime) -> list[AppCounts]:
        async with self._reading() as conn:
            people = dict((await conn.execute(insights_sql.users_per_app_query())).all())
            live = dict((await conn.execute(insights_sql.live_sessions_per_app_query(now))).all())
        return [
            AppCounts(appid, int(people.get(appid, 0)), int(live.get(appid, 0)))
            for appid in sorted(set(people) | set(live))
        ]

    async def search_login_events(self, query: EventQuery) -> list[LoginEvent]:
        async with self._reading() as conn:
            rows = (await conn.execute(insights_sql.login_events_query(query))).all()
        return [LoginEvent(**row._mapping) for row in rows]

    # -- apps, persons and the platform ---------------------------------------------------

    def _insert_ignore(self, table: Any, values: dict[str, Any]) -> Insert:
        return insert_ignore(self._dialect, table, values)

    async def save_app(self, app: App) -> App:
        values = {c.name: getattr(app, c.name) for c in apps.c}
        now = app.updated_at or app.created_at
        values["created_at"] = app.created_at or now
        values["updated_at"] = now

        def write(conn: Connection) -> None:
            conn.execute(delete(apps).where(apps.c.appid == app.appid))
            conn.execute(apps.insert(), values)

        await self._write(write)
        return App(**values)

    async def get_app(self, appid: str) -> App | None:
        async with self._reading() as conn:
            row = (await conn.execute(select(apps).where(apps.c.appid == appid))).first()
        return None if row is None else App(**row._mapping)

    async def list_apps(self) -> list[App]:
        async with self._reading() as conn:
            rows = (await conn.execute(select(apps).order_by(apps.c.appid))).all()
        return [App(**row._mapping) for row in rows]

    async def revoke_app_sessions(self, appid: str, now: datetime, *, reason: str) -> int:
        live = (sessions.c.appid == appid, sessions.c.revoked_at.is_(None))
        wanted = await self._wanted()
        if not wanted.wants(SESSION_REVOKED, appid):
            query = update(sessions).where(*live).values(revoked_at=now, revoked_reason=reason)
            return await self._write(lambda conn: int(conn.execute(query).rowcount))

        def body(conn: Connection) -> int:
            found = conn.execute(
                select(sessions.c.token_hash, sessions.c.user_id).where(*live).with_for_update()
            ).all()
            _end_reported(conn, wanted, [(h, u, appid) for h, u in found], reason, now)
            return len(found)

        return await self._write(body)

    async def link_person(self, user_id: str, unionid: str, now: datetime) -> User:
        wanted = await self._wanted()
        dialect = self._dialect

        def write(conn: Connection) -> User:
            own = None
            if wanted:  # reported: the person it had
                row = conn.execute(select(*USER_COLUMNS).where(users.c.id == user_id)).first()
                own = None if row is None else _user(row).person
            user = link_person(conn, dialect, user_id, unionid, now)
            if wanted and user.person != own:
                changes = {"person_id": user.person}
                write_outbox(conn, wanted.rows([user_updated(user, changes, now)]))
            return user

        return await self._write(write)

    async def person_users(self, person_id: str) -> list[User]:
        linked = users.c.person_id == person_id
        itself = (users.c.id == person_id) & users.c.person_id.is_(None)
        query = (
            select(*USER_COLUMNS).where(linked | itself).order_by(users.c.created_at, users.c.id)
        )
        async with self._reading() as conn:
            rows = (await conn.execute(query)).all()
        return [_user(row) for row in rows]

    async def set_person(
        self, user_ids: Sequence[str], person_id: str, *, merged: str | None, now: datetime
    ) -> int:
        if merged is not None:
            mark = update(persons).where(persons.c.id == merged).values(merged_into=person_id)
        else:
            mark = update(persons).where(persons.c.id == person_id).values(merged_into=None)

        wanted = await self._wanted()

        def write(conn: Connection) -> int:
            moved = 0
            if user_ids and wanted:  # reported: the users read (locked) first
                query = select(*USER_COLUMNS).where(users.c.id.in_(list(user_ids)))
                before = [_user(row) for row in conn.execute(query.with_for_update()).all()]
                changes = {"person_id": person_id}
                events = [
                    user_updated(dataclasses.replace(u, person_id=person_id), changes, now)
                    for u in before
                    if u.person != person_id
                ]
                write_outbox(conn, wanted.rows(events))
            if user_ids:
                result = conn.execute(
                    update(users)
                    .where(users.c.id.in_(list(user_ids)))
                    .values(person_id=person_id, updated_at=now)
                )
                moved = int(result.rowcount)
            conn.execute(mark)
            return moved

        return await self._write(write)

    async def save_component_ticket(
        self, component_appid: str, ticket_enc: str, received_at: datetime
    ) -> None:
        table = component_tickets
        values = {
            "component_appid": component_appid,
            "ticket_enc": ticket_enc,
            "received_at": received_at,
        }
        newer = (
            update(table)
            .where(table.c.component_appid == component_appid)
            .where(table.c.received_at <= received_at)
            .values(ticket_enc=ticket_enc, received_at=received_at)
        )

        def write(conn: Connection) -> None:
            conn.execute(self._insert_ignore(table, values))
            conn.execute(newer)

        await self._write(write)

    async def get_component_ticket(self, component_appid: str) -> tuple[str, datetime] | None:
        table = component_tickets
        query = select(table.c.ticket_enc, table.c.received_at).where(
            table.c.component_appid == component_appid
        )
        async with self._reading() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else (row.ticket_enc, row.received_at)


def _delete_user(conn: Connection, user_id: str, wanted: Wanted) -> bool:
    found = conn.execute(select(*USER_COLUMNS).where(users.c.id == user_id)).first()
    if found is None:
        return False
    row = _user(found)
    if wanted:
        write_outbox(conn, wanted.rows([user_deleted(row, datetime.now(UTC))]))
    conn.execute(delete(sessions).where(sessions.c.user_id == user_id))
    conn.execute(
        delete(wechat_sessions).where(
            wechat_sessions.c.appid == row.appid, wechat_sessions.c.openid == row.openid
        )
    )
    conn.execute(delete(login_events).where(login_events.c.user_id == user_id))
    conn.execute(update(account_events).where(account_events.c.user_id == user_id).values(ip=None))
    conn.execute(delete(users).where(users.c.id == user_id))
    return True
