"""Avatars on several machines: two `wxauth serve` processes that share only the database
(each with an avatar directory of its own, as on two machines)."""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.conftest import APPID, SECRET, bearer
from tests.multiprocess.test_two_servers import free_ports
from tests.processes import WXAUTH, stop, wait_until_up
from wxauth.core.keyring import generate_key
from wxauth.storage.migrate import upgrade


def picture() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 90)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(params=["database", "directory"])
def servers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    storage: str = request.param
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    upgrade(database_url)
    sim_port, *ports = free_ports(3)
    base = {
        **os.environ,
        "WXAUTH_DATABASE_URL": database_url,
        "WXAUTH_APPS": f"{APPID}:{SECRET}",
        "WXAUTH_SECRET_KEYS": generate_key(),
        "WXAUTH_WECHAT_BASE_URL": f"http://127.0.0.1:{sim_port}",
        "WXAUTH_AVATAR_STORAGE": storage,
    }
    log = (tmp_path / "processes.log").open("wb")
    procs = [
        subprocess.Popen(
            [WXAUTH, "simulator", "--port", str(sim_port), "--app", f"{APPID}:{SECRET}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=base,
        )
    ]
    try:
        for i, port in enumerate(ports):  # each machine its own avatar directory
            env = {**base, "WXAUTH_AVATAR_DIR": str(tmp_path / f"machine-{i}" / "avatars")}
            procs.append(
                subprocess.Popen(
                    [WXAUTH, "serve", "--port", str(port), "--log-level", "warning"],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )
        wait_until_up(f"http://127.0.0.1:{sim_port}/sim/stats", procs[0])
        for port, proc in zip(ports, procs[1:], strict=True):
            wait_until_up(f"http://127.0.0.1:{port}/healthz", proc)
        yield storage, [f"http://127.0.0.1:{sim_port}", *(f"http://127.0.0.1:{p}" for p in ports)]
    finally:
        for proc in procs:
            stop(proc)
        log.close()


def test_an_avatar_uploaded_through_one_server_is_served_by_the_other(
    servers: tuple[str, list[str]],
) -> None:
    storage, (simulator, first, second) = servers
    with httpx.Client(timeout=30) as client:
        code = client.post(f"{simulator}/sim/login", json={"appid": APPID, "user": "ann"})
        login = client.post(f"{first}/v1/login", json={"code": code.json()["code"]})
        token = login.json()["token"]
        files = {"file": ("avatar.png", picture(), "image/png")}
        uploaded = client.post(f"{first}/v1/me/avatar", files=files, headers=bearer(token))
        assert uploaded.status_code == 200, uploaded.text
        path = httpx.URL(uploaded.json()["avatar_url"]).path
        here = client.get(f"{first}{path}")
        there = client.get(f"{second}{path}")
    assert here.status_code == 200
    if storage == "database":
        assert there.status_code == 200
        assert there.content == here.content
        assert there.headers["content-type"] == here.headers["content-type"]
    else:  # the control: a local directory is one machine's only
        assert there.status_code == 404
