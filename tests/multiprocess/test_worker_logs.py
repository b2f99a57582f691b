"""`wxauth serve --workers 2 --log-level debug` logs wxauth's own lines, in the same format as
one worker, and never a phone number or an openid (SQLite at DEBUG used to print them)."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import APPID, SECRET, bearer
from tests.multiprocess.test_two_servers import free_ports
from tests.processes import WXAUTH, stop, wait_until_up
from wxauth.core.keyring import generate_key
from wxauth.simulator.state import openid_for
from wxauth.storage.migrate import upgrade

DEBUG = ["--log-level", "debug"]
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR) [\w.]+: ")


def serve_and_use(tmp_path: Path, workers: int) -> list[str]:
    """Start a simulator and `serve`, log a user in and bind their phone; the server's log."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / f'w{workers}.db'}"
    upgrade(database_url)
    sim_port, port = free_ports(2)
    env = {
        **os.environ,
        "WXAUTH_DATABASE_URL": database_url,
        "WXAUTH_APPS": f"{APPID}:{SECRET}",
        "WXAUTH_SECRET_KEYS": generate_key(),
        "WXAUTH_WECHAT_BASE_URL": f"http://127.0.0.1:{sim_port}",
        "WXAUTH_AVATAR_DIR": str(tmp_path / "avatars"),
    }
    log_path = tmp_path / f"serve-{workers}.log"
    with (tmp_path / "sim.log").open("ab") as sim_log, log_path.open("wb") as log:
        sim = subprocess.Popen(
            [WXAUTH, "simulator", "--port", str(sim_port), "--app", f"{APPID}:{SECRET}"],
            stdout=sim_log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        server = subprocess.Popen(
            [WXAUTH, "serve", "--port", str(port), "--workers", str(workers), *DEBUG],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            wait_until_up(f"http://127.0.0.1:{sim_port}/sim/stats", sim, timeout=90)
            wait_until_up(f"http://127.0.0.1:{port}/healthz", server, timeout=90)
            base, phone = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sim_port}"
            with httpx.Client(timeout=30) as client:
                for user in ("ann", "bob", "cy"):  # several, so that both workers serve some
                    code = client.post(f"{phone}/sim/login", json={"appid": APPID, "user": user})
                    login = client.post(f"{base}/v1/login", json={"code": code.json()["code"]})
                    assert login.status_code == 200, login.text
                    token = login.json()["token"]
                    phone_code = client.post(
                        f"{phone}/sim/phone-code", json={"appid": APPID, "user": user}
                    )
                    bound = client.post(
                        f"{base}/v1/me/phone",
                        json={"code": phone_code.json()["code"]},
                        headers=bearer(token),
                    )
                    assert bound.status_code == 200, bound.text
                    number = bound.json()["pure_phone_number"]
                    assert client.get(f"{base}/v1/me", headers=bearer(token)).status_code == 200
        finally:
            stop(server)
            stop(sim)
    text = log_path.read_text(encoding="utf-8", errors="replace")
    assert number not in text, "a phone number reached the log"
    for user in ("ann", "bob", "cy"):
        assert openid_for(APPID, user) not in text, "an openid reached the log"
    return text.splitlines()


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, list[str]]]:
    yield {n: serve_and_use(tmp_path_factory.mktemp(f"logs{n}"), n) for n in (1, 2)}


@pytest.mark.parametrize("workers", [1, 2])
def test_wxauth_lines_are_logged_in_one_format(logs: dict[int, list[str]], workers: int) -> None:
    lines = logs[workers]
    ours = [line for line in lines if " wxauth." in line]
    assert any(" INFO wxauth.core.service: login " in line for line in ours), lines[-20:]
    assert any(" DEBUG wxauth." in line for line in ours), lines[-20:]
    formatted = [line for line in lines if LINE.match(line)]
    assert set(ours) <= set(formatted)
    # Every line is formatted (uvicorn's own included); the only others are the command's
    # own notes before it serves ("warning: several workers without WXAUTH_REDIS_URL ...").
    loose = [line for line in lines if line and not LINE.match(line)]
    assert all(line.startswith("warning: ") for line in loose), loose
