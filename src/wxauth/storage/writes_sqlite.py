"""SQLite's writes: every one through the process's group-commit writer thread, which takes
turns with the other processes on the file (:mod:`wxauth.storage.group_commit`); a login's
as plain ``sqlite3`` calls, with everything else done beforehand; touches batched.

On SQLite the write lock is the one thing the processes of a server share: whatever a writer
does while it holds it, every other writer waits for. Through SQLAlchemy each statement costs
some hundreds of microseconds of Python, and a writer thread does that work while competing for
the GIL with its process's event loop, so the lock is held several times longer than SQLite
needs. Here the statements (the same ones as :mod:`wxauth.storage.login_sql`) are compiled
once, each login's parameters are bound and converted by the caller on its event loop (by
each bound type's public ``bind_processor``, and for ``UTCDateTime`` by the one-step
equivalent, :mod:`wxauth.storage.compiled`), and the writer thread only runs the
statements: one per user (its upsert returns the row), then one ``executemany`` each for
the session_keys, the sessions and the events.
"""

from __future__ import annotations

import functools
import sqlite3
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Dialect, Engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from wxauth.core.models import LoginRecord, User
from wxauth.core.webhooks import LoginOutbox
from wxauth.storage.boundary import translated
from wxauth.storage.compiled import Compiled
from wxauth.storage.group_commit import GroupCommitWriter
from wxauth.storage.login_sql import LoginStatements
from wxauth.storage.persons_sql import link_new_user
from wxauth.storage.tables import UTCDateTime, login_events, sessions, users, webhook_deliveries
from wxauth.storage.writes import TOUCH, GuardedWrite, touch_values, write_logins

T = TypeVar("T")

USER_KEYS = ("id", "appid", "openid", "unionid", "created_at", "updated_at", "last_login_at")
SESSION_KEYS = tuple(c.name for c in sessions.c)
EVENT_KEYS = tuple(c.name for c in login_events.c if c.name != "id")
SESSION_KEY_KEYS = ("appid", "openid", "session_key_enc", "updated_at")
USER_TIMES = [isinstance(c.type, UTCDateTime) for c in users.c]


@dataclass(frozen=True)
class PreparedLogin:
    """One login's parameters, ready to run: only the user id is filled in later."""

    upsert: Compiled
    user: tuple[Any, ...]
    new_id: str
    session_key: tuple[Any, ...]
    session: list[Any]  # user_id goes in at USER_ID_AT
    event: list[Any] | None
    # A first login's UnionID: the user it creates is linked to their person in the batch.
    unionid: str | None = field(default=None, repr=False)
    # What the login reports to webhooks, made into rows once the user is known.
    outbox: LoginOutbox | None = None
    record: LoginRecord | None = None


class SqliteLoginWrites:
    """Prepares logins on the event loop; writes a batch of them in the writer thread."""

    def __init__(self, statements: LoginStatements, dialect: Dialect) -> None:
        self._statements = statements
        self._dialect = dialect
        self._session_key = Compiled.of(statements.save_session_key, dialect, SESSION_KEY_KEYS)
        self._session = Compiled.of(sessions.insert(), dialect, SESSION_KEYS)
        self._event = Compiled.of(login_events.insert(), dialect, EVENT_KEYS)
        self._session_user_at = self._session.keys.index("user_id")
        self._event_user_at = self._event.keys.index("user_id")

    @functools.lru_cache(maxsize=256)  # noqa: B019 (one instance per store, few profiles)
    def _upsert(self, profile_columns: tuple[str, ...]) -> Compiled:
        upsert = self._statements.upsert_user(profile_columns)
        return Compiled.of(upsert, self._dialect, USER_KEYS + profile_columns)

    def prepare(
        self, record: LoginRecord, new_id: str, outbox: LoginOutbox | None = None
    ) -> PreparedLogin:
        now = record.session.created_at
        profile = tuple(sorted(record.profile))
        upsert = self._upsert(profile)
        user = {
            "id": new_id,
            "appid": record.appid,
            "openid": record.openid,
            "unionid": record.unionid,
            "created_at": now,
            "updated_at": now,
            "last_login_at": now,
            **record.profile,
        }
        key = {
            "appid": record.appid,
            "openid": record.openid,
            "session_key_enc": record.session_key_ciphertext,
            "updated_at": now,
        }
        session = {name: getattr(record.session, name) for name in SESSION_KEYS}
        event = None
        if record.event is not None:
            event = list(self._event.params({k: getattr(record.event, k) for k in EVENT_KEYS}))
        return PreparedLogin(
            upsert=upsert,
            user=upsert.params(user),
            new_id=new_id,
            session_key=self._session_key.params(key),
            session=list(self._session.params(session)),
            event=event,
            unionid=record.unionid,
            outbox=outbox,
            record=None if outbox is None else record,
        )

    def write(self, conn: Connection, batch: list[PreparedLogin]) -> list[tuple[User, bool]]:
        """Run ``batch`` on ``conn``'s own sqlite3 connection, in its transaction."""
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            found = self._write(cursor, batch)
        except sqlite3.Error as exc:  # as SQLAlchemy would raise it; never with the values
            raise DBAPIError.instance(None, None, exc, sqlite3.Error) from None
        finally:
            cursor.close()
        # A user created with a UnionID joins (or founds) their person in the same
        # transaction, instead of a write of its own after the login.
        for i, (login, (user, created)) in enumerate(zip(batch, found, strict=True)):
            if created and login.unionid is not None:
                found[i] = (link_new_user(conn, "sqlite", user, login.unionid), True)
        # Then the webhook rows, of the users as they are now (their person linked).
        rows = [
            row
            for login, (user, created) in zip(batch, found, strict=True)
            if login.outbox is not None and login.record is not None
            for row in login.outbox.rows(
                user, created, login.record.profile, login.record.session.created_at
            )
        ]
        if rows:
            conn.execute(webhook_deliveries.insert(), rows)
        return found

    def _write(self, cursor: Any, batch: list[PreparedLogin]) -> list[tuple[User, bool]]:
        found: list[tuple[User, bool]] = []
        for login in batch:
            row = cursor.execute(login.upsert.sql, login.user).fetchone()
            user = _user(row)
            found.append((user, user.id == login.new_id))
        cursor.executemany(self._session_key.sql, [login.session_key for login in batch])
        session_rows, event_rows = [], []
        for login, (user, _) in zip(batch, found, strict=True):
            login.session[self._session_user_at] = user.id
            session_rows.append(login.session)
            if login.event is not None:
                login.event[self._event_user_at] = user.id
                event_rows.append(login.event)
        cursor.executemany(self._session.sql, session_rows)
        if event_rows:
            cursor.executemany(self._event.sql, event_rows)
        return found


def _user(row: Sequence[Any]) -> User:
    values: dict[str, Any] = {
        column.name: _utc(value) if is_time and value is not None else value
        for column, is_time, value in zip(users.c, USER_TIMES, row, strict=True)
    }
    return User(**values)


def _utc(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _close_writer(writer: GroupCommitWriter, engine: Engine) -> None:
    writer.stop()
    engine.dispose()


def _touch_batch(conn: Connection, batch: list[dict[str, Any]]) -> list[None]:
    conn.execute(TOUCH, batch)
    return [None] * len(batch)


class SqliteWrites:
    """:class:`~wxauth.storage.writes.Writes` on a SQLite file: every write in the writer
    thread, grouped with the others queued meanwhile, in turn with the other processes."""

    # The read before a login is a local one here.
    guarded_login: GuardedWrite | None = None

    def __init__(self, thread_engine: Engine) -> None:
        self.engine = thread_engine
        self.statements = LoginStatements.for_dialect(thread_engine.dialect)
        lock = f"{thread_engine.url.database}-writelock"
        self.writer = GroupCommitWriter(thread_engine, lock_path=lock)
        weakref.finalize(self, _close_writer, self.writer, thread_engine)
        self._logins: SqliteLoginWrites | None = None
        if self.statements.returning:
            self._logins = SqliteLoginWrites(self.statements, thread_engine.dialect)
            # One object for the writer to group logins by (each attribute access would
            # make a new bound method).
            self._write_logins = self._logins.write

    def __repr__(self) -> str:
        return f"SqliteWrites({self.engine.url.database!r})"

    async def run(self, body: Callable[[Connection], T]) -> T:
        with translated():
            return await self.writer.run(body)

    async def record_login(
        self, record: LoginRecord, outbox: LoginOutbox | None = None
    ) -> tuple[User, bool]:
        if self._logins is None:  # an SQLite without RETURNING (before 3.35)
            statements = self.statements
            return await self.run(
                lambda conn: write_logins(conn, statements, [record], [outbox])[0]
            )
        prepared = self._logins.prepare(record, record.new_user_id, outbox)
        with translated():
            result: tuple[User, bool] = await self.writer.run_item(self._write_logins, prepared)
        return result

    async def touch_session(
        self, token_hash: str, last_seen_at: datetime, idle_expires_at: datetime
    ) -> None:
        values = touch_values(token_hash, last_seen_at, idle_expires_at)
        with translated():
            await self.writer.run_item(_touch_batch, values)

    def close(self) -> None:
        self.writer.stop()
