"""Several real server processes sharing PostgreSQL and Redis, behind no load balancer: the
test plays the balancer by choosing the port. WeChat is a ``wxauth simulator`` process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.conftest import APPID, SECRET, bearer
from tests.processes import WXAUTH, free_port, running
from wxauth.core.keyring import generate_key
from wxauth.storage.engine import create_engine
from wxauth.storage.redis import create_redis
from wxauth.storage.sql import SqlStore

from .conftest import emptied, unique_name
from .test_store_contract import NOW, login_record


def clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WXAUTH_")}
    return {**env, **{f"WXAUTH_{k.upper()}": v for k, v in values.items()}}


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="module")
def simulator(logs: Path) -> Iterator[str]:
    port = free_port()
    args = [
        "simulator",
        "--port",
        str(port),
        "--app",
        f"{APPID}:{SECRET}",
        "--log-level",
        "warning",
    ]
    with running(args, port=port, ready_path="/sim/stats", log=logs / "simulator.log"):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def server_env(simulator: str, postgres_url: str, redis_url: str) -> Iterator[dict[str, str]]:
    prefix = f"{unique_name()}:"
    asyncio.run(_empty(postgres_url))
    yield clean_env(
        database_url=postgres_url,
        redis_url=redis_url,
        redis_prefix=prefix,
        apps=f"{APPID}:{SECRET}",
        secret_keys=generate_key(),
        wechat_base_url=simulator,
    )
    asyncio.run(_forget_keys(redis_url, prefix))


async def _empty(url: str) -> None:
    engine = await emptied(url)
    await engine.dispose()


async def _forget_keys(redis_url: str, prefix: str) -> None:
    redis = create_redis(redis_url)
    keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


def serve(stack: ExitStack, env: dict[str, str], log: Path, *extra: str) -> str:
    port = free_port()
    args = ["serve", "--port", str(port), "--log-level", "warning", *extra]
    stack.enter_context(running(args, port=port, env=env, ready_path="/readyz", log=log))
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def two_servers(server_env: dict[str, str], logs: Path) -> Iterator[tuple[str, str]]:
    """Two ``wxauth serve`` processes on their own ports, one database, one Redis."""
    with ExitStack() as stack:
        yield serve(stack, server_env, logs / "one.log"), serve(stack, server_env, logs / "two.log")


def code(simulator: str, user: str) -> str:
    response = httpx.post(f"{simulator}/sim/login", json={"appid": APPID, "user": user})
    assert response.status_code == 200, response.text
    value: str = response.json()["code"]
    return value


def rejected_soon(base: str, token: str) -> bool:
    """Whether ``base`` turns the token away (polled: the revocation travels by pub/sub)."""
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        me = httpx.get(f"{base}/v1/me", headers=bearer(token))
        if me.status_code == 401:
            return bool(me.json()["error"] == "invalid_token")
        time.sleep(0.02)
    return False


def test_two_servers_share_logins_and_logouts(simulator: str, two_servers: tuple[str, str]) -> None:
    one, two = two_servers
    login = httpx.post(f"{one}/v1/login", json={"code": code(simulator, "alice")})
    assert login.status_code == 200, login.text
    token = login.json()["token"]
    for base in (one, two, one, two):  # both have it cached now
        me = httpx.get(f"{base}/v1/me", headers=bearer(token))
        assert me.status_code == 200 and me.json()["id"] == login.json()["user"]["id"]

    assert httpx.post(f"{two}/v1/logout", headers=bearer(token)).status_code == 204

    assert rejected_soon(one, token)
    assert httpx.get(f"{two}/v1/me", headers=bearer(token)).status_code == 401


def test_a_retried_code_is_exchanged_once(simulator: str, two_servers: tuple[str, str]) -> None:
    one, two = two_servers
    the_code = code(simulator, "bob")
    httpx.post(f"{simulator}/sim/stats/reset")

    first = httpx.post(f"{one}/v1/login", json={"code": the_code})
    retried = httpx.post(f"{two}/v1/login", json={"code": the_code})

    assert first.status_code == 200
    assert retried.status_code == 400 and retried.json()["error"] == "invalid_code"
    calls = httpx.get(f"{simulator}/sim/stats").json()["calls"]
    assert calls.get("/sns/jscode2session") == 1  # the retry never reached WeChat


def _children(pid: int) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "stat").read_text().split()[3] == str(pid):
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="counts worker processes through /proc")
def test_serve_runs_several_workers(
    simulator: str, server_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    args = ["serve", "--port", str(port), "--workers", "2", "--log-level", "warning"]
    with running(args, port=port, env=server_env, ready_path="/readyz") as process:
        base = f"http://127.0.0.1:{port}"
        workers = [c for c in _children(process.pid) if "spawn_main" in c]
        assert len(workers) == 2
        tokens = []
        for user in ("w1", "w2", "w3", "w4"):
            login = httpx.post(f"{base}/v1/login", json={"code": code(simulator, user)})
            assert login.status_code == 200, login.text
            tokens.append(login.json()["token"])
        for token in tokens:  # new connections each time: the kernel spreads them over workers
            assert httpx.get(f"{base}/v1/me", headers=bearer(token)).status_code == 200
        assert httpx.post(f"{base}/v1/logout", headers=bearer(tokens[0])).status_code == 204
        assert rejected_soon(base, tokens[0])


def test_sessions_cleanup_command(tmp_path: Path, db_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{db_path}"
    live, old = asyncio.run(_two_sessions(url))
    result = subprocess.run(
        [WXAUTH, "sessions", "cleanup", "--grace", "0"],
        env=clean_env(database_url=url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "deleted 1 expired sessions"
    assert asyncio.run(_found(url, [live, old])) == [True, False]


async def _two_sessions(url: str) -> tuple[str, str]:
    engine = await emptied(url)
    store = SqlStore(engine)
    live = login_record("o-live", now=NOW.replace(year=2100))
    old = login_record("o-old", now=NOW.replace(year=2000))
    for record in (live, old):
        await store.record_login(record)
    await engine.dispose()
    return live.session.token_hash, old.session.token_hash


async def _found(url: str, hashes: list[str]) -> list[bool]:
    engine = create_engine(url)
    store = SqlStore(engine)
    found = [await store.find_session(h) is not None for h in hashes]
    await engine.dispose()
    return found
