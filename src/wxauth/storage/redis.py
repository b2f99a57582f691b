"""The one Redis client a process shares (session cache, locks, rate limits, revocations).

redis-py is an optional dependency (``wxauth[redis]``); it is imported only when
``WXAUTH_REDIS_URL`` is set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis


REDIS_TIMEOUT_S = 2.0


def create_redis(url: str) -> Redis:
    try:
        from redis.asyncio import Redis
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise RuntimeError(
            "WXAUTH_REDIS_URL is set but redis-py is missing: pip install 'wxauth[redis]'"
        ) from exc
    # Timeouts so that a hung Redis slows requests down by seconds, not forever.
    return Redis.from_url(
        url,
        decode_responses=False,
        health_check_interval=30,
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
    )
