"""The one Redis client a process shares (session cache, locks, rate limits, revocations).

redis-py is an optional dependency (``wxauth[redis]``); it is imported only when
``WXAUTH_REDIS_URL`` is set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis


REDIS_TIMEOUT_S = 0.5  # unanswered this long by a responsive process: Redis counts as down
REDIS_SOCKET_TIMEOUT_S = 2.0  # the backstop: no command waits longer, however busy the process
POOL_WAIT_S = 2.0  # how long a caller waits for a free connection when all are busy


def create_redis(url: str, *, pool_size: int = 64) -> Redis:
    """A client on a bounded pool of ``pool_size`` connections. When all are in use a caller
    waits (up to :data:`POOL_WAIT_S`) for one to come free instead of failing: load must not
    look like an outage. A hung Redis costs one :data:`REDIS_TIMEOUT_S` to those who ask
    through :meth:`~wxauth.storage.redis_health.RedisHealth.ask` (more while the process's
    own event loop runs late, never more than :data:`REDIS_SOCKET_TIMEOUT_S`), after which
    they do without it for a while."""
    try:
        from redis.asyncio import BlockingConnectionPool, Redis
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise RuntimeError(
            "WXAUTH_REDIS_URL is set but redis-py is missing: pip install 'wxauth[redis]'"
        ) from exc
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=pool_size,
        timeout=POOL_WAIT_S,
        decode_responses=False,
        health_check_interval=30,
        socket_timeout=REDIS_SOCKET_TIMEOUT_S,
        socket_connect_timeout=REDIS_SOCKET_TIMEOUT_S,
    )
    return Redis.from_pool(pool)  # the client owns the pool and closes it
