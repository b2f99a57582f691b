"""Statements compiled once for a driver's own cursor: their SQL, and how named values
become their positional parameters (each bound type's public ``bind_processor``; for
``UTCDateTime`` the one-step :func:`utc_text` where the column is naive text, an aware UTC
datetime where the driver takes those). Used where a hot write runs on the driver itself
(SQLite's writer thread, MariaDB's login query, PostgreSQL's login statement)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Dialect, Executable
from sqlalchemy.types import TypeEngine

from wxauth.storage.tables import NAIVE_UTC_DIALECTS, UTCDateTime


@dataclass(frozen=True)
class Compiled:
    """One statement's SQL and how to turn named values into its positional parameters
    (a value the statement holds itself, a literal compared with, is its own)."""

    sql: str
    keys: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    own: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, statement: Executable, dialect: Dialect, keys: Sequence[str]) -> Compiled:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))  # type: ignore[attr-defined]
        order = tuple(compiled.positiontup or ())
        binds = compiled.binds
        processors = tuple(processor(binds[key].type, dialect) for key in order)
        own = {key: binds[key].value for key in order if not binds[key].required}
        return cls(compiled.string, order, processors, own)

    def params(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        own = self.own
        return tuple(
            value if convert is None else convert(value)
            for key, convert in zip(self.keys, self.processors, strict=True)
            for value in (values[key] if key not in own else own[key],)
        )


def processor(type_: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """How a value of ``type_`` is handed to the driver: the type's own bind processor, or
    for ``UTCDateTime`` the same result as its chain, in one step: :func:`utc_text` on
    SQLite, MySQL and MariaDB, :func:`utc_aware` on PostgreSQL."""
    if isinstance(type_, UTCDateTime):
        return utc_text if dialect.name in NAIVE_UTC_DIALECTS else utc_aware
    return type_.dialect_impl(dialect).bind_processor(dialect)


def utc_aware(value: datetime | None) -> datetime | None:
    """What ``UTCDateTime`` hands a driver that stores the instant (asyncpg's
    ``timestamptz``): the same instant, in UTC."""
    return None if value is None else value.astimezone(UTC)


def utc_text(value: datetime | None) -> str | None:
    """What ``UTCDateTime`` stores, in one step: naive UTC text with microseconds
    (``2026-01-02 03:04:05.000006``), as SQLite's ``DATETIME`` keeps it and MySQL's
    ``DATETIME(6)`` reads it. SQLAlchemy's chain of the two processors
    costs several times as much, and a login binds seven of these."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
