"""Child processes for tests that need a real server: free ports, readiness, sure shutdown."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

WXAUTH = str(Path(sys.executable).with_name("wxauth"))


def free_port() -> int:
    """A port nobody listens on right now (the OS picks it: bind to port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(proc: subprocess.Popen[bytes], url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before answering")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def running(
    args: Sequence[str], ready_url: str, env: dict[str, str] | None = None, log: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``wxauth ARGS`` in a child process, ready to serve; stopped at the end, even on failure."""
    out = log.open("ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(
        [WXAUTH, *args], env={**os.environ, **(env or {})}, stdout=out, stderr=out
    )
    try:
        wait_ready(proc, ready_url)
        yield proc
    finally:
        stop(proc)
        if log:
            out.close()  # type: ignore[union-attr]
