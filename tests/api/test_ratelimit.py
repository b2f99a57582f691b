"""Rate limits: failure budgets per client address (logins, token checks), per appid and
per token; the client's address behind proxies."""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from tests.conftest import FakeClock, Harness, bearer, close_harness, open_harness
from wxauth.api.clientip import ClientIp
from wxauth.api.ratelimit import RateLimiter
from wxauth.config import Settings
from wxauth.errors import RateLimited
from wxauth.simulator import SimulatorState
from wxauth.simulator.state import FaultRule

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def limited(
    settings: Settings, sim_state: SimulatorState, request: pytest.FixtureRequest
) -> AsyncIterator[Harness]:
    # The limiter's windows follow the service's clock, which stands still here: a test
    # never straddles a window's end, however slow the machine.
    changes: dict[str, Any] = {"rate_limit_window": 3600, **getattr(request, "param", {})}
    h, app = await open_harness(settings.model_copy(update=changes), sim_state, FakeClock())
    yield h
    await close_harness(h, app)


def assert_429(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 3600


async def made_up(h: Harness, n: int, headers: dict[str, str] | None = None) -> list[int]:
    statuses = []
    for i in range(n):
        response = await h.api.post("/v1/login", json={"code": f"made-up-{i}"}, headers=headers)
        if response.status_code == 429:
            assert_429(response)
        statuses.append(response.status_code)
    return statuses


@pytest.mark.parametrize("limited", [{"rate_limit_login_ip": 3}], indirect=True)
async def test_login_limit_counts_failures_only(limited: Harness) -> None:
    for n in range(10):  # successes never spend the address's budget
        await limited.login(f"user{n}")
    assert await made_up(limited, 3) == [400, 400, 400]  # the budget: three failures
    assert_429(await limited.api.post("/v1/login", json={"code": "made-up"}))
    # Over its budget, the address is refused before the login: even a good code waits.
    assert_429(await limited.api.post("/v1/login", json={"code": await limited.code("z")}))


async def test_a_window_ends_on_the_services_clock(
    settings: Settings, sim_state: SimulatorState
) -> None:
    clock = FakeClock()
    changes = {"rate_limit_login_ip": 2, "rate_limit_window": 60}
    h, app = await open_harness(settings.model_copy(update=changes), sim_state, clock)
    try:
        assert await made_up(h, 3) == [400, 400, 429]
        clock.advance(seconds=59)  # the same window: still refused, and told how long to wait
        refused = await h.api.post("/v1/login", json={"code": "made-up"})
        assert_429(refused)
        assert int(refused.headers["Retry-After"]) <= 60
        clock.advance(seconds=61)  # a new window: the address has its budget again
        await h.login("after-the-window")
        assert await made_up(h, 3) == [400, 400, 429]
    finally:
        await close_harness(h, app)


@pytest.mark.parametrize("limited", [{"rate_limit_login_ip": 3}], indirect=True)
async def test_malformed_logins_spend_the_budget(limited: Harness) -> None:
    as_json = {"content-type": "application/json"}
    malformed = await limited.api.post("/v1/login", content=b"{not json", headers=as_json)
    assert malformed.status_code == 400
    assert (await limited.api.post("/v1/login", json={"kode": "x"})).status_code == 422
    unknown = await limited.api.post("/v1/login", json={"code": "c", "appid": "wxnope"})
    assert unknown.json()["error"] == "invalid_request"
    assert_429(await limited.api.post("/v1/login", json={"code": await limited.code()}))


@pytest.mark.parametrize(
    "limited",
    [{"rate_limit_login_ip": 2, "wechat_breaker_failures": 1000, "wechat_timeout": 0.5}],
    indirect=True,
)
async def test_wechat_failures_do_not_spend_the_budget(limited: Harness) -> None:
    rule = FaultRule(rate=1.0, path="/sns/jscode2session", errcode=-1)
    limited.sim.faults.append(rule)
    for _ in range(5):
        response = await limited.api.post("/v1/login", json={"code": await limited.code()})
        assert response.status_code == 503, response.text
    limited.sim.faults[:] = [FaultRule(rate=1.0, path="/sns/jscode2session", errcode=45011)]
    for _ in range(5):  # WeChat's own rate limit: a 429, but not the address's fault
        response = await limited.api.post("/v1/login", json={"code": await limited.code()})
        assert response.status_code == 429 and response.json()["wechat_errcode"] == 45011
    limited.sim.faults.clear()
    await limited.login("after-the-outage")


async def test_two_thousand_people_behind_one_address(
    settings: Settings, sim_state: SimulatorState
) -> None:
    # The default limits, one client address (a NAT, a campus, a flash sale): everyone gets
    # in; then made-up codes from that address are refused after the failure budget.
    # The service's clock stands still, so all of it falls in one rate-limit window.
    assert settings.rate_limit_window == 60 and settings.rate_limit_login_ip == 30
    h, app = await open_harness(settings, sim_state, FakeClock())
    gate = asyncio.Semaphore(20)

    async def one(n: int) -> int:
        async with gate:
            code = await h.code(f"person{n}")
            return (await h.api.post("/v1/login", json={"code": code})).status_code

    try:
        statuses = Counter(await asyncio.gather(*(one(n) for n in range(2000))))
        assert statuses == {200: 2000}, statuses
        refused = await made_up(h, 100)
        assert refused == [400] * 30 + [429] * 70
    finally:
        await close_harness(h, app)


BEHIND_PROXY = {"trusted_proxies": ["127.0.0.0/8"]}  # X-Forwarded-For names the client


def address(n: int) -> dict[str, str]:
    return {"X-Forwarded-For": f"203.0.113.{n}"}


@pytest.mark.parametrize(
    "limited",
    [{**BEHIND_PROXY, "rate_limit_login_ip": 5, "rate_limit_login_appid": 2}],
    indirect=True,
)
async def test_login_per_appid_counts_failures_from_every_address(limited: Harness) -> None:
    for n in range(20):  # a surge of real users never spends the app's budget
        await limited.login(f"user-{n}")
    for n in range(2):  # made-up codes, each from an address of its own (within its budget)
        response = await limited.api.post(
            "/v1/login", json={"code": f"made-up-{n}"}, headers=address(n)
        )
        assert response.status_code == 400, response.text
    # The app's budget is spent: its next login is refused, from any address.
    code = await limited.code("c")
    assert_429(await limited.api.post("/v1/login", json={"code": code}, headers=address(9)))


@pytest.mark.parametrize("limited", [BEHIND_PROXY], indirect=True)
async def test_by_default_no_flood_of_made_up_codes_turns_an_apps_users_away(
    limited: Harness,
) -> None:
    assert Settings.model_fields["rate_limit_login_appid"].default == 0  # no budget per app
    for n in range(60):  # a distributed flood: a few made-up codes from each of many addresses
        response = await limited.api.post(
            "/v1/login", json={"code": f"flood-{n}"}, headers=address(n % 20)
        )
        assert response.status_code == 400, response.text
    code = await limited.code("real")
    response = await limited.api.post("/v1/login", json={"code": code}, headers=address(99))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "limited", [{"rate_limit_login_ip": 0, "rate_limit_login_appid": 2}], indirect=True
)
async def test_a_malformed_login_does_not_spend_the_apps_budget(limited: Harness) -> None:
    for _ in range(3):  # refused before WeChat is asked: the address's budget, not the app's
        response = await limited.api.post("/v1/login", json={"code": ""})
        assert response.status_code in (400, 422), response.text
    await limited.login("a")


@pytest.mark.parametrize("limited", [{"rate_limit_token": 3}], indirect=True)
async def test_api_per_token(limited: Harness) -> None:
    first = (await limited.login("a"))["token"]
    second = (await limited.login("b"))["token"]
    for _ in range(3):
        assert (await limited.api.get("/v1/me", headers=bearer(first))).status_code == 200
    assert_429(await limited.api.get("/v1/me", headers=bearer(first)))
    assert (await limited.api.get("/v1/me", headers=bearer(second))).status_code == 200


@pytest.mark.parametrize("limited", [{"rate_limit_token_failures_ip": 5}], indirect=True)
async def test_failed_token_checks_per_address(limited: Harness) -> None:
    token = (await limited.login("a"))["token"]
    for n in range(5):
        response = await limited.api.get("/v1/me", headers=bearer(f"wxa_made-up-{n}"))
        assert response.status_code == 401
    assert_429(await limited.api.get("/v1/me", headers=bearer("wxa_made-up-again")))
    assert_429(await limited.api.get("/v1/me"))  # no token at all is a failure too
    assert_429(await limited.api.post("/v1/logout", headers=bearer("wxa_nope")))
    # A real token is never refused by the address's failures.
    assert (await limited.api.get("/v1/me", headers=bearer(token))).status_code == 200


@pytest.mark.parametrize("limited", [{"rate_limit_login_ip": 2}], indirect=True)
async def test_forwarded_for_ignored_without_trusted_proxy(
    limited: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    for n in range(2):
        headers = {"X-Forwarded-For": f"203.0.113.{n}"}
        await limited.api.post("/v1/login", json={"code": f"x{n}"}, headers=headers)
    spoofed = {"X-Forwarded-For": "203.0.113.99"}
    assert_429(await limited.api.post("/v1/login", json={"code": "x"}, headers=spoofed))
    warnings = [r for r in caplog.records if "WXAUTH_TRUSTED_PROXIES" in r.getMessage()]
    assert len(warnings) == 1, warnings  # once per process, naming the setting
    assert warnings[0].levelname == "WARNING"


@pytest.mark.parametrize(
    "limited", [{"rate_limit_login_ip": 1, "trusted_proxies": ["127.0.0.0/8"]}], indirect=True
)
async def test_forwarded_for_believed_from_trusted_proxy(limited: Harness) -> None:
    for n in range(3):
        headers = {"X-Forwarded-For": f"198.51.100.7, 203.0.113.{n}"}
        assert await made_up(limited, 1, headers) == [400]  # each its own budget
    again = {"X-Forwarded-For": "203.0.113.0"}
    assert_429(await limited.api.post("/v1/login", json={"code": "x"}, headers=again))


@pytest.mark.parametrize(
    "limited", [{"rate_limit_login_ip": 1, "trusted_proxies": ["127.0.0.0/8"]}], indirect=True
)
async def test_behind_a_proxy_that_adds_a_line(limited: Harness, db_path: Path) -> None:
    # HAProxy adds its own X-Forwarded-For line: the client's line (forgeable) comes first.
    two_lines = [("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "203.0.113.50")]
    ok = await limited.api.post(
        "/v1/login", json={"code": await limited.code("alice")}, headers=two_lines
    )
    assert ok.status_code == 200, ok.text
    assert await made_up(limited, 1, dict(two_lines[1:])) == [400]
    # The budget of 203.0.113.50 is spent, whatever the client writes in its own line.
    forged = [("X-Forwarded-For", "198.51.100.1"), ("X-Forwarded-For", "203.0.113.50")]
    assert_429(await limited.api.post("/v1/login", json={"code": "x"}, headers=forged))
    with sqlite3.connect(db_path) as conn:
        ips = {row[0] for row in conn.execute("SELECT ip FROM login_events")}
    assert ips == {"203.0.113.50"}, ips


def request_from(peer: str, forwarded: str | list[str] | None) -> Request:
    lines = [forwarded] if isinstance(forwarded, str) else forwarded or []
    headers = [(b"x-forwarded-for", line.encode()) for line in lines]
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
        # every line, in order, as if comma-joined
        ("10.0.0.5", ["6.6.6.6", "1.2.3.4"], "1.2.3.4"),
        ("10.0.0.5", ["6.6.6.6, 1.2.3.4", "10.0.0.7"], "1.2.3.4"),
        ("10.0.0.5", ["1.2.3.4", ""], "1.2.3.4"),
        # ports
        ("10.0.0.5", "1.2.3.4:5678", "1.2.3.4"),
        ("10.0.0.5", "[2001:db8::1]:443", "2001:db8::1"),
        ("10.0.0.5", "[2001:db8::1]", "2001:db8::1"),
        ("10.0.0.5", "1.2.3.4, 10.0.0.9:80", "1.2.3.4"),
        # garbage stops the walk at the last address vouched for
        ("10.0.0.5", "1.2.3.4:http", "10.0.0.5"),
        ("10.0.0.5", "1.2.3.4:99999999", "10.0.0.5"),
        ("10.0.0.5", "[2001:db8::1", "10.0.0.5"),
        ("10.0.0.5", "[1.2.3.4]:80", "10.0.0.5"),
        ("10.0.0.5", "[2001:db8::1]x", "10.0.0.5"),
        ("10.0.0.5", "1.2.3.4:\u0661", "10.0.0.5"),
        ("10.0.0.5", "unknown", "10.0.0.5"),
        ("10.0.0.5", "1.2.3.4, unknown, 5.6.7.8", "5.6.7.8"),
    ],
)
def test_client_ip(peer: str, forwarded: str | list[str] | None, expected: str) -> None:
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
    h, app = await open_harness(settings.model_copy(update=changes), sim_state, FakeClock())
    try:
        assert app.state.wxauth.wiring.redis is not None
        await h.login("a")
        assert not [k async for k in redis_client.scan_iter(f"{prefix}rl:login-ip:*")]
        assert (await h.api.post("/v1/login", json={"code": "made-up"})).status_code == 400
        assert_429(await h.api.post("/v1/login", json={"code": await h.code("b")}))
        assert [k async for k in redis_client.scan_iter(f"{prefix}rl:login-ip:*")]
    finally:
        await close_harness(h, app)
        async for key in redis_client.scan_iter(f"{prefix}*"):
            await redis_client.delete(key)


async def test_made_up_tokens_cost_one_redis_key_per_address(
    redis_client: Any, settings: Settings, sim_state: SimulatorState
) -> None:
    prefix = f"wxauth-test-{secrets.token_hex(6)}:"
    changes = {
        "redis_url": REDIS_URL,
        "redis_prefix": prefix,
        "trusted_proxies": ["127.0.0.0/8"],
        "session_cache_ttl": 0,  # only the limiter's keys are looked at
    }
    # A still clock: the thousand requests fall in one window, so one key per address.
    h, app = await open_harness(settings.model_copy(update=changes), sim_state, FakeClock())
    try:
        token = (await h.login("alice"))["token"]
        before = {k async for k in redis_client.scan_iter(f"{prefix}*")}
        statuses: Counter[int] = Counter()
        for n in range(1000):
            made_up = "wxa_" + secrets.token_urlsafe(32)
            address = {"X-Forwarded-For": f"203.0.113.{n % 2}"}  # two addresses
            response = await h.api.get("/v1/me", headers={**bearer(made_up), **address})
            statuses[response.status_code] += 1
        added = {k async for k in redis_client.scan_iter(f"{prefix}*")} - before
        names = sorted(k.decode() for k in added)
        assert len(names) <= 2, names
        assert all(":rl:token-failures-ip:" in name for name in names), names
        assert statuses[401] == 2 * settings.rate_limit_token_failures_ip, statuses
        assert statuses[429] == 1000 - statuses[401], statuses
        # The real token is still counted per token, and still works from those addresses.
        me = await h.api.get("/v1/me", headers={**bearer(token), "X-Forwarded-For": "203.0.113.0"})
        assert me.status_code == 200
        assert [k async for k in redis_client.scan_iter(f"{prefix}rl:token:*")]
    finally:
        await close_harness(h, app)
        async for key in redis_client.scan_iter(f"{prefix}*"):
            await redis_client.delete(key)


async def test_broken_redis_limits_in_memory_instead() -> None:
    """A Redis that refuses connections neither takes requests down nor stops the limits:
    the process counts on its own until Redis answers again."""
    from redis.asyncio import Redis

    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        limiter = RateLimiter(redis=dead)
        await limiter.hit("login-ip", "x", 2)
        await limiter.hit("login-ip", "x", 2)
        with pytest.raises(RateLimited):
            await limiter.hit("login-ip", "x", 2)
        await limiter.hit("login-ip", "y", 2)  # other keys are counted on their own
    finally:
        await dead.aclose()
