"""Rate limits: fixed windows counted in Redis when configured, in this process otherwise.

A limit is a number of hits per ``window`` seconds for one key in one scope (``token``,
``export``, the failure scopes such as ``login-ip`` and ``login-appid``). Over the limit,
:class:`~wxauth.errors.RateLimited` (429 ``rate_limited``) carries a Retry-After up to the
end of the window.

Two kinds of use:

- :meth:`RateLimiter.hit` counts every request and refuses the one past the limit (per real
  token, per user's export);
- failure budgets, per client address (and the logins' per appid, off by default):
  :meth:`RateLimiter.check` refuses a key that already spent its budget (a read: it creates
  nothing), and :meth:`RateLimiter.failed` spends one unit once a request is known to have
  been the client's fault. A request that succeeds never spends anything, so however many
  people share one address (a NAT, a campus, a proxy), only what a client got wrong counts
  against it. Concurrent requests may all pass the check before any of their failures is
  counted: the budget is exact for one client at a time and overshot by at most the
  requests in flight.

In memory, each process counts on its own, so with N processes the effective limit is N
times the setting: configure Redis when more than one process serves. If Redis fails, each
process counts in its own memory until Redis answers again (the outage logged once): a
broken limiter must neither take logins down nor stop limiting.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from wxauth.core.tokens import hash_token
from wxauth.errors import RateLimited
from wxauth.storage.redis_health import RedisHealth

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)


class RateLimiter:
    def __init__(
        self,
        *,
        window: int = 60,
        redis: Redis | None = None,
        prefix: str = "wxauth:",
        clock: Callable[[], float] = time.time,
        health: RedisHealth | None = None,
    ) -> None:
        self.window = window
        self._redis = redis
        self._health = health or RedisHealth()
        self._prefix = prefix
        self._clock = clock
        self._current = -1
        self._counts: Counter[tuple[str, str]] = Counter()

    def __repr__(self) -> str:
        return f"RateLimiter(window={self.window}, backend={'redis' if self._redis else 'memory'})"

    async def hit(self, scope: str, key: str, limit: int) -> None:
        """Count one hit for ``key`` in ``scope``; raise RateLimited past ``limit`` (0: none)."""
        if limit <= 0:
            return
        now = self._clock()
        index = int(now // self.window)
        count = await self._count(scope, key, index)
        if count > limit:
            raise RateLimited(retry_after=self._retry_after(index, now))

    async def hit_token(self, token: str, limit: int) -> None:
        """Count one request of a token that was checked and is real (counting before the
        check would give every made-up token a key of its own)."""
        # The token itself never becomes a key (Redis keys show up in monitoring).
        if limit > 0:  # no hashing on the token check's path when the limit is off
            await self.hit("token", hash_token(token)[:32], limit)

    async def check(self, scope: str, key: str, limit: int) -> None:
        """Raise RateLimited if ``key`` already spent its failure budget ``limit`` (0: none)
        in ``scope`` this window. Only reads: an address with no failures costs no key."""
        if limit <= 0:
            return
        now = self._clock()
        index = int(now // self.window)
        if await self._read(scope, key, index) >= limit:
            raise RateLimited(retry_after=self._retry_after(index, now))

    async def failed(self, scope: str, key: str, limit: int) -> None:
        """Spend one unit of ``key``'s failure budget in ``scope`` (nothing when ``limit`` is 0)."""
        if limit > 0:
            await self._count(scope, key, int(self._clock() // self.window))

    def _retry_after(self, index: int, now: float) -> int:
        return max(1, math.ceil((index + 1) * self.window - now))

    # While Redis is down (or has just failed), each process counts in its own memory: the
    # limits then hold per process, N processes allowing N times the setting. The outage is
    # logged once, by the shared RedisHealth.

    async def _read(self, scope: str, key: str, index: int) -> int:
        if self._redis is not None and self._health.usable():
            try:
                name = f"{self._prefix}rl:{scope}:{index}:{key}"
                value = await self._health.ask(self._redis.get(name))
            except Exception as exc:  # refused, reset or timed out
                self._health.failed(exc)
            else:
                self._health.succeeded()
                return int(value or 0)
        if index != self._current:
            return 0
        return self._counts.get((scope, key), 0)

    async def _count(self, scope: str, key: str, index: int) -> int:
        if self._redis is not None and self._health.usable():
            name = f"{self._prefix}rl:{scope}:{index}:{key}"
            try:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.incr(name)
                    pipe.expire(name, self.window + 1)
                    count, _ = await self._health.ask(pipe.execute())
            except Exception as exc:  # refused, reset or timed out
                self._health.failed(exc)
            else:
                self._health.succeeded()
                return int(count)
        return self._count_in_memory(scope, key, index)

    def _count_in_memory(self, scope: str, key: str, index: int) -> int:
        if index != self._current:  # a new window: the old counts are worthless
            self._current = index
            self._counts.clear()
        self._counts[(scope, key)] += 1
        return self._counts[(scope, key)]
