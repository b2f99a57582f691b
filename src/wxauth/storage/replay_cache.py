"""Platform pushes seen before, shared by every process through Redis: a push replayed to
another process is refused there too."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis


class RedisReplayCache:
    """A :class:`~wxauth.wechat.component_push.ReplayCache` on Redis: ``SET NX`` with the
    push's remaining freshness as its expiry, so the keys go once a replay would be stale."""

    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{prefix}push:"

    def __repr__(self) -> str:
        return f"RedisReplayCache(prefix={self._prefix!r})"

    async def first_seen(self, key: str, *, until: float, now: float) -> bool:
        seconds = max(1, math.ceil(until - now))
        return bool(await self._redis.set(self._prefix + key, b"1", nx=True, ex=seconds))
