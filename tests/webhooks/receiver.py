"""A real webhook receiver: an HTTP server on a free loopback port (aiohttp), recording
every request it is sent and answering as a test tells it to."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.processes import free_port


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(self.body)
        return event


Answer = Callable[[Received], web.StreamResponse]


@dataclass
class Receiver:
    """``answer`` decides each response (204 by default); ``delay`` seconds before it."""

    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)  # answered
    arrived: list[Received] = field(default_factory=list)  # answered or not (cut off)
    answer: Answer = lambda _r: web.Response(status=204)
    delay: float = 0.0
    in_flight: int = 0  # requests arrived and not yet answered
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        got = Received(dict(request.headers), await request.read())
        self.arrived.append(got)
        self.in_flight += 1
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        self.received.append(got)
        return self.answer(got)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def events(self) -> list[dict[str, Any]]:
        return [r.event for r in self.received]


async def eventually(check: Callable[[], bool | Awaitable[bool]], *, within: float = 30.0) -> None:
    """Wait until ``check()`` holds, awaiting it if it is a coroutine (a generous bound
    for a background task to get there, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError("not within the time allowed")
        await asyncio.sleep(0.02)
