"""`wxauth serve --workers 2`: each worker listens on its own socket (SO_REUSEPORT), so the
kernel spreads connections evenly; a worker that dies is replaced; SIGTERM stops them all;
a port already taken is one line, before any worker starts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from tests.conftest import APPID, SECRET
from tests.processes import WXAUTH, free_port, stop, wait_until_up
from wxauth.cli.workers import balanced
from wxauth.core.keyring import generate_key
from wxauth.storage.migrate import upgrade

pytestmark = pytest.mark.skipif(not balanced(), reason="SO_REUSEPORT balances only on Linux")
CONNECTIONS = 40


def serve_env(tmp_path: Path) -> dict[str, str]:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'w.db'}"
    upgrade(database_url)
    return {
        **os.environ,
        "WXAUTH_DATABASE_URL": database_url,
        "WXAUTH_APPS": f"{APPID}:{SECRET}",
        "WXAUTH_SECRET_KEYS": generate_key(),
        "WXAUTH_AVATAR_DIR": str(tmp_path / "avatars"),
    }


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    port, log = free_port(), tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [WXAUTH, "serve", "--port", str(port), "--workers", "2"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=serve_env(tmp_path),
        )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", process, timeout=90)
        yield process, port, log
    finally:
        stop(process)


def workers_of(process: subprocess.Popen[bytes], port: int) -> dict[int, int]:
    """Each worker's pid: how many established connections to ``port`` it holds (a worker
    listens on ``port``; the supervisor and multiprocessing's helper do not)."""
    found = {}
    for child in psutil.Process(process.pid).children(recursive=True):
        try:
            conns = child.net_connections("tcp")
        except psutil.NoSuchProcess:
            continue
        if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in conns):
            found[child.pid] = sum(
                1 for c in conns if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port
            )
    return found


def held_connections(port: int, count: int) -> list[socket.socket]:
    """``count`` keep-alive connections, each having had one answer (so it was accepted)."""
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        socks.append(sock)
    return socks


def until(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("not within the time allowed")


def test_connections_are_spread_over_the_workers(
    server: tuple[subprocess.Popen[bytes], int, Path],
) -> None:
    process, port, _ = server
    until(lambda: len(workers_of(process, port)) == 2)  # both have started
    socks = held_connections(port, CONNECTIONS)
    try:
        spread = workers_of(process, port)
    finally:
        for sock in socks:
            sock.close()
    assert len(spread) == 2, spread
    # Hashed over two sockets, 40 connections split 20/20 give or take; one worker with
    # fewer than 8 of them would happen once in 20,000 runs (binomial tails).
    assert sum(spread.values()) == CONNECTIONS and min(spread.values()) >= 8, spread


def test_a_worker_that_dies_is_replaced_and_sigterm_stops_them_all(
    server: tuple[subprocess.Popen[bytes], int, Path],
) -> None:
    process, port, log = server
    until(lambda: len(workers_of(process, port)) == 2)
    first = workers_of(process, port)
    victim = next(iter(first))
    os.kill(victim, signal.SIGKILL)

    def replaced() -> bool:  # one look: the victim may still be listening in a first one
        now = workers_of(process, port)
        return len(now) == 2 and victim not in now

    until(replaced)
    for sock in held_connections(port, 5):  # and it serves on
        sock.close()
    everyone = [psutil.Process(pid) for pid in workers_of(process, port)]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=45) == 0
    assert not [p for p in everyone if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    text = log.read_text(encoding="utf-8", errors="replace")
    assert f"worker [{victim}] ended" in text and "Traceback" not in text


def test_a_port_already_taken_is_one_line_before_any_worker(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [WXAUTH, "serve", "--port", str(port), "--workers", "2"],
            capture_output=True,
            env=serve_env(tmp_path),
            timeout=60,
        )
    err = done.stderr.decode()
    assert done.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in err and "--port" in err, err
    assert "Traceback" not in err and "Started" not in err + done.stdout.decode()
