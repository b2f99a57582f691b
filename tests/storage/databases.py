"""Throwaway databases on the local PostgreSQL and MariaDB servers, migrated to head.

Each gets a unique name (others use the same servers at the same time) and is dropped at
the end. A server that does not answer skips the test, except under CI where it fails.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import text

from wxauth.storage.engine import create_engine
from wxauth.storage.migrate import upgrade

SERVERS = {
    "postgresql": ("postgresql+asyncpg://postgres@127.0.0.1:5432", "test", "PostgreSQL"),
    "mysql": ("mysql+asyncmy://root@127.0.0.1:3306", "test", "MariaDB or MySQL"),
}


@asynccontextmanager
async def scratch_database(backend: str) -> AsyncIterator[str]:
    """The URL of a fresh, migrated database on ``backend``; dropped afterwards."""
    server, admin_db, product = SERVERS[backend]
    name = f"wxauth_t_{secrets.token_hex(6)}"
    admin = create_engine(f"{server}/{admin_db}", isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f"CREATE DATABASE {name}"))
    except (OSError, Exception) as exc:  # the driver's own connection errors vary
        await admin.dispose()
        if os.environ.get("CI"):
            raise
        pytest.skip(
            f"{product} is not reachable on 127.0.0.1 ({type(exc).__name__}): install "
            f"and start it to run this test"
        )
    url = f"{server}/{name}"
    try:
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE {name}"))
        await admin.dispose()
