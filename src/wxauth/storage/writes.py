"""How a :class:`~wxauth.storage.sql.SqlStore` writes: one implementation per dialect,
chosen once when the store is built (:func:`writes_for`), as ``wechat/http.py`` chooses its
sender.

Every write of the store is a body ``(Connection) -> T`` run in one transaction by
:meth:`Writes.run`; the two writes on the hot paths, a login and a token check's touch, have
a method each so that a dialect can do them its own fastest way:

- SQLite (a file): every write goes through one writer thread per process with group commit
  and the turn lock shared with the other processes (:mod:`wxauth.storage.writes_sqlite`);
- PostgreSQL: a login is one statement (data-modifying CTEs), a touch one ``UPDATE``, each
  on its own outside an explicit transaction (:mod:`wxauth.storage.writes_postgres`);
- MySQL and MariaDB: a login is one transaction, the user's upsert returning its row where
  the server can (MariaDB ≥ 10.5) (:mod:`wxauth.storage.writes_mysql`);
- anything else (in-memory SQLite in tests): :class:`TransactionWrites`, the same
  statements in one transaction through the async engine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from wxauth.core.models import (
    USER_DISABLED,
    GuardedLogin,
    LoginEvent,
    LoginRecord,
    User,
    blocks_login,
)
from wxauth.core.webhooks import LoginOutbox
from wxauth.storage.boundary import translated
from wxauth.storage.login_sql import LoginStatements
from wxauth.storage.tables import (
    USER_COLUMNS,
    login_events,
    sessions,
    users,
    webhook_deliveries,
)

T = TypeVar("T")

# A login minding the user's standing, with what it reports to webhooks (see Writes).
GuardedWrite = Callable[[LoginRecord, LoginOutbox | None], Awaitable[GuardedLogin]]

INSERT_SESSION = sessions.insert()
INSERT_EVENT = login_events.insert()
SELECT_USER_BY_OPENID = select(*USER_COLUMNS).where(
    users.c.appid == bindparam("appid"), users.c.openid == bindparam("openid")
)
TOUCH = (
    update(sessions)
    .where(sessions.c.token_hash == bindparam("b_token_hash"))
    .values(last_seen_at=bindparam("b_last_seen_at"), idle_expires_at=bindparam("b_idle"))
)


class Writes(Protocol):
    """A store's write paths for one dialect."""

    async def run(self, body: Callable[[Connection], T]) -> T:
        """Run ``body`` in a write transaction; its result once that has committed."""
        ...

    async def record_login(
        self, record: LoginRecord, outbox: LoginOutbox | None = None
    ) -> tuple[User, bool]:
        """Upsert the user, save the session_key, insert the session and the event, and the
        webhook outbox rows ``outbox`` makes of the outcome (None: nothing to report)."""
        ...

    async def touch_session(
        self, token_hash: str, last_seen_at: datetime, idle_expires_at: datetime
    ) -> None: ...

    # A login minding the user's standing in one round trip, where the dialect can (see
    # :meth:`~wxauth.core.ports.Store.record_login_unless_blocked`); None: read, then write.
    guarded_login: GuardedWrite | None

    def close(self) -> None:
        """Release what this holds besides the engine (a writer thread)."""
        ...


def may_log_in(now: Any) -> Any:
    """:func:`~wxauth.core.models.blocks_login`, negated, on the stored row at ``now`` (a
    SQL expression: the login's time as a bound parameter)."""
    disabled = (users.c.status == USER_DISABLED) & (
        users.c.disabled_ends_at.is_(None) | (users.c.disabled_ends_at > now)
    )
    due = users.c.deletion_due_at.is_not(None) & (users.c.deletion_due_at <= now)
    return ~(disabled | due)


def user_of(row: Row[Any] | Mapping[str, Any]) -> User:
    m = row._mapping if isinstance(row, Row) else row
    return User(**{c.name: m[f"u_{c.name}"] for c in users.c})


def event_values(event: LoginEvent, *, user_id: str | None) -> dict[str, Any]:
    values = {c.name: getattr(event, c.name) for c in login_events.c if c.name != "id"}
    values["user_id"] = user_id
    return values


def user_values(record: LoginRecord) -> dict[str, Any]:
    now = record.session.created_at
    return {
        "id": record.new_user_id,
        "appid": record.appid,
        "openid": record.openid,
        "unionid": record.unionid,
        "created_at": now,
        "updated_at": now,
        "last_login_at": now,
        **record.profile,
    }


def touch_values(token_hash: str, last_seen_at: datetime, idle: datetime) -> dict[str, Any]:
    return {"b_token_hash": token_hash, "b_last_seen_at": last_seen_at, "b_idle": idle}


def write_logins(
    conn: Connection,
    statements: LoginStatements,
    records: list[LoginRecord],
    outboxes: list[LoginOutbox | None] | None = None,
) -> list[tuple[User, bool]]:
    """The users upserted one by one (each returns its row, or is read back where the
    upsert cannot return it), then the session_keys, the sessions and the events each in
    one ``executemany``, in the records' order; then the webhook outbox rows, if any."""
    found = []
    for record in records:
        upsert = statements.upsert_user(tuple(sorted(record.profile)))
        if statements.returning:
            row = conn.execute(upsert, user_values(record)).one()
        else:
            conn.execute(upsert, user_values(record))
            keys = {"appid": record.appid, "openid": record.openid}
            # A locking read: the row as it is now (the upsert holds its lock already), not
            # as the transaction's first snapshot had it (MySQL's plain reads).
            row = conn.execute(SELECT_USER_BY_OPENID.with_for_update(), keys).one()
        user = user_of(row)
        found.append((user, user.id == record.new_user_id))
    conn.execute(
        statements.save_session_key,
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
        event_values(r.event, user_id=user.id)
        for r, (user, _) in zip(records, found, strict=True)
        if r.event is not None
    ]
    if events:
        conn.execute(INSERT_EVENT, events)
    if outboxes:
        rows = [
            row
            for r, (user, created), outbox in zip(records, found, outboxes, strict=True)
            if outbox is not None
            for row in outbox.rows(user, created, r.profile, r.session.created_at)
        ]
        if rows:
            conn.execute(webhook_deliveries.insert(), rows)
    return found


def read_then_login(
    conn: Connection,
    statements: LoginStatements,
    record: LoginRecord,
    outbox: LoginOutbox | None,
    link: Callable[[Connection, User], User] | None = None,
) -> GuardedLogin:
    """In one transaction: the user as they were, and unless they may not log in now
    (:func:`~wxauth.core.models.blocks_login`), the login; ``link`` then changes a user it
    created (their person), before the webhook rows are made of the outcome."""
    keys = {"appid": record.appid, "openid": record.openid}
    row = conn.execute(SELECT_USER_BY_OPENID, keys).first()
    previous = None if row is None else user_of(row)
    now = record.session.created_at
    if previous is not None and blocks_login(previous, now):
        return GuardedLogin(previous, None, created=False)
    user, created = write_logins(conn, statements, [record])[0]
    if created and link is not None:
        user = link(conn, user)
    if outbox is not None:
        rows = outbox.rows(user, created, record.profile, now)
        if rows:
            conn.execute(webhook_deliveries.insert(), rows)
    return GuardedLogin(previous, user, created)


class TransactionWrites:
    """Each write its own transaction through the async engine (``run_sync``)."""

    guarded_login: GuardedWrite | None = None

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.statements = LoginStatements.for_dialect(engine.dialect)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.engine.dialect.name})"

    async def run(self, body: Callable[[Connection], T]) -> T:
        with translated():
            async with self.engine.begin() as conn:
                return await conn.run_sync(body)

    async def record_login(
        self, record: LoginRecord, outbox: LoginOutbox | None = None
    ) -> tuple[User, bool]:
        statements = self.statements
        return await self.run(lambda conn: write_logins(conn, statements, [record], [outbox])[0])

    async def touch_session(
        self, token_hash: str, last_seen_at: datetime, idle_expires_at: datetime
    ) -> None:
        values = touch_values(token_hash, last_seen_at, idle_expires_at)
        await self.run(lambda conn: conn.execute(TOUCH, values))

    def close(self) -> None:
        return None


def writes_for(engine: AsyncEngine) -> Writes:
    """The write paths for ``engine``'s dialect."""
    name = engine.dialect.name
    if name == "sqlite":
        from wxauth.storage.engine import sqlite_thread_engine
        from wxauth.storage.writes_sqlite import SqliteWrites

        thread_engine = sqlite_thread_engine(engine)
        if thread_engine is not None:
            return SqliteWrites(thread_engine)
        return TransactionWrites(engine)  # in memory: one connection, no second process
    if name == "postgresql":
        from wxauth.storage.writes_postgres import PostgresWrites

        return PostgresWrites(engine)
    if name in ("mysql", "mariadb"):
        from wxauth.storage.writes_mysql import MysqlWrites

        return MysqlWrites(engine)
    return TransactionWrites(engine)
