"""Every token that got a 200 survives a ``kill -9`` of the server and a restart; no user is
left half-created. A real child process, killed while logins are in flight."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path

import httpx

from tests import processes
from wxauth.demo import DEMO_APPID


async def log_in_until_killed(
    worker: int, base: str, tokens: list[str], stop: asyncio.Event
) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                phone = await client.post(
                    "/sim/login", json={"appid": DEMO_APPID, "user": f"w{worker}-{n}"}
                )
                answer = await client.post("/v1/login", json={"code": phone.json()["code"]})
            except httpx.TransportError:
                return  # the server is gone
            if answer.status_code == 200:
                tokens.append(answer.json()["token"])


async def test_tokens_survive_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "durable.db"
    port = processes.free_port()
    base = f"http://127.0.0.1:{port}"
    args = ["dev", "--port", str(port), "--db", str(db), "--log-level", "warning"]
    env = {"WXAUTH_CONFIG": "", "WXAUTH_RATE_LIMIT_LOGIN_IP": "0"}
    tokens: list[str] = []
    with processes.running(args, port=port, env=env, log=tmp_path / "dev.log") as server:
        stop = asyncio.Event()
        workers = [
            asyncio.create_task(log_in_until_killed(w, base, tokens, stop)) for w in range(6)
        ]
        while len(tokens) < 60:
            await asyncio.sleep(0.05)
            assert server.poll() is None, (tmp_path / "dev.log").read_text()
        server.send_signal(signal.SIGKILL)  # mid-flight: other logins are being written
        server.wait()
        stop.set()
        await asyncio.gather(*workers)

    with processes.running(args, port=port, env=env, log=tmp_path / "dev.log"):
        async with httpx.AsyncClient(base_url=base) as client:
            for token in tokens:
                me = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
                assert me.status_code == 200, me.text

    with sqlite3.connect(db) as conn:
        users = conn.execute("SELECT count(*) FROM users").fetchone()[0]
        half_made = conn.execute(
            "SELECT count(*) FROM users u WHERE NOT EXISTS (SELECT 1 FROM wechat_sessions w"
            " WHERE w.appid = u.appid AND w.openid = u.openid) OR NOT EXISTS"
            " (SELECT 1 FROM sessions s WHERE s.user_id = u.id)"
        ).fetchone()[0]
    assert users >= len(tokens)  # every login is a new user: one per 200 at least
    assert half_made == 0
