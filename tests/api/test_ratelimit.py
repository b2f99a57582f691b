"""Rate limits on /v1/login (per client IP, per appid) and per token; the client's IP."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from tests.conftest import Harness, bearer, close_harness, open_harness
from wxauth.api.clientip import ClientIp
from wxauth.api.ratelimit import RateLimiter
from wxauth.config import Settings
from wxauth.errors import RateLimited
from wxauth.simulator import SimulatorState

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def limited(
    settings: Settings, sim_state: SimulatorState, request: pytest.FixtureRequest
) -> AsyncIterator[Harness]:
    # An hour-long window: a test does not straddle a window's end.
    changes: dict[str, Any] = {"rate_limit_window": 3600, **getattr(request, "param", {})}
    h, app = await open_harness(settings.model_copy(update=changes), sim_state)
    yield h
    await close_harness(h, app)


def assert_429(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 3600


@pytest.mark.parametrize("limited", [{"rate_limit_login_ip": 3}], indirect=True)
async def test_login_per_ip(limited: Harness) -> None:
    await limited.login("a")
    bad = await limited.api.post("/v1/login", json={"code": "wrong"})
    assert bad.status_code == 400  # failures count too
    await limited.login("b")
    assert_429(await limited.api.post("/v1/login", json={"code": await limited.code("c")}))


@pytest.mark.parametrize(
    "limited", [{"rate_limit_login_ip": 0, "rate_limit_login_appid": 2}], indirect=True
)
async def test_login_per_appid(limited: Harness) -> None:
    await limited.login("a")
    await limited.login("b")
    assert_429(await limited.api.post("/v1/login", json={"code": await limited.code("c")}))


@pytest.mark.parametrize("limited", [{"rate_limit_token": 3}], indirect=True)
async def test_api_per_token(limited: Harness) -> None:
    first = (await limited.login("a"))["token"]
    second = (await limited.login("b"))["token"]
    for _ in range(3):
        assert (await limited.api.get("/v1/me", headers=bearer(first))).status_code == 200
    assert_429(await limited.api.get("/v1/me", headers=bearer(first)))
    assert (await limited.api.get("/v1/me", headers=bearer(second))).status_code == 200


@pytest.mark.parametrize("limited", [{"rate_limit_login_ip": 2}], indirect=True)
async def test_forwarded_for_ignored_without_trusted_proxy(limited: Harness) -> None:
    for n in range(2):
        headers = {"X-Forwarded-For": f"203.0.113.{n}"}
        await limited.api.post("/v1/login", json={"code": await limited.code()}, headers=headers)
    spoofed = {"X-Forwarded-For": "203.0.113.99"}
    assert_429(await limited.api.post("/v1/login", json={"code": "x"}, headers=spoofed))


@pytest.mark.parametrize(
    "limited", [{"rate_limit_login_ip": 1, "trusted_proxies": ["127.0.0.0/8"]}], indirect=True
)
async def test_forwarded_for_believed_from_trusted_proxy(limited: Harness) -> None:
    for n in range(3):
        headers = {"X-Forwarded-For": f"198.51.100.7, 203.0.113.{n}"}
        response = await limited.api.post(
            "/v1/login", json={"code": await limited.code(f"u{n}")}, headers=headers
        )
        assert response.status_code == 200, response.text
    again = {"X-Forwarded-For": "203.0.113.0"}
    assert_429(await limited.api.post("/v1/login", json={"code": "x"}, headers=again))


def request_from(peer: str, forwarded: str | None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "client": (peer, 1234), "headers": headers})


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("10.0.0.5", "1.2.3.4", "1.2.3.4"),
        ("10.0.0.5", "6.6.6.6, 1.2.3.4", "1.2.3.4"),  # the left part is the client's to forge
        ("10.0.0.5", "1.2.3.4, 10.0.0.9", "1.2.3.4"),  # two proxies of ours
        ("10.0.0.5", "garbage", "10.0.0.5"),
        ("10.0.0.5", None, "10.0.0.5"),
        ("192.0.2.1", "1.2.3.4", "192.0.2.1"),  # not a trusted peer: header ignored
        ("10.0.0.5", "2001:db8::1", "2001:db8::1"),
    ],
)
def test_client_ip(peer: str, forwarded: str | None, expected: str) -> None:
    assert ClientIp(["10.0.0.0/8"])(request_from(peer, forwarded)) == expected


def test_bad_trusted_proxy_setting_is_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match="proxies"):
        Settings(**{**settings.model_dump(), "trusted_proxies": ["not-a-network"]})


async def test_memory_window_resets() -> None:
    now = [1000.0]
    limiter = RateLimiter(window=60, clock=lambda: now[0])
    await limiter.hit("s", "k", 1)
    with pytest.raises(RateLimited) as caught:
        await limiter.hit("s", "k", 1)
    assert caught.value.retry_after == 20  # 1000 is 40 s into the window [960, 1020)
    now[0] = 1020.0
    await limiter.hit("s", "k", 1)


@pytest.fixture
async def redis_client() -> AsyncIterator[Any]:
    from redis.asyncio import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (RedisConnectionError, OSError):
        await client.aclose()
        if os.environ.get("CI"):
            raise
        pytest.skip("Redis is not reachable on 127.0.0.1:6379 (install and start redis-server)")
    yield client
    await client.aclose()


async def test_redis_limits_are_shared(redis_client: Any) -> None:
    prefix = f"wxauth-test-{secrets.token_hex(6)}:"
    try:
        one = RateLimiter(window=3600, redis=redis_client, prefix=prefix)
        two = RateLimiter(window=3600, redis=redis_client, prefix=prefix)  # another process
        await one.hit("login-ip", "1.2.3.4", 2)
        await two.hit("login-ip", "1.2.3.4", 2)
        with pytest.raises(RateLimited):
            await one.hit("login-ip", "1.2.3.4", 2)
        token = "wxa_" + "t" * 43
        await one.hit_token(token, 5)
        keys = [k.decode() async for k in redis_client.scan_iter(f"{prefix}*")]
        assert keys and all(k.startswith(f"{prefix}rl:") for k in keys)
        assert not any(token in k for k in keys)
        for key in keys:
            assert 0 < await redis_client.ttl(key) <= 3601
    finally:
        async for key in redis_client.scan_iter(f"{prefix}*"):
            await redis_client.delete(key)


async def test_app_uses_redis_when_configured(
    redis_client: Any, settings: Settings, sim_state: SimulatorState
) -> None:
    prefix = f"wxauth-test-{secrets.token_hex(6)}:"
    changes = {"redis_url": REDIS_URL, "redis_prefix": prefix, "rate_limit_login_ip": 1}
    changes["rate_limit_window"] = 3600
    h, app = await open_harness(settings.model_copy(update=changes), sim_state)
    try:
        assert app.state.wxauth.wiring.redis is not None
        await h.login("a")
        assert_429(await h.api.post("/v1/login", json={"code": await h.code("b")}))
        assert [k async for k in redis_client.scan_iter(f"{prefix}rl:login-ip:*")]
    finally:
        await close_harness(h, app)
        async for key in redis_client.scan_iter(f"{prefix}*"):
            await redis_client.delete(key)


async def test_broken_redis_lets_requests_through() -> None:
    from redis.asyncio import Redis

    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        limiter = RateLimiter(redis=dead)
        for _ in range(3):
            await limiter.hit("login-ip", "x", 1)
    finally:
        await dead.aclose()
