"""Whether Redis answers, as one process sees it: a small breaker of Redis's own.

Redis speeds wxauth up and shares state between processes, but the database is the truth
and the service works without Redis. So when a Redis call fails (refused, reset, or timed
out because Redis hangs), its users stop asking for ``pause`` seconds and do without
(fail fast instead of waiting out a timeout on every request); then one call tries again.
An outage is logged once when it starts and once when it ends, never once per request.

``outages`` counts the outages this process has seen: the session cache uses it to know
that changes may have failed to reach Redis meanwhile (see ``wxauth.storage.redis_cache``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

DEFAULT_PAUSE_S = 2.0


class RedisHealth:
    def __init__(
        self, *, pause: float = DEFAULT_PAUSE_S, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.pause = pause
        self._now = monotonic
        self._down_since: float | None = None
        self._retry_at = 0.0
        self.outages = 0

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

    def failed(self, exc: BaseException, *, what: str = "Redis") -> None:
        now = self._now()
        self._retry_at = now + self.pause
        if self._down_since is None:
            self._down_since = now
            self.outages += 1
            log.warning(
                "%s unavailable (%s): working from the database without it until it answers",
                what,
                type(exc).__name__,
            )

    def succeeded(self) -> None:
        if self._down_since is not None:
            log.warning("Redis answers again after %.1f s", self._now() - self._down_since)
            self._down_since = None
