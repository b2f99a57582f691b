"""Avatar bombs against a real ``wxauth dev`` (a child process), six at once: reads of stored
avatars and logins stay fast, every upload is answered within seconds, and the server's memory
stays where it was."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest
from PIL import Image

from tests.bombs import png_bomb, scan_bomb
from tests.processes import free_port, running
from wxauth.demo import DEMO_APPID

MIB = 1024 * 1024
MAX_BYTES = 5 * MIB  # the default WXAUTH_AVATAR_MAX_BYTES


@dataclass
class Server:
    base: str
    process: psutil.Process
    log: Path

    def rss(self) -> int:
        return int(self.process.memory_info().rss)

    def workers(self) -> list[psutil.Process]:
        children: list[psutil.Process] = self.process.children(recursive=True)
        return children

    def workers_cpu(self) -> float:
        total = 0.0
        for worker in self.workers():
            try:
                times = worker.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("avatar-server")
    port = free_port()
    args = ["dev", "--port", str(port), "--db", str(tmp / "dev.db"), "--log-level", "warning"]
    env = {
        "WXAUTH_CONFIG": "",
        "WXAUTH_RATE_LIMIT_LOGIN_IP": "0",
        "WXAUTH_AVATAR_DIR": str(tmp / "avatars"),
    }
    log = tmp / "dev.log"
    with running(args, port=port, env=env, log=log) as process:
        yield Server(f"http://127.0.0.1:{port}", psutil.Process(process.pid), log)


@dataclass
class Probes:
    """A stored avatar read and a login, again and again, timed, while uploads are in flight."""

    client: httpx.AsyncClient
    avatar_path: str
    reads: list[float] = field(default_factory=list)
    logins: list[float] = field(default_factory=list)

    async def run(self, done: asyncio.Event, at_least: int = 5) -> None:
        n = 0
        while not done.is_set() or n < at_least:
            n += 1
            started = time.monotonic()
            read = await self.client.get(self.avatar_path)
            self.reads.append(time.monotonic() - started)
            assert read.status_code == 200
            started = time.monotonic()
            await login(self.client, f"prober-{id(self)}-{n}")
            self.logins.append(time.monotonic() - started)
            await asyncio.sleep(0.05)


async def login(client: httpx.AsyncClient, user: str) -> str:
    phone = await client.post("/sim/login", json={"appid": DEMO_APPID, "user": user})
    answer = await client.post("/v1/login", json={"code": phone.json()["code"]})
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["token"]
    return token


async def timed_upload(
    client: httpx.AsyncClient, token: str, data: bytes
) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await client.post(
        "/v1/me/avatar",
        files={"file": ("tmp.jpg", data, "application/octet-stream")},
        headers={"Authorization": f"Bearer {token}"},
    )
    return response, time.monotonic() - started


async def attack(
    server: Server, name: str, bomb: bytes, *, same_user: bool = False
) -> tuple[list[tuple[httpx.Response, float]], Probes, int]:
    """Six uploads of ``bomb`` at once, probed; the answers, the probes, the server's RSS
    before (after a warm-up that started the decoding workers)."""
    async with httpx.AsyncClient(base_url=server.base, timeout=60) as client:
        tokens = [await login(client, f"{name}-{i}") for i in range(6)]
        if same_user:
            tokens = tokens[:1] * 6
        owner = await login(client, f"{name}-owner")
        out = io.BytesIO()
        Image.new("RGB", (300, 300), (1, 2, 3)).save(out, "JPEG")
        stored, _ = await timed_upload(client, owner, out.getvalue())
        assert stored.status_code == 200, stored.text
        probes = Probes(client, stored.json()["avatar_url"].removeprefix(server.base))
        done = asyncio.Event()
        done.set()
        await probes.run(done)  # warm: five rounds
        done.clear()
        probes.reads.clear()
        probes.logins.clear()
        before = server.rss()
        prober = asyncio.create_task(probes.run(done))
        answers = await asyncio.gather(*(timed_upload(client, t, bomb) for t in tokens))
        done.set()
        await prober
    return answers, probes, before


async def assert_unhurt(server: Server, probes: Probes, before: int) -> None:
    assert max(probes.reads) < 1.0, probes.reads
    assert max(probes.logins) < 1.0, probes.logins
    # Before, six PNG bombs took the server from 118 MB to 939 MB; six scan bombs, as much.
    assert server.rss() - before < 50 * MIB, (before, server.rss())
    cpu = server.workers_cpu()
    await asyncio.sleep(1.0)
    assert server.workers_cpu() - cpu < 0.2  # nothing is still decoding once all answered


async def test_six_scan_bombs_at_once(server: Server) -> None:
    bomb = scan_bomb((4096, 3072), total=MAX_BYTES - 4096)
    assert len(bomb) < MAX_BYTES and bomb.count(b"\xff\xda") > 100_000  # hours of decoding
    answers, probes, before = await attack(server, "scan", bomb)
    for response, seconds in answers:
        assert seconds < 10.0
        assert response.status_code == 400, response.text
        assert "scans" in response.json()["message"]
    await assert_unhurt(server, probes, before)


async def test_six_png_bombs_at_once_are_refused_cheaply(server: Server) -> None:
    bomb = png_bomb((4096, 4096))
    assert len(bomb) < 100 * 1024
    cpu = server.workers_cpu()
    answers, probes, before = await attack(server, "png", bomb)
    for response, seconds in answers:
        assert seconds < 2.0
        assert response.status_code == 400, response.text
        assert "pixels" in response.json()["message"]
    assert server.workers_cpu() - cpu < 0.5  # the warm-up's picture, not the bombs
    await assert_unhurt(server, probes, before)


async def test_six_heavy_pictures_within_the_limits_are_decoded_aside(server: Server) -> None:
    # As many scans as allowed over as many pixels: each a second or so of a worker's time.
    heavy = scan_bomb((4096, 3072), scans=64)
    answers, probes, before = await attack(server, "heavy", heavy)
    for response, seconds in answers:
        assert seconds < 10.0
        if response.status_code == 429:  # no worker free in time
            assert response.json()["error"] == "rate_limited"
            assert int(response.headers["retry-after"]) >= 1
        elif response.status_code == 400:  # a slow machine: over the time limit
            assert "too long" in response.json()["message"]
        else:
            assert response.status_code == 200, response.text
    assert len(server.workers()) <= 2  # the pool's size: the others waited, or were refused
    for worker in server.workers():
        assert worker.memory_info().rss < 512 * MIB
    await assert_unhurt(server, probes, before)


async def test_one_users_uploads_at_once_are_429(server: Server) -> None:
    heavy = scan_bomb((4096, 3072), scans=64)
    answers, probes, _ = await attack(server, "eager", heavy, same_user=True)
    statuses = [response.status_code for response, _ in answers]
    assert statuses.count(429) >= 4, statuses  # one in flight (or two, one after the other)
    for response, seconds in answers:
        assert seconds < 10.0
        if response.status_code == 429:
            assert response.json()["error"] == "rate_limited"
            assert int(response.headers["retry-after"]) >= 1
    assert max(probes.reads) < 1.0
