"""The decoding workers: real child processes, limited, killed when they overrun."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator

import psutil
import pytest
from PIL import Image

from tests.bombs import scan_bomb
from wxauth.core.avatar import AvatarRules
from wxauth.core.decoder import Decoders
from wxauth.errors import InvalidRequest, RateLimited

SLOW = AvatarRules(max_scans=5000, decode_timeout=2.0)  # lets a scan bomb reach a worker


def picture(size: tuple[int, int] = (300, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
async def decoders() -> AsyncIterator[Decoders]:
    pool = Decoders(workers=1, memory=256 * 1024 * 1024)
    yield pool
    await pool.aclose()


async def until_busy(pool: Decoders) -> None:
    for _ in range(500):
        if pool.pids:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no worker started")


async def test_a_worker_is_reused_and_limited(decoders: Decoders) -> None:
    first = await decoders.normalise(picture(), AvatarRules())
    (pid,) = decoders.pids
    second = await decoders.normalise(picture(), AvatarRules())
    assert first == second and first.extension == "jpg"
    assert decoders.pids == [pid] and decoders.started == 1
    worker = psutil.Process(pid)
    assert worker.rlimit(psutil.RLIMIT_AS) == (256 * 1024 * 1024,) * 2
    assert worker.rlimit(psutil.RLIMIT_CPU)[0] > 0  # a CPU budget for each picture
    assert worker.nice() > psutil.Process().nice()  # yields the CPU to the server


async def test_the_worker_gets_none_of_the_servers_secrets(
    decoders: Decoders, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WXAUTH_SECRET_KEYS", "a-key-the-worker-must-not-see")
    await decoders.normalise(picture(), AvatarRules())
    (pid,) = decoders.pids
    environ = psutil.Process(pid).environ()
    assert not any(name.startswith("WXAUTH_") for name in environ)


async def test_refusals_come_back_from_the_worker(decoders: Decoders) -> None:
    truncated = picture()[:300]
    with pytest.raises(InvalidRequest, match="PNG, JPEG or WebP"):
        await decoders.normalise(truncated, AvatarRules())
    assert decoders.killed == 0  # a refusal is an answer: the worker stays
    assert (await decoders.normalise(picture(), AvatarRules())).extension == "jpg"


async def test_memory_beyond_the_limit_is_refused_not_fatal() -> None:
    pool = Decoders(workers=1, memory=128 * 1024 * 1024)
    try:
        big = io.BytesIO()
        Image.new("RGBA", (4096, 3072), (1, 2, 3, 4)).save(big, "PNG")  # 48 MiB decoded
        with pytest.raises(InvalidRequest, match="too much memory"):
            await pool.normalise(big.getvalue(), AvatarRules())
        assert (await pool.normalise(picture(), AvatarRules())).extension == "jpg"
    finally:
        await pool.aclose()


async def test_an_overrun_is_killed_and_a_new_worker_takes_over(decoders: Decoders) -> None:
    rules = AvatarRules(max_scans=5000, decode_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(InvalidRequest, match="too long"):
        await decoders.normalise(scan_bomb((4096, 3072), scans=1000), rules)
    assert time.monotonic() - started < 3.0
    assert decoders.killed == 1 and decoders.pids == []
    assert (await decoders.normalise(picture(), AvatarRules())).extension == "jpg"
    assert decoders.started == 2


async def test_uploads_wait_for_a_worker_only_so_long(decoders: Decoders) -> None:
    slow = asyncio.create_task(decoders.normalise(scan_bomb((4096, 3072), scans=1000), SLOW))
    await until_busy(decoders)
    started = time.monotonic()
    quick = AvatarRules(queue_timeout=0.3)
    with pytest.raises(RateLimited) as refused:
        await decoders.normalise(picture(), quick)
    assert 0.25 < time.monotonic() - started < 1.5
    assert refused.value.retry_after is not None and refused.value.retry_after >= 1
    with pytest.raises(RateLimited):  # nobody may wait: refused at once
        await decoders.normalise(picture(), AvatarRules(queue_limit=0))
    with pytest.raises(InvalidRequest, match="too long"):
        await slow
    assert (await decoders.normalise(picture(), AvatarRules())).extension == "jpg"


async def test_a_cancelled_upload_takes_its_worker_down(decoders: Decoders) -> None:
    slow = asyncio.create_task(decoders.normalise(scan_bomb((4096, 3072), scans=1000), SLOW))
    await until_busy(decoders)
    (pid,) = decoders.pids
    await asyncio.sleep(0.2)
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    assert decoders.pids == []
    for _ in range(200):
        if not psutil.pid_exists(pid):
            break
        await asyncio.sleep(0.01)
    assert not psutil.pid_exists(pid)  # its work stopped with it


async def test_aclose_stops_the_workers_and_refuses_more() -> None:
    pool = Decoders(workers=2)
    await asyncio.gather(*(pool.normalise(picture(), AvatarRules()) for _ in range(2)))
    pids = pool.pids
    assert len(pids) == 2
    await pool.aclose()
    assert pool.pids == [] and not any(psutil.pid_exists(pid) for pid in pids)
    with pytest.raises(RateLimited):
        await pool.normalise(picture(), AvatarRules())


async def test_idle_workers_are_stopped() -> None:
    pool = Decoders(workers=1, idle_timeout=0.2)
    try:
        await pool.normalise(picture(), AvatarRules())
        (pid,) = pool.pids
        await asyncio.sleep(0.5)
        assert pool.pids == []
        for _ in range(200):
            if not psutil.pid_exists(pid):
                break
            await asyncio.sleep(0.01)
        assert not psutil.pid_exists(pid)
        assert (await pool.normalise(picture(), AvatarRules())).extension == "jpg"
    finally:
        await pool.aclose()
