"""The simulator's token, phone and session_key paths behave like WeChat's."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import APPID, SECRET
from wxauth.simulator import SimulatorState, create_simulator_app
from wxauth.simulator.state import openid_for
from wxauth.wechat.crypto import decrypt, session_signature, verify_raw_data


@pytest.fixture
async def wechat(sim_state: SimulatorState) -> AsyncIterator[httpx.AsyncClient]:
    now = [1_000_000.0]
    sim_state.clock = lambda: now[0]
    sim_state.now = now  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=create_simulator_app(sim_state))
    async with httpx.AsyncClient(transport=transport, base_url="http://wechat.test") as client:
        yield client


def stable(force: bool = False) -> dict[str, object]:
    return {
        "grant_type": "client_credential",
        "appid": APPID,
        "secret": SECRET,
        "force_refresh": force,
    }


async def test_stable_token_same_until_five_minutes_before_expiry(
    wechat: httpx.AsyncClient, sim_state: SimulatorState
) -> None:
    now = sim_state.now  # type: ignore[attr-defined]
    first = (await wechat.post("/cgi-bin/stable_token", json=stable())).json()
    assert first["expires_in"] == 7200
    now[0] += 6000
    again = (await wechat.post("/cgi-bin/stable_token", json=stable())).json()
    assert again["access_token"] == first["access_token"] and again["expires_in"] == 1200
    now[0] += 901
    new = (await wechat.post("/cgi-bin/stable_token", json=stable())).json()
    assert new["access_token"] != first["access_token"] and new["expires_in"] == 7200
    # The old one stays valid for its last minutes.
    assert sim_state.wxa.check(first["access_token"], now[0])[0] == 0
    now[0] += 300
    assert sim_state.wxa.check(first["access_token"], now[0])[0] == 42001


async def test_force_refresh_is_limited(
    wechat: httpx.AsyncClient, sim_state: SimulatorState
) -> None:
    now = sim_state.now  # type: ignore[attr-defined]
    first = (await wechat.post("/cgi-bin/stable_token", json=stable())).json()["access_token"]
    forced = (await wechat.post("/cgi-bin/stable_token", json=stable(True))).json()
    assert forced["access_token"] != first
    # Within 30 s a second force silently answers the current token.
    now[0] += 10
    again = (await wechat.post("/cgi-bin/stable_token", json=stable(True))).json()
    assert again["access_token"] == forced["access_token"]
    issued = sim_state.wxa.tokens_issued
    for _ in range(30):
        now[0] += 31
        await wechat.post("/cgi-bin/stable_token", json=stable(True))
    assert sim_state.wxa.tokens_issued - issued == 19  # 20 a day in all


async def test_classic_token_invalidates_previous_after_grace(
    wechat: httpx.AsyncClient, sim_state: SimulatorState
) -> None:
    now = sim_state.now  # type: ignore[attr-defined]
    params = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
    first = (await wechat.get("/cgi-bin/token", params=params)).json()["access_token"]
    second = (await wechat.get("/cgi-bin/token", params=params)).json()["access_token"]
    assert first != second
    now[0] += 301
    assert sim_state.wxa.check(first, now[0])[0] == 40001
    assert sim_state.wxa.check(second, now[0])[0] == 0
    bad = await wechat.get("/cgi-bin/token", params={**params, "secret": "nope"})
    assert bad.json()["errcode"] == 40125


async def test_phone_number_by_code(wechat: httpx.AsyncClient, sim_state: SimulatorState) -> None:
    token = (await wechat.post("/cgi-bin/stable_token", json=stable())).json()["access_token"]
    await wechat.post("/sim/login", json={"appid": APPID, "user": "alice"})
    code = (await wechat.post("/sim/phone-code", json={"appid": APPID, "user": "alice"})).json()[
        "code"
    ]
    path = "/wxa/business/getuserphonenumber"
    wrong_user = await wechat.post(
        path,
        params={"access_token": token},
        json={"code": code, "openid": openid_for(APPID, "bob")},
    )
    assert wrong_user.json()["errcode"] == 40003
    body = {"code": code, "openid": openid_for(APPID, "alice")}
    ok = (await wechat.post(path, params={"access_token": token}, json=body)).json()
    assert ok["errcode"] == 0
    assert ok["phone_info"]["countryCode"] == "86"
    assert ok["phone_info"]["purePhoneNumber"].startswith("138")
    used = (await wechat.post(path, params={"access_token": token}, json=body)).json()
    assert used["errcode"] == 40163
    no_token = (await wechat.post(path, json=body)).json()
    assert no_token["errcode"] == 41001
    assert sim_state.calls[path] == 4


async def test_check_and_reset_session_key(
    wechat: httpx.AsyncClient, sim_state: SimulatorState
) -> None:
    token = (await wechat.post("/cgi-bin/stable_token", json=stable())).json()["access_token"]
    await wechat.post("/sim/login", json={"appid": APPID, "user": "alice"})
    key = sim_state.current_key(APPID, "alice")
    assert key
    openid = openid_for(APPID, "alice")

    def params(k: str, method: str = "hmac_sha256") -> dict[str, str]:
        return {
            "access_token": token,
            "openid": openid,
            "signature": session_signature(k),
            "sig_method": method,
        }

    assert (await wechat.get("/wxa/checksession", params=params(key))).json()["errcode"] == 0
    bad = await wechat.get("/wxa/checksession", params=params("AAAAAAAAAAAAAAAAAAAAAA=="))
    assert bad.json()["errcode"] == 87009
    method = await wechat.get("/wxa/checksession", params=params(key, "md5"))
    assert method.json()["errcode"] == 87008
    reset = (await wechat.get("/wxa/resetusersessionkey", params=params(key))).json()
    assert reset["errcode"] == 0 and reset["openid"] == openid
    assert reset["session_key"] != key == key
    assert sim_state.current_key(APPID, "alice") == reset["session_key"]
    old = await wechat.get("/wxa/checksession", params=params(key))
    assert old.json()["errcode"] == 87009


async def test_user_info_anonymous_and_real(
    wechat: httpx.AsyncClient, sim_state: SimulatorState
) -> None:
    who = {"appid": APPID, "user": "alice"}
    assert (await wechat.post("/sim/user-info", json=who)).status_code == 409
    await wechat.post("/sim/login", json=who)
    key = sim_state.current_key(APPID, "alice")
    assert key
    anonymous = (await wechat.post("/sim/user-info", json=who)).json()
    assert anonymous["userInfo"]["nickName"] == "微信用户"
    assert verify_raw_data(anonymous["rawData"], anonymous["signature"], key)
    real = (await wechat.post("/sim/user-info", json={**who, "real": True})).json()
    data = decrypt(key, real["encryptedData"], real["iv"], appid=APPID)
    assert data["nickName"] == "alice 🐼" and data["openId"] == openid_for(APPID, "alice")
    assert verify_raw_data(real["rawData"], real["signature"], key)
