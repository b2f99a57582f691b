"""Apply the shipped alembic migrations to a database (``wxauth db upgrade``), and tell
whether a database is at their head (``serve`` refuses to start, ``/readyz`` says not ready,
the operator commands refuse to run, when it is not)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Passed as an attribute, not an ini option: URLs may hold '%' that ini interpolation breaks.
    config.attributes["database_url"] = database_url
    return config


class _NoPrimaryKeyNameNotes(logging.Filter):
    """MySQL and MariaDB note (1280) that a primary key's name is ignored (every primary
    key is called PRIMARY there; the naming convention names them for the other
    databases), and asyncmy logs each note as a warning: a line per table that asks for
    nothing, during a migration only."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "ignored for PRIMARY key" not in record.getMessage()


@contextmanager
def _without_primary_key_notes() -> Iterator[None]:
    driver_log = logging.getLogger("asyncmy")
    quiet = _NoPrimaryKeyNameNotes()
    driver_log.addFilter(quiet)
    try:
        yield
    finally:
        driver_log.removeFilter(quiet)


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema up to ``revision``. Blocking: call it outside an event loop."""
    with _without_primary_key_notes():
        command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    with _without_primary_key_notes():
        command.downgrade(alembic_config(database_url), revision)


def head_revision() -> str:
    """The newest revision the shipped migrations know."""
    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    assert head is not None, "the shipped migrations have a head"
    return head


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at; None for a database never migrated."""
    async with engine.connect() as connection:
        return await connection.run_sync(_revision)


async def is_current(engine: AsyncEngine) -> bool:
    return await current_revision(engine) == head_revision()


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    current: str | None
    head: str

    @property
    def ok(self) -> bool:
        return self.current == self.head

    def problem(self, where: str = "the database") -> str | None:
        """One line saying what is wrong and what to run, or None when at head."""
        if self.ok:
            return None
        return (
            f"{where} is not migrated (revision {self.current or 'none'}, need {self.head}): "
            "run wxauth db upgrade"
        )


async def schema_status(engine: AsyncEngine) -> SchemaStatus:
    return SchemaStatus(await current_revision(engine), head_revision())


class SchemaCheck:
    """The schema check of ``/readyz``, cached: once the database is at head it stays
    so for the life of the process (a migration is run before new processes start); while it
    is not, the answer is asked again at most every ``recheck_s`` seconds."""

    def __init__(self, engine: AsyncEngine, *, recheck_s: float = 5.0) -> None:
        self._engine = engine
        self._recheck_s = recheck_s
        self._status: SchemaStatus | None = None
        self._checked_at = 0.0
        self._lock = asyncio.Lock()

    async def status(self) -> SchemaStatus:
        async with self._lock:
            fresh = time.monotonic() - self._checked_at < self._recheck_s
            if self._status is not None and (self._status.ok or fresh):
                return self._status
            self._status = await schema_status(self._engine)
            self._checked_at = time.monotonic()
            return self._status
