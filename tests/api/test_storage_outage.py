"""The database failing, and at-rest keys that do not open what is stored: clear answers,
never ``internal_error``, and recovery without a restart."""

from __future__ import annotations

import base64
import logging
import shutil
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.conftest import APPID, bearer, close_harness, open_harness
from tests.services import closed_port
from wxauth.config import Settings
from wxauth.core.keyring import generate_key
from wxauth.simulator import SimulatorState
from wxauth.wechat.crypto import raw_data_signature


def assert_storage_unavailable(
    response_status: int, body: dict[str, object], retry: str | None
) -> None:
    assert response_status == 503, body
    assert body["error"] == "storage_unavailable"
    assert retry is not None and int(retry) > 0


@pytest.mark.parametrize(
    "database_url",
    [
        f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/test",
        f"mysql+asyncmy://root@127.0.0.1:{closed_port()}/test",
    ],
    ids=["postgresql", "mysql"],
)
async def test_an_unreachable_database_is_503_storage_unavailable(
    settings: Settings, sim_state: SimulatorState, database_url: str
) -> None:
    h, app = await open_harness(
        settings.model_copy(update={"database_url": database_url}), sim_state
    )
    try:
        login = await h.api.post("/v1/login", json={"code": await h.code()})
        assert_storage_unavailable(
            login.status_code, login.json(), login.headers.get("retry-after")
        )
        me = await h.api.get("/v1/me", headers=bearer("wxa_" + "A" * 43))
        assert_storage_unavailable(me.status_code, me.json(), me.headers.get("retry-after"))
        ready = await h.api.get("/readyz")
        assert ready.status_code == 503
    finally:
        await close_harness(h, app)


async def test_the_database_coming_back_needs_no_restart(
    tmp_path: Path, settings: Settings, sim_state: SimulatorState, db_path: Path
) -> None:
    """A SQLite file in a folder that is not there yet: 503s, then, once the folder and its
    migrated database appear, the same running app logs users in."""
    later = tmp_path / "not-yet" / "wxauth.db"
    h, app = await open_harness(
        settings.model_copy(update={"database_url": f"sqlite+aiosqlite:///{later}"}), sim_state
    )
    try:
        down = await h.api.post("/v1/login", json={"code": await h.code()})
        assert_storage_unavailable(down.status_code, down.json(), down.headers.get("retry-after"))
        later.parent.mkdir()
        shutil.copy(db_path, later)
        assert (await h.api.get("/readyz")).status_code == 200
        body = await h.login()
        me = await h.api.get("/v1/me", headers=bearer(body["token"]))
        assert me.status_code == 200 and me.json()["id"] == body["user"]["id"]
    finally:
        await close_harness(h, app)


async def test_a_changed_at_rest_key_is_a_clear_error_and_a_new_login_heals_it(
    settings: Settings, sim_state: SimulatorState, caplog: pytest.LogCaptureFixture
) -> None:
    """The README's `export WXAUTH_SECRET_KEYS=$(wxauth keys generate)` in a new shell: the
    stored session_keys were written under the old key."""
    before, app = await open_harness(settings, sim_state)
    token = (await before.login("alice"))["token"]
    await close_harness(before, app)

    changed = settings.model_copy(update={"secret_keys": [SecretStr(generate_key())]})
    h, app = await open_harness(changed, sim_state)
    try:
        info = (await h.phone.post("/sim/user-info", json={"appid": APPID, "user": "alice"})).json()
        proof = {"rawData": info["rawData"], "signature": info["signature"]}
        with caplog.at_level(logging.ERROR, logger="wxauth"):
            stale = await h.api.post("/v1/me/profile", headers=bearer(token), json=proof)
        assert stale.status_code == 400, stale.text
        assert stale.json()["error"] == "session_key_stale"
        told = [r.getMessage() for r in caplog.records if "WXAUTH_SECRET_KEYS" in r.getMessage()]
        assert len(told) == 1
        # Logging in again stores the session_key under today's key: the proof now verifies.
        fresh = (await h.login("alice"))["token"]
        info = (await h.phone.post("/sim/user-info", json={"appid": APPID, "user": "alice"})).json()
        assert info["signature"] == raw_data_signature(
            info["rawData"], sim_state.current_key(APPID, "alice") or ""
        )
        proof = {"rawData": info["rawData"], "signature": info["signature"]}
        healed = await h.api.post("/v1/me/profile", headers=bearer(fresh), json=proof)
        assert healed.status_code == 200, healed.text
    finally:
        await close_harness(h, app)


def test_a_key_of_the_wrong_shape_is_refused_before_start() -> None:
    with pytest.raises(ValueError, match="secret key"):
        Settings(secret_keys=[SecretStr(base64.urlsafe_b64encode(b"short").decode())])
