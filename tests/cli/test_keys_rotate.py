"""`wxauth keys rotate` re-encrypts stored session_keys under the newest key."""

from __future__ import annotations

import asyncio
import base64
import sqlite3
from pathlib import Path

from pydantic import SecretStr
from typer.testing import CliRunner

from tests.conftest import APPID, bearer, close_harness, open_harness
from wxauth.cli import app as cli
from wxauth.config import Settings
from wxauth.core.keyring import Keyring, generate_key
from wxauth.simulator import SimulatorState


def stored_ciphertext(db_path: Path) -> str:
    conn = sqlite3.connect(db_path)
    try:
        (value,) = conn.execute("SELECT session_key_enc FROM wechat_sessions").fetchone()
    finally:
        conn.close()
    return str(value)


async def verify_profile(settings: Settings, sim_state: SimulatorState, token: str | None) -> str:
    """Send a proof that needs the stored session_key (logging alice in first when no token
    is given); returns the token used. Fails unless the server could read the key."""
    harness, app = await open_harness(settings, sim_state)
    try:
        token = token or (await harness.login("alice"))["token"]
        info = (
            await harness.phone.post("/sim/user-info", json={"appid": APPID, "user": "alice"})
        ).json()
        proof = {"rawData": info["rawData"], "signature": info["signature"]}
        response = await harness.api.post("/v1/me/profile", json=proof, headers=bearer(token))
        assert response.status_code == 200, response.text
        return token
    finally:
        await close_harness(harness, app)


def rotate(keys: list[str], settings: Settings) -> tuple[int, str]:
    env = {"WXAUTH_DATABASE_URL": settings.database_url, "WXAUTH_SECRET_KEYS": ",".join(keys)}
    result = CliRunner().invoke(cli, ["keys", "rotate"], env=env)
    return result.exit_code, result.output


def test_rotate(settings: Settings, sim_state: SimulatorState, db_path: Path) -> None:
    old_key = settings.secret_keys[0].get_secret_value()
    token = asyncio.run(verify_profile(settings, sim_state, None))
    new_key = generate_key()

    code, output = rotate([new_key, old_key], settings)
    assert code == 0 and output.startswith("1 re-encrypted, 0 already"), output
    new_only = Keyring([base64.urlsafe_b64decode(new_key)])
    session_key = new_only.decrypt(stored_ciphertext(db_path))
    assert session_key == sim_state.current_key(APPID, "alice")
    assert session_key not in output

    code, output = rotate([new_key, old_key], settings)
    assert code == 0 and output.startswith("0 re-encrypted, 1 already"), output

    # The service now runs on the new key alone and still reads the stored session_key.
    only_new = settings.model_copy(update={"secret_keys": [SecretStr(new_key)]})
    asyncio.run(verify_profile(only_new, sim_state, token))

    code, output = rotate([generate_key()], settings)
    assert code == 1 and "1 unreadable" in output
    assert (
        "1 stored session_key was written under a key that is not in WXAUTH_SECRET_KEYS" in output
    )
