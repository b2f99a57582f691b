"""``wxauth apps`` and ``wxauth users merge``, against a running API on the same database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from tests.conftest import APPID, OTHER_APPID, OTHER_SECRET, Harness, bearer, close_harness
from tests.conftest import open_harness as open_api
from wxauth.cli import app
from wxauth.config import Settings
from wxauth.simulator import SimulatorState
from wxauth.storage.engine import create_engine
from wxauth.storage.sql import SqlStore


@pytest.fixture
async def live(settings: Settings, sim_state: SimulatorState) -> AsyncIterator[Harness]:
    quick = settings.model_copy(update={"app_registry_ttl": 0.05})
    h, api = await open_api(quick, sim_state)
    yield h
    await close_harness(h, api)


async def wxauth(settings: Settings, *args: str, stdin: str | None = None) -> Result:
    env = {
        "WXAUTH_DATABASE_URL": settings.database_url,
        "WXAUTH_CONFIG": "",
        "WXAUTH_APPS": f"{APPID}:{settings.apps[APPID].get_secret_value()}",
        "WXAUTH_SECRET_KEYS": settings.secret_keys[0].get_secret_value(),
    }
    runner = CliRunner()
    return await asyncio.to_thread(lambda: runner.invoke(app, list(args), input=stdin, env=env))


async def stored(settings: Settings, appid: str) -> Any:
    engine = create_engine(settings.database_url)
    try:
        return await SqlStore(engine).get_app(appid)
    finally:
        await engine.dispose()


async def login(h: Harness, user: str, appid: str) -> Any:
    code = await h.code(user, appid=appid)
    return await h.api.post("/v1/login", json={"code": code, "appid": appid})


async def test_an_app_added_from_stdin_logs_in_without_a_restart(
    live: Harness, settings: Settings
) -> None:
    assert (await login(live, "alice", OTHER_APPID)).status_code == 400  # not served yet
    added = await wxauth(settings, "apps", "add", OTHER_APPID, "--name", "小店", stdin=OTHER_SECRET)
    assert added.exit_code == 0, added.output
    record = await stored(settings, OTHER_APPID)
    assert record.secret_enc and OTHER_SECRET not in record.secret_enc  # encrypted at rest
    await asyncio.sleep(0.1)
    answer = await login(live, "alice", OTHER_APPID)
    assert answer.status_code == 200, answer.text
    listed = await wxauth(settings, "apps", "list")
    assert OTHER_APPID in listed.output and "小店" in listed.output
    assert APPID in listed.output and "WXAUTH_APPS" in listed.output
    shown = await wxauth(settings, "apps", "show", OTHER_APPID)
    assert "stored (encrypted)" in shown.output and OTHER_SECRET not in shown.output


async def test_the_secret_comes_from_a_file_never_argv(settings: Settings, tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(OTHER_SECRET + "\n")
    added = await wxauth(settings, "apps", "add", OTHER_APPID, "--secret-file", str(secret_file))
    assert added.exit_code == 0, added.output
    refused = await wxauth(settings, "apps", "add", OTHER_APPID, OTHER_SECRET)
    assert refused.exit_code != 0  # there is no argument for it
    empty = await wxauth(settings, "apps", "add", OTHER_APPID, stdin="\n")
    assert empty.exit_code == 2 and "secret" in empty.output


async def test_disable_ends_the_sessions_then_enable_rotate_and_remove(
    live: Harness, settings: Settings
) -> None:
    await wxauth(settings, "apps", "add", OTHER_APPID, stdin=OTHER_SECRET)
    await asyncio.sleep(0.1)
    token = (await login(live, "bob", OTHER_APPID)).json()["token"]
    assert (await live.api.get("/v1/me", headers=bearer(token))).status_code == 200
    disabled = await wxauth(settings, "apps", "disable", OTHER_APPID, "--reason", "合同到期")
    assert disabled.exit_code == 0 and "1 sessions ended" in disabled.output
    started = time.monotonic()
    while (await live.api.get("/v1/me", headers=bearer(token))).status_code == 200:
        assert time.monotonic() - started < 1.0, "the disabled app's token still works"
        await asyncio.sleep(0.02)
    assert (await live.api.get("/v1/me", headers=bearer(token))).status_code == 403
    assert (await login(live, "bob", OTHER_APPID)).status_code == 403
    assert (await stored(settings, OTHER_APPID)).disabled_reason == "合同到期"
    assert (await wxauth(settings, "apps", "enable", OTHER_APPID)).exit_code == 0
    # the session ended with the disabling: enabling the app does not bring it back (once
    # the server's in-process session cache, at most a second old, has let it go)
    started = time.monotonic()
    while (await live.api.get("/v1/me", headers=bearer(token))).status_code != 401:
        assert time.monotonic() - started < 1.5, "the ended session came back"
        await asyncio.sleep(0.05)
    token = (await login(live, "bob", OTHER_APPID)).json()["token"]
    rotated = await wxauth(settings, "apps", "rotate-secret", OTHER_APPID, stdin="wrong-secret")
    assert rotated.exit_code == 0
    await asyncio.sleep(0.1)
    assert (await login(live, "bob", OTHER_APPID)).status_code == 500  # WeChat: 40125
    removed = await wxauth(settings, "apps", "remove", OTHER_APPID, "--yes")
    assert removed.exit_code == 0 and "1 sessions ended" in removed.output
    await asyncio.sleep(0.1)
    assert (await live.api.get("/v1/me", headers=bearer(token))).status_code == 403
    assert OTHER_APPID not in (await wxauth(settings, "apps", "list")).output
    # a seeded app can be disabled too: a row then holds its status
    assert (await wxauth(settings, "apps", "disable", APPID)).exit_code == 0
    await asyncio.sleep(0.1)
    assert (await login(live, "alice", APPID)).status_code == 403


async def test_refused_changes_are_one_line_and_change_nothing(settings: Settings) -> None:
    unknown = await wxauth(settings, "apps", "disable", OTHER_APPID)
    assert unknown.exit_code == 2 and f"no app {OTHER_APPID}" in unknown.output.lower()
    crossed = await wxauth(settings, "apps", "add", OTHER_APPID, "--idle-ttl", "7200",
                           "--max-ttl", "3600", stdin=OTHER_SECRET)  # fmt: skip
    assert crossed.exit_code == 2 and "must not exceed" in crossed.output
    assert await stored(settings, OTHER_APPID) is None
    seeded = await wxauth(settings, "apps", "rotate-secret", APPID, stdin="another-secret")
    assert seeded.exit_code == 2 and "WXAUTH_APPS" in seeded.output
    assert await stored(settings, APPID) is None


async def test_users_merge_dry_run_merge_and_undo(
    live: Harness, settings: Settings, sim_state: SimulatorState
) -> None:
    await wxauth(settings, "apps", "add", OTHER_APPID, stdin=OTHER_SECRET)
    await asyncio.sleep(0.1)
    first = (await login(live, "erin", APPID)).json()
    second = (await login(live, "frank", OTHER_APPID)).json()  # another WeChat account
    await live.api.post("/v1/me/profile", json={"nickName": "Erin"}, headers=bearer(first["token"]))
    await live.api.post(
        "/v1/me/profile", json={"nickName": "Frank"}, headers=bearer(second["token"])
    )
    a, b = first["user"]["id"], second["user"]["id"]
    dry = await wxauth(settings, "users", "merge", a, b, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would move 1 users" in dry.output
    assert "conflict: two profiles" in dry.output and "conflict: two UnionIDs" in dry.output
    me = (await live.api.get("/v1/me", headers=bearer(second["token"]))).json()
    assert me["person_id"] == second["user"]["person_id"]  # the dry run changed nothing
    merged = await wxauth(settings, "users", "merge", a, b)
    assert merged.exit_code == 0, merged.output
    line = next(x for x in merged.output.splitlines() if x.startswith("merge "))
    merge_id = line.removeprefix("merge ").split(":")[0]
    await asyncio.sleep(1.1)  # the API process's own session cache (the staleness bound)
    me = (await live.api.get("/v1/me", headers=bearer(second["token"]))).json()
    assert me["person_id"] == first["user"]["person_id"]
    audit = await wxauth(settings, "users", "export", b)
    assert first["user"]["person_id"] in audit.output
    undone = await wxauth(settings, "users", "unmerge", merge_id, a)
    assert undone.exit_code == 0 and "moved 1 users back" in undone.output, undone.output
    await asyncio.sleep(1.1)
    me = (await live.api.get("/v1/me", headers=bearer(second["token"]))).json()
    assert me["person_id"] == second["user"]["person_id"]
    # a later login of the merged person's unionid follows the person it is in now
    assert (await login(live, "frank", APPID)).json()["user"]["person_id"] == me["person_id"]


def test_apps_help_lists_the_commands() -> None:
    result = CliRunner().invoke(app, ["apps", "--help"])
    for command in ("add", "list", "show", "disable", "enable", "rotate-secret", "remove"):
        assert command in result.output


async def test_serve_needs_an_app_in_the_environment_or_the_registry(
    settings: Settings, tmp_path: Path
) -> None:
    from tests.cli.test_cli import run

    env = {
        "WXAUTH_DATABASE_URL": settings.database_url,
        "WXAUTH_SECRET_KEYS": settings.secret_keys[0].get_secret_value(),
    }
    refused = await asyncio.to_thread(run, "serve", env=env, cwd=tmp_path)
    assert refused.returncode == 2 and "wxauth apps add" in refused.stderr
