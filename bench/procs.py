"""Servers under test as real processes: free ports, start, wait until ready, measure, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

WXAUTH = [sys.executable, "-c", "from wxauth.cli import main; main()"]
READY_TIMEOUT_S = 60.0


def free_port() -> int:
    """A port the kernel just handed out (bind to 0), for a server to take next."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def processes(self) -> list[psutil.Process]:
        """The server and its workers (gunicorn forks them)."""
        try:
            parent = psutil.Process(self.process.pid)
            return [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []


def _wait_ready(server: Server, path: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited: see {server.log}\n{server.log.read_text()}")
        try:
            with urllib.request.urlopen(server.base + path, timeout=1) as answer:  # noqa: S310
                if answer.status < 500:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"{server.name} did not answer {path} within {READY_TIMEOUT_S:.0f}s")


@contextmanager
def running(
    name: str,
    argv: Sequence[str],
    *,
    port: int,
    env: dict[str, str],
    workdir: Path,
    ready_path: str,
) -> Iterator[Server]:
    """Start ``argv`` in its own process group; stop it (and its workers) however we leave."""
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(argv),
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(name, process, port, log)
    try:
        _wait_ready(server, ready_path)
        yield server
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@dataclass(frozen=True)
class Usage:
    cpu_s: float
    rss_mb: float


def usage(processes: Sequence[psutil.Process]) -> Usage:
    """CPU seconds so far and resident memory, summed over ``processes``."""
    cpu, rss = 0.0, 0
    for process in processes:
        try:
            times = process.cpu_times()
            cpu += times.user + times.system
            rss += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return Usage(cpu, rss / 2**20)


def cpu_each(processes: Sequence[psutil.Process]) -> list[float]:
    """CPU seconds so far of each of ``processes`` (0.0 for one that has gone)."""
    return [usage([process]).cpu_s for process in processes]
