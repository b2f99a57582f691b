"""Reaching the configured database from a command: one SqlStore, opened and closed per run."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from wxauth.cli.common import load_settings
from wxauth.config import Settings
from wxauth.storage.engine import create_engine
from wxauth.storage.sql import SqlStore

T = TypeVar("T")


def with_store(work: Callable[[SqlStore, Settings], Awaitable[T]]) -> T:
    """Run ``work`` against WXAUTH_DATABASE_URL and dispose of the engine afterwards."""
    settings = load_settings()

    async def run() -> T:
        engine = create_engine(settings.database_url)
        try:
            return await work(SqlStore(engine), settings)
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def forget_cached(
    settings: Settings, *, user_id: str | None = None, token_hash: str | None = None
) -> None:
    """Tell running servers' session caches (through Redis) that a user or session changed.

    Without Redis each server's cache is in-process and lives at most one second: nothing to do.
    """
    if not settings.redis_url or settings.session_cache_ttl <= 0:
        return
    from wxauth.storage.redis import create_redis
    from wxauth.storage.redis_cache import build_session_cache

    redis = create_redis(settings.redis_url)
    cache = build_session_cache(settings, redis)
    try:
        if cache is not None and user_id is not None:
            await cache.forget_user(user_id)
        if cache is not None and token_hash is not None:
            await cache.forget_session(token_hash)
    finally:
        if cache is not None:
            await cache.aclose()
        await redis.aclose()


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell, for terminal output."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = [headers, *rows]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )
