"""The SQL implementation of :class:`wxauth.core.ports.Store`."""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Delete, Insert, Row, bindparam, delete, func, select, text, update
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wxauth.core.insights import Count, EventQuery, LoginCount
from wxauth.core.models import (
    ENDED_DISABLED,
    ENDED_REPLACED,
    ENDED_REVOKED,
    USER_ACTIVE,
    USER_DISABLED,
    AccountEvent,
    App,
    LoginEvent,
    LoginRecord,
    Session,
    User,
)
from wxauth.errors import NotFound
from wxauth.storage import insights_sql
from wxauth.storage.boundary import translated
from wxauth.storage.engine import sqlite_thread_engine
from wxauth.storage.group_commit import GroupCommitWriter
from wxauth.storage.login_sql import LoginStatements
from wxauth.storage.sqlite_reads import sqlite_reads
from wxauth.storage.sqlite_writes import SqliteLoginWrites
from wxauth.storage.tables import (
    SESSION_COLUMNS,
    USER_COLUMNS,
    account_events,
    apps,
    component_tickets,
    login_events,
    persons,
    sessions,
    users,
    wechat_sessions,
)

T = TypeVar("T")


FIND_SESSION = (
    select(*SESSION_COLUMNS, *USER_COLUMNS)
    .join_from(sessions, users, sessions.c.user_id == users.c.id)
    .where(sessions.c.token_hash == bindparam("token_hash"))
)


INSERT_SESSION = sessions.insert()
INSERT_EVENT = login_events.insert()
SELECT_USER_BY_OPENID = select(*USER_COLUMNS).where(
    users.c.appid == bindparam("appid"), users.c.openid == bindparam("openid")
)


def _close_writer(writer: GroupCommitWriter, engine: Engine) -> None:
    writer.stop()
    engine.dispose()


def _event_values(event: LoginEvent, *, user_id: str | None) -> dict[str, Any]:
    values = {c.name: getattr(event, c.name) for c in login_events.c if c.name != "id"}
    values["user_id"] = user_id
    return values


def _user(row: Row[Any] | Mapping[str, Any]) -> User:
    m = row._mapping if isinstance(row, Row) else row
    return User(**{c.name: m[f"u_{c.name}"] for c in users.c})


def _session(row: Row[Any] | Mapping[str, Any]) -> Session:
    m = row._mapping if isinstance(row, Row) else row
    return Session(**{c.name: m[f"s_{c.name}"] for c in sessions.c})


async def _update_user(
    conn: AsyncConnection, user_id: str, changes: dict[str, Any], now: datetime
) -> User:
    await conn.execute(update(users).where(users.c.id == user_id).values(updated_at=now, **changes))
    row = (await conn.execute(select(*USER_COLUMNS).where(users.c.id == user_id))).first()
    if row is None:
        raise NotFound("No such user.")
    return _user(row)


async def _revoke_user_sessions(
    conn: AsyncConnection, user_id: str, now: datetime, reason: str, keep: str | None
) -> int:
    query = update(sessions).where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
    if keep is not None:
        query = query.where(sessions.c.token_hash != keep)
    result = await conn.execute(query.values(revoked_at=now, revoked_reason=reason))
    return result.rowcount


class SqlStore:
    """Users, sessions and session_keys in SQLite, PostgreSQL or MySQL/MariaDB."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name
        self._statements = LoginStatements.for_dialect(engine.dialect)
        self._inline_reads = sqlite_reads(engine.url, FIND_SESSION)
        self._writer: GroupCommitWriter | None = None
        self._login_writes: SqliteLoginWrites | None = None
        thread_engine = sqlite_thread_engine(engine)
        if thread_engine is not None:
            lock = f"{thread_engine.url.database}-writelock"
            self._writer = GroupCommitWriter(thread_engine, lock_path=lock)
            weakref.finalize(self, _close_writer, self._writer, thread_engine)
            if self._statements.returning:
                self._login_writes = SqliteLoginWrites(self._statements, thread_engine.dialect)
                # One object for the writer to group logins by (each attribute access would
                # make a new bound method).
                self._write_logins = self._login_writes.write

    def __repr__(self) -> str:
        return f"SqlStore({self._dialect})"

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncConnection]:
        """A connection, with the drivers' errors translated at the storage boundary."""
        with translated():
            async with self.engine.connect() as conn:
                yield conn

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction that commits at the end, errors translated."""
        with translated():
            async with self.engine.begin() as conn:
                yield conn

    async def _write(self, body: Callable[[Connection], T]) -> T:
        """Run ``body`` in a write transaction: on SQLite, grouped with the other writes
        queued meanwhile (:mod:`wxauth.storage.group_commit`); elsewhere, its own transaction
        through the async engine."""
        if self._writer is not None:
            with translated():
                return await self._writer.run(body)
        async with self._writing() as conn:
            return await conn.run_sync(body)

    async def record_login(self, record: LoginRecord) -> tuple[User, bool]:
        if self._writer is not None and self._login_writes is not None:
            prepared = self._login_writes.prepare(record, record.new_user_id)
            with translated():
                result: tuple[User, bool] = await self._writer.run_item(
                    self._write_logins, prepared
                )
            return result
        return await self._write(lambda conn: self._record_logins(conn, [record])[0])

    def _record_logins(
        self, conn: Connection, records: list[LoginRecord]
    ) -> list[tuple[User, bool]]:
        """The users upserted one by one (each returns its row), then the session_keys, the
        sessions and the events each in one ``executemany``, in the records' order."""
        found = [self._upsert_user(conn, r, r.session.created_at) for r in records]
        conn.execute(
            self._statements.save_session_key,
            [
                {
                    "appid": r.appid,
                    "openid": r.openid,
                    "session_key_enc": r.session_key_ciphertext,
                    "updated_at": r.session.created_at,
                }
                for r in records
            ],
        )
        conn.execute(
            INSERT_SESSION,
            [
                {**{c.name: getattr(r.session, c.name) for c in sessions.c}, "user_id": user.id}
                for r, (user, _) in zip(records, found, strict=True)
            ],
        )
        events = [
            _event_values(r.event, user_id=user.id)
            for r, (user, _) in zip(records, found, strict=True)
            if r.event is not None
        ]
        if events:
            conn.execute(INSERT_EVENT, events)
        return found

    def _upsert_user(
        self, conn: Connection, record: LoginRecord, now: datetime
    ) -> tuple[User, bool]:
        """Insert the user, or update its login fields; the row, and True when inserted."""
        new_id = record.new_user_id
        values = {
            "id": new_id,
            "appid": record.appid,
            "openid": record.openid,
            "unionid": record.unionid,
            "created_at": now,
            "updated_at": now,
            "last_login_at": now,
            **record.profile,
        }
        upsert = self._statements.upsert_user(tuple(sorted(record.profile)))
        if self._statements.returning:
            row = conn.execute(upsert, values).one()
        else:
            conn.execute(upsert, values)
            row = conn.execute(
                SELECT_USER_BY_OPENID, {"appid": record.appid, "openid": record.openid}
            ).one()
        user = _user(row)
        return user, user.id == new_id

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
        async with self._writing() as conn:
            await conn.execute(
                update(sessions)
                .where(sessions.c.token_hash == token_hash)
                .values(last_seen_at=last_seen_at, idle_expires_at=idle_expires_at)
            )

    async def revoke_session(
        self, token_hash: str, now: datetime, *, reason: str = ENDED_REVOKED
    ) -> bool:
        async with self._writing() as conn:
            result = await conn.execute(
                update(sessions)
                .where(sessions.c.token_hash == token_hash, sessions.c.revoked_at.is_(None))
                .values(revoked_at=now, revoked_reason=reason)
            )
        return result.rowcount == 1

    async def get_user(self, user_id: str) -> User | None:
        async with self._reading() as conn:
            row = (await conn.execute(select(*USER_COLUMNS).where(users.c.id == user_id))).first()
        return None if row is None else _user(row)

    async def update_user(self, user_id: str, changes: dict[str, Any], now: datetime) -> User:
        async with self._writing() as conn:
            return await _update_user(conn, user_id, changes, now)

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
        values = _event_values(event, user_id=event.user_id)
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
        async with self._writing() as conn:
            result = await conn.execute(delete(login_events).where(login_events.c.at < before))
        return result.rowcount

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
        async with self._writing() as conn:
            return await _revoke_user_sessions(conn, user_id, now, reason, keep)

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
        async with self._writing() as conn:
            hashes = list((await conn.scalars(live)).all())[max(cap - 1, 0) :]
            if hashes:
                await conn.execute(
                    update(sessions)
                    .where(sessions.c.token_hash.in_(hashes), sessions.c.revoked_at.is_(None))
                    .values(revoked_at=now, revoked_reason=ENDED_REPLACED)
                )
        return hashes

    async def disable_user(
        self, user_id: str, *, reason: str, ends_at: datetime | None, now: datetime
    ) -> User:
        changes = {"status": USER_DISABLED, "disabled_reason": reason, "disabled_ends_at": ends_at}
        async with self._writing() as conn:
            user = await _update_user(conn, user_id, changes, now)
            await _revoke_user_sessions(conn, user_id, now, ENDED_DISABLED, None)
        return user

    async def enable_user(self, user_id: str, now: datetime) -> User:
        changes = {"status": USER_ACTIVE, "disabled_reason": None, "disabled_ends_at": None}
        async with self._writing() as conn:
            return await _update_user(conn, user_id, changes, now)

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
        async with self._writing() as conn:
            await conn.execute(account_events.insert(), values)

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
        async with self._writing() as conn:
            row = (
                await conn.execute(
                    select(users.c.appid, users.c.openid).where(users.c.id == user_id)
                )
            ).first()
            if row is None:
                return False
            await conn.execute(delete(sessions).where(sessions.c.user_id == user_id))
            await conn.execute(
                delete(wechat_sessions).where(
                    wechat_sessions.c.appid == row.appid, wechat_sessions.c.openid == row.openid
                )
            )
            await conn.execute(delete(login_events).where(login_events.c.user_id == user_id))
            await conn.execute(
                update(account_events).where(account_events.c.user_id == user_id).values(ip=None)
            )
            await conn.execute(delete(users).where(users.c.id == user_id))
        return True

    async def set_phone(self, user_id: str, phone: str, country_code: str, now: datetime) -> User:
        return await self.update_user(
            user_id, {"phone": phone, "phone_country_code": country_code}, now
        )

    async def delete_expired_sessions(self, before: datetime, *, batch_size: int = 1000) -> int:
        """Delete sessions whose idle expiry is before ``before``; return how many.

        The idle expiry never passes the absolute one, so this catches both, and revoked
        sessions too once their idle expiry has passed. Deletes in batches of
        ``batch_size``, one short transaction each, so that logins are never held up.
        """
        deleted = 0
        while True:
            async with self._writing() as conn:
                count = (await conn.execute(self._expired_batch(before, batch_size))).rowcount
            deleted += count
            if count < batch_size:
                return deleted

    def _expired_batch(self, before: datetime, batch_size: int) -> Delete:
        expired = sessions.c.idle_expires_at < before
        if self._dialect in ("mysql", "mariadb"):
            # MySQL takes no LIMIT in an IN subquery, but a LIMIT on DELETE itself.
            return delete(sessions).where(expired).with_dialect_options(mysql_limit=batch_size)
        batch = select(sessions.c.token_hash).where(expired).limit(batch_size)
        return delete(sessions).where(sessions.c.token_hash.in_(batch))

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

    async def search_login_events(self, query: EventQuery) -> list[LoginEvent]:
        async with self._reading() as conn:
            rows = (await conn.execute(insights_sql.login_events_query(query))).all()
        return [LoginEvent(**row._mapping) for row in rows]

    # -- apps, persons and the platform ---------------------------------------------------

    def _insert_ignore(self, table: Any, values: dict[str, Any]) -> Insert:
        """An insert that does nothing when the row (by any unique key) is there."""
        if self._dialect == "postgresql":
            return postgresql.insert(table).values(values).on_conflict_do_nothing()
        if self._dialect == "sqlite":
            return sqlite.insert(table).values(values).on_conflict_do_nothing()
        # Not INSERT IGNORE: its shared lock on a duplicate deadlocks a racing writer that
        # then reads the row for update; a no-op update locks it exclusively at once.
        key = next(iter(table.primary_key.columns))
        return mysql.insert(table).values(values).on_duplicate_key_update({key.name: key})

    async def save_app(self, app: App) -> App:
        values = {c.name: getattr(app, c.name) for c in apps.c}
        now = app.updated_at or app.created_at
        values["created_at"] = app.created_at or now
        values["updated_at"] = now
        async with self._writing() as conn:
            await conn.execute(delete(apps).where(apps.c.appid == app.appid))
            await conn.execute(apps.insert(), values)
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
        async with self._writing() as conn:
            result = await conn.execute(
                update(sessions)
                .where(sessions.c.appid == appid, sessions.c.revoked_at.is_(None))
                .values(revoked_at=now, revoked_reason=reason)
            )
        return result.rowcount

    async def link_person(self, user_id: str, unionid: str, now: datetime) -> User:
        async with self._writing() as conn:
            row = (await conn.execute(select(*USER_COLUMNS).where(users.c.id == user_id))).first()
            if row is None:
                raise NotFound("No such user.")
            own = _user(row).person
            # The unique unionid settles a race: every linker then reads the one row.
            person = {"id": own, "unionid": unionid, "merged_into": None, "created_at": now}
            await conn.execute(self._insert_ignore(persons, person))
            # A locking read sees the row a racing linker committed meanwhile (MySQL's plain
            # reads keep the transaction's first snapshot).
            query = select(persons.c.id).where(persons.c.unionid == unionid).with_for_update()
            found = (await conn.execute(query)).scalar_one_or_none()
            target = own if found is None else await _resolved(conn, found)
            changes = {"person_id": target, "unionid": func.coalesce(users.c.unionid, unionid)}
            return await _update_user(conn, user_id, changes, now)

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
        async with self._writing() as conn:
            moved = 0
            if user_ids:
                result = await conn.execute(
                    update(users)
                    .where(users.c.id.in_(list(user_ids)))
                    .values(person_id=person_id, updated_at=now)
                )
                moved = result.rowcount
            if merged is not None:
                mark = update(persons).where(persons.c.id == merged).values(merged_into=person_id)
            else:
                mark = update(persons).where(persons.c.id == person_id).values(merged_into=None)
            await conn.execute(mark)
        return moved

    async def save_component_ticket(
        self, component_appid: str, ticket_enc: str, received_at: datetime
    ) -> None:
        table = component_tickets
        values = {
            "component_appid": component_appid,
            "ticket_enc": ticket_enc,
            "received_at": received_at,
        }
        async with self._writing() as conn:
            await conn.execute(self._insert_ignore(table, values))
            await conn.execute(
                update(table)
                .where(table.c.component_appid == component_appid)
                .where(table.c.received_at <= received_at)
                .values(ticket_enc=ticket_enc, received_at=received_at)
            )

    async def get_component_ticket(self, component_appid: str) -> tuple[str, datetime] | None:
        table = component_tickets
        query = select(table.c.ticket_enc, table.c.received_at).where(
            table.c.component_appid == component_appid
        )
        async with self._reading() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else (row.ticket_enc, row.received_at)


async def _resolved(conn: AsyncConnection, person_id: str) -> str:
    """Follow operators' merges from ``person_id`` to the person its users are now in."""
    for _ in range(16):  # merges form short chains; never loop on a cycle
        merged = (
            await conn.execute(select(persons.c.merged_into).where(persons.c.id == person_id))
        ).scalar_one_or_none()
        if merged is None:
            break
        person_id = merged
    return person_id
