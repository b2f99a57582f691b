"""The storage boundary: the database drivers' errors become wxauth's here, and only here.

A database that cannot be reached, is busy (SQLite's lock, MySQL's lock wait), is shutting
down, has no free connection (the pool's timeout, PostgreSQL's "too many clients", MySQL's
1040) or dropped the connection is :class:`~wxauth.errors.StorageUnavailable` (503 with
Retry-After): weather, not a bug. Anything else stays what it is and ends as
``internal_error``. Driver messages can quote SQL and its parameters, so only the error's
class and code reach the log.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa

from wxauth.errors import StorageUnavailable

log = logging.getLogger(__name__)

# SQLSTATE classes of PostgreSQL that mean "not now": connection exceptions, insufficient
# resources (too many connections, out of memory or disk), operator intervention (shutdown,
# cannot connect now), a lock not available.
UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "53", "57P", "55P03")
TRANSIENT = (
    sa.OperationalError,
    sa.InterfaceError,
    sa.TimeoutError,  # no connection came free from the pool in time
    sa.DisconnectionError,
    sqlite3.OperationalError,
    OSError,  # a refused or reset connection before the driver could wrap it
    TimeoutError,
)


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a driver error (asyncpg's ``sqlstate``, psycopg's ``pgcode``)."""
    for candidate in (exc, getattr(exc, "orig", None), getattr(exc, "__cause__", None)):
        if candidate is None:
            continue
        for name in ("sqlstate", "pgcode"):
            value = getattr(candidate, name, None)
            if isinstance(value, str):
                return value
    return None


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot serve right now (rather than a bug)."""
    if isinstance(exc, sa.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, TRANSIENT):
        return True
    state = sqlstate(exc)
    return state is not None and state.startswith(UNAVAILABLE_SQLSTATE_PREFIXES)


@contextmanager
def translated() -> Iterator[None]:
    """Run the block, turning "the database cannot serve now" into StorageUnavailable."""
    try:
        yield
    except StorageUnavailable:
        raise
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        log.warning(
            "database unavailable: %s%s",
            type(exc).__name__,
            f" (SQLSTATE {state})" if (state := sqlstate(exc)) else "",
        )
        raise StorageUnavailable() from exc
