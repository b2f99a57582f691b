"""Redis down or hung, for real (a proxy in front of the real Redis): the database stays the
truth, requests stay fast, and readiness does not depend on Redis."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import Harness, bearer, close_harness, open_harness
from tests.services import REDIS_PORT
from tests.tcpproxy import TcpProxy
from wxauth.config import Settings
from wxauth.simulator import SimulatorState


@pytest.fixture
async def proxy(redis_url: str) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(REDIS_PORT)
    await proxy.up()
    yield proxy
    await proxy.aclose()


@pytest.fixture
async def two_processes(
    settings: Settings, sim_state: SimulatorState, proxy: TcpProxy, redis_prefix: str
) -> AsyncIterator[list[Harness]]:
    """Two servers on one database and one Redis; nothing else in common."""
    changes: dict[str, Any] = {
        "redis_url": proxy.url,
        "redis_prefix": redis_prefix,
        "session_touch_interval": 0,  # every check writes: the touch must not resurrect
        "rate_limit_login_ip": 0,
        "rate_limit_token": 0,
        "rate_limit_token_failures_ip": 0,
    }
    opened = [await open_harness(settings.model_copy(update=changes), sim_state) for _ in "ab"]
    yield [h for h, _ in opened]
    for h, app in opened:
        await close_harness(h, app)


async def me_status(h: Harness, token: str) -> int:
    return (await h.api.get("/v1/me", headers=bearer(token))).status_code


async def test_a_logout_while_redis_is_down_stays_in_force_everywhere(
    two_processes: list[Harness], proxy: TcpProxy
) -> None:
    a, b = two_processes
    token = (await a.login("alice"))["token"]
    for h in (a, b):  # cached in Redis and in each process's memory
        assert await me_status(h, token) == 200
        assert await me_status(h, token) == 200

    await proxy.down()
    assert (await a.api.post("/v1/logout", headers=bearer(token))).status_code == 204
    assert await me_status(a, token) == 401
    await asyncio.sleep(1.1)  # the in-process tier's bound
    assert await me_status(b, token) == 401

    await proxy.up()
    deadline = time.monotonic() + 6  # past the health pause and the channel's reconnect
    while time.monotonic() < deadline:
        assert await me_status(a, token) == 401
        assert await me_status(b, token) == 401
        await asyncio.sleep(0.05)
    # Redis is in use again, and a new session is cached and served as before.
    fresh = (await b.login("alice"))["token"]
    assert await me_status(a, fresh) == 200
    assert (await a.api.get("/readyz")).json() == {"status": "ok", "redis": "ok"}


async def test_a_hung_redis_costs_no_more_than_a_moment(
    two_processes: list[Harness], proxy: TcpProxy
) -> None:
    a, _ = two_processes
    tokens = [(await a.login(f"user-{i}"))["token"] for i in range(5)]
    await proxy.hang()
    await asyncio.sleep(1.1)  # nothing left in the in-process tier
    slowest = 0.0
    for token in tokens:
        started = time.monotonic()
        assert await me_status(a, token) == 200
        slowest = max(slowest, time.monotonic() - started)
    started = time.monotonic()
    body = await a.login(f"new-{secrets.token_hex(3)}")
    assert body["new_user"]
    slowest = max(slowest, time.monotonic() - started)
    assert slowest < 0.9, f"a request took {slowest:.2f} s with Redis hung"
    ready = await a.api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "redis": "degraded"}


async def test_a_logout_behind_a_partition_ends_everywhere_once_redis_is_back(
    settings: Settings,
    sim_state: SimulatorState,
    proxy: TcpProxy,
    redis_url: str,
    redis_prefix: str,
) -> None:
    """Only the process that logs out loses Redis (a partition): the others still hear
    Redis, so their in-process tiers stay vouched for and would hold the session for a
    minute. Once Redis is back, the logging-out process bumps the epoch and says so on the
    channel: every other process drops its tier at once, and the token is refused."""
    changes: dict[str, Any] = {
        "redis_prefix": redis_prefix,
        "rate_limit_login_ip": 0,
        "rate_limit_token": 0,
        "rate_limit_token_failures_ip": 0,
    }
    cut_off = settings.model_copy(update={**changes, "redis_url": proxy.url})
    heard = settings.model_copy(update={**changes, "redis_url": redis_url})
    (a, a_app), (b, b_app) = [await open_harness(s, sim_state) for s in (cut_off, heard)]
    try:
        token = (await a.login("alice"))["token"]
        for h in (a, b):
            assert await me_status(h, token) == 200
        await proxy.down()
        assert (await a.api.post("/v1/logout", headers=bearer(token))).status_code == 204
        assert await me_status(a, token) == 401
        await asyncio.sleep(1.5)  # past the local TTL: b still holds it, vouched for
        assert await me_status(b, token) == 200  # Redis was never told (the partition)

        await proxy.up()
        deadline = time.monotonic() + 8  # a's health pause, then its first use of Redis
        while time.monotonic() < deadline and await me_status(b, token) == 200:
            assert await me_status(a, token) == 401  # a's checks use Redis again
            await asyncio.sleep(0.05)
        assert await me_status(b, token) == 401
    finally:
        await close_harness(a, a_app)
        await close_harness(b, b_app)
