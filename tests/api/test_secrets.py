"""Secrets stay secret: not in logs (at DEBUG, over the whole flow), reprs or responses."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from tests.conftest import SECRET, Harness, bearer
from wxauth.api.app import create_app
from wxauth.cli import app as cli
from wxauth.config import Settings
from wxauth.core.keyring import generate_key
from wxauth.errors import ServerMisconfigured
from wxauth.simulator import SimulatorState
from wxauth.simulator.state import FaultRule


async def test_whole_flow_at_debug_logs_no_secret(
    harness: Harness,
    sim_state: SimulatorState,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, the libraries' included
    tokens, codes = [], []
    for user in ("alice", "bob", "alice"):
        codes.append(await harness.code(user))
        response = await harness.api.post("/v1/login", json={"code": codes[-1]})
        tokens.append(response.json()["token"])
    reused = await harness.api.post("/v1/login", json={"code": codes[0]})
    assert reused.status_code == 400
    token = tokens[0]
    await harness.api.get("/v1/me", headers=bearer(token))
    await harness.api.post("/v1/me/profile", json={"nickName": "Alice"}, headers=bearer(token))
    sim_state.faults.append(FaultRule(rate=1.0, errcode=40125))  # logged loudly, as an error
    codes.append(await harness.code("carol"))
    assert (await harness.api.post("/v1/login", json={"code": codes[-1]})).status_code == 500
    sim_state.faults.clear()
    await harness.api.post("/v1/logout", headers=bearer(token))
    assert (await harness.api.get("/v1/me", headers=bearer(token))).status_code == 401

    session_keys = [grant.session_key for grant in sim_state.codes.values()]
    secrets = [
        SECRET,
        settings.secret_keys[0].get_secret_value(),
        *tokens,
        *codes,
        *session_keys,
    ]
    assert len(caplog.records) > 10  # the flow did log, at DEBUG
    logged = caplog.text + "".join(repr(r.args) + str(r.msg) for r in caplog.records)
    for secret in secrets:
        assert secret not in logged


def test_settings_repr_hides_secrets(settings: Settings) -> None:
    shown = {
        "secret_keys": settings.secret_keys[0].get_secret_value(),
        "app secret": SECRET,
        "database url": settings.database_url,
    }
    text = repr(settings) + str(settings)
    for what, value in shown.items():
        assert value not in text, what


@pytest.mark.parametrize(
    "key", ["A" * 43 + "=", "", "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="]
)
def test_default_or_weak_keys_are_refused(settings: Settings, key: str) -> None:
    with pytest.raises(ValueError, match="secret key"):
        Settings(**{**settings.model_dump(), "secret_keys": [SecretStr(key)]})


def test_app_without_key_is_refused(settings: Settings) -> None:
    with pytest.raises(ServerMisconfigured, match="WXAUTH_SECRET_KEYS"):
        create_app(settings.model_copy(update={"secret_keys": []}))


def test_serve_refuses_to_start_without_a_key() -> None:
    env = {
        "WXAUTH_APPS": "wx0000000000000a01:secret",
        "WXAUTH_SECRET_KEYS": "",
        "WXAUTH_CONFIG": "",
    }
    result = CliRunner().invoke(cli, ["serve"], env=env)
    assert result.exit_code == 2
    assert "at-rest key" in result.output
    zero = "A" * 43 + "="
    result = CliRunner().invoke(cli, ["serve"], env={**env, "WXAUTH_SECRET_KEYS": zero})
    assert result.exit_code == 2
    assert "random" in result.output
    assert zero not in result.output


def test_a_generated_key_is_accepted(settings: Settings) -> None:
    key = generate_key()
    assert Settings(**{**settings.model_dump(), "secret_keys": [SecretStr(key)]}).secret_keys
