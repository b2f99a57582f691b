"""The WeChat client against the simulator, in-process."""

from __future__ import annotations

import logging
import random

import httpx
import pytest

from tests.conftest import APPID, SECRET
from wxauth.errors import (
    InvalidCode,
    LoginBlocked,
    RateLimited,
    ServerMisconfigured,
    WeChatError,
    WeChatUnavailable,
)
from wxauth.simulator import SimulatorState, create_simulator_app
from wxauth.simulator.state import FaultRule, openid_for, unionid_for
from wxauth.wechat.client import WeChatClient


class Sequence(random.Random):
    """Feeds fault draws from a list: 0.0 fires a rule, 0.99 does not."""

    def __init__(self, values: list[float]) -> None:
        super().__init__()
        self.values = values

    def random(self) -> float:
        return self.values.pop(0) if self.values else 0.99


def client_for(state: SimulatorState) -> WeChatClient:
    transport = httpx.ASGITransport(app=create_simulator_app(state))
    return WeChatClient("http://wechat.test", transport=transport)


async def test_code2session_success(sim_state: SimulatorState) -> None:
    client = client_for(sim_state)
    code = sim_state.issue_code(APPID, "alice")
    session = await client.code2session(APPID, SECRET, code)
    assert session.openid == openid_for(APPID, "alice")
    assert session.unionid == unionid_for("alice")
    assert session.session_key == sim_state.current_key(APPID, "alice")
    assert session.session_key not in repr(session)
    await client.aclose()


async def test_accepts_errcode_zero_beside_data(sim_state: SimulatorState) -> None:
    sim_state.echo_ok = True
    client = client_for(sim_state)
    session = await client.code2session(APPID, SECRET, sim_state.issue_code(APPID, "alice"))
    assert session.openid == openid_for(APPID, "alice")
    await client.aclose()


@pytest.mark.parametrize(
    ("errcode", "error"),
    [
        (40029, InvalidCode),
        (40163, InvalidCode),
        (40226, LoginBlocked),
        (45011, RateLimited),
        (40013, ServerMisconfigured),
        (40125, ServerMisconfigured),
        (61234, WeChatError),
    ],
)
async def test_errcodes_map_to_errors(
    sim_state: SimulatorState, errcode: int, error: type[Exception]
) -> None:
    sim_state.faults.append(FaultRule(rate=1.0, errcode=errcode))
    client = client_for(sim_state)
    with pytest.raises(error) as caught:
        await client.code2session(APPID, SECRET, sim_state.issue_code(APPID, "alice"))
    assert getattr(caught.value, "wechat_errcode", None) == errcode
    await client.aclose()


async def test_wrong_secret_and_appid_are_misconfiguration(
    sim_state: SimulatorState, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_for(sim_state)
    code = sim_state.issue_code(APPID, "alice")
    with caplog.at_level(logging.DEBUG), pytest.raises(ServerMisconfigured) as wrong_secret:
        await client.code2session(APPID, "not-the-secret", code)
    assert wrong_secret.value.wechat_errcode == 40125
    with pytest.raises(ServerMisconfigured) as wrong_appid:
        await client.code2session("wxunknown", SECRET, code)
    assert wrong_appid.value.wechat_errcode == 40013
    assert "not-the-secret" not in caplog.text
    assert "not-the-secret" not in str(wrong_secret.value)
    assert any(r.levelno == logging.ERROR for r in caplog.records)
    await client.aclose()


async def test_secret_and_code_never_logged(
    sim_state: SimulatorState, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_for(sim_state)
    code = sim_state.issue_code(APPID, "alice")
    with caplog.at_level(logging.DEBUG):
        await client.code2session(APPID, SECRET, code)
        with pytest.raises(InvalidCode):
            await client.code2session(APPID, SECRET, code)
    assert "jscode2session" in caplog.text  # httpx did log the request...
    assert SECRET not in caplog.text  # ...with the secret and the code redacted
    assert code not in caplog.text
    await client.aclose()


async def test_code_is_url_encoded(sim_state: SimulatorState) -> None:
    seen: list[httpx.URL] = []
    app = create_simulator_app(sim_state)

    async def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return await httpx.ASGITransport(app=app).handle_async_request(request)

    client = WeChatClient("http://wechat.test", transport=httpx.MockTransport(record))
    with pytest.raises(InvalidCode):
        await client.code2session(APPID, SECRET, "a&secret=x#y")
    assert "js_code=a%26secret%3Dx%23y" in str(seen[0])
    await client.aclose()


async def test_system_busy_is_retried_once(sim_state: SimulatorState) -> None:
    sim_state.rng = Sequence([0.0])  # the first call fails with -1, the retry succeeds
    sim_state.faults.append(FaultRule(rate=0.5, errcode=-1))
    client = client_for(sim_state)
    session = await client.code2session(APPID, SECRET, sim_state.issue_code(APPID, "alice"))
    assert session.openid == openid_for(APPID, "alice")
    assert sim_state.calls["/sns/jscode2session"] == 2
    await client.aclose()


async def test_system_busy_twice_is_unavailable(sim_state: SimulatorState) -> None:
    sim_state.faults.append(FaultRule(rate=1.0, errcode=-1))
    client = client_for(sim_state)
    with pytest.raises(WeChatUnavailable) as caught:
        await client.code2session(APPID, SECRET, sim_state.issue_code(APPID, "alice"))
    assert caught.value.retry_after is not None
    assert sim_state.calls["/sns/jscode2session"] == 2  # one retry, never more
    await client.aclose()


async def test_unreachable_wechat_is_unavailable() -> None:
    client = WeChatClient("http://127.0.0.1:9", timeout=1.0)
    with pytest.raises(WeChatUnavailable) as caught:
        await client.code2session(APPID, SECRET, "code")
    assert SECRET not in str(caught.value)
    assert caught.value.__cause__ is None  # the transport error (with its URL) is not chained
    await client.aclose()


async def test_non_json_answer_is_wechat_error() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text="<html>"))
    client = WeChatClient("http://wechat.test", transport=transport)
    with pytest.raises(WeChatError):
        await client.code2session(APPID, SECRET, "code")
    await client.aclose()
