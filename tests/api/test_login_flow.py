"""The login flow through the HTTP API, against the in-process simulator."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from tests.conftest import APPID, FakeClock, Harness, bearer, close_harness, open_harness
from wxauth.config import Settings
from wxauth.simulator import SimulatorState
from wxauth.simulator.state import openid_for

USER_FIELDS = {
    "id",
    "appid",
    "nickname",
    "avatar_url",
    "gender",
    "country",
    "province",
    "city",
    "language",
    "has_phone",
    "created_at",
    "updated_at",
    "person_id",
}


async def test_login_returns_token_and_user(harness: Harness) -> None:
    body = await harness.login("alice")
    assert body["token_type"] == "Bearer"
    assert body["new_user"] is True
    assert body["expires_in"] == 30 * 86_400
    assert set(body["user"]) == USER_FIELDS
    assert body["user"]["appid"] == APPID
    assert len(body["token"]) >= 43  # 256 bits in URL-safe base64, plus the prefix


async def test_second_login_is_same_user_not_new(harness: Harness) -> None:
    first = await harness.login("alice")
    second = await harness.login("alice")
    assert second["new_user"] is False
    assert second["user"]["id"] == first["user"]["id"]
    assert second["token"] != first["token"]
    # Both sessions work: a user may hold several (several devices).
    for token in (first["token"], second["token"]):
        assert (await harness.api.get("/v1/me", headers=bearer(token))).status_code == 200


async def test_different_users_get_different_ids(harness: Harness) -> None:
    alice = await harness.login("alice")
    bob = await harness.login("bob")
    assert alice["user"]["id"] != bob["user"]["id"]


async def test_me_never_shows_openid_or_session_key(
    harness: Harness, sim_state: SimulatorState
) -> None:
    body = await harness.login("alice")
    me = await harness.api.get("/v1/me", headers=bearer(body["token"]))
    text = me.text
    assert openid_for(APPID, "alice") not in text
    session_key = sim_state.current_key(APPID, "alice")
    assert session_key and session_key not in text
    assert "openid" not in text and "session_key" not in text


async def test_reused_code_is_invalid_code_40163(harness: Harness) -> None:
    code = await harness.code("alice")
    assert (await harness.api.post("/v1/login", json={"code": code})).status_code == 200
    again = await harness.api.post("/v1/login", json={"code": code})
    assert again.status_code == 400
    body = again.json()
    assert body["error"] == "invalid_code"
    assert body["wechat_errcode"] == 40163
    assert "wx.login" in body["message"]
    assert body["request_id"] == again.headers["x-request-id"]


async def test_unknown_code_is_invalid_code_40029(harness: Harness) -> None:
    response = await harness.api.post("/v1/login", json={"code": "not-a-real-code"})
    assert response.status_code == 400
    assert response.json()["wechat_errcode"] == 40029


async def test_expired_code_is_invalid(harness: Harness, sim_state: SimulatorState) -> None:
    now = [1_000_000.0]
    sim_state.clock = lambda: now[0]
    code = await harness.code("alice")
    now[0] += 301
    response = await harness.api.post("/v1/login", json={"code": code})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_code"


async def test_wrong_token_is_401_with_header(harness: Harness) -> None:
    await harness.login("alice")
    for headers in (
        bearer("wxa_" + "A" * 43),
        bearer("garbage"),
        {"Authorization": "Basic abc"},
        {},
    ):
        response = await harness.api.get("/v1/me", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"] == "invalid_token"
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_profile_with_emoji_round_trips(harness: Harness) -> None:
    token = (await harness.login("alice"))["token"]
    profile = {
        "nickName": "小明 🐼👨‍👩‍👧",
        "avatarUrl": "https://example.com/a.png",
        "gender": 1,
        "city": "Guangzhou",
        "language": "zh_CN",
    }
    response = await harness.api.post("/v1/me/profile", json=profile, headers=bearer(token))
    assert response.status_code == 200, response.text
    me = (await harness.api.get("/v1/me", headers=bearer(token))).json()
    assert me["nickname"] == "小明 🐼👨‍👩‍👧"
    assert me["avatar_url"] == "https://example.com/a.png"
    assert (me["gender"], me["city"], me["language"]) == (1, "Guangzhou", "zh_CN")


async def test_profile_accepts_snake_case(harness: Harness) -> None:
    token = (await harness.login("alice"))["token"]
    response = await harness.api.post(
        "/v1/me/profile",
        json={"nickname": "Ann", "avatar_url": "https://x.test/a.png"},
        headers=bearer(token),
    )
    assert response.status_code == 200
    assert response.json()["nickname"] == "Ann"


async def test_anonymous_placeholder_does_not_overwrite(harness: Harness) -> None:
    token = (await harness.login("alice"))["token"]
    real = {"nickName": "Alice", "avatarUrl": "https://example.com/alice.png"}
    await harness.api.post("/v1/me/profile", json=real, headers=bearer(token))
    placeholder = {
        "nickName": "微信用户",
        "avatarUrl": "https://thirdwx.qlogo.cn/mmopen/vi_32/POgEwh4mIHO4nibH0KlMECNjjGxQUq24ZEaGT4poC6icRiccVGKSyXwibcPq4BWmiaIGuG1icwxaQX6grC9VemZoJ8rg/132",
        "gender": 0,
        "city": "",
    }
    response = await harness.api.post("/v1/me/profile", json=placeholder, headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["nickname"] == "Alice"
    assert response.json()["avatar_url"] == "https://example.com/alice.png"


async def test_logout_revokes_only_that_token(harness: Harness) -> None:
    first = (await harness.login("alice"))["token"]
    second = (await harness.login("alice"))["token"]
    response = await harness.api.post("/v1/logout", headers=bearer(first))
    assert response.status_code == 204
    assert (await harness.api.get("/v1/me", headers=bearer(first))).status_code == 401
    assert (await harness.api.get("/v1/me", headers=bearer(second))).status_code == 200
    # Logging out twice: the token is no longer valid.
    assert (await harness.api.post("/v1/logout", headers=bearer(first))).status_code == 401


async def test_idle_expiry_slides_on_use(harness: Harness, clock: FakeClock) -> None:
    token = (await harness.login("alice"))["token"]
    for _ in range(3):  # 3 x 6 days > 7-day idle TTL, but each use slides it
        clock.advance(days=6)
        assert (await harness.api.get("/v1/me", headers=bearer(token))).status_code == 200
    clock.advance(days=7, seconds=1)
    response = await harness.api.get("/v1/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


async def test_absolute_expiry_does_not_slide(harness: Harness, clock: FakeClock) -> None:
    token = (await harness.login("alice"))["token"]
    for _ in range(5):  # used every 6 days: never idle, but 30 days is the hard limit
        clock.advance(days=6)
        status = (await harness.api.get("/v1/me", headers=bearer(token))).status_code
    assert status == 401


async def test_fresh_session_use_does_not_write(
    harness: Harness, settings: Settings, db_path: Path
) -> None:
    token = (await harness.login("alice"))["token"]
    before = _sessions_row(db_path)
    for _ in range(5):
        assert (await harness.api.get("/v1/me", headers=bearer(token))).status_code == 200
    assert _sessions_row(db_path) == before  # within the touch interval: reads only


def _sessions_row(db_path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT last_seen_at, idle_expires_at FROM sessions").fetchall()


async def test_fifty_concurrent_logins_make_one_user(harness: Harness, db_path: Path) -> None:
    codes = [await harness.code("crowd") for _ in range(50)]
    responses = await asyncio.gather(
        *(harness.api.post("/v1/login", json={"code": c}) for c in codes)
    )
    assert [r.status_code for r in responses] == [200] * 50
    ids = {r.json()["user"]["id"] for r in responses}
    assert len(ids) == 1
    assert sum(r.json()["new_user"] for r in responses) == 1
    tokens = {r.json()["token"] for r in responses}
    assert len(tokens) == 50
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM sessions").fetchone() == (50,)
    checks = await asyncio.gather(*(harness.api.get("/v1/me", headers=bearer(t)) for t in tokens))
    assert {c.status_code for c in checks} == {200}


async def test_restart_keeps_users_and_sessions(
    settings: Settings, sim_state: SimulatorState
) -> None:
    first, app = await open_harness(settings, sim_state, FakeClock())
    body = await first.login("alice")
    await first.api.post(
        "/v1/me/profile", json={"nickName": "Alice"}, headers=bearer(body["token"])
    )
    await close_harness(first, app)

    second, app = await open_harness(settings, sim_state, FakeClock())
    me = await second.api.get("/v1/me", headers=bearer(body["token"]))
    assert me.status_code == 200
    assert me.json()["nickname"] == "Alice"
    await close_harness(second, app)


async def test_database_holds_no_token_or_session_key(
    harness: Harness, sim_state: SimulatorState, db_path: Path
) -> None:
    tokens = [(await harness.login(user))["token"] for user in ("alice", "bob")]
    keys = [sim_state.current_key(APPID, user) for user in ("alice", "bob")]
    raw = b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))
    assert len(raw) > 0
    for secret in [*tokens, *keys]:
        assert secret is not None
        assert secret.encode() not in raw
    # ... but it does hold the users, so the search above looked at real data.
    assert openid_for(APPID, "alice").encode() in raw


async def test_appid_is_required_with_several_apps(
    db_path: Path, sim_state: SimulatorState
) -> None:
    from pydantic import SecretStr

    from tests.conftest import OTHER_APPID, OTHER_SECRET, SECRET
    from wxauth.core.keyring import generate_key

    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{db_path}",
        apps={APPID: SecretStr(SECRET), OTHER_APPID: SecretStr(OTHER_SECRET)},
        secret_keys=[SecretStr(generate_key())],
    )
    h, app = await open_harness(settings, sim_state)
    code = await h.code("alice", appid=OTHER_APPID)
    missing = await h.api.post("/v1/login", json={"code": code})
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"
    unknown = await h.api.post("/v1/login", json={"code": code, "appid": "wxnotconfigured"})
    assert unknown.status_code == 400
    ok = await h.api.post("/v1/login", json={"code": code, "appid": OTHER_APPID})
    assert ok.status_code == 200
    assert ok.json()["user"]["appid"] == OTHER_APPID
    # The same person in another app is another user (openids differ per app).
    alice_main = await h.api.post("/v1/login", json={"code": await h.code("alice"), "appid": APPID})
    assert alice_main.json()["user"]["id"] != ok.json()["user"]["id"]
    await close_harness(h, app)
