"""Real processes: a simulator and two `wxauth serve` sharing SQLite and Redis."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from typer.testing import CliRunner

from tests.conftest import APPID, SECRET, bearer
from tests.multiprocess.conftest import REDIS_URL
from tests.processes import WXAUTH, stop, wait_until_up
from wxauth.cli import app as cli
from wxauth.core.keyring import generate_key
from wxauth.storage.migrate import upgrade


def free_ports(count: int) -> list[int]:
    """Ports the OS says are free (all held open together, so they differ)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


@dataclass
class Deployment:
    simulator: str
    servers: list[str]
    env: dict[str, str]


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory, module_redis_prefix: str
) -> Iterator[Deployment]:
    tmp_path = tmp_path_factory.mktemp("deployment")
    redis_prefix = module_redis_prefix
    db = tmp_path / "shared.db"
    database_url = f"sqlite+aiosqlite:///{db}"
    upgrade(database_url)
    sim_port, *ports = free_ports(3)
    env = {
        **os.environ,
        "WXAUTH_DATABASE_URL": database_url,
        "WXAUTH_APPS": f"{APPID}:{SECRET}",
        "WXAUTH_SECRET_KEYS": generate_key(),
        "WXAUTH_WECHAT_BASE_URL": f"http://127.0.0.1:{sim_port}",
        "WXAUTH_REDIS_URL": REDIS_URL,
        "WXAUTH_REDIS_PREFIX": redis_prefix,
        "WXAUTH_AVATAR_DIR": str(tmp_path / "avatars"),
    }
    log = (tmp_path / "processes.log").open("wb")
    quiet = {"stdout": log, "stderr": subprocess.STDOUT, "env": env}
    procs = [
        subprocess.Popen(
            [
                WXAUTH,
                "simulator",
                "--port",
                str(sim_port),
                "--app",
                f"{APPID}:{SECRET}",
                "--log-level",
                "warning",
            ],
            **quiet,  # type: ignore[call-overload]
        )
    ]
    try:
        for port in ports:
            procs.append(
                subprocess.Popen(
                    [WXAUTH, "serve", "--port", str(port), "--log-level", "warning"],
                    **quiet,  # type: ignore[call-overload]
                )
            )
        wait_until_up(f"http://127.0.0.1:{sim_port}/sim/stats", procs[0])
        for port, proc in zip(ports, procs[1:], strict=True):
            wait_until_up(f"http://127.0.0.1:{port}/healthz", proc)
        yield Deployment(
            f"http://127.0.0.1:{sim_port}", [f"http://127.0.0.1:{p}" for p in ports], env
        )
    finally:
        for proc in procs:
            stop(proc)
        log.close()


async def login(client: httpx.AsyncClient, d: Deployment, user: str, server: str) -> dict:  # type: ignore[type-arg]
    code = (
        await client.post(f"{d.simulator}/sim/login", json={"appid": APPID, "user": user})
    ).json()["code"]
    response = await client.post(f"{server}/v1/login", json={"code": code})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_two_servers_fetch_one_token_between_them(deployment: Deployment) -> None:
    d = deployment
    async with httpx.AsyncClient(timeout=30) as client:
        users = [f"user{i}" for i in range(8)]
        logins = [await login(client, d, u, d.servers[i % 2]) for i, u in enumerate(users)]
        requests = []
        for i, (user, body) in enumerate(zip(users, logins, strict=True)):
            for j in range(5):
                code = (
                    await client.post(
                        f"{d.simulator}/sim/phone-code", json={"appid": APPID, "user": user}
                    )
                ).json()["code"]
                server = d.servers[(i + j) % 2]
                requests.append(
                    client.post(
                        f"{server}/v1/me/phone", json={"code": code}, headers=bearer(body["token"])
                    )
                )
        responses = await asyncio.gather(*requests)
        assert [r.status_code for r in responses] == [200] * len(requests)
        stats = (await client.get(f"{d.simulator}/sim/stats")).json()["calls"]
    assert stats["/cgi-bin/stable_token"] == 1
    assert stats["/wxa/business/getuserphonenumber"] == 40


def test_sessions_check_command(deployment: Deployment) -> None:
    d = deployment
    user_id = asyncio.run(_login_once(d, "carol"))
    runner = CliRunner()

    def check(who: str) -> tuple[int, str]:
        result = runner.invoke(cli, ["sessions", "check", who], env=d.env)
        return result.exit_code, result.output.strip()

    assert check(user_id) == (0, "valid")
    httpx.post(f"{d.simulator}/sim/login", json={"appid": APPID, "user": "carol"}, timeout=30)
    assert check(user_id) == (1, "stale")
    code, output = check("0" * 32)
    assert code == 2 and "no user" in output
    stats = httpx.get(f"{d.simulator}/sim/stats", timeout=30).json()["calls"]
    assert stats["/wxa/checksession"] == 2
    # The command took the token the servers share in Redis, or left it there for them.
    assert stats.get("/cgi-bin/stable_token", 0) <= 1


async def _login_once(d: Deployment, user: str) -> str:
    async with httpx.AsyncClient(timeout=30) as client:
        user_id: str = (await login(client, d, user, d.servers[0]))["user"]["id"]
        return user_id


async def test_a_disabled_user_fails_on_the_other_server_within_a_second(
    deployment: Deployment,
) -> None:
    d = deployment
    async with httpx.AsyncClient(timeout=30) as client:
        body = await login(client, d, "dave", d.servers[0])
        user_id, token = body["user"]["id"], body["token"]
        other = d.servers[1]
        for _ in range(3):  # cached on the other server now
            assert (await client.get(f"{other}/v1/me", headers=bearer(token))).status_code == 200
        # A third process (the command) disables the user, through Redis's fan-out.
        result = await asyncio.to_thread(
            subprocess.run,
            [WXAUTH, "users", "disable", user_id, "--reason", "违规 spam"],
            env=d.env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        started = asyncio.get_running_loop().time()
        while True:
            response = await client.get(f"{other}/v1/me", headers=bearer(token))
            elapsed = asyncio.get_running_loop().time() - started
            if response.status_code != 200:
                break
            assert elapsed < 1.0, "the other server still accepts the disabled user's token"
            await asyncio.sleep(0.05)
        assert elapsed < 1.0
        assert response.status_code == 403 and response.json()["error"] == "account_disabled"
        code = (
            await client.post(f"{d.simulator}/sim/login", json={"appid": APPID, "user": "dave"})
        ).json()["code"]
        refused = await client.post(f"{other}/v1/login", json={"code": code})
        assert refused.status_code == 403
        assert refused.json()["reason"] == "违规 spam"
        enabled = await asyncio.to_thread(
            subprocess.run,
            [WXAUTH, "users", "enable", user_id],
            env=d.env,
            capture_output=True,
            check=False,
        )
        assert enabled.returncode == 0, enabled.stderr
        again = await login(client, d, "dave", d.servers[0])
        assert again["user"]["id"] == user_id
