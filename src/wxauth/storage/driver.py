"""A pooled connection's own driver connection, for the one hot write that runs on it.

A login is one statement on PostgreSQL and one query on MariaDB. Through SQLAlchemy's
``execute`` the statement's cache key is made anew on every call (a walk of the whole
statement, CTEs and all), its values are bound one by one and its row is wrapped: on
PostgreSQL, about 250 µs of a worker's CPU per login, as much as asyncpg's own work on it
(``bench/``: 200 concurrent logins on one process). So those statements are compiled once
(:class:`~wxauth.storage.compiled.Compiled`) and sent on the driver's connection of a
connection checked out of the engine's pool: the same pool, its size and timeout, as
everything else.

The driver's errors come out as SQLAlchemy's would: a :class:`~sqlalchemy.exc.DBAPIError`
(without the statement or its values, which must not reach a log) whose ``orig`` is the
driver's error; a connection the error has lost is invalidated, as SQLAlchemy does, so that
the pool opens a fresh one instead of handing it out again. The storage boundary
(:mod:`wxauth.storage.boundary`) then decides between 503 and a bug, as for every other
statement.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import exc as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from wxauth.storage.engine import ENDED

# asyncpg's errors carry PostgreSQL's SQLSTATE; its class says what kind of error it is, as
# SQLAlchemy's asyncpg adapter tells them apart.
SQLSTATE_CLASSES: dict[str, type[DBAPIError]] = {
    "08": sa.OperationalError,  # connection exception
    "22": sa.DataError,
    "23": sa.IntegrityError,  # integrity constraint violation: a unique key taken
    "40": sa.OperationalError,  # transaction rollback: serialization failure, deadlock
    "42": sa.ProgrammingError,  # syntax error or access rule violation
    "53": sa.OperationalError,  # insufficient resources
    "57": sa.OperationalError,  # operator intervention: shutting down
    "XX": sa.InternalError,
}


def postgres_error_class(exc: BaseException) -> type[DBAPIError]:
    """Which of SQLAlchemy's errors an asyncpg error is (by its SQLSTATE's class); one
    without a SQLSTATE (the connection lost, a protocol error) is an ``OperationalError``."""
    state = getattr(exc, "sqlstate", None)
    if not isinstance(state, str):
        return sa.OperationalError
    return SQLSTATE_CLASSES.get(state[:2], sa.DatabaseError)


@asynccontextmanager
async def driver_connection(
    engine: AsyncEngine,
    errors: tuple[type[BaseException], ...],
    classify: Callable[[BaseException], type[DBAPIError]] | None = None,
    *,
    ends_transaction: bool = False,
) -> AsyncIterator[Any]:
    """The driver's own connection (asyncpg's, asyncmy's) of a connection from ``engine``'s
    pool; ``errors`` (what the driver raises) leave as :class:`DBAPIError`, of the class
    ``classify`` says (by default the one named like the driver's, as for a DB-API driver
    whose errors are PEP 249's). ``ends_transaction``: a block that finishes without an
    error has ended its transaction itself (its query's last statement is ``COMMIT``), so
    the pool need not roll it back (:func:`~wxauth.storage.engine.create_engine`)."""
    dialect = engine.dialect
    async with engine.connect() as conn:
        # Checked out and connected by connect(): its pooled connection is there, no I/O.
        sync = conn.sync_connection
        assert sync is not None  # started by connect()
        pooled = sync.connection
        try:
            yield pooled.driver_connection
            if ends_transaction:
                pooled.info[ENDED] = True
        except errors as exc:
            lost = dialect.is_disconnect(exc, pooled.dbapi_connection, None)  # type: ignore[arg-type]
            if lost:
                await conn.invalidate(exc)
            if classify is not None:
                raise classify(exc)(None, None, exc, connection_invalidated=lost) from None
            raise DBAPIError.instance(
                None, None, exc, dialect.loaded_dbapi.Error, connection_invalidated=lost
            ) from None
