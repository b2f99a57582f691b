"""One background reload of a snapshot at a time, waited for a few milliseconds at most.

The apps registry and the webhook subscriptions are snapshots of the store that requests
read on the hot paths and that go stale every half second. A request that finds one stale
starts the reload here and waits for it at most :data:`REFRESH_WAIT_S`: a reload that takes
longer (the database is busy) goes on in the background while the stale snapshot answers,
so a busy database never makes every request in flight wait behind one read.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

REFRESH_WAIT_S = 0.02  # how long a request waits for a reload before using the stale snapshot


class BackgroundReload:
    def __init__(self, reload: Callable[[], Coroutine[Any, Any, None]], *, name: str) -> None:
        self._reload = reload
        self._name = name
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start the reload unless one is running; wait for it :data:`REFRESH_WAIT_S` at most."""
        task = self._task
        if task is None or task.done():
            loop = asyncio.get_running_loop()
            task = self._task = loop.create_task(self._reload(), name=self._name)
        await asyncio.wait([task], timeout=REFRESH_WAIT_S)

    async def settled(self) -> None:
        """Wait for a reload in flight, if there is one."""
        task = self._task
        if task is not None and not task.done():
            await asyncio.wait([task])

    async def aclose(self) -> None:
        """Let a reload in flight finish (its query is in the driver's hands), then stop."""
        task, self._task = self._task, None
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            return
        await asyncio.wait([task], timeout=5.0)
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
