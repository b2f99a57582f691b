"""``wxauth operators``: add, list, disable, enable, remove, against the database a running
console uses; a disabled or removed operator's console session ends at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from typer.testing import CliRunner, Result

from tests.api.test_console import PASSWORD, sign_in
from tests.conftest import Harness, close_harness, open_harness
from wxauth.cli import app
from wxauth.config import Settings
from wxauth.simulator import SimulatorState
from wxauth.wiring import Wiring


@pytest.fixture
async def console(
    settings: Settings, sim_state: SimulatorState
) -> AsyncIterator[tuple[Harness, Wiring, Settings]]:
    configured = settings.model_copy(update={"console": True})
    h, api = await open_harness(configured, sim_state)
    yield h, api.state.wxauth.wiring, configured
    await close_harness(h, api)


async def wxauth(settings: Settings, *args: str, stdin: str | None = None) -> Result:
    env = {
        "WXAUTH_DATABASE_URL": settings.database_url,
        "WXAUTH_CONFIG": "",
        "WXAUTH_SECRET_KEYS": settings.secret_keys[0].get_secret_value(),
    }
    runner = CliRunner()
    return await asyncio.to_thread(lambda: runner.invoke(app, list(args), input=stdin, env=env))


async def test_disable_ends_the_console_session_enable_lets_them_back_remove_keeps_the_trail(
    console: tuple[Harness, Wiring, Settings],
) -> None:
    h, wiring, settings = console
    added = await wxauth(settings, "operators", "add", "ops", "--role", "admin",
                         stdin=PASSWORD + "\n")  # fmt: skip
    assert added.exit_code == 0, added.output
    assert (await sign_in(h.api, "ops")).status_code == 303
    assert (await h.api.get("/console/dashboard")).status_code == 200

    disabled = await wxauth(settings, "operators", "disable", "ops")
    assert disabled.exit_code == 0 and "sessions ended" in disabled.output
    page = await h.api.get("/console/dashboard")
    assert page.status_code == 303 and page.headers["location"] == "/console/signin"
    assert (await sign_in(h.api, "ops")).status_code == 401  # not while disabled
    listed = await wxauth(settings, "operators", "list")
    assert "disabled" in listed.output

    assert (await wxauth(settings, "operators", "enable", "ops")).exit_code == 0
    assert (await sign_in(h.api, "ops")).status_code == 303
    assert (await h.api.get("/console/dashboard")).status_code == 200

    removed = await wxauth(settings, "operators", "remove", "ops", "--yes")
    assert removed.exit_code == 0, removed.output
    assert (await h.api.get("/console/dashboard")).status_code == 303
    assert "no operators" in (await wxauth(settings, "operators", "list")).output
    events = await wiring.operators.store.list_operator_events(limit=10, operator="ops")
    assert "sign_in" in [e.action for e in events]  # what they did stays


async def test_an_unknown_operator_is_one_clear_line(settings: Settings) -> None:
    for command in ("disable", "enable", "remove"):
        args = ["operators", command, "nobody"] + (["--yes"] if command == "remove" else [])
        result = await wxauth(settings, *args)
        assert result.exit_code == 2 and "No operator 'nobody'" in result.output, command
