"""The production backends: PostgreSQL + Redis and MariaDB (or MySQL) + Redis on their
standard loopback ports, each with a scratch database made for the run and dropped after it.

A backend whose server does not answer (or refuses to make a database) is skipped with a
message saying why; the run goes on with the others. The servers' own CPU (the database's
processes and Redis's, found by name) goes into each row's note, since a login's cost is
not only the wxauth processes'.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import psutil

POSTGRES_PORT = 5432
MARIADB_PORT = 3306
REDIS_PORT = 6379
REDIS_URL = f"redis://127.0.0.1:{REDIS_PORT}/0"
POSTGRES_USERS = ("postgres", "root")
DATABASE_PROCESSES = {"postgresql": ("postgres",), "mariadb": ("mariadbd", "mysqld")}
REDIS_PROCESSES = ("redis-server",)


@dataclass(frozen=True)
class Backend:
    name: str  # as the rows show it: "PostgreSQL + Redis"
    kind: str  # "postgresql" or "mariadb"
    url: str


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


async def _postgres(statement: str) -> str:
    """Run ``statement`` on PostgreSQL's database ``test`` as the first user allowed in;
    that user's name."""
    import asyncpg

    last: Exception | None = None
    for user in POSTGRES_USERS:
        try:
            conn = await asyncpg.connect(
                host="127.0.0.1", port=POSTGRES_PORT, user=user, database="test", timeout=5
            )
        except (OSError, asyncpg.PostgresError) as exc:
            last = exc
            continue
        try:
            await conn.execute(statement)
        finally:
            await conn.close()
        return user
    raise RuntimeError(f"none of {POSTGRES_USERS} may connect to database test ({last})")


async def _mariadb(statement: str) -> None:
    import asyncmy

    conn = await asyncmy.connect(host="127.0.0.1", port=MARIADB_PORT, user="root")
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(statement)
    finally:
        conn.close()


@asynccontextmanager
async def scratch(kind: str) -> AsyncIterator[Backend]:
    """A new, empty database on ``kind``'s server, dropped when done; RuntimeError (with
    the reason) when the server or Redis is not there."""
    port = POSTGRES_PORT if kind == "postgresql" else MARIADB_PORT
    label = "PostgreSQL" if kind == "postgresql" else "MariaDB"
    if not answers(port):
        raise RuntimeError(f"{label} skipped: nothing answers on 127.0.0.1:{port}")
    if not answers(REDIS_PORT):
        raise RuntimeError(f"{label} + Redis skipped: Redis does not answer on {REDIS_PORT}")
    name = f"wxauth_bench_{secrets.token_hex(4)}"
    try:
        if kind == "postgresql":
            user = await _postgres(f'CREATE DATABASE "{name}"')
            url = f"postgresql+asyncpg://{user}@127.0.0.1:{port}/{name}"
        else:
            await _mariadb(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
            url = f"mysql+asyncmy://root@127.0.0.1:{port}/{name}"
    except Exception as exc:  # any refusal: skip this backend, say why
        raise RuntimeError(f"{label} skipped: cannot make a scratch database ({exc})") from exc
    try:
        yield Backend(f"{label} + Redis", kind, url)
    finally:
        if kind == "postgresql":
            await _postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            await _mariadb(f"DROP DATABASE IF EXISTS `{name}`")


def _cpu_by_pid(names: tuple[str, ...]) -> dict[int, float]:
    """CPU seconds so far of every process called one of ``names`` (PostgreSQL forks one
    per connection, so they are looked up anew each time)."""
    found = {}
    for process in psutil.process_iter(["name"]):
        if process.info["name"] not in names:
            continue
        try:
            times = process.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        found[process.pid] = times.user + times.system
    return found


Snapshot = tuple[dict[int, float], dict[int, float]]


def _spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two looks (a process new since the first counts whole)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


class ServiceCpu:
    """The CPU of the database's processes and Redis's."""

    def __init__(self, kind: str) -> None:
        self.label = "PostgreSQL" if kind == "postgresql" else "MariaDB"
        self._names = DATABASE_PROCESSES[kind]

    def snapshot(self) -> Snapshot:
        return _cpu_by_pid(self._names), _cpu_by_pid(REDIS_PROCESSES)

    def note(self, before: Snapshot, elapsed_s: float) -> str:
        """ "PostgreSQL CPU 41%; Redis CPU 9%" since ``before`` (of one core)."""
        after = self.snapshot()
        db_s, redis_s = _spent(before[0], after[0]), _spent(before[1], after[1])
        elapsed_s = elapsed_s or 1e-9
        return (
            f"{self.label} CPU {100 * db_s / elapsed_s:.0f}%; "
            f"Redis CPU {100 * redis_s / elapsed_s:.0f}%"
        )
