"""Whether Redis answers, as one process sees it: a small breaker of Redis's own.

Redis speeds wxauth up and shares state between processes, but the database is the truth
and the service works without Redis. So when a Redis call fails (refused, reset, or timed
out because Redis hangs), its users stop asking for ``pause`` seconds and do without
(fail fast instead of waiting out a timeout on every request); then one call tries again.
An outage is logged once when it starts and once when it ends, never once per request.

Load is not an outage. A command can take longer than ``timeout`` because this process is
too busy to read an answer Redis already sent: its event loop runs late
(:class:`~wxauth.storage.loop_lag.LoopLag`). So the users of Redis ask through
:meth:`RedisHealth.ask`, whose deadline is ``timeout`` of a responsive loop: when it comes
while the loop is running late, the command gets more time (up to ``patience``); on a loop
that keeps up, a command unanswered after ``timeout`` fails, and Redis counts as down. A
failure that load still explains (a timeout while the loop lags and Redis answered within
the last ``pause`` seconds) fails that one call only (:meth:`RedisHealth.failed` returns
False) and never opens the breaker; a Redis that hangs while the process is busy stops
answering altogether and still counts as down once ``pause`` has passed without an
answer.

``outages`` counts the outages this process has seen: the session cache uses it to know
that changes may have failed to reach Redis meanwhile (see ``wxauth.storage.redis_cache``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from wxauth.storage.loop_lag import LoopLag

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_PAUSE_S = 2.0
LOAD_LAG_FRACTION = 0.2  # a loop this late (times the command timeout) is too busy to judge


def is_wait(exc: BaseException) -> bool:
    """A timeout (reading an answer, or waiting for a pooled connection), as opposed to a
    refused or reset connection, which no amount of load explains."""
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return True
    if type(exc).__name__ == "TimeoutError":  # redis.exceptions.TimeoutError
        return True
    cause = exc.__cause__
    return cause is not None and isinstance(cause, TimeoutError | asyncio.TimeoutError)


class RedisHealth:
    def __init__(
        self,
        *,
        pause: float = DEFAULT_PAUSE_S,
        timeout: float = 0.5,
        patience: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        lag: LoopLag | None = None,
    ) -> None:
        self.pause = pause
        self.timeout = timeout
        self.patience = 4 * timeout if patience is None else patience
        self._now = monotonic
        self.lag = lag or LoopLag(monotonic=monotonic)
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._answered_at: float | None = None
        self.outages = 0
        self.overloaded = 0  # failures put down to this process's own lag, not to Redis

    def __repr__(self) -> str:
        return f"RedisHealth(degraded={self.degraded})"

    @property
    def degraded(self) -> bool:
        """Redis failed and has not answered since."""
        return self._down_since is not None

    def usable(self) -> bool:
        """Whether to ask Redis now: always while it answers; once per ``pause`` while not."""
        if self._down_since is None:
            return True
        now = self._now()
        if now < self._retry_at:
            return False
        self._retry_at = now + self.pause  # this caller is the probe; the others wait
        return True

    async def ask(self, command: Awaitable[T]) -> T:
        """Await a Redis ``command`` within ``timeout`` of a responsive loop (see above);
        :class:`TimeoutError` when it does not answer in time."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(None) as deadline:
            check = _Check(self, deadline, loop)
            try:
                return await command
            finally:
                check.handle.cancel()

    def failed(self, exc: BaseException, *, what: str = "Redis") -> bool:
        """Note a failed call; True when it counts as an outage (the breaker opens), False
        when it is put down to this process's own load (only that call failed)."""
        now = self._now()
        if self._down_since is None and self._overloaded(exc, now):
            self.overloaded += 1
            return False
        self._retry_at = now + self.pause
        if self._down_since is None:
            self._down_since = now
            self.outages += 1
            log.warning(
                "%s unavailable (%s): working from the database without it until it answers",
                what,
                type(exc).__name__,
            )
        return True

    def _overloaded(self, exc: BaseException, now: float) -> bool:
        answered = self._answered_at
        if answered is None or now - answered > self.pause or not is_wait(exc):
            return False
        return self.lag.recent() >= LOAD_LAG_FRACTION * self.timeout

    def succeeded(self) -> None:
        self._answered_at = self._now()
        self.lag.start()
        if self._down_since is not None:
            log.warning("Redis answers again after %.1f s", self._now() - self._down_since)
            self._down_since = None

    async def aclose(self) -> None:
        await self.lag.aclose()


class _Check:
    """The deadline of one :meth:`RedisHealth.ask`: looked at after ``timeout``, then every
    half ``timeout`` while the loop runs late, up to ``patience``; expired otherwise."""

    __slots__ = ("deadline", "handle", "health", "loop", "started")

    def __init__(
        self, health: RedisHealth, deadline: asyncio.Timeout, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.health, self.deadline, self.loop = health, deadline, loop
        self.started = loop.time()
        self.handle = loop.call_later(health.timeout, self.due)

    def due(self) -> None:
        health, now = self.health, self.loop.time()
        late = health.lag.recent() >= LOAD_LAG_FRACTION * health.timeout
        if late and now - self.started + health.timeout / 2 <= health.patience:
            self.handle = self.loop.call_later(health.timeout / 2, self.due)
        else:
            self.deadline.reschedule(now)
