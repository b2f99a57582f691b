"""A lean closed-loop HTTP/1.1 load generator on raw asyncio protocols.

Each connection sends one request, waits for the whole answer, records its latency and sends
the next: ``connections`` requests are in flight at any time. Requests are prebuilt bytes, so
the generator spends its time on the socket and not on building requests; it parses only the
status line, ``Content-Length`` and ``Connection: close`` (servers that close after each answer,
like gunicorn's sync workers, get a fresh connection per request, as a browser would).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

RequestSource = Callable[[], bytes | None]
"""Gives the next request's bytes, or None when there is nothing left to send."""
OnAnswer = Callable[[int, bytes], None]
"""Sees each answer's status and body (setup runs that collect codes or tokens)."""


@dataclass(slots=True)
class LoadResult:
    requests: int = 0
    errors: int = 0
    elapsed_s: float = 0.0
    client_cpu_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)


def build_request(
    method: str, path: str, host: str, *, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method in ("POST", "PUT"):
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection that answers ``(status, body, closing)`` per request."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes, bool]] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio.Transport, but behave as one.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._try_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed mid-answer"))

    def _try_complete(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None or self.waiter.done():
            return
        head = bytes(self.buffer[:end]).lower()
        length, closing = 0, False
        for line in head.split(b"\r\n")[1:]:
            if line.startswith(b"content-length:"):
                length = int(line[15:])
            elif line.startswith(b"connection:") and b"close" in line:
                closing = True
        if len(self.buffer) < end + 4 + length:
            return
        status = int(head[9:12])
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        self.waiter.set_result((status, body, closing))

    async def exchange(self, request: bytes) -> tuple[int, bytes, bool]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter


async def _connect(host: str, port: int) -> _Connection:
    loop = asyncio.get_running_loop()
    _transport, conn = await loop.create_connection(_Connection, host, port)
    return conn


async def _worker(
    host: str,
    port: int,
    source: RequestSource,
    deadline: float,
    result: LoadResult,
    on_answer: OnAnswer | None,
) -> None:
    conn: _Connection | None = None
    try:
        while time.perf_counter() < deadline:
            request = source()
            if request is None:
                return
            started = time.perf_counter()
            try:
                if conn is None or conn.closed:
                    conn = await _connect(host, port)
                status, body, closing = await conn.exchange(request)
            except (ConnectionError, OSError):
                result.errors += 1
                conn = None
                continue
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            result.requests += 1
            result.statuses[status] += 1
            if status >= 400:
                result.errors += 1
            if on_answer is not None:
                on_answer(status, body)
            if closing and conn.transport is not None:
                conn.transport.close()
                conn = None
    finally:
        if conn is not None and conn.transport is not None:
            conn.transport.close()


async def run_load(
    host: str,
    port: int,
    source: RequestSource,
    *,
    connections: int,
    duration_s: float,
    on_answer: OnAnswer | None = None,
) -> LoadResult:
    """Drive ``connections`` closed-loop clients for ``duration_s`` or until ``source`` runs dry."""
    result = LoadResult()
    cpu0, started = time.process_time(), time.perf_counter()
    deadline = started + duration_s
    workers = [_worker(host, port, source, deadline, result, on_answer) for _ in range(connections)]
    await asyncio.gather(*workers)
    result.elapsed_s = time.perf_counter() - started
    result.client_cpu_s = time.process_time() - cpu0
    return result


def cycle(requests: list[bytes]) -> RequestSource:
    """Send ``requests`` round and round (warm tokens)."""
    state = {"i": 0}

    def source() -> bytes:
        i = state["i"]
        state["i"] = i + 1
        return requests[i % len(requests)]

    return source


def once_each(requests: list[bytes]) -> RequestSource:
    """Send each request once (single-use login codes)."""
    iterator = iter(requests)
    return lambda: next(iterator, None)
