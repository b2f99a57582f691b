"""The commands, run for real as child processes."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import httpx

from tests.processes import WXAUTH, free_port, running
from wxauth.core.keyring import generate_key
from wxauth.demo import DEMO_APPID

EMOJI_NAME = "小明 🐼"


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WXAUTH_")}
    return subprocess.run(
        [WXAUTH, *args],
        env={**clean, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_serve_refuses_without_apps(tmp_path: Path) -> None:
    result = run("serve", cwd=tmp_path)
    assert result.returncode == 2
    assert "WXAUTH_APPS" in result.stderr


def test_serve_refuses_without_secret_keys(tmp_path: Path) -> None:
    result = run("serve", env={"WXAUTH_APPS": "wx0000000000000a01:topsecret"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "WXAUTH_SECRET_KEYS" in result.stderr
    assert "topsecret" not in result.stderr + result.stdout


def test_serve_refuses_bad_settings_clearly(tmp_path: Path) -> None:
    result = run(
        "serve",
        env={"WXAUTH_APPS": "wx0000000000000a01:s", "WXAUTH_SECRET_KEYS": "short"},
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "secret_keys" in result.stderr
    assert "Traceback" not in result.stderr


def test_db_upgrade_creates_tables(tmp_path: Path) -> None:
    db = tmp_path / "up.db"
    result = run("db", "upgrade", env={"WXAUTH_DATABASE_URL": f"sqlite+aiosqlite:///{db}"})
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"users", "sessions", "wechat_sessions"} <= tables


def test_keys_generate_gives_valid_distinct_keys() -> None:
    from wxauth.config import check_secret_key

    keys = {run("keys", "generate").stdout.strip() for _ in range(2)}
    assert len(keys) == 2
    for key in keys:
        assert len(check_secret_key(key)) == 32


def walk(base: str, appid: str) -> str:
    """The README's curl walk: /sim/login → /v1/login → /v1/me → profile → back."""
    with httpx.Client(base_url=base, timeout=10) as client:
        code = client.post("/sim/login", json={"appid": appid, "user": "walker"}).json()["code"]
        login = client.post("/v1/login", json={"code": code})
        assert login.status_code == 200, login.text
        token = login.json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        assert client.get("/v1/me", headers=auth).status_code == 200
        profile = client.post("/v1/me/profile", json={"nickName": EMOJI_NAME}, headers=auth)
        assert profile.json()["nickname"] == EMOJI_NAME
        again = client.post("/v1/login", json={"code": code})
        assert (again.status_code, again.json()["wechat_errcode"]) == (400, 40163)
        return str(token)


def test_dev_serves_the_flow_and_keeps_sessions_across_restart(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    db = tmp_path / "dev.db"
    args = ["dev", "--port", str(port), "--db", str(db)]
    with running(args, port=port, cwd=tmp_path):
        token = walk(base, DEMO_APPID)
        demo = run("demo", "--server", base)
        assert demo.returncode == 0, demo.stderr
        assert "6. GET /v1/me" in demo.stdout
    assert (tmp_path / "dev.db.key").exists()
    with running(args, port=port, cwd=tmp_path):
        auth = {"Authorization": f"Bearer {token}"}
        me = httpx.get(f"{base}/v1/me", headers=auth, timeout=10)
        assert me.status_code == 200
        assert me.json()["nickname"] == EMOJI_NAME
        assert httpx.post(f"{base}/v1/logout", headers=auth).status_code == 204
        assert httpx.get(f"{base}/v1/me", headers=auth).status_code == 401


def test_serve_against_the_simulator_over_http(tmp_path: Path) -> None:
    sim_port, api_port = free_port(), free_port()
    appid, secret = "wx0123456789abcdef", "real-http-secret"
    db = f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}"
    env = {
        "WXAUTH_APPS": f"{appid}:{secret}",
        "WXAUTH_SECRET_KEYS": generate_key(),
        "WXAUTH_DATABASE_URL": db,
        "WXAUTH_WECHAT_BASE_URL": f"http://127.0.0.1:{sim_port}",
    }
    assert run("db", "upgrade", env=env).returncode == 0
    log = tmp_path / "serve.log"
    sim_args = ["simulator", "--port", str(sim_port), "--app", f"{appid}:{secret}"]
    with (
        running(sim_args, port=sim_port, ready_path="/sim/stats"),
        running(
            ["serve", "--port", str(api_port), "--log-level", "debug"],
            port=api_port,
            env=env,
            log=log,
        ),
        httpx.Client(timeout=10) as client,
    ):
        code = client.post(
            f"http://127.0.0.1:{sim_port}/sim/login", json={"appid": appid, "user": "u"}
        ).json()["code"]
        login = client.post(f"http://127.0.0.1:{api_port}/v1/login", json={"code": code})
        assert login.status_code == 200, login.text
        stats = client.get(f"http://127.0.0.1:{sim_port}/sim/stats").json()
        assert stats["calls"]["/sns/jscode2session"] == 1
    text = log.read_text()
    assert "jscode2session" in text  # the request was logged ...
    assert secret not in text and code not in text  # ... without the secret or the code
    assert login.json()["token"] not in text
