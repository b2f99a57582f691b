"""The statements behind one person across an owner's apps, as bodies for a write
transaction: shared by :meth:`~wxauth.storage.sql.SqlStore.link_person` and the logins
that link the user they create in their own transaction
(:mod:`wxauth.storage.writes_mysql`)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, func, select, update
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection

from wxauth.core.models import User
from wxauth.errors import NotFound
from wxauth.storage.tables import USER_COLUMNS, persons, users
from wxauth.storage.writes import user_of


def insert_ignore(dialect: str, table: Any, values: dict[str, Any]) -> Insert:
    """An insert that does nothing when the row (by any unique key) is there."""
    if dialect == "postgresql":
        return postgresql.insert(table).values(values).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(table).values(values).on_conflict_do_nothing()
    # Not INSERT IGNORE: its shared lock on a duplicate deadlocks a racing writer that
    # then reads the row for update; a no-op update locks it exclusively at once.
    key = next(iter(table.primary_key.columns))
    return mysql.insert(table).values(values).on_duplicate_key_update({key.name: key})


def update_user(conn: Connection, user_id: str, changes: dict[str, Any], now: datetime) -> User:
    conn.execute(update(users).where(users.c.id == user_id).values(updated_at=now, **changes))
    row = conn.execute(select(*USER_COLUMNS).where(users.c.id == user_id)).first()
    if row is None:
        raise NotFound("No such user.")
    return user_of(row)


def resolved(conn: Connection, person_id: str) -> str:
    """Follow operators' merges from ``person_id`` to the person its users are now in."""
    for _ in range(16):  # merges form short chains; never loop on a cycle
        merged = conn.execute(
            select(persons.c.merged_into).where(persons.c.id == person_id)
        ).scalar_one_or_none()
        if merged is None:
            break
        person_id = merged
    return person_id


def link_new_user(conn: Connection, dialect: str, user: User, unionid: str) -> User:
    """:func:`link_person` for a user this very transaction created (with ``unionid``, and
    no person yet): the user is not read again, a founder follows no merges, and the one
    write to the user's row is its ``person_id``."""
    own = {"id": user.id, "unionid": unionid, "merged_into": None, "created_at": user.created_at}
    conn.execute(insert_ignore(dialect, persons, own))
    query = select(persons.c.id).where(persons.c.unionid == unionid).with_for_update()
    found: str | None = conn.execute(query).scalar_one_or_none()
    target = user.id if found is None or found == user.id else resolved(conn, found)
    conn.execute(update(users).where(users.c.id == user.id).values(person_id=target))
    return dataclasses.replace(user, person_id=target)


def link_person(conn: Connection, dialect: str, user_id: str, unionid: str, now: datetime) -> User:
    """Attach the user to the person of ``unionid`` (see
    :meth:`~wxauth.core.ports.Store.link_person`)."""
    row = conn.execute(select(*USER_COLUMNS).where(users.c.id == user_id)).first()
    if row is None:
        raise NotFound("No such user.")
    own = user_of(row).person
    # The unique unionid settles a race: every linker then reads the one row.
    person = {"id": own, "unionid": unionid, "merged_into": None, "created_at": now}
    conn.execute(insert_ignore(dialect, persons, person))
    # A locking read sees the row a racing linker committed meanwhile (MySQL's plain reads
    # keep the transaction's first snapshot).
    query = select(persons.c.id).where(persons.c.unionid == unionid).with_for_update()
    found = conn.execute(query).scalar_one_or_none()
    target = own if found is None else resolved(conn, found)
    changes = {"person_id": target, "unionid": func.coalesce(users.c.unionid, unionid)}
    return update_user(conn, user_id, changes, now)
