"""Several mini programs in one deployment: the registry, tokens bound to their app, one
person per UnionID (also when it arrives later), and disabled apps."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from tests.conftest import (
    APPID,
    OTHER_APPID,
    OTHER_SECRET,
    SECRET,
    FakeClock,
    Harness,
    bearer,
    close_harness,
    open_harness,
)
from wxauth.config import Settings
from wxauth.core.apps import disabled, enabled
from wxauth.core.models import App
from wxauth.simulator import SimApp, SimulatorState
from wxauth.wiring import Wiring

THIRD_APPID = "wx3333333333333333"
THIRD_SECRET = "the-third-apps-secret-000111222"
KEY = "svc-key-current-0123456789abcdef"
TTL = 0.05  # the registry's reload interval in these tests
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def sim_state() -> SimulatorState:
    return SimulatorState(
        [
            SimApp(APPID, SECRET),
            SimApp(OTHER_APPID, OTHER_SECRET),
            SimApp(THIRD_APPID, THIRD_SECRET),
        ]
    )


@pytest.fixture
async def h(settings: Settings, sim_state: SimulatorState) -> AsyncIterator[tuple[Harness, Any]]:
    two = settings.model_copy(
        update={
            "apps": {APPID: SecretStr(SECRET), OTHER_APPID: SecretStr(OTHER_SECRET)},
            "service_keys": [SecretStr(KEY)],
            "app_registry_ttl": TTL,
        }
    )
    # A still clock: the login limits' window never ends in the middle of a test.
    harness, app = await open_harness(two, sim_state, FakeClock())
    yield harness, app
    await close_harness(harness, app)


def wiring_of(app: Any) -> Wiring:
    wiring: Wiring = app.state.wxauth.wiring
    return wiring


async def login(h: Harness, user: str, appid: str) -> dict[str, Any]:
    code = await h.code(user, appid=appid)
    response = await h.api.post("/v1/login", json={"code": code, "appid": appid})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def me(h: Harness, token: str, **headers: str) -> Any:
    return await h.api.get("/v1/me", headers={**bearer(token), **headers})


async def introspect(h: Harness, token: str, **extra: str) -> dict[str, Any]:
    body = {"token": token, **extra}
    response = await h.api.post("/v1/introspect", json=body, headers=bearer(KEY))
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def record_of(appid: str, **settings: Any) -> App:
    return App(appid, created_at=NOW, updated_at=NOW, **settings)


async def register(app: Any, record: App) -> None:
    await wiring_of(app).store.save_app(record)
    await asyncio.sleep(TTL * 2)  # what every process waits at most to see it


async def test_two_apps_side_by_side_and_a_token_stays_with_its_app(
    h: tuple[Harness, Any],
) -> None:
    harness, _ = h
    a = await login(harness, "alice", APPID)
    b = await login(harness, "bob", OTHER_APPID)
    assert (a["user"]["appid"], b["user"]["appid"]) == (APPID, OTHER_APPID)
    assert (await me(harness, a["token"], **{"X-WxAuth-Appid": APPID})).status_code == 200
    refused = await me(harness, a["token"], **{"X-WxAuth-Appid": OTHER_APPID})
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_token"
    query = await harness.api.get(f"/v1/me?appid={APPID}", headers=bearer(b["token"]))
    assert query.status_code == 401
    for path in ("/v1/me/sessions", "/v1/me/export"):
        foreign = await harness.api.get(
            path, headers={**bearer(b["token"]), "X-WxAuth-Appid": APPID}
        )
        assert foreign.status_code == 401, path
    logout = await harness.api.post(
        "/v1/logout", headers={**bearer(b["token"]), "X-WxAuth-Appid": APPID}
    )
    assert logout.status_code == 401
    assert (await me(harness, b["token"])).status_code == 200  # that refusal ended nothing


async def test_introspection_takes_the_required_appid(h: tuple[Harness, Any]) -> None:
    harness, _ = h
    a = await login(harness, "alice", APPID)
    assert (await introspect(harness, a["token"], appid=APPID))["client_id"] == APPID
    assert await introspect(harness, a["token"], appid=OTHER_APPID) == {"active": False}


async def test_one_unionid_is_one_person(h: tuple[Harness, Any]) -> None:
    harness, _ = h
    alice_a = await login(harness, "alice", APPID)
    alice_b = await login(harness, "alice", OTHER_APPID)
    bob = await login(harness, "bob", OTHER_APPID)
    assert alice_a["user"]["id"] != alice_b["user"]["id"]
    assert alice_a["user"]["person_id"] == alice_b["user"]["person_id"]
    assert bob["user"]["person_id"] != alice_a["user"]["person_id"]
    seen = (await me(harness, alice_b["token"])).json()
    assert seen["person_id"] == alice_a["user"]["person_id"]
    answer = await introspect(harness, alice_b["token"])
    assert answer["person_id"] == alice_a["user"]["person_id"]


async def test_a_unionid_that_arrives_later_attaches_the_user(
    h: tuple[Harness, Any], sim_state: SimulatorState
) -> None:
    harness, app = h
    unbound = sim_state.apps[OTHER_APPID]
    sim_state.apps[OTHER_APPID] = dataclasses.replace(unbound, unionid=False)
    first = await login(harness, "carol", OTHER_APPID)  # not yet bound to the Open Platform
    assert first["user"]["person_id"] == first["user"]["id"]
    known = await login(harness, "carol", APPID)
    assert known["user"]["person_id"] != first["user"]["person_id"]
    sim_state.apps[OTHER_APPID] = unbound  # the owner binds the app: unionids from now on
    again = await login(harness, "carol", OTHER_APPID)
    assert again["user"]["id"] == first["user"]["id"] and not again["new_user"]
    assert again["user"]["person_id"] == known["user"]["person_id"]
    # the old token sees it too: one person, two users, nothing duplicated
    assert (await me(harness, first["token"])).json()["person_id"] == known["user"]["person_id"]
    assert len(await wiring_of(app).store.list_users(limit=100)) == 2


async def test_an_app_registered_while_running_logs_in(h: tuple[Harness, Any]) -> None:
    harness, app = h
    code = await harness.code("dave", appid=THIRD_APPID)
    unknown = await harness.api.post("/v1/login", json={"code": code, "appid": THIRD_APPID})
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_request"
    wiring = wiring_of(app)
    secret_enc = wiring.keyring.encrypt(THIRD_SECRET)
    await register(app, record_of(THIRD_APPID, secret_enc=secret_enc, session_max_ttl=3600))
    third = await login(harness, "dave", THIRD_APPID)
    assert third["user"]["appid"] == THIRD_APPID
    assert third["expires_in"] == 3600  # the app's own session lifetime
    assert (await me(harness, third["token"])).status_code == 200


async def test_a_disabled_apps_tokens_and_logins_stop(h: tuple[Harness, Any]) -> None:
    harness, app = h
    a = await login(harness, "alice", APPID)
    b = await login(harness, "bob", OTHER_APPID)
    record = record_of(APPID)
    await register(app, disabled(record, "contract ended", NOW))
    refused = await me(harness, a["token"])
    assert refused.status_code == 403 and refused.json()["error"] == "app_disabled"
    assert await introspect(harness, a["token"]) == {"active": False}
    code = await harness.code("alice", appid=APPID)
    login_refused = await harness.api.post("/v1/login", json={"code": code, "appid": APPID})
    assert login_refused.status_code == 403
    assert login_refused.json()["error"] == "app_disabled"
    assert (await me(harness, b["token"])).status_code == 200  # the other app is untouched
    await register(app, enabled(record, NOW))
    assert (await me(harness, a["token"])).status_code == 200


async def test_an_apps_own_login_limit(h: tuple[Harness, Any]) -> None:
    harness, app = h
    await register(app, record_of(OTHER_APPID, rate_limit_login=1))
    await login(harness, "bob", OTHER_APPID)  # a success spends nothing
    await login(harness, "bob", OTHER_APPID)
    made_up = await harness.api.post("/v1/login", json={"code": "nope", "appid": OTHER_APPID})
    assert made_up.status_code == 400  # the app's one failure
    code = await harness.code("bob", appid=OTHER_APPID)
    limited = await harness.api.post("/v1/login", json={"code": code, "appid": OTHER_APPID})
    assert limited.status_code == 429
    await login(harness, "alice", APPID)  # the deployment's default still applies to others
