"""``wxauth users | sessions | audit`` against a database filled through the API."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.conftest import APPID, Harness, bearer, close_harness, open_harness
from wxauth.cli import app
from wxauth.config import Settings
from wxauth.simulator import SimulatorState
from wxauth.simulator.state import openid_for


@pytest.fixture
async def live(settings: Settings, sim_state: SimulatorState) -> AsyncIterator[Harness]:
    """The API on the real clock: the commands judge expiry and retention by it."""
    h, api = await open_harness(settings, sim_state)
    yield h
    await close_harness(h, api)


async def wxauth(settings: Settings, *args: str, stdin: str | None = None) -> Result:
    """Run the command in a thread: it runs its own event loop."""
    env = {"WXAUTH_DATABASE_URL": settings.database_url, "WXAUTH_CONFIG": ""}
    runner = CliRunner()
    return await asyncio.to_thread(lambda: runner.invoke(app, list(args), input=stdin, env=env))


async def test_users_list_show_export(live: Harness, settings: Settings) -> None:
    alice = await live.login("alice")
    await live.api.post(
        "/v1/me/profile", json={"nickName": "小明 🐼"}, headers=bearer(alice["token"])
    )
    bob = await live.login("bob")
    listed = await wxauth(settings, "users", "list")
    assert listed.exit_code == 0, listed.output
    assert alice["user"]["id"] in listed.output and bob["user"]["id"] in listed.output
    assert "小明 🐼" in listed.output
    shown = await wxauth(settings, "users", "show", alice["user"]["id"])
    assert shown.exit_code == 0 and openid_for(APPID, "alice") in shown.output
    exported = await wxauth(settings, "users", "export", alice["user"]["id"])
    data = json.loads(exported.output)
    assert data["user"]["openid"] == openid_for(APPID, "alice")
    assert data["user"]["nickname"] == "小明 🐼"
    assert len(data["sessions"]) == 1 and data["wechat_session_key_stored"] is True
    assert [e["result"] for e in data["login_events"]] == ["ok"]
    assert alice["token"] not in exported.output


PHONE = {"brand": "Apple", "model": "iPhone 15", "platform": "ios", "system": "iOS 17.2"}


async def test_users_export_has_the_account_fields_devices_and_account_events(
    live: Harness, settings: Settings
) -> None:
    first = await live.login("alice", device=PHONE)
    second = await live.login("alice")
    user_id = first["user"]["id"]
    mine = await live.api.get("/v1/me/sessions", headers=bearer(second["token"]))
    phone_id = next(s["id"] for s in mine.json()["sessions"] if not s["current"])
    ended = await live.api.post(
        f"/v1/me/sessions/{phone_id}/revoke", headers=bearer(second["token"])
    )
    assert ended.status_code == 204, ended.text
    disabled = await wxauth(
        settings, "users", "disable", user_id, "--reason", "spam", "--until", "2099-01-01T00:00:00"
    )
    assert disabled.exit_code == 0, disabled.output

    exported = await wxauth(settings, "users", "export", user_id)
    assert exported.exit_code == 0, exported.output
    data = json.loads(exported.output)
    assert data["user"]["status"] == "disabled"
    assert data["user"]["disabled_reason"] == "spam"
    assert data["user"]["disabled_ends_at"].startswith("2099-01-01T00:00:00")
    assert "deletion_due_at" in data["user"] and data["user"]["deletion_due_at"] is None
    by_id = {s["id"]: s for s in data["sessions"]}
    assert len(by_id) == 2 and phone_id in by_id
    phone = by_id[phone_id]
    assert phone["device_brand"] == "Apple" and phone["device_model"] == "iPhone 15"
    assert phone["device_platform"] == "ios" and phone["device_system"] == "iOS 17.2"
    assert phone["device_wechat_version"] is None
    assert phone["revoked_reason"] == "revoked" and phone["revoked_at"] is not None
    (other,) = (s for s in data["sessions"] if s["id"] != phone_id)
    assert other["device_brand"] is None and other["revoked_reason"] == "account_disabled"
    actions = {(e["action"], e["actor"]): e for e in data["account_events"]}
    assert actions[("session_revoked", "user")]["detail"] == phone_id
    assert actions[("disabled", "operator")]["detail"].startswith("spam")
    # Credentials stay out: no token, no token hash beyond the short session id, no session_key.
    assert first["token"] not in exported.output and second["token"] not in exported.output
    assert all(len(s["id"]) == len(phone_id) < 64 for s in data["sessions"])
    assert "token_hash" not in exported.output and 'session_key"' not in exported.output
    assert data["wechat_session_key_stored"] is True


async def test_unknown_user_is_a_clear_error(live: Harness, settings: Settings) -> None:
    commands = [
        ["users", "show", "nope"],
        ["users", "export", "nope"],
        ["users", "delete", "--yes", "nope"],
        ["sessions", "list", "nope"],
    ]
    for command in commands:
        result = await wxauth(settings, *command)
        assert result.exit_code == 2
        assert "no user with id nope" in result.output


async def test_users_delete_removes_user_sessions_and_key(
    live: Harness, settings: Settings, db_path: Path, sim_state: SimulatorState
) -> None:
    alice = await live.login("alice")
    await live.login("alice")
    bob = await live.login("bob")
    refused = await wxauth(settings, "users", "delete", alice["user"]["id"], stdin="n\n")
    assert refused.exit_code != 0
    deleted = await wxauth(settings, "users", "delete", "--yes", alice["user"]["id"])
    assert deleted.exit_code == 0, deleted.output
    assert "2 sessions" in deleted.output
    assert (await live.api.get("/v1/me", headers=bearer(alice["token"]))).status_code == 401
    assert (await live.api.get("/v1/me", headers=bearer(bob["token"]))).status_code == 200
    with sqlite3.connect(db_path) as conn:
        leftovers = [
            conn.execute(sql, (alice["user"]["id"],)).fetchone()[0]
            for sql in (
                "SELECT count(*) FROM users WHERE id = ?",
                "SELECT count(*) FROM sessions WHERE user_id = ?",
                "SELECT count(*) FROM login_events WHERE user_id = ?",
            )
        ]
        audit = conn.execute(
            "SELECT action, actor, ip FROM account_events WHERE user_id = ?",
            (alice["user"]["id"],),
        ).fetchall()
        keys = conn.execute(
            "SELECT count(*) FROM wechat_sessions WHERE openid = ?", (openid_for(APPID, "alice"),)
        ).fetchone()[0]
    assert leftovers == [0, 0, 0] and keys == 0
    assert audit == [("deleted", "operator", None)]  # pseudonymous: the id names no one now


# A revocation made by another process (this command) reaches a server's in-process session
# cache within its TTL, at most one second (docs/deployment.md).
CACHE_BOUND_S = 1.5


async def refused_within(live: Harness, token: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if (await live.api.get("/v1/me", headers=bearer(token))).status_code == 401:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_sessions_list_and_revoke(live: Harness, settings: Settings) -> None:
    first = await live.login("alice")
    second = await live.login("alice")
    user_id = first["user"]["id"]
    listed = await wxauth(settings, "sessions", "list", user_id)
    assert listed.exit_code == 0 and listed.output.count("active") == 2
    one = await wxauth(settings, "sessions", "revoke", "--token", "-", stdin=first["token"])
    assert one.exit_code == 0 and "revoked 1 session" in one.output
    assert await refused_within(live, first["token"], CACHE_BOUND_S)
    assert (await live.api.get("/v1/me", headers=bearer(second["token"]))).status_code == 200
    again = await wxauth(settings, "sessions", "revoke", "--token", first["token"])
    assert again.exit_code == 2 and "no live session" in again.output
    everything = await wxauth(settings, "sessions", "revoke", "--user", user_id)
    assert everything.exit_code == 0 and "revoked 1 session" in everything.output
    assert await refused_within(live, second["token"], CACHE_BOUND_S)
    listed = await wxauth(settings, "sessions", "list", user_id)
    assert listed.output.count("revoked") == 2
    neither = await wxauth(settings, "sessions", "revoke")
    assert neither.exit_code == 2 and "exactly one" in neither.output


async def test_audit_tail_shows_successes_and_failures(live: Harness, settings: Settings) -> None:
    alice = await live.login("alice")
    await live.api.post("/v1/login", json={"code": "used-or-unknown"})
    tail = await wxauth(settings, "audit", "tail", "-n", "5")
    assert tail.exit_code == 0, tail.output
    lines = tail.output.strip().splitlines()
    assert len(lines) == 3  # the header and two events, oldest first
    assert alice["user"]["id"] in lines[1] and " ok " in lines[1]
    assert "invalid_code" in lines[2] and "40029" in lines[2] and "127.0.0.1" in lines[2]
    purged = await wxauth(settings, "audit", "purge")
    assert purged.exit_code == 0 and "purged 0" in purged.output


async def test_revocation_from_the_command_reaches_a_redis_cache(
    settings: Settings, sim_state: SimulatorState
) -> None:
    """With Redis, servers cache sessions there for a minute: the command must say so."""
    import secrets

    from tests.services import REDIS_PORT, require

    require("Redis", REDIS_PORT)
    shared = settings.model_copy(
        update={
            "redis_url": f"redis://127.0.0.1:{REDIS_PORT}/0",
            "redis_prefix": f"wxauth-test-{secrets.token_hex(4)}:",
        }
    )
    h, api = await open_harness(shared, sim_state)
    try:
        token = (await h.login("alice"))["token"]
        assert (await h.api.get("/v1/me", headers=bearer(token))).status_code == 200  # cached
        env = {
            "WXAUTH_DATABASE_URL": shared.database_url,
            "WXAUTH_REDIS_URL": str(shared.redis_url),
            "WXAUTH_REDIS_PREFIX": shared.redis_prefix,
            "WXAUTH_CONFIG": "",
        }
        result = await asyncio.to_thread(
            CliRunner().invoke, app, ["sessions", "revoke", "--token", token], env=env
        )
        assert result.exit_code == 0, result.output
        assert await refused_within(h, token, CACHE_BOUND_S)
    finally:
        await close_harness(h, api)


async def test_users_disable_enable_and_purge_deleted(live: Harness, settings: Settings) -> None:
    alice = await live.login("alice")
    user_id = alice["user"]["id"]
    disabled = await wxauth(
        settings, "users", "disable", user_id, "--reason", "spam", "--until", "2999-01-01T00:00"
    )
    assert disabled.exit_code == 0, disabled.output
    assert "until 2999-01-01T00:00:00+00:00" in disabled.output
    refused = await live.api.get("/v1/me", headers=bearer(alice["token"]))
    assert refused.status_code == 403 and refused.json()["until"] == "2999-01-01T00:00:00+00:00"
    login = await live.api.post("/v1/login", json={"code": await live.code("alice")})
    assert login.status_code == 403 and login.json()["reason"] == "spam"
    bad = await wxauth(settings, "users", "disable", user_id, "--reason", "x", "--until", "soon")
    assert bad.exit_code != 0
    assert (await wxauth(settings, "users", "disable", "nope", "--reason", "x")).exit_code == 2
    enabled = await wxauth(settings, "users", "enable", user_id)
    assert enabled.exit_code == 0, enabled.output
    again = await live.login("alice")
    assert again["user"]["id"] == user_id

    purged = await wxauth(settings, "users", "purge-deleted")
    assert purged.exit_code == 0 and "erased 0 accounts" in purged.output
    with sqlite3.connect(settings.database_url.split("///", 1)[1]) as conn:
        conn.execute(
            "UPDATE users SET deletion_due_at = '2000-01-01 00:00:00.000000' WHERE id = ?",
            (user_id,),
        )
    purged = await wxauth(settings, "users", "purge-deleted")
    assert purged.exit_code == 0 and "erased 1 accounts" in purged.output
    assert (await wxauth(settings, "users", "show", user_id)).exit_code == 2


async def test_sessions_revoke_by_the_listed_id(
    live: Harness, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await live.login("alice")
    user_id = alice["user"]["id"]
    listed = await wxauth(settings, "sessions", "list", user_id)
    session_id = listed.output.splitlines()[1].split()[0]
    assert len(session_id) == 12
    too_short = await wxauth(settings, "sessions", "revoke", "--id", session_id[:4])
    assert too_short.exit_code == 2 and "8 to 64 hexadecimal" in too_short.output
    unknown = await wxauth(settings, "sessions", "revoke", "--id", "0" * 12)
    assert unknown.exit_code == 2 and "no session with id" in unknown.output
    revoked = await wxauth(settings, "sessions", "revoke", "--id", session_id)
    assert revoked.exit_code == 0 and "revoked 1 session" in revoked.output, revoked.output
    assert (await live.api.get("/v1/me", headers=bearer(alice["token"]))).status_code == 401
    again = await wxauth(settings, "sessions", "revoke", "--id", session_id)
    assert again.exit_code == 2 and "already revoked" in again.output

    # 17 sessions: two of them share a first hex digit, an ambiguous id that is refused.
    tokens = [(await live.login("bob"))["token"] for _ in range(17)]
    from wxauth.cli import sessions as sessions_cli
    from wxauth.core.tokens import hash_token

    firsts = [hash_token(t)[0] for t in tokens]
    shared = next(c for c in firsts if firsts.count(c) > 1)
    monkeypatch.setattr(sessions_cli, "MIN_ID_LENGTH", 1)
    ambiguous = await wxauth(settings, "sessions", "revoke", "--id", shared)
    assert ambiguous.exit_code == 2 and f"the id {shared} is ambiguous" in ambiguous.output
    for token in tokens:
        assert (await live.api.get("/v1/me", headers=bearer(token))).status_code == 200


async def test_sessions_check_when_wechat_does_not_answer(
    live: Harness, settings: Settings
) -> None:
    import os
    import subprocess

    from tests.processes import WXAUTH, free_port

    alice = await live.login("alice")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WXAUTH_")}
    env.update(
        WXAUTH_DATABASE_URL=settings.database_url,
        WXAUTH_SECRET_KEYS=",".join(k.get_secret_value() for k in settings.secret_keys),
        WXAUTH_APPS=",".join(f"{a}:{s.get_secret_value()}" for a, s in settings.apps.items()),
        WXAUTH_WECHAT_BASE_URL=f"http://127.0.0.1:{free_port()}",
        WXAUTH_WECHAT_TIMEOUT="2",
    )
    result = await asyncio.to_thread(
        subprocess.run,
        [WXAUTH, "sessions", "check", alice["user"]["id"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: WeChat at {env['WXAUTH_WECHAT_BASE_URL']} did not answer: check "
        "WXAUTH_WECHAT_BASE_URL and the network, then try again"
    ]


async def test_audit_follow_fetches_every_event_newer_than_the_last_seen() -> None:
    from datetime import UTC, datetime

    from wxauth.cli.audit import events_after
    from wxauth.core.memory import MemoryStore
    from wxauth.core.models import LoginEvent

    store = MemoryStore()
    for _ in range(3):
        await store.add_login_event(LoginEvent(at=datetime.now(UTC), result="ok"))
    last = 3
    for _ in range(250):  # far more than -n arrive between two polls
        await store.add_login_event(LoginEvent(at=datetime.now(UTC), result="ok"))
    fresh = await events_after(store, last, None, page=10)
    assert [e.id for e in fresh] == list(range(4, 254))
    assert await events_after(store, 253, None, page=10) == []


def test_tables_align_with_cjk_and_emoji() -> None:
    from wxauth.cli.store import table, width

    assert width("小明 🐼") == 7 and width("abc") == 3 and width("é") == 1
    text = table(["id", "nickname", "city"], [["1", "小明 🐼", "北京"], ["22", "bob", "-"]])
    starts = [
        width(line[: line.index(city)])
        for line, city in zip(text.splitlines(), ["city", "北京", "-"], strict=True)
    ]
    assert starts == [14, 14, 14]
