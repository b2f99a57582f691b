"""Finding a session by the id the commands show (a prefix of its token's hash)."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from wxauth.storage.boundary import translated
from wxauth.storage.tables import sessions

HEX_PREFIX = re.compile(r"[0-9a-f]{1,64}")


async def session_hashes_with_prefix(engine: AsyncEngine, prefix: str, limit: int = 2) -> list[str]:
    """Token hashes starting with ``prefix`` (lower-case hex), at most ``limit`` of them."""
    if not HEX_PREFIX.fullmatch(prefix):
        raise ValueError("a session id is hexadecimal (as `wxauth sessions list` shows it)")
    query = (
        select(sessions.c.token_hash)
        .where(sessions.c.token_hash.startswith(prefix, autoescape=True))
        .order_by(sessions.c.token_hash)
        .limit(limit)
    )
    with translated():
        async with engine.connect() as connection:
            return list((await connection.execute(query)).scalars())
