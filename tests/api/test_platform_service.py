"""Third-party platform mode, end to end in one deployment: the simulator plays the Open
Platform and pushes to wxauth's event URL; two directly configured apps and one
platform-authorized app log users in side by side."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from tests.conftest import (
    APPID,
    OTHER_APPID,
    OTHER_SECRET,
    SECRET,
    Harness,
    bearer,
    close_harness,
    open_harness,
)
from tests.platform import COMPONENT_APPID, COMPONENT_KEY, COMPONENT_SECRET, COMPONENT_TOKEN
from tests.platform import platform as sim_platform
from wxauth.config import Settings
from wxauth.simulator import SimApp, SimulatorState
from wxauth.wechat.component_crypto import MessageCrypto, to_xml
from wxauth.wiring import Wiring

MERCHANT_APPID = "wx4444444444444444"
EVENTS = f"/v1/platform/{COMPONENT_APPID}/events"
PLATFORM_SPEC = f"{COMPONENT_APPID}:{COMPONENT_SECRET}:{COMPONENT_TOKEN}:{COMPONENT_KEY}"


@dataclass
class Deployment:
    h: Harness  # process one, and the phone
    second: httpx.AsyncClient  # process two: same database, its own objects
    apps: list[Any]

    @property
    def wiring(self) -> Wiring:
        wiring: Wiring = self.apps[0].state.wxauth.wiring
        return wiring

    async def sim(self, path: str, **body: Any) -> dict[str, Any]:
        answer = await self.h.phone.post(path, json=body)
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()
        return data

    async def login(self, user: str, appid: str) -> dict[str, Any]:
        code = await self.h.code(user, appid=appid)
        answer = await self.h.api.post("/v1/login", json={"code": code, "appid": appid})
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    async def authorize(self, appid: str = MERCHANT_APPID) -> dict[str, Any]:
        platform = self.wiring.platforms[COMPONENT_APPID]
        link = await platform.authorization_link("https://provider.example/authorized")
        pre_auth_code = parse_qs(urlsplit(link).query)["pre_auth_code"][0]
        return await self.sim(
            "/sim/component/authorize",
            component_appid=COMPONENT_APPID,
            appid=appid,
            pre_auth_code=pre_auth_code,
        )


def forwarding(target: list[Any]) -> httpx.MockTransport:
    """WeChat's pushes, delivered to the wxauth app built after the simulator."""

    async def deliver(request: httpx.Request) -> httpx.Response:
        transport = httpx.ASGITransport(app=target[0])
        response = await transport.handle_async_request(request)
        content = await response.aread()
        return httpx.Response(response.status_code, content=content, headers=response.headers)

    return httpx.MockTransport(deliver)


async def deploy(settings: Settings, *, push: bool = True) -> tuple[Deployment, list[Any]]:
    target: list[Any] = []
    url = f"http://wxauth.test{EVENTS}" if push else None
    state = SimulatorState(
        [SimApp(APPID, SECRET), SimApp(OTHER_APPID, OTHER_SECRET)],
        platforms=[sim_platform(push_url=url)],
        push_transport=forwarding(target),
    )
    configured = settings.model_copy(
        update={
            "apps": {APPID: SecretStr(SECRET), OTHER_APPID: SecretStr(OTHER_SECRET)},
            "platforms": [SecretStr(PLATFORM_SPEC)],
            "app_registry_ttl": 0.2,
        }
    )
    h, app = await open_harness(configured, state)
    h2, app2 = await open_harness(configured, state)
    target.append(app)
    await h2.phone.aclose()
    return Deployment(h, h2.api, [app, app2]), [h, app, h2, app2]


@pytest.fixture
async def d(settings: Settings) -> AsyncIterator[Deployment]:
    deployment, parts = await deploy(settings)
    try:
        pushed = await deployment.sim("/sim/component/push-ticket", component_appid=COMPONENT_APPID)
        assert pushed["push"]["ok"], pushed
        yield deployment
    finally:
        await close_harness(parts[0], parts[1])
        await close_harness(parts[2], parts[3])


async def test_direct_and_platform_apps_log_in_side_by_side(d: Deployment) -> None:
    authorized = await d.authorize()
    assert authorized["push"]["ok"], authorized
    stored = await d.wiring.store.get_app(MERCHANT_APPID)
    assert stored is not None and stored.mode == "platform"
    assert stored.refresh_token_enc is not None  # kept, encrypted at rest
    refresh = d.wiring.keyring.decrypt(stored.refresh_token_enc)
    assert refresh not in stored.refresh_token_enc
    a = await d.login("alice", APPID)
    b = await d.login("alice", OTHER_APPID)
    m = await d.login("alice", MERCHANT_APPID)
    assert m["user"]["appid"] == MERCHANT_APPID
    assert a["user"]["person_id"] == b["user"]["person_id"] == m["user"]["person_id"]
    tokens = {APPID: a["token"], OTHER_APPID: b["token"], MERCHANT_APPID: m["token"]}
    for owner, token in tokens.items():
        for appid in tokens:
            answer = await d.h.api.get("/v1/me", headers={**bearer(token), "X-WxAuth-Appid": appid})
            assert answer.status_code == (200 if appid == owner else 401), (owner, appid)
    # the phone number of a platform app's user, through the authorizer's token
    phone = await d.sim("/sim/phone-code", appid=MERCHANT_APPID, user="alice")
    answer = await d.h.api.post(
        "/v1/me/phone", json={"code": phone["code"]}, headers=bearer(m["token"])
    )
    assert answer.status_code == 200, answer.text


async def test_unauthorized_stops_the_apps_tokens_and_logins_on_every_process(
    d: Deployment,
) -> None:
    await d.authorize()
    m = await d.login("bob", MERCHANT_APPID)
    a = await d.login("bob", APPID)
    assert (await d.second.get("/v1/me", headers=bearer(m["token"]))).status_code == 200
    withdrawn = await d.sim(
        "/sim/component/unauthorize", component_appid=COMPONENT_APPID, appid=MERCHANT_APPID
    )
    assert withdrawn["push"]["ok"], withdrawn
    started = time.monotonic()
    assert (await d.h.api.get("/v1/me", headers=bearer(m["token"]))).status_code == 403
    while (await d.second.get("/v1/me", headers=bearer(m["token"]))).status_code == 200:
        assert time.monotonic() - started < 1.0, "process two still accepts the token"
        await asyncio.sleep(0.05)
    refused = await d.second.get("/v1/me", headers=bearer(m["token"]))
    assert refused.json()["error"] == "app_disabled"
    code = await d.h.code("bob", appid=MERCHANT_APPID)
    login = await d.second.post("/v1/login", json={"code": code, "appid": MERCHANT_APPID})
    assert login.status_code == 403 and login.json()["error"] == "app_disabled"
    sessions = await d.wiring.store.list_sessions(m["user"]["id"])
    assert all(s.revoked_reason == "app_disabled" for s in sessions)  # they ended, too
    assert (await d.second.get("/v1/me", headers=bearer(a["token"]))).status_code == 200


def ticket_push(timestamp: str, nonce: str, ticket: str) -> tuple[str, str]:
    crypto = MessageCrypto(COMPONENT_TOKEN, COMPONENT_KEY, COMPONENT_APPID)
    message = to_xml(
        {
            "AppId": COMPONENT_APPID,
            "CreateTime": int(timestamp),
            "InfoType": "component_verify_ticket",
            "ComponentVerifyTicket": ticket,
        }
    )
    return crypto.seal(message, timestamp=timestamp, nonce=nonce)


async def post_push(d: Deployment, body: str, signature: str, timestamp: str, nonce: str) -> Any:
    query = {"timestamp": timestamp, "nonce": nonce, "encrypt_type": "aes"}
    return await d.h.api.post(
        EVENTS, params={**query, "msg_signature": signature}, content=body.encode()
    )


async def stored_ticket(d: Deployment) -> str:
    found = await d.wiring.store.get_component_ticket(COMPONENT_APPID)
    assert found is not None
    return d.wiring.keyring.decrypt(found[0])


async def test_refused_pushes_change_nothing(d: Deployment) -> None:
    before = await stored_ticket(d)
    now = str(int(time.time()))
    body, signature = ticket_push(now, "nonce-1", "ticket@@@forged")
    forged = await post_push(d, body, "0" * 40, now, "nonce-1")
    assert forged.status_code == 400 and forged.text != "success"
    stale_at = str(int(time.time()) - 3600)
    body, signature = ticket_push(stale_at, "nonce-2", "ticket@@@stale")
    assert (await post_push(d, body, signature, stale_at, "nonce-2")).status_code == 400
    assert await stored_ticket(d) == before
    body, signature = ticket_push(now, "nonce-3", "ticket@@@good")
    accepted = await post_push(d, body, signature, now, "nonce-3")
    assert accepted.status_code == 200 and accepted.text == "success"
    assert await stored_ticket(d) == "ticket@@@good"
    replayed = await post_push(d, body, signature, now, "nonce-3")
    assert replayed.status_code == 400
    assert replayed.json()["error"] == "invalid_request"
    unknown = await d.h.api.post("/v1/platform/wxcomponent9999999/events", content=b"<xml/>")
    assert unknown.status_code == 404


async def test_the_redirect_registers_the_app_without_a_push(settings: Settings) -> None:
    deployment, parts = await deploy(settings, push=False)
    try:
        ticket = await deployment.sim("/sim/component/push-ticket", component_appid=COMPONENT_APPID)
        now = str(int(time.time()))
        body, signature = ticket_push(now, "n-0", ticket["ticket"])
        answer = await post_push(deployment, body, signature, now, "n-0")
        assert answer.status_code == 200, answer.text
        authorized = await deployment.authorize()
        callback = await deployment.h.api.get(
            f"/v1/platform/{COMPONENT_APPID}/authorized",
            params={"auth_code": authorized["auth_code"], "expires_in": 3600},
        )
        assert callback.status_code == 200, callback.text
        assert (await deployment.wiring.store.get_app(MERCHANT_APPID)) is not None
        assert (await deployment.login("carol", MERCHANT_APPID))["user"]["appid"] == MERCHANT_APPID
    finally:
        await close_harness(parts[0], parts[1])
        await close_harness(parts[2], parts[3])
