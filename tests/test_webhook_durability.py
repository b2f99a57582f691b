"""A ``kill -9`` of a real ``wxauth serve`` while it is delivering webhooks loses none:
after a restart every event written arrives (some twice, recognisable by their
``webhook-id``), each signed, each user's in order. Real processes: the simulator and the
server, with a real receiver in the test."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections import defaultdict
from pathlib import Path

import httpx
from typer.testing import CliRunner

from tests.conftest import APPID, SECRET
from tests.processes import WXAUTH, free_port, stop, wait_until_up
from tests.webhooks.receiver import Receiver, eventually
from wxauth.cli import app as cli
from wxauth.core.keyring import generate_key
from wxauth.integrations.webhooks import verify
from wxauth.storage.engine import create_engine
from wxauth.storage.migrate import upgrade
from wxauth.storage.sql import SqlStore


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([WXAUTH, *args], env=env, stdout=out, stderr=subprocess.STDOUT)


def serve(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return start(["serve", "--port", str(port), "--log-level", "warning"], env, log)


async def log_in_until_stopped(
    client: httpx.AsyncClient,
    sim: str,
    base: str,
    worker: int,
    users: set[str],
    stop: asyncio.Event,
) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        try:
            code = (
                await client.post(
                    f"{sim}/sim/login", json={"appid": APPID, "user": f"w{worker}-{n}"}
                )
            ).json()["code"]
            answer = await client.post(f"{base}/v1/login", json={"code": code})
        except httpx.TransportError:
            await asyncio.sleep(0.05)  # the server is gone (killed) or not back yet
            continue
        if answer.status_code == 200:
            users.add(answer.json()["user"]["id"])


async def test_kill_9_mid_delivery_loses_no_event(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'hooks.db'}"
    await asyncio.to_thread(upgrade, database_url)
    sim_port, port = free_port(), free_port()
    env = {
        **os.environ,
        "WXAUTH_CONFIG": "",
        "WXAUTH_DATABASE_URL": database_url,
        "WXAUTH_APPS": f"{APPID}:{SECRET}",
        "WXAUTH_SECRET_KEYS": generate_key(),
        "WXAUTH_WECHAT_BASE_URL": f"http://127.0.0.1:{sim_port}",
        "WXAUTH_RATE_LIMIT_LOGIN_IP": "0",
        "WXAUTH_APP_REGISTRY_TTL": "0.1",
        "WXAUTH_WEBHOOK_ALLOW_PRIVATE": "1",
        "WXAUTH_WEBHOOK_TIMEOUT": "1",  # a lease of 7 s: what a killed process held comes back
        "WXAUTH_WEBHOOK_POLL_INTERVAL": "0.05",
        "WXAUTH_WEBHOOK_RETRY_BASE": "0.1",
        "WXAUTH_WEBHOOK_RETRY_MAX": "1",
    }
    receiver = Receiver(delay=0.2)  # slow enough that deliveries are in flight at the kill
    await receiver.start()
    command = ["webhooks", "add", receiver.url, "--events", "user.created"]
    added = await asyncio.to_thread(CliRunner().invoke, cli, command, env=env)
    assert added.exit_code == 0, added.output
    secret = next(
        line.split(": ", 1)[1] for line in added.stdout.splitlines() if line.startswith("secret: ")
    )
    log = tmp_path / "processes.log"
    simulator = start(
        ["simulator", "--port", str(sim_port), "--app", f"{APPID}:{SECRET}"], env, log
    )
    sim, base = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{port}"
    server = serve(port, env, log)
    users: set[str] = set()
    stop_logins = asyncio.Event()
    try:
        await asyncio.to_thread(wait_until_up, f"{sim}/sim/stats", simulator)
        await asyncio.to_thread(wait_until_up, f"{base}/healthz", server)
        async with httpx.AsyncClient(timeout=10) as client:
            logins = [
                asyncio.create_task(log_in_until_stopped(client, sim, base, w, users, stop_logins))
                for w in range(4)
            ]
            await eventually(lambda: len(receiver.received) >= 15 and receiver.in_flight > 0)
            server.send_signal(signal.SIGKILL)  # mid-delivery, logins in flight
            answered = {r.headers["webhook-id"] for r in receiver.received}
            cut_off = {r.headers["webhook-id"] for r in receiver.arrived} - answered
            await asyncio.to_thread(server.wait)
            killed_after = len(receiver.received)
            server = serve(port, env, log)
            await asyncio.to_thread(wait_until_up, f"{base}/healthz", server)
            await eventually(lambda: len(users) >= 60, within=60)
            stop_logins.set()
            await asyncio.gather(*logins)

        engine = create_engine(database_url)
        store = SqlStore(engine)
        try:
            written = await store.webhooks.list_deliveries(limit=100_000)

            def all_arrived() -> bool:
                ids = {r.headers["webhook-id"] for r in receiver.received}
                return {d.event_id for d in written} <= ids

            async def all_delivered() -> bool:
                found = await store.webhooks.list_deliveries(limit=100_000, state="pending")
                return not found

            await eventually(all_arrived, within=60)
            await eventually(all_delivered, within=60)  # the killed one's lease ran out too
            created = {u.id for u in await store.list_users(limit=100_000)}
        finally:
            await engine.dispose()
    finally:
        stop_logins.set()
        stop(server)
        stop(simulator)
        await receiver.stop()

    assert cut_off and killed_after < len(receiver.received)
    # One event per user created, every one of them delivered (the 200s and any login
    # whose answer the kill cut off but whose transaction had committed).
    assert len(written) == len(created) and users <= created
    bodies: dict[str, set[bytes]] = defaultdict(set)
    for got in receiver.received:
        event = verify(secret, got.headers, got.body)
        assert event["type"] == "user.created"
        bodies[got.headers["webhook-id"]].add(got.body)
    assert {e["data"]["user_id"] for e in map(lambda r: r.event, receiver.received)} == created
    assert all(len(same) == 1 for same in bodies.values())  # a repeat is the same event
    # What was in flight at the kill came again once its lease ran out: repeats, by id.
    assert cut_off <= set(bodies)
    assert len(receiver.arrived) > len(bodies)
