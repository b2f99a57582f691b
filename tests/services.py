"""The database services some tests need, and what to do when one does not answer.

Locally a missing service skips its tests with a message saying what to install; with the
``CI`` environment variable set it fails them, so that CI never passes by skipping.
"""

from __future__ import annotations

import os
import socket

import pytest

POSTGRES_PORT = 5432
MARIADB_PORT = 3306
REDIS_PORT = 6379

INSTALL = {
    "PostgreSQL": "apt-get install postgresql (trust auth for 127.0.0.1, a database `test`)",
    "MariaDB": "apt-get install mariadb-server (root without password, a database `test`)",
    "Redis": "apt-get install redis-server",
}


def answers(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def unavailable(name: str, detail: str) -> None:
    """Skip (or, in CI, fail) the current test because ``name`` is not usable."""
    message = f"{name} is not available ({detail}); to run these tests: {INSTALL[name]}"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def require(name: str, port: int) -> None:
    if not answers(port):
        unavailable(name, f"nothing answers on 127.0.0.1:{port}")


def closed_port() -> int:
    """A loopback port nothing listens on (a privileged one: connections are refused at once)."""
    for port in range(1, 1024):
        if not answers(port, timeout=0.2):
            return port
    raise RuntimeError("every privileged port answers")
