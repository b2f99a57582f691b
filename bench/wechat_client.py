"""What one code2Session call costs the server's CPU, by HTTP client, at 200 concurrent calls.

Starts the WeChat simulator (50 ms latency) and drives it from this process with 200
concurrent callers for each client in turn, printing calls per second and the process's CPU
time per call::

    .venv/bin/python -m bench.wechat_client [--seconds 5] [--concurrency 200]

Clients: httpx with one pool of 200 connections (httpcore walks and polls every pooled
connection on each request), httpx with its transport replaced by aiohttp's, and wxauth's
own sender (aiohttp). The call is a real code2Session with an unknown code, so every answer
is WeChat's 40029, after the simulator's latency.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from bench.procs import WXAUTH, free_port, running
from wxauth.wechat.http import AiohttpSender

APPID = "wxbe0c000000000001"
SECRET = "bench-secret-0123456789abcdef"
PARAMS = {"appid": APPID, "secret": SECRET, "js_code": "x", "grant_type": "authorization_code"}
PATH = "/sns/jscode2session"


async def drive(call: Callable[[], Awaitable[object]], concurrency: int, seconds: float) -> str:
    done = 0
    deadline = time.monotonic() + seconds

    async def caller() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            await call()
            done += 1

    cpu, wall = time.process_time(), time.monotonic()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    return f"{done / wall:8.0f} calls/s {1e6 * cpu / max(done, 1):8.0f} µs CPU per call"


async def measure(base: str, concurrency: int, seconds: float) -> None:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    plain = httpx.AsyncClient(base_url=base, limits=limits)
    clients: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("httpx (httpcore pool)", lambda: plain.get(PATH, params=PARAMS))
    ]
    try:
        from httpx_aiohttp import AiohttpTransport  # optional: pip install httpx-aiohttp
    except ImportError:
        bridged = None
    else:
        bridged = httpx.AsyncClient(base_url=base, transport=AiohttpTransport(limits=limits))
        clients.append(("httpx over aiohttp", lambda: bridged.get(PATH, params=PARAMS)))
    sender = AiohttpSender(base, timeout=5.0, connections=concurrency)
    clients.append(("wxauth sender (aiohttp)", lambda: sender.send("GET", PATH, params=PARAMS)))
    for name, call in clients:
        await drive(call, concurrency, 1.0)  # warm the pool
        print(f"{name:26} {await drive(call, concurrency, seconds)}", flush=True)
    await plain.aclose()
    if bridged is not None:
        await bridged.aclose()
    await sender.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.wechat_client")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args()
    port = free_port()
    argv = [*WXAUTH, "simulator", "--port", str(port), "--app", f"{APPID}:{SECRET}"]
    argv += ["--latency-ms", "50", "--log-level", "warning"]
    base = f"http://127.0.0.1:{port}"
    with (
        tempfile.TemporaryDirectory() as workdir,
        running(
            "simulator", argv, port=port, env={}, workdir=Path(workdir), ready_path="/sim/stats"
        ),
        asyncio.Runner(loop_factory=loop_factory()) as runner,
    ):
        runner.run(measure(base, args.concurrency, args.seconds))


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop, as ``wxauth serve`` runs, when it is installed."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


if __name__ == "__main__":
    main()
