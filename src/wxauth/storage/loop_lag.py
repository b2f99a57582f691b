"""How late this process's event loop runs what is due: the difference between a Redis
that hangs and a process too busy to read Redis's answer.

A timeout counts wall time. When the event loop is starved (many requests in flight on a
share of a core), a reply that came back in a millisecond may be read only after the
timeout has fired, and the command fails although Redis answered. :class:`LoopLag` tells
the two apart: a task wakes every ``interval`` seconds and records how much later than
asked it ran. :meth:`LoopLag.recent` is the worst lateness of the last ``window`` seconds,
counting the lateness of a wake-up that is overdue right now (the loop being busy at this
very moment), so that a caller handling a timeout can ask whether the loop was itself the
reason.

The monitor costs one wake-up per ``interval`` (20 a second by default) and starts on first
use in a running loop; it follows the loop it was started in.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

DEFAULT_INTERVAL_S = 0.05
DEFAULT_WINDOW_S = 2.0


class LoopLag:
    def __init__(
        self,
        *,
        interval: float = DEFAULT_INTERVAL_S,
        window: float = DEFAULT_WINDOW_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.window = window
        self._now = monotonic
        self._task: asyncio.Task[None] | None = None
        self._expected: float | None = None  # when the monitor should next run
        self._peak = 0.0
        self._peak_at = 0.0

    def __repr__(self) -> str:
        return f"LoopLag(recent={self.recent():.3f})"

    def start(self) -> None:
        """Start watching the running loop (again, if the loop changed or the task ended);
        nothing outside a running loop."""
        task = self._task
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if task is not None and not task.done() and task.get_loop() is loop:
            return
        self._expected = None
        self._task = loop.create_task(self._watch(), name="wxauth-loop-lag")

    def recent(self) -> float:
        """The worst lateness (seconds) seen in the last ``window``, the current overdue
        wake-up included; 0 when the monitor is not running."""
        now = self._now()
        peak = self._peak if now - self._peak_at <= self.window else 0.0
        if self._expected is not None and self._watching():
            peak = max(peak, now - self._expected)
        return max(peak, 0.0)

    def _watching(self) -> bool:
        """Whether the monitor runs in the running loop (a task of a loop that is gone
        never wakes again, and its overdue wake-up would look like lag for ever)."""
        task = self._task
        if task is None or task.done():
            return False
        try:
            return task.get_loop() is asyncio.get_running_loop()
        except RuntimeError:
            return False

    def record(self, lateness: float) -> None:
        """Note one wake-up ``lateness`` seconds late (the monitor's own measurement)."""
        now = self._now()
        if lateness >= self._peak or now - self._peak_at > self.window:
            self._peak, self._peak_at = lateness, now

    async def _watch(self) -> None:
        while True:
            self._expected = self._now() + self.interval
            await asyncio.sleep(self.interval)
            self.record(self._now() - self._expected)

    async def aclose(self) -> None:
        task, self._task = self._task, None
        self._expected = None
        if task is None or task.done():
            return
        task.cancel()
        if task.get_loop() is asyncio.get_running_loop():
            with contextlib.suppress(asyncio.CancelledError):
                await task
