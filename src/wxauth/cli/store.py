"""Reaching the configured database from a command: one :class:`~wxauth.wiring.Wiring` per
run, whose store writes through the session cache, so that running servers forget what a
command changed (through Redis when there is one).

Before the work starts, the database is checked (:mod:`wxauth.storage.preflight`): a command
never creates an empty SQLite file, and refuses, in one line, a database it cannot reach or
whose schema is not at head.
"""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from wxauth.cli.common import operator_settings
from wxauth.config import Settings
from wxauth.core.ports import Store
from wxauth.storage.preflight import check_redis_installed, require_migrated
from wxauth.wiring import Wiring

T = TypeVar("T")


def with_wiring(work: Callable[[Wiring], Awaitable[T]], settings: Settings | None = None) -> T:
    """Run ``work`` with the process's objects built from ``settings`` (the operator's
    settings by default), and close whatever it built afterwards."""
    settings = settings or operator_settings()
    check_redis_installed(settings.redis_url)
    quiet = logging.getLogger("wxauth")
    if not quiet.handlers and not logging.getLogger().handlers:
        # A command's failures end as one `error:` line; the services' warnings (a WeChat
        # retry, a Redis hiccup) would only repeat it.
        quiet.setLevel(logging.ERROR)

    async def run() -> T:
        await require_migrated(settings.database_url)
        wiring = Wiring(settings)
        try:
            return await work(wiring)
        finally:
            await wiring.aclose()

    return asyncio.run(run())


def with_store(work: Callable[[Store, Settings], Awaitable[T]]) -> T:
    """Run ``work`` against the configured store (behind the session cache)."""
    return with_wiring(lambda wiring: work(wiring.store, wiring.settings))


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def width(text: str) -> int:
    """Terminal columns of ``text``: CJK and emoji take two, combining marks none."""
    columns = 0
    for char in text:
        if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
            continue
        columns += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return columns


def pad(text: str, columns: int) -> str:
    return text + " " * max(0, columns - width(text))


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell (in terminal columns), for terminal output."""
    widths = [max(width(h), *(width(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = [headers, *rows]
    return "\n".join(
        "  ".join(pad(c, w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )
