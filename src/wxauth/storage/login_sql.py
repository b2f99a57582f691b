"""The statements a login writes, built once per dialect (and per set of profile columns).

Values travel as execution parameters, never inside the statement, so SQLAlchemy compiles each
statement once and finds it in its cache on every later login.

The user is upserted by one statement on every backend. On PostgreSQL, SQLite and MariaDB
(10.5 and later) it returns the row (``RETURNING``): the id tells whether this login inserted
it, since a conflicting insert keeps the old id. MySQL reads the row back in the same
transaction. Their upsert locks it exclusively at once (``INSERT IGNORE`` takes a shared lock
on a duplicate, and racing first logins then deadlock upgrading it).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Dialect, Executable, func
from sqlalchemy.dialects import mysql, postgresql, sqlite

from wxauth.storage.tables import USER_COLUMNS, users, wechat_sessions

UPSERT_DIALECTS = ("postgresql", "sqlite")
RETURNING_DIALECTS = ("postgresql", "sqlite", "mysql", "mariadb")  # MySQL itself has none


@dataclass(frozen=True)
class LoginStatements:
    dialect: str
    returning: bool  # whether the user upsert returns the row
    save_session_key: Executable

    @classmethod
    def for_dialect(cls, dialect: Dialect) -> LoginStatements:
        name = dialect.name
        returning = name in RETURNING_DIALECTS and dialect.insert_returning
        return cls(name, returning, _save_session_key(name))

    def upsert_user(self, profile_columns: tuple[str, ...]) -> Executable:
        """The user upsert for a login that also sets ``profile_columns`` (sorted)."""
        return _upsert_user(self.dialect, self.returning, profile_columns)


def _save_session_key(dialect: str) -> Executable:
    if dialect in UPSERT_DIALECTS:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(wechat_sessions)
        return stmt.on_conflict_do_update(
            index_elements=["appid", "openid"],
            set_={
                "session_key_enc": stmt.excluded.session_key_enc,
                "updated_at": stmt.excluded.updated_at,
            },
        )
    upsert = mysql.insert(wechat_sessions)
    return upsert.on_duplicate_key_update(
        session_key_enc=upsert.inserted.session_key_enc, updated_at=upsert.inserted.updated_at
    )


@functools.lru_cache(maxsize=256)
def _upsert_user(dialect: str, returning: bool, profile_columns: tuple[str, ...]) -> Executable:
    if dialect in UPSERT_DIALECTS:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(users)
        stmt = stmt.on_conflict_do_update(
            index_elements=["appid", "openid"],
            set_=_changes(stmt.excluded, profile_columns),
        )
        return stmt.returning(*USER_COLUMNS) if returning else stmt
    upsert = mysql.insert(users)
    on_duplicate = upsert.on_duplicate_key_update(_changes(upsert.inserted, profile_columns))
    return on_duplicate.returning(*USER_COLUMNS) if returning else on_duplicate


def _changes(proposed: Any, profile_columns: tuple[str, ...]) -> dict[str, Any]:
    """What a returning user's login changes: the login time, the unionid once known, and
    the profile it carries (which then also moves ``updated_at``)."""
    changes: dict[str, Any] = {
        "last_login_at": proposed.last_login_at,
        "unionid": func.coalesce(proposed.unionid, users.c.unionid),
    }
    for name in profile_columns:
        changes[name] = proposed[name]
    if profile_columns:
        changes["updated_at"] = proposed.updated_at
    return changes
