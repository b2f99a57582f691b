"""Two `wxauth serve` processes sharing Redis relay WeChat's access_token: 100 concurrent
requests spread over both cause at most one fetch from WeChat."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import APPID, OTHER_APPID, OTHER_SECRET, SECRET, bearer
from tests.multiprocess.conftest import REDIS_URL
from tests.multiprocess.test_two_servers import free_ports
from tests.processes import WXAUTH, stop, wait_until_up
from wxauth.core.keyring import generate_key
from wxauth.storage.migrate import upgrade

KEY = secrets.token_urlsafe(32)


@pytest.fixture
def servers(tmp_path: Path, redis_prefix: str) -> Iterator[tuple[str, list[str]]]:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}"
    upgrade(database_url)
    sim_port, *ports = free_ports(3)
    env = {
        **os.environ,
        "WXAUTH_DATABASE_URL": database_url,
        "WXAUTH_APPS": f"{APPID}:{SECRET},{OTHER_APPID}:{OTHER_SECRET}",
        "WXAUTH_SECRET_KEYS": generate_key(),
        "WXAUTH_SERVICE_KEYS": f"orders:{KEY}:access_token:{APPID}",
        "WXAUTH_WECHAT_BASE_URL": f"http://127.0.0.1:{sim_port}",
        "WXAUTH_REDIS_URL": REDIS_URL,
        "WXAUTH_REDIS_PREFIX": redis_prefix,
    }
    apps = ["--app", f"{APPID}:{SECRET}", "--app", f"{OTHER_APPID}:{OTHER_SECRET}"]
    commands = [[WXAUTH, "simulator", "--port", str(sim_port), *apps, "--log-level", "warning"]]
    commands += [[WXAUTH, "serve", "--port", str(p), "--log-level", "warning"] for p in ports]
    procs = [
        subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for c in commands
    ]
    try:
        wait_until_up(f"http://127.0.0.1:{sim_port}/sim/stats", procs[0])
        for port, proc in zip(ports, procs[1:], strict=True):
            wait_until_up(f"http://127.0.0.1:{port}/healthz", proc)
        yield f"http://127.0.0.1:{sim_port}", [f"http://127.0.0.1:{p}" for p in ports]
    finally:
        for proc in procs:
            stop(proc)


async def test_100_concurrent_relay_requests_over_two_servers_fetch_once(
    servers: tuple[str, list[str]],
) -> None:
    simulator, urls = servers
    limits = httpx.Limits(max_connections=200)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        answers = await asyncio.gather(
            *(
                client.get(
                    f"{urls[i % 2]}/v1/wechat/access-token",
                    params={"appid": APPID},
                    headers=bearer(KEY),
                )
                for i in range(100)
            )
        )
        assert [a.status_code for a in answers] == [200] * 100
        assert len({a.json()["access_token"] for a in answers}) == 1
        other = await client.get(
            f"{urls[1]}/v1/wechat/access-token", params={"appid": OTHER_APPID}, headers=bearer(KEY)
        )
        assert other.status_code == 403
        calls = (await client.get(f"{simulator}/sim/stats")).json()["calls"]
    assert calls.get("/cgi-bin/stable_token", 0) == 1  # 100 answers, one fetch
    assert calls.get("/cgi-bin/token", 0) == 0
