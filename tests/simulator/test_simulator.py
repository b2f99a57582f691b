"""The simulator behaves like WeChat where wxauth depends on it."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import APPID, OTHER_APPID, SECRET
from wxauth.simulator import SimulatorState, create_simulator_app
from wxauth.simulator.state import SimApp, openid_for, unionid_for


@pytest.fixture
async def sim(sim_state: SimulatorState) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_simulator_app(sim_state))
    return httpx.AsyncClient(transport=transport, base_url="http://sim")


async def exchange(sim: httpx.AsyncClient, code: str, **params: str) -> dict[str, object]:
    query = {
        "appid": APPID,
        "secret": SECRET,
        "js_code": code,
        "grant_type": "authorization_code",
        **params,
    }
    response = await sim.get("/sns/jscode2session", params=query)
    assert response.status_code == 200  # WeChat answers failures with 200 too
    body: dict[str, object] = response.json()
    return body


async def phone_login(sim: httpx.AsyncClient, user: str, appid: str = APPID) -> str:
    response = await sim.post("/sim/login", json={"appid": appid, "user": user})
    code: str = response.json()["code"]
    return code


async def test_openids_are_stable_per_app(sim: httpx.AsyncClient) -> None:
    first = await exchange(sim, await phone_login(sim, "alice"))
    second = await exchange(sim, await phone_login(sim, "alice"))
    assert first["openid"] == second["openid"] == openid_for(APPID, "alice")
    assert openid_for(APPID, "alice") != openid_for(OTHER_APPID, "alice")
    assert openid_for(APPID, "alice") != openid_for(APPID, "bob")
    assert first["unionid"] == unionid_for("alice")


async def test_new_code_rotates_session_key(sim: httpx.AsyncClient) -> None:
    first = await exchange(sim, await phone_login(sim, "alice"))
    second = await exchange(sim, await phone_login(sim, "alice"))
    assert first["session_key"] != second["session_key"]
    assert "errcode" not in first


async def test_error_answers(sim: httpx.AsyncClient, sim_state: SimulatorState) -> None:
    code = await phone_login(sim, "alice")
    assert (await exchange(sim, code, secret="wrong"))["errcode"] == 40125
    assert (await exchange(sim, code, appid="wxnope"))["errcode"] == 40013
    assert (await exchange(sim, "nope"))["errcode"] == 40029
    await exchange(sim, code)
    used = await exchange(sim, code)
    assert used["errcode"] == 40163
    assert str(used["errmsg"]).startswith("code been used, rid: ")
    other = await phone_login(sim, "alice", appid=OTHER_APPID)
    assert (await exchange(sim, other))["errcode"] == 40029  # a code of another app


async def test_unknown_params_are_ignored(sim: httpx.AsyncClient) -> None:
    body = await exchange(sim, await phone_login(sim, "alice"), access_token="x", extra="y")
    assert body["openid"] == openid_for(APPID, "alice")


async def test_code_expires_after_five_minutes(
    sim: httpx.AsyncClient, sim_state: SimulatorState
) -> None:
    now = [0.0]
    sim_state.clock = lambda: now[0]
    code = await phone_login(sim, "alice")
    now[0] = 299.0
    fresh = await phone_login(sim, "bob")
    now[0] = 301.0
    assert (await exchange(sim, code))["errcode"] == 40029
    assert "openid" in await exchange(sim, fresh)


async def test_check_session_and_expiry(sim: httpx.AsyncClient) -> None:
    who = {"appid": APPID, "user": "alice"}
    assert (await sim.post("/sim/check-session", json=who)).json()["valid"] is False
    await phone_login(sim, "alice")
    assert (await sim.post("/sim/check-session", json=who)).json()["valid"] is True
    await sim.post("/sim/expire-session", json=who)
    assert (await sim.post("/sim/check-session", json=who)).json()["valid"] is False


async def test_stats_count_wechat_calls(sim: httpx.AsyncClient) -> None:
    for _ in range(3):
        await exchange(sim, await phone_login(sim, "alice"))
    stats = (await sim.get("/sim/stats")).json()
    assert stats == {"calls": {"/sns/jscode2session": 3}}
    await sim.post("/sim/stats/reset")
    assert (await sim.get("/sim/stats")).json() == {"calls": {}}


async def test_faults_add_and_clear(sim: httpx.AsyncClient) -> None:
    added = await sim.post("/sim/faults", json={"rate": 1.0, "errcode": 45011})
    assert added.status_code == 200
    assert (await exchange(sim, await phone_login(sim, "a")))["errcode"] == 45011
    await sim.delete("/sim/faults")
    assert "openid" in await exchange(sim, await phone_login(sim, "a"))
    assert (await sim.post("/sim/faults", json={"rate": 3})).status_code == 400


async def test_phone_side_rejects_bad_input(sim: httpx.AsyncClient) -> None:
    assert (await sim.post("/sim/login", content=b"{")).status_code == 400
    assert (await sim.post("/sim/login", json={"appid": APPID})).status_code == 400
    assert (await sim.post("/sim/login", json={"appid": "wxnope", "user": "a"})).status_code == 404


def test_app_spec_parsing() -> None:
    assert SimApp.parse("wxabc:se:cret") == SimApp("wxabc", "se:cret")
    with pytest.raises(ValueError, match="APPID:SECRET"):
        SimApp.parse("nocolon")
    assert "se:cret" not in repr(SimApp.parse("wxabc:se:cret"))
