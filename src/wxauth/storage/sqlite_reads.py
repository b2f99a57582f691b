"""The token check's read on SQLite, run on the event loop without aiosqlite's thread hops.

aiosqlite runs each call on a worker thread, and one SQLAlchemy statement over it makes several
round trips to that thread, each waiting for the GIL from a busy event loop: under load a read
that takes SQLite microseconds waits milliseconds. SQLite is a library, not a server, and in
WAL mode a reader never waits for a writer, so the one hot read (a session and its user by
primary key) runs synchronously on a plain ``sqlite3`` connection that
refuses writes (``PRAGMA query_only``).

The statement is compiled once; its columns come back as sqlite3 gives them, and the
``UTCDateTime`` ones (ISO text in SQLite) are parsed here. If the file is busy (a checkpoint
in another process) the caller falls back to the async engine.
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL

from wxauth.storage.tables import UTCDateTime

BUSY_TIMEOUT_S = 0.05


class SqliteReads:
    """One read-only connection to a SQLite file and one compiled SELECT."""

    def __init__(self, path: str, statement: Select[Any]) -> None:
        dialect = sqlite_dialect.dialect()
        compiled = statement.compile(dialect=dialect)
        self._sql = str(compiled)
        self._params = list(compiled.positiontup or [])
        self._columns = [
            (str(c.key), isinstance(c.type, UTCDateTime)) for c in statement.selected_columns
        ]
        self._path = path
        # Opened on first use (the file may not be there yet when the store is built), and
        # closed when this object goes.
        self._open: list[sqlite3.Connection] = []
        weakref.finalize(self, _close_all, self._open)

    def _connection(self) -> sqlite3.Connection:
        if not self._open:
            conn = sqlite3.connect(
                self._path, timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None
            )
            conn.execute("PRAGMA query_only=ON")  # this connection never writes
            self._open.append(conn)
        return self._open[0]

    def first(self, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """The first row as a dict by column key; :class:`sqlite3.OperationalError` when
        busy or when the file cannot be opened."""
        cursor = self._connection().execute(self._sql, [params[name] for name in self._params])
        try:
            row = cursor.fetchone()
        finally:
            cursor.close()  # ends the read snapshot, so that checkpoints can proceed
        if row is None:
            return None
        return {
            key: _utc(value) if is_time and value is not None else value
            for (key, is_time), value in zip(self._columns, row, strict=True)
        }


def _close_all(connections: list[sqlite3.Connection]) -> None:
    for conn in connections:
        conn.close()


def _utc(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def sqlite_reads(url: URL, statement: Select[Any]) -> SqliteReads | None:
    """Inline reads for a file-backed SQLite ``url``; None for other databases and for
    in-memory ones (a second connection would see another, empty, database)."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or "mode=memory" in database or url.query.get("mode"):
        return None
    return SqliteReads(database, statement)
