"""Load is not an outage: a process too busy to read Redis's answer in time keeps its
guards, and a Redis that hangs still counts as down (on a real Redis)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis as Redis_
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import TimeoutError as RedisTimeout

from tests.services import REDIS_PORT
from tests.tcpproxy import TcpProxy
from wxauth.storage.loop_lag import LoopLag
from wxauth.storage.redis import REDIS_TIMEOUT_S, create_redis
from wxauth.storage.redis_batch import ScriptBatch
from wxauth.storage.redis_cache import CLAIM_SCRIPT, RedisCodeGuard
from wxauth.storage.redis_health import RedisHealth, is_wait

APPID = "wx-load"
NO_RETRY = Retry(NoBackoff(), 0)  # a timeout is a failure, as wxauth's own client has it
Redis = Any


@pytest.fixture
async def proxy(redis_url: str) -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(REDIS_PORT)
    await proxy.up()
    yield proxy
    await proxy.aclose()


@pytest.fixture
async def redis(proxy: TcpProxy) -> AsyncIterator[Redis]:
    client = create_redis(proxy.url)
    yield client
    await client.aclose()


@pytest.fixture
async def health() -> AsyncIterator[RedisHealth]:
    health = RedisHealth(timeout=REDIS_TIMEOUT_S)
    yield health
    await health.aclose()


@contextlib.asynccontextmanager
async def busy_loop(step_s: float) -> AsyncIterator[None]:
    """Keep the event loop busy as a process with too many requests in flight is: every
    turn of the loop runs one ``step_s`` of work. An answer that needs several turns to
    come in (the proxy in front of Redis runs in this loop too) comes in late."""

    async def hog() -> None:
        while True:
            time.sleep(step_s)  # noqa: ASYNC251 - one request's worth of CPU, the loop held
            await asyncio.sleep(0)

    task = asyncio.create_task(hog())
    await asyncio.sleep(0)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_the_loop_monitor_sees_a_blocked_loop() -> None:
    lag = LoopLag(interval=0.01)
    lag.start()
    try:
        await asyncio.sleep(0.05)
        quiet = lag.recent()
        time.sleep(0.3)  # noqa: ASYNC251 - the loop held, as by a long request
        busy_now = lag.recent()  # overdue right now, before the monitor could run
        await asyncio.sleep(0.05)
        after = lag.recent()  # and remembered once it has run
    finally:
        await lag.aclose()
    assert quiet < 0.1
    assert busy_now >= 0.25
    assert after >= 0.25
    assert lag.recent() == 0.0 or lag.recent() >= 0.25  # the peak lasts its window


async def test_a_claim_on_a_busy_loop_waits_for_its_answer_and_wins(
    redis: Redis,
    redis_prefix: str,
    health: RedisHealth,
    proxy: TcpProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard = RedisCodeGuard(redis, prefix=redis_prefix, health=health)
    assert await guard.claim(APPID, "warm-up") is True  # Redis answered; the monitor runs
    await asyncio.sleep(0.1)
    code = secrets.token_hex(8)
    plain = Redis_(port=proxy.port, socket_timeout=REDIS_TIMEOUT_S, retry=NO_RETRY)
    with caplog.at_level(logging.WARNING):
        async with busy_loop(0.3):
            # The load is real: a client that counts wall time loses its answers.
            with pytest.raises(RedisTimeout):
                await plain.get("anything")
            started = time.monotonic()
            won = await guard.claim(APPID, code)
            took = time.monotonic() - started
    assert took > REDIS_TIMEOUT_S, "the answer was expected to come in after the timeout"
    assert won is True
    assert guard.passed == 0  # never let through unguarded
    assert not health.degraded and health.outages == 0
    assert "unavailable" not in caplog.text
    # The code is really claimed: another process's claim of it loses.
    other = RedisCodeGuard(redis, prefix=redis_prefix, health=RedisHealth())
    assert await other.claim(APPID, code) is False
    await plain.aclose()


async def test_a_claim_retried_after_a_lost_answer_recognises_itself(
    redis: Redis, redis_prefix: str
) -> None:
    """The claim is idempotent: asked again with the same value (its answer lost), it wins
    again; asked with another value (someone else's claim), it loses."""
    claim = ScriptBatch(redis, CLAIM_SCRIPT)  # the guard's claim, as it sends it
    key = [f"{redis_prefix}code:lost"]
    assert await claim(key, [b"mine", 60]) is None
    assert await claim(key, [b"mine", 60]) == b"mine"
    assert await claim(key, [b"theirs", 60]) == b"mine"
    assert 0 < await redis.ttl(key[0]) <= 60


async def test_a_claim_after_redis_forgot_its_scripts_loads_the_script_again(
    redis: Redis, redis_prefix: str
) -> None:
    """A Redis restarted (or flushed) since the last claim knows no script by its digest:
    the claim loads it and is still claimed once."""
    guard = RedisCodeGuard(redis, prefix=redis_prefix, health=RedisHealth())
    assert await guard.claim(APPID, "before") is True
    await redis.script_flush()
    assert await guard.claim(APPID, "after") is True
    assert await guard.claim(APPID, "after") is False
    assert guard.passed == 0


async def test_a_hung_redis_on_a_quiet_loop_is_down_at_once(
    redis: Redis, redis_prefix: str, health: RedisHealth, proxy: TcpProxy
) -> None:
    guard = RedisCodeGuard(redis, prefix=redis_prefix, health=health)
    assert await guard.claim(APPID, "warm-up") is True
    await asyncio.sleep(0.1)
    await proxy.hang()
    started = time.monotonic()
    assert await guard.claim(APPID, secrets.token_hex(8)) is True  # let through, once logged
    assert time.monotonic() - started < 2 * REDIS_TIMEOUT_S  # one timeout, no retry
    assert health.degraded and health.outages == 1
    assert guard.passed == 1


async def test_a_hung_redis_on_a_busy_loop_is_down_once_the_pause_passes(
    proxy: TcpProxy, redis: Redis, redis_prefix: str
) -> None:
    clock = [0.0]
    lag = LoopLag()
    health = RedisHealth(timeout=REDIS_TIMEOUT_S, monotonic=lambda: clock[0], lag=lag)
    health.succeeded()
    lag.record(1.0)  # the loop ran a second late just now
    timeout = TimeoutError("Timeout reading from Redis")
    assert health.failed(timeout) is False  # load, while Redis answered a moment ago
    assert not health.degraded
    clock[0] += health.pause + 0.1  # no answer for longer than the pause: down, busy or not
    lag.record(1.0)
    assert health.failed(timeout) is True
    assert health.degraded and health.outages == 1
    await lag.aclose()


def test_a_refused_connection_is_never_put_down_to_load() -> None:
    lag = LoopLag()
    health = RedisHealth(timeout=REDIS_TIMEOUT_S, lag=lag)
    health.succeeded()
    lag.record(1.0)
    assert not is_wait(ConnectionRefusedError())
    assert health.failed(ConnectionRefusedError()) is True
    assert health.degraded


async def test_a_forget_lost_to_load_retires_the_cache_once_redis_answers(
    redis: Redis, redis_prefix: str
) -> None:
    """A revocation whose tombstone and message this process was too busy to send (every
    answer lost, each put down to load, so no outage) is sent again; when that is lost
    too, the process bumps the epoch before it next believes Redis, so no process goes on
    trusting what the lost message would have retired."""
    import dataclasses

    from wxauth.core.cache import LocalSessionCache
    from wxauth.core.models import User
    from wxauth.storage.redis_cache import FORGET_TRIES, RedisSessionCache

    from .test_store_contract import NOW, login_record

    lag = LoopLag()
    # Redis answered lately (within the pause), and the loop lags: load, not an outage.
    # The warm-up (a new connection through the proxy, the script loaded) gets the usual
    # timeout: on a busy machine it may take longer than the short one asked of later calls.
    health = RedisHealth(timeout=REDIS_TIMEOUT_S, pause=30, lag=lag)
    cache = RedisSessionCache(
        redis, LocalSessionCache(ttl=1.0), prefix=redis_prefix, ttl_s=60, health=health
    )
    user = User(id="id-load", appid=APPID, openid="o-load", created_at=NOW)
    session = dataclasses.replace(login_record("o-load").session, user_id=user.id)
    await cache.put(session, user)  # Redis answers: the process is healthy
    assert not health.degraded and health.outages == 0, "the warm-up put was expected to pass"
    health.timeout, health.patience = 0.1, 0.4
    epoch_key = f"{redis_prefix}epoch"
    before = int(await redis.get(epoch_key) or 0)
    lag.start()
    await asyncio.sleep(0.05)
    async with busy_loop(0.6):  # each answer comes in after the ask's patience (0.4 s)
        await cache.forget_session(session.token_hash)
    assert not health.degraded and health.outages == 0
    assert health.overloaded == FORGET_TRIES  # sent again, and lost again
    assert await cache.get(session.token_hash) is None
    assert int(await redis.get(epoch_key) or 0) == before + 1  # retired, once Redis answers
    await cache.aclose()
    await lag.aclose()
