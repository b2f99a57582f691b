"""Users' control of their account: sessions as devices, logout scopes, the session cap,
disabled accounts, closing an account and exporting its data."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select

from tests.conftest import FakeClock, Harness, bearer, close_harness, open_harness
from wxauth.api.state import ApiState
from wxauth.config import Settings
from wxauth.simulator import SimulatorState
from wxauth.storage.tables import account_events, login_events, sessions, users, wechat_sessions

IPHONE = {
    "brand": "Apple",
    "model": "iPhone 15 <iPhone16,1>",
    "platform": "ios",
    "system": "iOS 17.2",
    "version": "8.0.47",
}
ANDROID = {"brand": "HUAWEI", "model": "Mate 60", "platform": "android", "system": "Android 12"}


class Api:
    def __init__(self, harness: Harness, app: Any) -> None:
        self.h = harness
        self.app = app

    @property
    def state(self) -> ApiState:
        state: ApiState = self.app.state.wxauth
        return state


async def start(settings: Settings, sim: SimulatorState, clock: FakeClock) -> Api:
    harness, app = await open_harness(settings, sim, clock)
    return Api(harness, app)


@pytest.fixture
async def api(
    settings: Settings, sim_state: SimulatorState, clock: FakeClock
) -> AsyncIterator[Api]:
    a = await start(settings, sim_state, clock)
    yield a
    await close_harness(a.h, a.app)


def rows(db_path: Path, query: Any) -> list[Any]:
    engine = create_engine(f"sqlite:///{db_path}")
    try:
        with engine.connect() as conn:
            return list(conn.execute(query).all())
    finally:
        engine.dispose()


def count(db_path: Path, table: Any) -> int:
    found: int = rows(db_path, select(func.count()).select_from(table))[0][0]
    return found


async def test_two_devices_see_each_other_and_one_ends_the_other(api: Api) -> None:
    h = api.h
    phone = await h.login("alice", device=IPHONE)
    tablet = await h.login("alice", device=ANDROID)
    bob = await h.login("bob")
    lists = []
    for token in (phone["token"], tablet["token"]):
        response = await h.api.get("/v1/me/sessions", headers=bearer(token))
        assert response.status_code == 200, response.text
        lists.append(response.json()["sessions"])
    assert [len(found) for found in lists] == [2, 2]
    for found in lists:
        for session in found:
            assert set(session) == {
                "id", "current", "created_at", "last_seen_at", "expires_at", "ip",
                "user_agent", "device",
            }  # fmt: skip
            assert not session["id"].startswith("wxa_")
            assert session["id"] not in (phone["token"], tablet["token"])
    mine = {s["device"]["brand"]: s for s in lists[0]}
    assert mine["Apple"]["current"] and not mine["HUAWEI"]["current"]
    assert mine["Apple"]["device"] == {
        "brand": "Apple",
        "model": "iPhone 15 <iPhone16,1>",
        "platform": "ios",
        "system": "iOS 17.2",
        "wechat_version": "8.0.47",
    }
    assert mine["HUAWEI"]["device"]["wechat_version"] is None
    assert {s["id"] for s in lists[0]} == {s["id"] for s in lists[1]}

    # Bob's session is not Alice's to end.
    bobs = (await h.api.get("/v1/me/sessions", headers=bearer(bob["token"]))).json()
    bob_id = bobs["sessions"][0]["id"]
    refused = await h.api.post(f"/v1/me/sessions/{bob_id}/revoke", headers=bearer(phone["token"]))
    assert refused.status_code == 404 and refused.json()["error"] == "not_found"
    assert (await h.api.get("/v1/me", headers=bearer(bob["token"]))).status_code == 200

    # The phone ends the tablet's session: the tablet's token fails at once.
    assert (await h.api.get("/v1/me", headers=bearer(tablet["token"]))).status_code == 200
    ended = await h.api.post(
        f"/v1/me/sessions/{mine['HUAWEI']['id']}/revoke", headers=bearer(phone["token"])
    )
    assert ended.status_code == 204
    gone = await h.api.get("/v1/me", headers=bearer(tablet["token"]))
    assert gone.status_code == 401 and gone.json()["error"] == "invalid_token"
    left = (await h.api.get("/v1/me/sessions", headers=bearer(phone["token"]))).json()
    assert [s["device"]["brand"] for s in left["sessions"]] == ["Apple"]
    again = await h.api.post(
        f"/v1/me/sessions/{mine['HUAWEI']['id']}/revoke", headers=bearer(phone["token"])
    )
    assert again.status_code == 404
    events = await api.state.wiring.store.list_account_events(limit=10)
    assert [e.action for e in events] == ["session_revoked"]


@pytest.mark.parametrize(
    ("scope", "alive"),
    [(None, [False, True, True]), ("current", [False, True, True]),
     ("others", [True, False, False]), ("all", [False, False, False])],
)  # fmt: skip
async def test_logout_scopes(api: Api, scope: str | None, alive: list[bool]) -> None:
    h = api.h
    tokens = [(await h.login("alice"))["token"] for _ in range(3)]
    bob = await h.login("bob")
    body = None if scope is None else {"scope": scope}
    response = await h.api.post("/v1/logout", headers=bearer(tokens[0]), json=body)
    assert response.status_code == 204
    statuses = [(await h.api.get("/v1/me", headers=bearer(t))).status_code for t in tokens]
    assert statuses == [200 if a else 401 for a in alive]
    assert (await h.api.get("/v1/me", headers=bearer(bob["token"]))).status_code == 200


async def test_logout_refuses_an_unknown_scope(api: Api) -> None:
    token = (await api.h.login("alice"))["token"]
    response = await api.h.api.post("/v1/logout", headers=bearer(token), json={"scope": "every"})
    assert response.status_code == 422
    assert (await api.h.api.get("/v1/me", headers=bearer(token))).status_code == 200


async def test_a_cap_of_one_replaces_the_first_device(
    settings: Settings, sim_state: SimulatorState, clock: FakeClock
) -> None:
    api = await start(settings.model_copy(update={"session_cap": 1}), sim_state, clock)
    try:
        h = api.h
        first = await h.login("alice", device=IPHONE)
        other_user = await h.login("bob")
        assert (await h.api.get("/v1/me", headers=bearer(first["token"]))).status_code == 200
        clock.advance(seconds=1)
        second = await h.login("alice", device=ANDROID)
        replaced = await h.api.get("/v1/me", headers=bearer(first["token"]))
        assert replaced.status_code == 401
        assert replaced.json()["error"] == "session_replaced"
        assert "logged in on another device" in replaced.json()["message"]
        assert replaced.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        assert (await h.api.get("/v1/me", headers=bearer(second["token"]))).status_code == 200
        assert (await h.api.get("/v1/me", headers=bearer(other_user["token"]))).status_code == 200
        listed = (await h.api.get("/v1/me/sessions", headers=bearer(second["token"]))).json()
        assert [s["device"]["brand"] for s in listed["sessions"]] == ["HUAWEI"]
        # The replaced token is refused by introspection too, and logging out with it is 401.
        out = await h.api.post("/v1/logout", headers=bearer(first["token"]))
        assert out.status_code == 401 and out.json()["error"] == "session_replaced"
    finally:
        await close_harness(api.h, api.app)


async def test_a_disabled_account(api: Api, clock: FakeClock) -> None:
    h = api.h
    alice = await h.login("alice")
    bob = await h.login("bob")
    user_id = alice["user"]["id"]
    assert (await h.api.get("/v1/me", headers=bearer(alice["token"]))).status_code == 200
    until = clock.now + timedelta(days=1)
    await api.state.wiring.accounts.disable(user_id, reason="发布违规内容", until=until)

    refused = await h.api.get("/v1/me", headers=bearer(alice["token"]))
    assert refused.status_code == 403
    body = refused.json()
    assert body["error"] == "account_disabled" and body["reason"] == "发布违规内容"
    assert body["until"] == until.isoformat() and "发布违规内容" in body["message"]
    assert (await h.api.get("/v1/me", headers=bearer(bob["token"]))).status_code == 200

    login = await h.api.post("/v1/login", json={"code": await h.code("alice")})
    assert login.status_code == 403
    assert login.json()["error"] == "account_disabled"
    assert login.json()["reason"] == "发布违规内容" and login.json()["until"] == until.isoformat()
    assert len(await api.state.wiring.store.list_sessions(user_id)) == 1  # no new session

    # The ban ends by itself; the old token stays ended.
    clock.advance(days=1, seconds=1)
    back = await h.login("alice")
    assert back["user"]["id"] == user_id
    old = await h.api.get("/v1/me", headers=bearer(alice["token"]))
    assert old.status_code == 401 and old.json()["error"] == "invalid_token"

    # Disabled until enabled, then enabled.
    await api.state.wiring.accounts.disable(user_id, reason="spam", until=None)
    refused = await h.api.get("/v1/me", headers=bearer(back["token"]))
    assert refused.status_code == 403 and "until" not in refused.json()
    await api.state.wiring.accounts.enable(user_id)
    assert (await h.login("alice"))["user"]["id"] == user_id
    actions = [e.action for e in await api.state.wiring.store.list_account_events(limit=10)]
    assert actions == ["enabled", "disabled", "disabled"]


async def test_closing_the_account_erases_it(api: Api, db_path: Path) -> None:
    h = api.h
    alice = await h.login("alice", device=IPHONE)
    other = await h.login("alice")
    bob = await h.login("bob")
    user_id = alice["user"]["id"]
    headers = bearer(alice["token"])
    await h.api.post(
        "/v1/me/profile", headers=headers, json={"nickName": "小明", "city": "Shenzhen"}
    )
    code = (
        await h.phone.post(
            "/sim/phone-code", json={"appid": alice["user"]["appid"], "user": "alice"}
        )
    ).json()["code"]
    assert (
        await h.api.post("/v1/me/phone", headers=headers, json={"code": code})
    ).status_code == 200
    avatar = "https://example.com/a.png"
    await h.api.post("/v1/me/profile", headers=headers, json={"avatarUrl": avatar})

    unconfirmed = await h.api.post("/v1/me/delete", headers=headers, json={"confirm": "yes"})
    assert unconfirmed.status_code == 422
    assert (await h.api.post("/v1/me/delete", headers=headers)).status_code == 422
    assert (await h.api.get("/v1/me", headers=headers)).status_code == 200

    done = await h.api.post("/v1/me/delete", headers=headers, json={"confirm": "DELETE"})
    assert done.status_code == 200 and done.json() == {"deleted": True, "due_at": None}
    for token in (alice["token"], other["token"]):
        assert (await h.api.get("/v1/me", headers=bearer(token))).status_code == 401
    assert (await h.api.get("/v1/me", headers=bearer(bob["token"]))).status_code == 200

    # Nothing of hers is left in the database but a pseudonymous record that it happened.
    assert rows(db_path, select(users).where(users.c.id == user_id)) == []
    assert rows(db_path, select(users).where(users.c.nickname == "小明")) == []
    assert rows(db_path, select(users).where(users.c.avatar_url == avatar)) == []
    assert rows(db_path, select(users).where(users.c.phone.is_not(None))) == []
    assert rows(db_path, select(sessions).where(sessions.c.user_id == user_id)) == []
    assert count(db_path, sessions) == 1  # bob's
    assert count(db_path, wechat_sessions) == 1  # bob's session_key
    assert rows(db_path, select(login_events).where(login_events.c.user_id == user_id)) == []
    trail = rows(db_path, select(account_events).where(account_events.c.user_id == user_id))
    assert [(r.action, r.ip) for r in trail] == [("deletion_requested", None), ("deleted", None)]

    again = await h.login("alice")
    assert again["new_user"] and again["user"]["id"] != user_id
    assert again["user"]["nickname"] is None and not again["user"]["has_phone"]


async def test_a_login_within_the_grace_period_cancels_the_deletion(
    settings: Settings, sim_state: SimulatorState, clock: FakeClock, db_path: Path
) -> None:
    grace = {"account_deletion_grace": 3600}
    api = await start(settings.model_copy(update=grace), sim_state, clock)
    try:
        h = api.h
        alice = await h.login("alice")
        user_id = alice["user"]["id"]
        asked = await h.api.post(
            "/v1/me/delete", headers=bearer(alice["token"]), json={"confirm": "DELETE"}
        )
        assert asked.status_code == 200 and asked.json()["deleted"] is False
        assert asked.json()["due_at"].startswith(
            (clock.now + timedelta(hours=1)).date().isoformat()
        )
        assert (await h.api.get("/v1/me", headers=bearer(alice["token"]))).status_code == 401
        clock.advance(minutes=30)
        back = await h.login("alice")
        assert back["user"]["id"] == user_id and not back["new_user"]
        clock.advance(hours=2)
        await api.state.wiring.accounts.purge_due()
        assert (await h.api.get("/v1/me", headers=bearer(back["token"]))).status_code == 200

        # Asked again and left alone: someone else's login sweeps it away when due.
        await h.api.post("/v1/me/delete", headers=bearer(back["token"]), json={"confirm": "DELETE"})
        clock.advance(hours=1, seconds=1)
        await h.login("bob")
        assert rows(db_path, select(users).where(users.c.id == user_id)) == []
        assert rows(db_path, select(sessions).where(sessions.c.user_id == user_id)) == []
        fresh = await h.login("alice")
        assert fresh["new_user"] and fresh["user"]["id"] != user_id
    finally:
        await close_harness(api.h, api.app)


async def test_export_has_everything_but_secrets_once_a_minute(api: Api, db_path: Path) -> None:
    h = api.h
    alice = await h.login("alice", device=IPHONE)
    await h.login("alice")
    headers = bearer(alice["token"])
    await h.api.post("/v1/me/profile", headers=headers, json={"nickName": "小明"})
    response = await h.api.get("/v1/me/export", headers=headers)
    assert response.status_code == 200, response.text
    data = response.json()
    assert set(data) == {
        "user", "wechat_session_key_stored", "sessions", "login_events", "account_events"
    }  # fmt: skip
    assert data["user"]["nickname"] == "小明" and data["user"]["openid"]
    assert data["wechat_session_key_stored"] is True
    assert len(data["sessions"]) == 2 and len(data["login_events"]) == 2
    assert {s["device_brand"] for s in data["sessions"]} == {"Apple", None}
    text = response.text
    for (token_hash,) in rows(db_path, select(sessions.c.token_hash)):
        assert token_hash not in text
    for (key,) in rows(db_path, select(wechat_sessions.c.session_key_enc)):
        assert key not in text
    assert alice["token"] not in text
    assert response.headers["cache-control"] == "no-store"
    limited = await h.api.get("/v1/me/export", headers=headers)
    assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
    assert "retry-after" in limited.headers
    actions = [e.action for e in await api.state.wiring.store.list_account_events(limit=10)]
    assert actions == ["data_exported"]


@pytest.mark.parametrize(
    "device",
    [
        {"brand": "x" * 33},
        {"model": "m" * 65},
        {"platform": "p" * 17},
        {"system": "s" * 65},
        {"version": "1" * 33},
        {"brand": 5},
        {"model": ["iPhone"]},
        {"system": None, "platform": True},
        {"brand": "Apple\u0000"},
        {"model": "line\nbreak"},
        {"brand": ""},
        {"benchmarkLevel": 30},
        "iPhone",
    ],
)
async def test_bad_device_fields_are_refused_and_change_nothing(
    api: Api, db_path: Path, device: Any
) -> None:
    h = api.h
    code = await h.code("alice")
    response = await h.api.post("/v1/login", json={"code": code, "device": device})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_request"
    assert count(db_path, users) == 0 and count(db_path, sessions) == 0
    # The code was not spent on the refused request.
    ok = await h.api.post("/v1/login", json={"code": code, "device": IPHONE})
    assert ok.status_code == 200


NEW_PATHS = {
    ("/v1/me/sessions", "get"): {"401", "403"},
    ("/v1/me/sessions/{session_id}/revoke", "post"): {"401", "403", "404"},
    ("/v1/me/delete", "post"): {"401", "403", "422"},
    ("/v1/me/export", "get"): {"401", "403", "429"},
    ("/v1/logout", "post"): {"401", "403", "422"},
    ("/v1/login", "post"): {"403", "422"},
}


async def test_the_new_endpoints_are_in_the_openapi_with_their_errors(api: Api) -> None:
    schema = (await api.h.api.get("/openapi.json")).json()
    for (path, method), statuses in NEW_PATHS.items():
        operation = schema["paths"][path][method]
        assert statuses <= set(operation["responses"]), (path, operation["responses"].keys())
        for status in statuses:
            ref = operation["responses"][status]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/ErrorBody")
    login_body = schema["components"]["schemas"]["LoginRequest"]["properties"]
    assert "device" in login_body
    assert (
        "account_disabled"
        in schema["paths"]["/v1/login"]["post"]["responses"]["403"]["description"]
    )
    assert "session_replaced" in schema["paths"]["/v1/me"]["get"]["responses"]["401"]["description"]
