"""MySQL's and MariaDB's writes.

**MariaDB (10.5 and later): a login is one round trip, and its commit.** The statements of a
login that minds the user's standing go to the server together, as one multi-statement
query on the connection's own cursor (asyncmy, like PyMySQL, always lets a connection send
several; every value is still a bound parameter):

1. the user as they were (the transaction's snapshot), for the caller;
2. ``SET @wxauth_go``: whether that user may log in now
   (:func:`~wxauth.core.models.blocks_login` on the stored row);
3. the user's upsert (``INSERT … SELECT … WHERE @wxauth_go … ON DUPLICATE KEY UPDATE …
   RETURNING``), the session_key's, the session and the event, each taking the user's id
   from the row the upsert left, and each doing nothing for a user who may not log in;
4. for a user this login creates with a UnionID: the person, founded (the new user's own
   id) or joined (a no-op update that locks the row a racing founder committed), and the
   user's ``person_id``, left empty when that person was merged into another (the service
   then links the user through :meth:`~wxauth.storage.sql.SqlStore.link_person`, which
   follows merges).

The server runs them in order and stops at the first error; the transaction is then rolled
back as any other. Where that took ten round trips (a read, the login's five statements, the
person's four), it takes two.

**Everything else, and MySQL** (which has no ``RETURNING``: the row is read back, already
locked by the upsert) runs the same statements as the other databases, one at a time, in
one transaction (:class:`~wxauth.storage.writes.TransactionWrites`): a login with webhook
rows to write, too, since those are made of the user as stored. A touch is one ``UPDATE`` in
its transaction. The driver sends no ``BEGIN``: the server starts the transaction at the
first statement, and the commit is the one more round trip.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from itertools import chain
from typing import Any

from sqlalchemy import Dialect, bindparam, exists, literal_column, null, select, update
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from wxauth.core.models import GuardedLogin, LoginRecord, User, blocks_login
from wxauth.core.webhooks import LoginOutbox
from wxauth.storage.compiled import Compiled
from wxauth.storage.login_sql import LoginStatements, _changes
from wxauth.storage.persons_sql import link_new_user
from wxauth.storage.tables import (
    UTCDateTime,
    login_events,
    persons,
    sessions,
    users,
    wechat_sessions,
)
from wxauth.storage.writes import (
    TransactionWrites,
    event_values,
    read_then_login,
    user_values,
    write_logins,
)

USER_NAMES = ("id", "appid", "openid", "unionid", "created_at", "updated_at", "last_login_at")
SESSION_NAMES = tuple(c.name for c in sessions.c if c.name != "user_id")
EVENT_NAMES = tuple(c.name for c in login_events.c if c.name not in ("id", "user_id"))
USER_TIMES = tuple(isinstance(c.type, UTCDateTime) for c in users.c)


def guarded_login(
    conn: Connection,
    statements: LoginStatements,
    record: LoginRecord,
    outbox: LoginOutbox | None = None,
) -> GuardedLogin:
    """The login one statement at a time (MySQL, or a login with webhook rows)."""
    unionid = record.unionid

    def linked(conn: Connection, user: User) -> User:
        assert unionid is not None
        return link_new_user(conn, statements.dialect, user, unionid)

    link = linked if unionid is not None else None
    return read_then_login(conn, statements, record, outbox, link)


def _param(name: str, column: Any) -> Any:
    return bindparam(name, type_=column.type)


def _user_id() -> Any:
    """The id of the row the upsert left for (appid, openid)."""
    return (
        select(users.c.id)
        .where(users.c.appid == _param("u_appid", users.c.appid))
        .where(users.c.openid == _param("u_openid", users.c.openid))
        .scalar_subquery()
    )


@dataclass(frozen=True)
class LoginBatch:
    """A login's writes as one query, and where its answers are among its results."""

    sql: str
    parts: tuple[Compiled, ...]
    links: bool  # whether it links a created user to their person (the last result)

    def params(self, values: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(chain.from_iterable(part.params(values) for part in self.parts))


def _before() -> Any:
    """The user as they were: a plain read (the transaction's snapshot), which locks
    nothing; a locking one would make racing logins of one user deadlock."""
    return (
        select(*users.c)
        .where(users.c.appid == _param("u_appid", users.c.appid))
        .where(users.c.openid == _param("u_openid", users.c.openid))
    )


@functools.lru_cache(maxsize=256)
def login_batch(
    dialect: Dialect, profile_columns: tuple[str, ...], event: bool, link: bool
) -> LoginBatch:
    """The writes of a login that sets ``profile_columns``, writes an event or not, and
    links the user it may create to the person of its UnionID or not (see the module's
    docstring)."""
    user_columns = (*USER_NAMES, *profile_columns)
    # VALUES, not SELECT: an INSERT … SELECT takes a shared lock on a duplicate first, and
    # racing logins of one user would deadlock upgrading it.
    upsert = mysql.insert(users).values({n: _param(f"u_{n}", users.c[n]) for n in user_columns})
    upsert = upsert.on_duplicate_key_update(_changes(upsert.inserted, profile_columns))
    key = mysql.insert(wechat_sessions).values(
        appid=_param("u_appid", wechat_sessions.c.appid),
        openid=_param("u_openid", wechat_sessions.c.openid),
        session_key_enc=_param("k_session_key_enc", wechat_sessions.c.session_key_enc),
        updated_at=_param("u_created_at", wechat_sessions.c.updated_at),
    )
    key = key.on_duplicate_key_update(
        session_key_enc=key.inserted.session_key_enc, updated_at=key.inserted.updated_at
    )
    session_values = {n: _param(f"s_{n}", sessions.c[n]) for n in SESSION_NAMES}
    statements: list[Any] = [
        upsert.returning(*users.c),
        key,
        sessions.insert().values({**session_values, "user_id": _user_id()}),
    ]
    if event:
        event_row = {n: _param(f"e_{n}", login_events.c[n]) for n in EVENT_NAMES}
        statements.append(login_events.insert().values({**event_row, "user_id": _user_id()}))
    if link:
        statements += _link_statements()
    parts = tuple(Compiled.of(statement, dialect, ()) for statement in statements)
    return LoginBatch(";\n".join(part.sql for part in parts), parts, link)


def _link_statements() -> list[Any]:
    """A first login's person: founded with the new user's id, or joined; the user's
    ``person_id`` (empty where that person was merged: link_person follows merges); and
    that ``person_id``, as the batch's last result. Each does nothing for a user that this
    login did not create (a racing first login of the same user made it)."""
    new_id = _param("u_id", users.c.id)
    created = exists(select(literal_column("1")).where(users.c.id == new_id))
    founder = {
        "id": new_id,
        "unionid": _param("u_unionid", persons.c.unionid),
        "merged_into": null(),
        "created_at": _param("u_created_at", persons.c.created_at),
    }
    row = select(*founder.values()).where(created)
    # A no-op update locks the row a racing founder committed exclusively at once (as
    # persons_sql.insert_ignore does).
    found = mysql.insert(persons).from_select(list(founder), row)
    found = found.on_duplicate_key_update({"id": persons.c.id})
    person = (
        select(persons.c.id)
        .where(persons.c.unionid == _param("u_unionid", persons.c.unionid))
        .where(persons.c.merged_into.is_(None))
        .scalar_subquery()
    )
    link = update(users).where(users.c.id == new_id).values(person_id=person)
    return [found, link, select(users.c.person_id).where(users.c.id == new_id)]


def batch_values(record: LoginRecord) -> dict[str, Any]:
    values = {f"u_{name}": value for name, value in user_values(record).items()}
    values["k_session_key_enc"] = record.session_key_ciphertext
    values.update({f"s_{name}": getattr(record.session, name) for name in SESSION_NAMES})
    if record.event is not None:
        event = event_values(record.event, user_id=None)
        values.update({f"e_{name}": event[name] for name in EVENT_NAMES})
    return values


def _user(row: Sequence[Any]) -> User:
    values = {
        column.name: value.replace(tzinfo=UTC) if is_time and value is not None else value
        for column, is_time, value in zip(users.c, USER_TIMES, row, strict=True)
    }
    return User(**values)


def guarded_batch(conn: Connection, dialect: Dialect, record: LoginRecord) -> GuardedLogin:
    """The user as they were, then (unless they may not log in) the login's writes in one
    query, each on ``conn``'s own cursor."""
    raw = conn.connection.dbapi_connection
    assert raw is not None
    cursor = raw.cursor()
    dbapi = conn.dialect.loaded_dbapi
    values = batch_values(record)
    try:
        before = _compiled_before(dialect)
        cursor.execute(before.sql, before.params(values))
        found = cursor.fetchall()
        previous = _user(found[0]) if found else None
        if previous is not None and blocks_login(previous, record.session.created_at):
            return GuardedLogin(previous, None, created=False)
        link = previous is None and record.unionid is not None
        batch = login_batch(dialect, tuple(sorted(record.profile)), record.event is not None, link)
        cursor.execute(batch.sql, batch.params(values))
        written = cursor.fetchall()  # the upsert's row
        for _ in range(len(batch.parts) - 1 - (1 if link else 0)):
            cursor.nextset()
        person = None
        if link:
            cursor.nextset()
            person = cursor.fetchall()
    except dbapi.Error as exc:  # as SQLAlchemy would raise it; never with the values
        lost = conn.dialect.is_disconnect(exc, raw, cursor)
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            None, None, exc, dbapi.Error, connection_invalidated=lost
        ) from None
    finally:
        cursor.close()
    user = _user(written[0])
    created = user.id == record.new_user_id
    if created and person:
        user = dataclasses.replace(user, person_id=person[0][0])
    return GuardedLogin(previous, user, created)


@functools.lru_cache(maxsize=8)
def _compiled_before(dialect: Dialect) -> Compiled:
    return Compiled.of(_before(), dialect, ())


class MysqlWrites(TransactionWrites):
    """:class:`~wxauth.storage.writes.Writes` on MySQL and MariaDB.

    Which of the two it is (and so whether the upsert can return the row) is known once the
    engine has connected: until then the statements are settled at the first write."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self.guarded_login = self._guarded_login
        self._settled = getattr(engine.dialect, "server_version_info", None) is not None

    def _statements(self, conn: Connection) -> LoginStatements:
        if not self._settled:  # connected now: MariaDB or MySQL is known
            self.statements = LoginStatements.for_dialect(conn.dialect)
            self._settled = True
        return self.statements

    async def record_login(
        self, record: LoginRecord, outbox: LoginOutbox | None = None
    ) -> tuple[User, bool]:
        return await self.run(
            lambda conn: write_logins(conn, self._statements(conn), [record], [outbox])[0]
        )

    async def _guarded_login(
        self, record: LoginRecord, outbox: LoginOutbox | None = None
    ) -> GuardedLogin:
        return await self.run(lambda conn: self._guarded(conn, record, outbox))

    def _guarded(
        self, conn: Connection, record: LoginRecord, outbox: LoginOutbox | None
    ) -> GuardedLogin:
        statements = self._statements(conn)
        if outbox is not None or not statements.returning:
            return guarded_login(conn, statements, record, outbox)
        return guarded_batch(conn, conn.dialect, record)
