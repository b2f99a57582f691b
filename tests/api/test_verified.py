"""Verified user data through the HTTP API: profiles with proof, phone numbers."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tests.conftest import APPID, Harness, bearer
from wxauth.simulator import SimulatorState


async def user_info(harness: Harness, user: str = "alice", real: bool = True) -> dict[str, Any]:
    response = await harness.phone.post(
        "/sim/user-info", json={"appid": APPID, "user": user, "real": real}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_login_with_encrypted_profile(harness: Harness) -> None:
    code = await harness.code("alice")
    info = await user_info(harness)
    body = {"code": code, "encryptedData": info["encryptedData"], "iv": info["iv"]}
    response = await harness.api.post("/v1/login", json=body)
    assert response.status_code == 200, response.text
    user = response.json()["user"]
    assert user["nickname"] == "alice 🐼"
    assert user["avatar_url"] == info["userInfo"]["avatarUrl"]
    assert user["city"] == "Guangzhou"


async def test_login_with_signed_profile(harness: Harness) -> None:
    code = await harness.code("alice")
    info = await user_info(harness)
    body = {"code": code, "rawData": info["rawData"], "signature": info["signature"]}
    response = await harness.api.post("/v1/login", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["user"]["nickname"] == "alice 🐼"


async def test_login_with_forged_signature_writes_nothing(harness: Harness) -> None:
    code = await harness.code("alice")
    info = await user_info(harness)
    forged = info["rawData"].replace("alice", "mallory")
    body = {"code": code, "rawData": forged, "signature": info["signature"]}
    response = await harness.api.post("/v1/login", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_signature"
    # Nothing half-written: the next login is still a new user.
    assert (await harness.login("alice"))["new_user"] is True


async def test_anonymous_profile_is_not_stored(harness: Harness) -> None:
    token = (await harness.login("alice"))["token"]
    real = {"nickName": "小明", "avatarUrl": "https://example.com/a.png"}
    await harness.api.post("/v1/me/profile", json=real, headers=bearer(token))
    info = await user_info(harness, real=False)
    proof = {"encryptedData": info["encryptedData"], "iv": info["iv"]}
    response = await harness.api.post("/v1/me/profile", json=proof, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["nickname"] == "小明"
    assert response.json()["avatar_url"] == "https://example.com/a.png"


async def test_profile_with_proof_under_stored_key(harness: Harness) -> None:
    token = (await harness.login("alice"))["token"]
    info = await user_info(harness)
    proof = {"rawData": info["rawData"], "signature": info["signature"]}
    response = await harness.api.post("/v1/me/profile", json=proof, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["nickname"] == "alice 🐼"


async def test_stale_session_key_is_400_not_500(harness: Harness) -> None:
    token = (await harness.login("alice"))["token"]
    await harness.code("alice")  # the phone calls wx.login again: WeChat rotates the key
    info = await user_info(harness)  # made under the new key, which the server never saw
    proof = {"encryptedData": info["encryptedData"], "iv": info["iv"]}
    response = await harness.api.post("/v1/me/profile", json=proof, headers=bearer(token))
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "session_key_stale"
    assert "wx.login" in body["message"] and "log in again" in body["message"]
    # Logging in again with a fresh code makes the same data verifiable.
    login = await harness.login("alice")
    info = await user_info(harness)
    proof = {"encryptedData": info["encryptedData"], "iv": info["iv"]}
    response = await harness.api.post("/v1/me/profile", json=proof, headers=bearer(login["token"]))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"rawData": "{}"},
        {"encryptedData": "AAAA"},
        {"rawData": "{}", "signature": "x", "encryptedData": "AAAA", "iv": "AAAA"},
        {"nickName": "x", "rawData": '{"a":1}', "signature": "x"},
        {"encryptedData": "not base64!", "iv": "AAAA"},
    ],
)
async def test_malformed_proofs_are_4xx(harness: Harness, body: dict[str, Any]) -> None:
    token = (await harness.login("alice"))["token"]
    response = await harness.api.post("/v1/me/profile", json=body, headers=bearer(token))
    assert response.status_code in (400, 422), response.text
    assert response.json()["error"] == "invalid_request"


async def test_bad_iv_and_bad_base64_have_their_own_messages(harness: Harness) -> None:
    token = (await harness.login("alice"))["token"]
    info = await user_info(harness)
    bad_iv = {"encryptedData": info["encryptedData"], "iv": "AAAA"}
    response = await harness.api.post("/v1/me/profile", json=bad_iv, headers=bearer(token))
    assert response.status_code == 400 and "iv" in response.json()["message"]
    bad_b64 = {"encryptedData": "AAA", "iv": info["iv"]}
    response = await harness.api.post("/v1/me/profile", json=bad_b64, headers=bearer(token))
    assert response.status_code == 400 and "base64" in response.json()["message"]


async def phone_code(harness: Harness, user: str = "alice") -> dict[str, Any]:
    response = await harness.phone.post("/sim/phone-code", json={"appid": APPID, "user": user})
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_phone_by_code(harness: Harness, sim_state: SimulatorState) -> None:
    login = await harness.login("alice")
    assert login["user"]["has_phone"] is False
    code = (await phone_code(harness))["code"]
    response = await harness.api.post(
        "/v1/me/phone", json={"code": code}, headers=bearer(login["token"])
    )
    assert response.status_code == 200, response.text
    country, number = sim_state.wxa.phone_of("alice")
    assert response.json() == {
        "phone_number": f"+{country}{number}",
        "pure_phone_number": number,
        "country_code": country,
    }
    me = await harness.api.get("/v1/me", headers=bearer(login["token"]))
    assert me.json()["has_phone"] is True
    assert number not in me.text
    again = await harness.api.post(
        "/v1/me/phone", json={"code": code}, headers=bearer(login["token"])
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_code"
    assert again.json()["wechat_errcode"] == 40163


async def test_phone_code_of_another_user_is_refused(harness: Harness) -> None:
    token = (await harness.login("alice"))["token"]
    await harness.code("bob")
    code = (await phone_code(harness, "bob"))["code"]
    response = await harness.api.post("/v1/me/phone", json={"code": code}, headers=bearer(token))
    assert response.status_code == 400
    assert response.json()["wechat_errcode"] == 40003


async def test_phone_by_encrypted_data_and_stale_key(harness: Harness) -> None:
    token = (await harness.login("alice"))["token"]
    sent = await phone_code(harness)
    body = {"encryptedData": sent["encryptedData"], "iv": sent["iv"]}
    response = await harness.api.post("/v1/me/phone", json=body, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["country_code"] == "86"
    await harness.code("alice")  # key rotated on the phone
    sent = await phone_code(harness)
    body = {"encryptedData": sent["encryptedData"], "iv": sent["iv"]}
    response = await harness.api.post("/v1/me/phone", json=body, headers=bearer(token))
    assert response.status_code == 400
    assert response.json()["error"] == "session_key_stale"


@pytest.mark.parametrize(
    "body", [{}, {"code": ""}, {"code": "x", "iv": "AAAA"}, {"encryptedData": "AAAA"}]
)
async def test_phone_bad_bodies(harness: Harness, body: dict[str, Any]) -> None:
    token = (await harness.login("alice"))["token"]
    response = await harness.api.post("/v1/me/phone", json=body, headers=bearer(token))
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"


async def test_hundred_concurrent_phone_requests_fetch_one_token(
    harness: Harness, sim_state: SimulatorState, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = (await harness.login("alice"))["token"]
    codes = [(await phone_code(harness))["code"] for _ in range(100)]
    responses = await asyncio.gather(
        *(harness.api.post("/v1/me/phone", json={"code": c}, headers=bearer(token)) for c in codes)
    )
    assert [r.status_code for r in responses] == [200] * 100
    stats = (await harness.phone.get("/sim/stats")).json()["calls"]
    assert stats["/cgi-bin/stable_token"] == 1
    assert "/cgi-bin/token" not in stats
    assert stats["/wxa/business/getuserphonenumber"] == 100
    # Neither the access_token nor the phone codes reach the logs.
    issued = next(iter(sim_state.wxa.grants))
    assert issued not in caplog.text
    assert not any(c in caplog.text for c in codes)


async def test_login_never_fetches_an_access_token(harness: Harness) -> None:
    await harness.login("alice")
    stats = (await harness.phone.get("/sim/stats")).json()["calls"]
    assert set(stats) == {"/sns/jscode2session"}


async def test_refused_token_is_replaced_and_call_retried(
    harness: Harness, sim_state: SimulatorState
) -> None:
    token = (await harness.login("alice"))["token"]
    first = (await phone_code(harness))["code"]
    ok = await harness.api.post("/v1/me/phone", json={"code": first}, headers=bearer(token))
    assert ok.status_code == 200
    sim_state.wxa.revoke(APPID)  # e.g. another deployment force-refreshed the token
    second = (await phone_code(harness))["code"]
    again = await harness.api.post("/v1/me/phone", json={"code": second}, headers=bearer(token))
    assert again.status_code == 200, again.text
    stats = (await harness.phone.get("/sim/stats")).json()["calls"]
    assert stats["/cgi-bin/stable_token"] == 2
    assert stats["/wxa/business/getuserphonenumber"] == 3
