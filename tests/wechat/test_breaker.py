"""The circuit breaker per appid, against the simulator."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.conftest import APPID, OTHER_APPID, OTHER_SECRET, SECRET
from wxauth.errors import InvalidCode, WeChatUnavailable
from wxauth.simulator import SimulatorState, create_simulator_app
from wxauth.simulator.state import FaultRule
from wxauth.wechat.breaker import CircuitBreaker, WeChatWithBreaker
from wxauth.wechat.client import WeChatClient


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def guarded(state: SimulatorState, ticks: Ticks) -> WeChatWithBreaker:
    transport = httpx.ASGITransport(app=create_simulator_app(state))
    client = WeChatClient("http://wechat.test", timeout=0.05, transport=transport)
    return WeChatWithBreaker(client, CircuitBreaker(failures=3, cooldown=10.0, clock=ticks))


async def test_opens_after_failures_and_fails_fast(sim_state: SimulatorState) -> None:
    ticks = Ticks()
    wechat = guarded(sim_state, ticks)
    sim_state.faults.append(FaultRule(rate=1.0, errcode=-1))
    for _ in range(3):
        with pytest.raises(WeChatUnavailable):
            await wechat.code2session(APPID, SECRET, sim_state.issue_code(APPID, "alice"))
    calls = sim_state.calls["/sns/jscode2session"]
    assert wechat.breaker.state(APPID) == "open"
    with pytest.raises(WeChatUnavailable) as caught:
        await wechat.code2session(APPID, SECRET, sim_state.issue_code(APPID, "alice"))
    assert caught.value.retry_after == 10
    assert sim_state.calls["/sns/jscode2session"] == calls  # WeChat was not called
    ticks.now += 4
    with pytest.raises(WeChatUnavailable) as caught:
        await wechat.code2session(APPID, SECRET, sim_state.issue_code(APPID, "alice"))
    assert caught.value.retry_after == 6


async def test_other_appids_are_not_affected(sim_state: SimulatorState) -> None:
    wechat = guarded(sim_state, Ticks())
    sim_state.faults.append(FaultRule(rate=1.0, errcode=-1, path="/nowhere"))
    for _ in range(3):
        wechat.breaker.failed(APPID)
    assert wechat.breaker.state(APPID) == "open"
    code = sim_state.issue_code(OTHER_APPID, "bob")
    assert (await wechat.code2session(OTHER_APPID, OTHER_SECRET, code)).openid


async def test_half_open_probe_closes_or_reopens(sim_state: SimulatorState) -> None:
    ticks = Ticks()
    wechat = guarded(sim_state, ticks)
    sim_state.faults.append(FaultRule(rate=1.0, timeout=True))
    for _ in range(3):
        with pytest.raises(WeChatUnavailable):
            await wechat.code2session(APPID, SECRET, sim_state.issue_code(APPID, "alice"))
    ticks.now += 10
    assert wechat.breaker.state(APPID) == "half-open"
    with pytest.raises(WeChatUnavailable):  # the probe fails: open again, for a full cooldown
        await wechat.code2session(APPID, SECRET, sim_state.issue_code(APPID, "alice"))
    assert wechat.breaker.state(APPID) == "open"
    sim_state.faults.clear()
    ticks.now += 10
    session = await wechat.code2session(APPID, SECRET, sim_state.issue_code(APPID, "alice"))
    assert session.openid
    assert wechat.breaker.state(APPID) == "closed"


async def test_bad_codes_do_not_open_it(sim_state: SimulatorState) -> None:
    wechat = guarded(sim_state, Ticks())
    for _ in range(10):
        with pytest.raises(InvalidCode):
            await wechat.code2session(APPID, SECRET, "no-such-code")
    assert wechat.breaker.state(APPID) == "closed"


async def test_burst_after_a_quiet_minute_gets_in(sim_state: SimulatorState) -> None:
    # The circuit opened, WeChat recovered, and nobody logged in for a minute: the burst
    # that then arrives all gets in (one probe goes first; the others wait for it).
    ticks = Ticks()
    wechat = guarded(sim_state, ticks)
    sim_state.faults.append(FaultRule(rate=1.0, errcode=-1))
    for _ in range(3):
        with pytest.raises(WeChatUnavailable):
            await wechat.code2session(APPID, SECRET, sim_state.issue_code(APPID, "alice"))
    assert wechat.breaker.state(APPID) == "open"
    sim_state.faults.clear()
    ticks.now += 60
    before = sim_state.calls["/sns/jscode2session"]
    codes = [sim_state.issue_code(APPID, f"user{n}") for n in range(100)]
    results = await asyncio.gather(
        *(wechat.code2session(APPID, SECRET, code) for code in codes), return_exceptions=True
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, failures[:3]
    assert sim_state.calls["/sns/jscode2session"] - before == 100
    assert wechat.breaker.state(APPID) == "closed"


async def test_a_failed_probe_fails_the_waiting_calls_fast(sim_state: SimulatorState) -> None:
    ticks = Ticks()
    wechat = guarded(sim_state, ticks)
    sim_state.faults.append(FaultRule(rate=1.0, errcode=-1))
    for _ in range(3):
        with pytest.raises(WeChatUnavailable):
            await wechat.code2session(APPID, SECRET, sim_state.issue_code(APPID, "alice"))
    ticks.now += 10
    before = sim_state.calls["/sns/jscode2session"]
    codes = [sim_state.issue_code(APPID, f"user{n}") for n in range(20)]
    results = await asyncio.gather(
        *(wechat.code2session(APPID, SECRET, code) for code in codes), return_exceptions=True
    )
    assert all(isinstance(r, WeChatUnavailable) for r in results), results
    assert sim_state.calls["/sns/jscode2session"] - before == 2  # the probe (and its retry)
    assert wechat.breaker.state(APPID) == "open"
    paused = [r for r in results if isinstance(r, WeChatUnavailable) and r.retry_after == 10]
    assert len(paused) == 19  # all but the probe: a full cooldown to wait


async def test_old_failures_are_not_in_a_row() -> None:
    ticks = Ticks()
    breaker = CircuitBreaker(failures=3, cooldown=5.0, clock=ticks)
    for _ in range(5):  # one failure a minute: WeChat is working
        breaker.failed(APPID)
        ticks.now += 60
    assert breaker.state(APPID) == "closed"
    await breaker.before_call(APPID)


async def test_only_one_probe_goes_out_at_a_time() -> None:
    ticks = Ticks()
    breaker = CircuitBreaker(failures=1, cooldown=5.0, probe_wait=0.05, clock=ticks)
    breaker.failed(APPID)
    ticks.now += 5
    await breaker.before_call(APPID)  # the probe
    with pytest.raises(WeChatUnavailable):  # waited for the probe, which did not end
        await breaker.before_call(APPID)
    breaker.abandoned(APPID)  # the probe was cancelled: another may go
    await breaker.before_call(APPID)
    waiting = asyncio.ensure_future(breaker.before_call(APPID))
    await asyncio.sleep(0)
    assert not waiting.done()
    breaker.succeeded(APPID)  # the probe's success lets the waiting call out
    await asyncio.wait_for(waiting, 1)
    assert breaker.state(APPID) == "closed"
