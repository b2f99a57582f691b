"""Engines set up for each backend: SQLite in WAL with a busy timeout, MySQL in utf8mb4."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import PoolResetState

SQLITE_BUSY_TIMEOUT_S = 30
POOL_RECYCLE_S = 1800


def backend_name(url: str) -> str:
    return make_url(url).get_backend_name()


@dataclass(frozen=True)
class PoolSize:
    """Connections per process to a database server: ``size`` kept open, ``overflow`` more
    opened when all are busy, and how long (``timeout``, seconds) a caller waits for one
    before :class:`sqlalchemy.exc.TimeoutError` (503 ``storage_unavailable`` at the storage
    boundary). Each process may hold ``size + overflow``: workers x that, over every process
    on the database, must stay below what the server allows."""

    size: int = 20
    overflow: int = 0
    timeout: float = 5.0


def create_engine(url: str, *, pool: PoolSize | None = None, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url`` with the per-backend settings wxauth relies on.

    No ``pool_pre_ping``: it costs a round trip on every checkout, that is one more per
    request. A connection that the server has dropped fails its statement instead; the
    storage boundary answers that request 503 and SQLAlchemy discards every connection as
    old as that one (``connection_invalidated``), so the next requests connect afresh.
    Connections are recycled after :data:`POOL_RECYCLE_S`, before a server's idle timeout
    (MySQL's ``wait_timeout``, 8 hours by default) can close them."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        kwargs.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_S})
    elif "poolclass" not in kwargs:
        pool = pool or PoolSize()
        kwargs.setdefault("pool_size", pool.size)
        kwargs.setdefault("max_overflow", pool.overflow)
        kwargs.setdefault("pool_timeout", pool.timeout)
        kwargs.setdefault("pool_recycle", POOL_RECYCLE_S)
    if backend in ("mysql", "mariadb"):
        if "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
        kwargs.setdefault("pool_reset_on_return", None)  # _reset_unless_ended does it
    engine = create_async_engine(parsed, **kwargs)
    if backend == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    elif backend in ("mysql", "mariadb") and kwargs["pool_reset_on_return"] is None:
        event.listen(engine.sync_engine, "reset", _reset_unless_ended)
    return engine


ENDED = "wxauth_transaction_ended"
"""Set in a pooled connection's ``info`` by a write that ended its own transaction on the
driver's connection (MariaDB's one-query login: its ``COMMIT`` is in the query)."""


def _reset_unless_ended(dbapi_connection: Any, record: Any, state: PoolResetState) -> None:
    """The pool's reset of a MySQL or MariaDB connection given back: a ``ROLLBACK``, as
    SQLAlchemy's own reset sends, unless the connection's transaction was ended already
    (by the :class:`~sqlalchemy.engine.Connection` closing it, or by a query whose last
    statement was its ``COMMIT``): then it would be one more round trip for nothing. A
    connection about to be closed is not reset at all."""
    ended = record.info.pop(ENDED, False)
    if state.terminate_only or not state.asyncio_safe:
        return
    if not (ended or state.transaction_was_reset):
        dbapi_connection.rollback()


def sqlite_thread_engine(engine: AsyncEngine) -> Engine | None:
    """A blocking pysqlite engine on the same file as ``engine``, for write transactions run
    whole in a worker thread (one thread hop per transaction instead of several per statement
    through aiosqlite); None for other databases and for in-memory SQLite."""
    url = engine.url
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:") or url.query:
        return None
    sync = create_sync_engine(
        url.set(drivername="sqlite+pysqlite"),
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
    )
    event.listen(sync, "connect", _sqlite_pragmas)
    return sync


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable against process crashes in WAL
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    cursor.close()
