"""Does a token check slow down as the sessions table grows? 1,000 sessions, then 1,000,000.

Makes two databases of its own on the PostgreSQL server, fills them with COPY, times the
SQL store's ``find_session`` (the token check's only query, no cache in front) on each, in
alternating rounds, prints both figures and their ratio, and drops the databases::

    .venv/bin/python -m bench.sessions_scale
    .venv/bin/python -m bench.sessions_scale --server postgresql+asyncpg://postgres@db:5432/test

Not part of the test suite: it takes a minute or two and wants a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import secrets
import statistics
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import make_url

from wxauth.storage.engine import create_engine
from wxauth.storage.migrate import upgrade
from wxauth.storage.sql import SqlStore

SMALL = 1_000
LARGE = 1_000_000
USERS = 10_000
CHUNK = 100_000
APPID = "wxbe0c000000000001"
SESSION_COLUMNS = (
    "token_hash",
    "user_id",
    "appid",
    "created_at",
    "last_seen_at",
    "idle_expires_at",
    "expires_at",
    "revoked_at",
    "user_agent",
    "ip",
)


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def admin(server: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(server))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def fill_users(dsn: str, now: datetime) -> list[str]:
    import asyncpg

    ids = [secrets.token_hex(16) for _ in range(USERS)]
    rows = [(i, APPID, f"o{i}", now, now, now) for i in ids]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table(
            "users",
            records=rows,
            columns=["id", "appid", "openid", "created_at", "updated_at", "last_login_at"],
        )
    finally:
        await conn.close()
    return ids


async def fill_sessions(dsn: str, users: list[str], count: int, now: datetime) -> list[str]:
    """COPY ``count`` live sessions in chunks; return their token hashes."""
    import asyncpg

    rng = random.Random(count)
    hashes: list[str] = []
    conn = await asyncpg.connect(dsn)
    try:
        for start in range(0, count, CHUNK):
            rows = []
            for _ in range(min(CHUNK, count - start)):
                token_hash = hashlib.sha256(secrets.token_bytes(32)).hexdigest()
                hashes.append(token_hash)
                created = now - timedelta(seconds=rng.randrange(86_400))
                rows.append(
                    (
                        token_hash,
                        rng.choice(users),
                        APPID,
                        created,
                        created,
                        created + timedelta(days=7),
                        created + timedelta(days=30),
                        None,
                        "bench",
                        "127.0.0.1",
                    )
                )
            await conn.copy_records_to_table("sessions", records=rows, columns=SESSION_COLUMNS)
        await conn.execute("VACUUM ANALYZE sessions")
    finally:
        await conn.close()
    return hashes


class Checker:
    """Times ``find_session`` one call at a time against one database."""

    def __init__(self, url: str, hashes: list[str]) -> None:
        self.engine = create_engine(url)
        self.store = SqlStore(self.engine)
        self.hashes = hashes
        self.rng = random.Random(0)
        self.took: list[float] = []

    async def round(self, lookups: int, *, record: bool = True) -> None:
        for _ in range(lookups):
            token_hash = self.rng.choice(self.hashes)
            started = time.perf_counter()
            found = await self.store.find_session(token_hash)
            if record:
                self.took.append((time.perf_counter() - started) * 1e6)
            assert found is not None

    def figures(self) -> dict[str, float]:
        took = sorted(self.took)
        return {"median_us": statistics.median(took), "p95_us": took[int(len(took) * 0.95)]}


async def compare(small: Checker, large: Checker, lookups: int, rounds: int = 10) -> None:
    """Rounds alternate between the two sizes, so that load from elsewhere hits both alike."""
    for checker in (small, large):
        await checker.round(200, record=False)  # warm the pool and the caches
    for _ in range(rounds):
        for checker in (small, large):
            await checker.round(lookups // rounds)


async def run(server: str, lookups: int) -> None:
    names = {size: f"wxauth_bench_{size}_{secrets.token_hex(4)}" for size in (SMALL, LARGE)}
    urls = {
        size: make_url(server).set(database=name).render_as_string(hide_password=False)
        for size, name in names.items()
    }
    try:
        hashes = {}
        for size, url in urls.items():
            await admin(server, f'CREATE DATABASE "{names[size]}"')
            await asyncio.to_thread(upgrade, url)
            now = datetime.now(UTC)
            users = await fill_users(asyncpg_dsn(url), now)
            filled = time.perf_counter()
            hashes[size] = await fill_sessions(asyncpg_dsn(url), users, size, now)
            print(f"COPY of {size:,} sessions: {time.perf_counter() - filled:.1f} s")
        checkers = {size: Checker(url, hashes[size]) for size, url in urls.items()}
        try:
            await compare(checkers[SMALL], checkers[LARGE], lookups)
        finally:
            for checker in checkers.values():
                await checker.engine.dispose()
        for size, checker in checkers.items():
            print(f"{size:>9,} sessions: {fmt(checker.figures())}")
        ratio = checkers[LARGE].figures()["median_us"] / checkers[SMALL].figures()["median_us"]
        print(f"ratio of medians, {LARGE:,} / {SMALL:,}: {ratio:.2f}")
        print(await plan(asyncpg_dsn(urls[LARGE]), hashes[LARGE][0]))
    finally:
        for name in names.values():
            await admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def plan(dsn: str, token_hash: str) -> str:
    """PostgreSQL's plan for the token check's query (the shape ``find_session`` sends)."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "EXPLAIN (COSTS OFF) SELECT * FROM sessions JOIN users ON sessions.user_id = users.id"
            " WHERE sessions.token_hash = $1",
            token_hash,
        )
    finally:
        await conn.close()
    return "plan at 1,000,000:\n" + "\n".join(f"  {row[0]}" for row in rows)


def fmt(figures: dict[str, float]) -> str:
    return f"token check median {figures['median_us']:.0f} µs, p95 {figures['p95_us']:.0f} µs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--server",
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/test",
        help="a PostgreSQL URL whose user may create databases (the database is not touched)",
    )
    parser.add_argument("--lookups", type=int, default=3000, help="token checks per size")
    args = parser.parse_args()
    asyncio.run(run(args.server, args.lookups))


if __name__ == "__main__":
    main()
