"""WeChat failing: logins answer 503 with Retry-After (never 500); tokens keep working."""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import processes
from tests.conftest import APPID, SECRET, Harness, bearer, close_harness, open_harness
from wxauth.config import Settings
from wxauth.errors import WeChatUnavailable
from wxauth.simulator import SimulatorState
from wxauth.simulator.state import FaultRule
from wxauth.wechat.client import WeChatClient

CODE2SESSION = "/sns/jscode2session"


def tuned(settings: Settings, **changes: Any) -> Settings:
    # A timeout long enough that a busy test machine never makes one by itself.
    defaults = {"wechat_timeout": 0.5, "rate_limit_login_ip": 0, "rate_limit_token": 0}
    return settings.model_copy(update={**defaults, **changes})


@pytest.fixture
async def faulty(settings: Settings, sim_state: SimulatorState) -> AsyncIterator[Harness]:
    h, app = await open_harness(tuned(settings), sim_state)
    yield h
    await close_harness(h, app)


async def test_thousand_logins_under_faults(
    settings: Settings, sim_state: SimulatorState, db_path: Path
) -> None:
    # The breaker stays out of the way here (it has its own test below): whether five
    # failures in a row happen among 25 concurrent logins depends on their interleaving.
    faulty, app = await open_harness(tuned(settings, wechat_breaker_failures=1000), sim_state)
    sim_state.rng = random.Random(20260101)
    sim_state.faults += [
        FaultRule(rate=0.20, path=CODE2SESSION, errcode=-1),
        FaultRule(rate=0.05, path=CODE2SESSION, timeout=True),
    ]
    gate = asyncio.Semaphore(25)

    async def one(i: int) -> httpx.Response:
        async with gate:
            code = await faulty.code(f"user{i % 100}")
            return await faulty.api.post("/v1/login", json={"code": code})

    responses = await asyncio.gather(*(one(i) for i in range(1000)))
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[200] > 500 and statuses[503] > 0, statuses
    for response in responses:
        if response.status_code == 503:
            assert response.json()["error"] == "wechat_unavailable"
            assert int(response.headers["Retry-After"]) >= 1
    with sqlite3.connect(db_path) as conn:
        sessions = conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
        keyless = conn.execute(
            "SELECT count(*) FROM users u LEFT JOIN wechat_sessions w"
            " ON w.appid = u.appid AND w.openid = u.openid WHERE w.openid IS NULL"
        ).fetchone()[0]
    assert sessions == statuses[200]  # one session per 200, none for a failure
    assert keyless == 0  # no half-created user
    await close_harness(faulty, app)


async def test_outage_fails_fast_and_tokens_keep_working(
    settings: Settings, sim_state: SimulatorState
) -> None:
    h, app = await open_harness(
        tuned(settings, wechat_breaker_failures=3, wechat_breaker_cooldown=1.0), sim_state
    )
    try:
        token = (await h.login("alice"))["token"]
        await h.api.post("/v1/me/profile", json={"nickName": "Alice"}, headers=bearer(token))
        sim_state.faults.append(FaultRule(rate=1.0, timeout=True))  # WeChat is gone
        for _ in range(3):
            failed = await h.api.post("/v1/login", json={"code": await h.code("bob")})
            assert failed.status_code == 503
        calls = sim_state.calls[CODE2SESSION]
        fast = await h.api.post("/v1/login", json={"code": await h.code("bob")})
        assert fast.status_code == 503
        assert fast.json()["error"] == "wechat_unavailable"
        assert int(fast.headers["Retry-After"]) >= 1
        assert sim_state.calls[CODE2SESSION] == calls  # the circuit is open: no call went out
        me = await h.api.get("/v1/me", headers=bearer(token))
        assert me.status_code == 200 and me.json()["nickname"] == "Alice"
        sim_state.faults.clear()  # WeChat is back; after the cooldown a probe closes the circuit
        await asyncio.sleep(1.05)
        assert (await h.api.post("/v1/login", json={"code": await h.code("bob")})).is_success
    finally:
        await close_harness(h, app)


async def test_a_burst_gets_in_as_soon_as_wechat_recovers(
    settings: Settings, sim_state: SimulatorState
) -> None:
    # One probe at a time used to turn the first burst after an outage into 503s (98 of
    # 100). Now the calls that arrive with the probe wait for it and go out when it succeeds.
    cooldown = 0.5
    changes = {"wechat_breaker_failures": 3, "wechat_breaker_cooldown": cooldown}
    h, app = await open_harness(tuned(settings, **changes), sim_state)
    try:
        sim_state.faults.append(FaultRule(rate=1.0, path=CODE2SESSION, errcode=-1))
        for _ in range(3):
            failed = await h.api.post("/v1/login", json={"code": await h.code("bob")})
            assert failed.status_code == 503
        assert app.state.wxauth.wiring.breaker.state(APPID) == "open"
        codes = [await h.code(f"user{n}") for n in range(100)]
        sim_state.faults.clear()  # WeChat is back
        await asyncio.sleep(cooldown)
        started = time.monotonic()
        burst = asyncio.gather(*(h.api.post("/v1/login", json={"code": code}) for code in codes))
        breaker = app.state.wxauth.wiring.breaker
        for _ in range(1000):  # polled: the closing is what is timed
            if breaker.state(APPID) == "closed":
                break
            await asyncio.sleep(0.005)
        closed_after = time.monotonic() - started
        responses = await burst
        assert Counter(r.status_code for r in responses) == {200: 100}
        assert closed_after < 1, closed_after  # the first answer closed it, and all got in
    finally:
        await close_harness(h, app)


@pytest.mark.parametrize(
    ("rule", "status", "error"),
    [
        ({"errcode": -1}, 503, "wechat_unavailable"),
        ({"errcode": 45011}, 429, "rate_limited"),
        ({"errcode": 40226}, 403, "login_blocked"),
        ({"timeout": True}, 503, "wechat_unavailable"),
        ({"drop": True}, 503, "wechat_unavailable"),
    ],
)
async def test_each_fault_gets_its_answer(
    faulty: Harness, rule: dict[str, Any], status: int, error: str
) -> None:
    added = await faulty.phone.post("/sim/faults", json={"path": CODE2SESSION, "rate": 1, **rule})
    assert added.status_code == 200
    response = await faulty.api.post("/v1/login", json={"code": await faulty.code()})
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    if status in (429, 503):
        assert int(response.headers["Retry-After"]) >= 1
    await faulty.phone.delete("/sim/faults")
    assert (await faulty.api.post("/v1/login", json={"code": await faulty.code()})).is_success


@pytest.mark.parametrize(
    "rule", [[], {"rate": 2}, {"latency_ms": -1}, {"errcode": "x"}, {"rate": 0.5, "bogus": 1}]
)
async def test_bad_fault_rules_are_refused(faulty: Harness, rule: Any) -> None:
    response = await faulty.phone.post("/sim/faults", json=rule)
    assert response.status_code == 400


async def test_same_code_twice_at_once_is_exchanged_once(
    faulty: Harness, sim_state: SimulatorState, db_path: Path
) -> None:
    sim_state.faults.append(FaultRule(rate=1.0, path=CODE2SESSION, latency_ms=50))
    code = await faulty.code("alice")
    first, second = await asyncio.gather(
        faulty.api.post("/v1/login", json={"code": code}),
        faulty.api.post("/v1/login", json={"code": code}),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 400]
    refused = first if first.status_code == 400 else second
    assert refused.json()["error"] == "invalid_code"
    assert sim_state.calls[CODE2SESSION] == 1
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 1


async def test_simulator_process_drops_connections_for_real() -> None:
    port = processes.free_port()
    base = f"http://127.0.0.1:{port}"
    fault = json.dumps({"path": CODE2SESSION, "rate": 1, "drop": True})
    args = ["simulator", "--port", str(port), "--app", f"{APPID}:{SECRET}", "--fault", fault]
    with processes.running(args, port=port, ready_path="/sim/stats", env={"WXAUTH_CONFIG": ""}):
        async with httpx.AsyncClient(base_url=base) as raw:
            with pytest.raises(httpx.RemoteProtocolError):
                await raw.get(CODE2SESSION, params={"appid": APPID})
            code = (await raw.post("/sim/login", json={"appid": APPID, "user": "a"})).json()
        client = WeChatClient(base, timeout=5)
        try:
            with pytest.raises(WeChatUnavailable):
                await client.code2session(APPID, SECRET, code["code"])
        finally:
            await client.aclose()


def test_simulator_command_refuses_a_bad_fault() -> None:
    from typer.testing import CliRunner

    from wxauth.cli import app

    result = CliRunner().invoke(app, ["simulator", "--fault", '{"rate": 3}'])
    assert result.exit_code == 2
    assert "bad --fault" in result.output
