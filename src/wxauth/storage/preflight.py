"""Checks made before a process or a command uses the configured database, each failing
with one line that says what to change (:class:`~wxauth.errors.ServerMisconfigured`), never
a driver's stack trace: a URL without an async driver, a driver that is not installed, a
SQLite file in a missing folder (or missing, for the commands that only read), a database
that cannot be reached or does not exist, and a schema that is not at the migrations' head.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import exc as sa
from sqlalchemy import pool
from sqlalchemy.engine import URL, make_url

from wxauth.errors import ServerMisconfigured
from wxauth.storage.boundary import sqlstate
from wxauth.storage.engine import create_engine
from wxauth.storage.migrate import SchemaStatus, schema_status

CONNECT_TIMEOUT_S = 10.0

# backend → (async driver, its module, the extra that installs it)
ASYNC_DRIVERS = {
    "sqlite": ("aiosqlite", "aiosqlite", None),
    "postgresql": ("asyncpg", "asyncpg", "postgres"),
    "mysql": ("asyncmy", "asyncmy", "mysql"),
    "mariadb": ("asyncmy", "asyncmy", "mysql"),
}
BACKEND_ALIASES = {"postgres": "postgresql", "pgsql": "postgresql"}
EXAMPLES = {
    "sqlite": "sqlite+aiosqlite:///path/to/wxauth.db",
    "postgresql": "postgresql+asyncpg://USER:PASSWORD@HOST:5432/DBNAME",
    "mysql": "mysql+asyncmy://USER:PASSWORD@HOST:3306/DBNAME",
    "mariadb": "mysql+asyncmy://USER:PASSWORD@HOST:3306/DBNAME",
}


def describe(url: URL) -> str:
    """Where a database is, for messages: never its password."""
    if url.get_backend_name() == "sqlite":
        return str(Path(url.database or "").resolve()) if url.database else "(in memory)"
    host = url.host or "localhost"
    port = f":{url.port}" if url.port else ""
    return f"{url.get_backend_name()}://{host}{port}/{url.database or ''}"


def parse_database_url(database_url: str) -> URL:
    """The URL, checked to name an async driver that is installed."""
    try:
        url = make_url(database_url)
    except sa.ArgumentError:
        raise ServerMisconfigured(
            "WXAUTH_DATABASE_URL is not a database URL: use e.g. "
            f"{EXAMPLES['sqlite']} or {EXAMPLES['postgresql']}"
        ) from None
    named = url.drivername.partition("+")[0]
    backend = BACKEND_ALIASES.get(named, named)
    if backend not in ASYNC_DRIVERS:
        raise ServerMisconfigured(
            f"WXAUTH_DATABASE_URL names an unsupported database {named!r}: "
            "use sqlite+aiosqlite://, postgresql+asyncpg:// or mysql+asyncmy://"
        )
    driver, module, extra = ASYNC_DRIVERS[backend]
    if url.drivername.partition("+")[2] != driver:
        scheme = url.drivername
        raise ServerMisconfigured(
            f"WXAUTH_DATABASE_URL starts with {scheme}://, which is not wxauth's async driver: "
            f"write {backend if backend != 'mariadb' else 'mysql'}+{driver}:// "
            f"(e.g. {EXAMPLES[backend]})"
        )
    try:
        importlib.import_module(module)
    except ImportError:
        raise ServerMisconfigured(
            f"WXAUTH_DATABASE_URL needs the {driver} driver, which is not installed: "
            f"install wxauth with its {extra} extra (from a checkout: pip install '.[{extra}]')"
        ) from None
    return url


def sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite URL; None for other databases and in-memory SQLite."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if url.database.startswith("file:"):
        return None
    return Path(url.database)


def check_sqlite_folder(url: URL) -> None:
    path = sqlite_file(url)
    if path is not None and not path.resolve().parent.is_dir():
        raise ServerMisconfigured(
            f"the folder of the SQLite database {path.resolve()} does not exist: create it "
            "or change WXAUTH_DATABASE_URL"
        )


def check_redis_installed(redis_url: str | None) -> None:
    if not redis_url:
        return
    try:
        importlib.import_module("redis.asyncio")
    except ImportError:
        raise ServerMisconfigured(
            "WXAUTH_REDIS_URL is set but redis-py is not installed: install wxauth with its "
            "redis extra (from a checkout: pip install '.[redis]'), or unset WXAUTH_REDIS_URL"
        ) from None


def connection_problem(exc: BaseException, url: URL) -> str:
    """One line for a failure to use the database at ``url``."""
    where = describe(url)
    orig = getattr(exc, "orig", None) or exc
    state = sqlstate(exc)
    code = orig.args[0] if orig.args and isinstance(orig.args[0], int) else None
    detail = (str(orig).strip().splitlines() or [type(orig).__name__])[0][:200]
    if state == "3D000" or code == 1049:
        return (
            f"the database {url.database!r} does not exist at {where}: create it "
            "(e.g. createdb), then run wxauth db upgrade"
        )
    if state in ("28P01", "28000") or code in (1044, 1045):
        return f"the database at {where} refused the login: check the user and password ({detail})"
    if isinstance(orig, OSError | TimeoutError) or (state is not None and state.startswith("08")):
        return (
            f"cannot reach the database at {where} ({detail}): is it running, and are the "
            "host and port in WXAUTH_DATABASE_URL right?"
        )
    if code in (2002, 2003, 2005, 2006, 2013):
        return f"cannot reach the database at {where} ({detail}): check WXAUTH_DATABASE_URL"
    return f"cannot use the database at {where}: {type(orig).__name__}: {detail}"


@contextmanager
def explained(database_url: str) -> Iterator[None]:
    """Turn any failure to reach or use the database into one ServerMisconfigured line."""
    try:
        yield
    except ServerMisconfigured:
        raise
    except Exception as exc:
        raise ServerMisconfigured(connection_problem(exc, make_url(database_url))) from exc


async def check_database(database_url: str, *, must_exist: bool = True) -> SchemaStatus:
    """Check the URL, reach the database and read its schema revision.

    ``must_exist``: a SQLite file that is not there is refused instead of created (reading
    commands and servers never leave an empty database behind).
    """
    url = parse_database_url(database_url)
    check_sqlite_folder(url)
    path = sqlite_file(url)
    if must_exist and path is not None and not path.exists():
        raise ServerMisconfigured(
            f"no database at {path.resolve()}: run wxauth db upgrade to create it, or set "
            "WXAUTH_DATABASE_URL"
        )
    engine = create_engine(database_url, poolclass=pool.NullPool)
    try:
        with explained(database_url):
            return await asyncio.wait_for(schema_status(engine), CONNECT_TIMEOUT_S)
    finally:
        await engine.dispose()


async def require_migrated(database_url: str) -> None:
    """:func:`check_database`, and refuse a schema that is not at head."""
    status = await check_database(database_url)
    problem = status.problem(f"the database at {describe(make_url(database_url))}")
    if problem:
        raise ServerMisconfigured(problem)
