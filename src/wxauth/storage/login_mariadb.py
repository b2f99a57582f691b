"""MariaDB's login as one query (10.5 and later): its statements, how its values are bound,
how it is sent on the driver's own connection, and what its answers mean. The design is in
:mod:`wxauth.storage.writes_mysql`."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from itertools import chain
from typing import Any

from sqlalchemy import (
    Dialect,
    bindparam,
    exists,
    func,
    literal_column,
    null,
    select,
    text,
    update,
)
from sqlalchemy.dialects import mysql

from wxauth.core.models import GuardedLogin, LoginRecord, User, blocks_login
from wxauth.storage.compiled import Compiled
from wxauth.storage.login_sql import _changes
from wxauth.storage.tables import (
    UTCDateTime,
    login_events,
    persons,
    sessions,
    users,
    wechat_sessions,
)
from wxauth.storage.writes import event_values, may_log_in, user_values

USER_NAMES = ("id", "appid", "openid", "unionid", "created_at", "updated_at", "last_login_at")
SESSION_NAMES = tuple(c.name for c in sessions.c if c.name != "user_id")
EVENT_NAMES = tuple(c.name for c in login_events.c if c.name not in ("id", "user_id"))
USER_TIMES = tuple(isinstance(c.type, UTCDateTime) for c in users.c)


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


GO: Any = literal_column("@wxauth_go")  # may this user log in now (1 when they are new)
NEW: Any = literal_column("@wxauth_new")  # did the snapshot hold no such user


def _before() -> Any:
    """The user as they were, by a plain read (the transaction's snapshot: it locks
    nothing, where a locking read would make racing logins of one user deadlock), setting
    ``@wxauth_go`` and ``@wxauth_new`` for the statements after it."""
    now = _param("u_created_at", users.c.created_at)
    return (
        select(*users.c, GO.op(":=")(may_log_in(now)), NEW.op(":=")(0))
        .where(users.c.appid == _param("u_appid", users.c.appid))
        .where(users.c.openid == _param("u_openid", users.c.openid))
    )


def _if_go(table: Any, values: dict[str, Any], *also: Any) -> Any:
    """``INSERT INTO table (…) SELECT <values> FROM DUAL WHERE @wxauth_go``."""
    row = select(*values.values()).where(GO, *also)
    return mysql.insert(table).from_select(list(values), row)


@functools.lru_cache(maxsize=256)
def login_batch(
    dialect: Dialect, profile_columns: tuple[str, ...], event: bool, link: bool
) -> LoginBatch:
    """A login that sets ``profile_columns``, writes an event or not, and links the user
    it may create to the person of its UnionID or not, as one query (see the module's
    docstring)."""
    user_columns = (*USER_NAMES, *profile_columns)
    # VALUES, not SELECT: an INSERT … SELECT takes a shared lock on a duplicate first, and
    # racing logins of one user would deadlock upgrading it. A user who may not log in
    # exists, so for them the insert never happens, and the update changes nothing.
    upsert = mysql.insert(users).values({n: _param(f"u_{n}", users.c[n]) for n in user_columns})
    changes = _changes(upsert.inserted, profile_columns)
    upsert = upsert.on_duplicate_key_update(
        {name: func.if_(GO, change, users.c[name]) for name, change in changes.items()}
    )
    # The rest run with the user's row locked by the upsert: racing logins of one user
    # take turns there, so their INSERT … SELECTs cannot deadlock.
    key = _if_go(
        wechat_sessions,
        {
            "appid": _param("u_appid", wechat_sessions.c.appid),
            "openid": _param("u_openid", wechat_sessions.c.openid),
            "session_key_enc": _param("k_session_key_enc", wechat_sessions.c.session_key_enc),
            "updated_at": _param("u_created_at", wechat_sessions.c.updated_at),
        },
    )
    key = key.on_duplicate_key_update(
        session_key_enc=key.inserted.session_key_enc, updated_at=key.inserted.updated_at
    )
    session_values = {n: _param(f"s_{n}", sessions.c[n]) for n in SESSION_NAMES}
    statements: list[Any] = [
        text("SET @wxauth_go = 1, @wxauth_new = 1"),
        _before(),
        upsert.returning(*users.c),
        key,
        _if_go(sessions, {**session_values, "user_id": _user_id()}),
    ]
    if event:
        event_row = {n: _param(f"e_{n}", login_events.c[n]) for n in EVENT_NAMES}
        statements.append(_if_go(login_events, {**event_row, "user_id": _user_id()}))
    if link:
        statements += _link_statements()
    parts = tuple(Compiled.of(statement, dialect, ()) for statement in statements)
    return LoginBatch(";\n".join([*(part.sql for part in parts), "COMMIT"]), parts, link)


def _link_statements() -> list[Any]:
    """A first login's person: founded with the new user's id, or joined; the user's
    ``person_id`` (empty where that person was merged: link_person follows merges); and
    that ``person_id``, as the batch's last result. Each does nothing for a user the
    snapshot held, or that this login did not create (a racing first login of the same
    user made it)."""
    new_id = _param("u_id", users.c.id)
    created = exists(select(literal_column("1")).where(users.c.id == new_id))
    founder = {
        "id": new_id,
        "unionid": _param("u_unionid", persons.c.unionid),
        "merged_into": null(),
        "created_at": _param("u_created_at", persons.c.created_at),
    }
    # A no-op update locks the row a racing founder committed exclusively at once (as
    # persons_sql.insert_ignore does).
    found = _if_go(persons, founder, NEW, created)
    found = found.on_duplicate_key_update({"id": persons.c.id})
    person = (
        select(persons.c.id)
        .where(persons.c.unionid == _param("u_unionid", persons.c.unionid))
        .where(persons.c.merged_into.is_(None))
        .scalar_subquery()
    )
    link = update(users).where(NEW, users.c.id == new_id).values(person_id=person)
    return [found, link, select(users.c.person_id).where(NEW, users.c.id == new_id)]


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


@dataclass(frozen=True)
class BatchAnswer:
    """What a login's query gave back: the user as they were, the upsert's row, and a new
    user's ``person_id`` (when the batch links)."""

    before: Sequence[Any]
    written: Sequence[Any]
    person: Sequence[Any] | None


async def send_batch(driver: Any, batch: LoginBatch, params: tuple[Any, ...]) -> BatchAnswer:
    """Send ``batch`` and its ``COMMIT`` on the driver's own connection (asyncmy's), and
    read every one of its results. A statement that fails stops the server there: nothing
    is committed, and the pool's reset rolls the rest back (after a ``COMMIT`` it has
    nothing to do: :mod:`wxauth.storage.engine`)."""
    async with driver.cursor() as cursor:
        await cursor.execute(batch.sql, params)
        await cursor.nextset()  # after SET: the user as they were
        before = await cursor.fetchall()
        await cursor.nextset()  # the upsert's row
        written = await cursor.fetchall()
        for _ in range(len(batch.parts) - 3 - (1 if batch.links else 0)):
            await cursor.nextset()
        person = None
        if batch.links:
            await cursor.nextset()
            person = await cursor.fetchall()
        await cursor.nextset()  # the COMMIT
    return BatchAnswer(before, written, person)


def answered(record: LoginRecord, answer: BatchAnswer) -> GuardedLogin:
    found = answer.before
    previous = _user(found[0][: len(users.c)]) if found else None
    # The server decided from this same snapshot (@wxauth_go) and wrote nothing.
    if previous is not None and blocks_login(previous, record.session.created_at):
        return GuardedLogin(previous, None, created=False)
    user = _user(answer.written[0])
    created = user.id == record.new_user_id
    if created and answer.person:
        user = dataclasses.replace(user, person_id=answer.person[0][0])
    return GuardedLogin(previous, user, created)
