"""Reaching the configured database from a command: one :class:`~wxauth.wiring.Wiring` per
run, whose store writes through the session cache, so that running servers forget what a
command changed (through Redis when there is one)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from wxauth.cli.common import load_settings
from wxauth.config import Settings
from wxauth.core.ports import Store
from wxauth.wiring import Wiring

T = TypeVar("T")


def with_wiring(work: Callable[[Wiring], Awaitable[T]], settings: Settings | None = None) -> T:
    """Run ``work`` with the process's objects built from ``settings`` (WXAUTH_* by
    default), and close whatever it built afterwards."""
    settings = settings or load_settings()

    async def run() -> T:
        wiring = Wiring(settings)
        try:
            return await work(wiring)
        finally:
            await wiring.aclose()

    return asyncio.run(run())


def with_store(work: Callable[[Store, Settings], Awaitable[T]]) -> T:
    """Run ``work`` against WXAUTH_DATABASE_URL's store (behind the session cache)."""
    return with_wiring(lambda wiring: work(wiring.store, wiring.settings))


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell, for terminal output."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = [headers, *rows]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )
