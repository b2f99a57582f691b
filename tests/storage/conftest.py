"""Real databases for the storage tests: a database of its own per test run on the shared
PostgreSQL and MariaDB servers (dropped at the end), and a key prefix of its own on Redis."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.services import MARIADB_PORT, POSTGRES_PORT, REDIS_PORT, require, unavailable
from wxauth.storage.engine import create_engine
from wxauth.storage.migrate import upgrade
from wxauth.storage.tables import (
    account_events,
    apps,
    component_tickets,
    login_events,
    operator_events,
    operator_sessions,
    operators,
    persons,
    sessions,
    signing_keys,
    users,
    webhook_deliveries,
    webhook_subscriptions,
    wechat_sessions,
)

POSTGRES_USERS = ("postgres", "root")


def unique_name() -> str:
    return f"wxauth_test_{secrets.token_hex(6)}"


async def _postgres_user() -> str | None:
    import asyncpg

    for user in POSTGRES_USERS:
        try:
            conn = await asyncpg.connect(
                host="127.0.0.1", port=POSTGRES_PORT, user=user, database="test", timeout=5
            )
        except (OSError, asyncpg.PostgresError):
            continue
        await conn.close()
        return user
    return None


async def _postgres(user: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(host="127.0.0.1", port=POSTGRES_PORT, user=user, database="test")
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _mariadb(statement: str) -> None:
    import asyncmy

    conn = await asyncmy.connect(host="127.0.0.1", port=MARIADB_PORT, user="root")
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(statement)
    finally:
        conn.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL database of this test run's own."""
    require("PostgreSQL", POSTGRES_PORT)
    user = asyncio.run(_postgres_user())
    if user is None:
        unavailable("PostgreSQL", f"neither of {POSTGRES_USERS} may connect to database test")
    assert user is not None
    name = unique_name()
    asyncio.run(_postgres(user, f'CREATE DATABASE "{name}"'))
    try:
        url = f"postgresql+asyncpg://{user}@127.0.0.1:{POSTGRES_PORT}/{name}"
        upgrade(url)
        yield url
    finally:
        asyncio.run(_postgres(user, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def mariadb_url() -> Iterator[str]:
    """A migrated MariaDB database of this test run's own (server default charset kept, so
    that the tables' and the connection's utf8mb4 is what is tested)."""
    require("MariaDB", MARIADB_PORT)
    name = unique_name()
    try:
        asyncio.run(_mariadb(f"CREATE DATABASE `{name}`"))
    except Exception as exc:  # any refusal here means the server is not usable for tests
        unavailable("MariaDB", f"root could not create a database: {exc}")
    try:
        url = f"mysql+asyncmy://root@127.0.0.1:{MARIADB_PORT}/{name}"
        upgrade(url)
        yield url
    finally:
        asyncio.run(_mariadb(f"DROP DATABASE IF EXISTS `{name}`"))


@pytest.fixture(scope="session")
def redis_url() -> str:
    require("Redis", REDIS_PORT)
    return f"redis://127.0.0.1:{REDIS_PORT}/0"


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    from redis.asyncio import Redis

    prefix = f"{unique_name()}:"
    yield prefix
    client = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def emptied(url: str) -> AsyncEngine:
    """An engine on ``url`` whose tables have been emptied."""
    engine = create_engine(url)
    async with engine.begin() as conn:
        tables = (account_events, login_events, sessions, wechat_sessions, users, signing_keys)
        webhooks = (webhook_deliveries, webhook_subscriptions)
        for table in (*tables, apps, persons, component_tickets, *webhooks):
            await conn.execute(delete(table))
        for table in (operator_events, operator_sessions, operators):
            await conn.execute(delete(table))
    return engine
