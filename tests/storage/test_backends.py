"""The migrations on PostgreSQL and MariaDB: the schema the code declares, utf8mb4 on MySQL
(tables and connection), and an index behind every lookup."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from wxauth.storage.engine import create_engine
from wxauth.storage.tables import metadata

# Every way the service looks a row up, and the index that serves it.
LOOKUPS = {
    ("sessions", ("token_hash",)),  # a token check
    ("sessions", ("user_id",)),  # a user's sessions; the foreign key
    ("sessions", ("idle_expires_at",)),  # expired-session cleanup
    ("users", ("appid", "openid")),  # login
    ("users", ("id",)),  # a session's user
    ("users", ("unionid",)),  # one person across apps
    ("wechat_sessions", ("appid", "openid")),  # the session_key
}


def _schema(conn: Connection) -> dict[str, Any]:
    inspector = inspect(conn)
    indexed: set[tuple[str, tuple[str, ...]]] = set()
    for table in inspector.get_table_names():
        pk = inspector.get_pk_constraint(table)["constrained_columns"]
        indexed.add((table, tuple(pk)))
        indexes: list[Any] = [*inspector.get_indexes(table)]
        indexes += inspector.get_unique_constraints(table)
        for index in indexes:
            indexed.add((table, tuple(c for c in index["column_names"] if c)))
    return {
        "diff": compare_metadata(MigrationContext.configure(conn), metadata),
        "indexed": indexed,
    }


@pytest.fixture(params=["postgres", "mariadb"])
def url(request: pytest.FixtureRequest) -> str:
    value: str = request.getfixturevalue(f"{request.param}_url")
    return value


async def test_migrated_schema_matches_and_every_lookup_is_indexed(url: str) -> None:
    engine = create_engine(url)
    async with engine.connect() as conn:
        schema = await conn.run_sync(_schema)
    await engine.dispose()
    assert schema["diff"] == []
    assert LOOKUPS - schema["indexed"] == set()


async def test_mariadb_speaks_utf8mb4_everywhere(mariadb_url: str) -> None:
    engine = create_engine(mariadb_url)
    async with engine.connect() as conn:
        charset = (await conn.execute(text("SELECT @@character_set_connection"))).scalar()
        tables = (
            await conn.execute(
                text(
                    "SELECT table_name, table_collation FROM information_schema.tables"
                    " WHERE table_schema = DATABASE() AND table_name != 'alembic_version'"
                )
            )
        ).all()
        panda = (await conn.execute(text("SELECT CHAR_LENGTH(:s)"), {"s": "🐼"})).scalar()
    await engine.dispose()
    assert charset == "utf8mb4"
    assert {name for name, _ in tables} == set(metadata.tables)  # every table of the schema
    assert {collation for _, collation in tables} == {"utf8mb4_bin"}
    assert panda == 1
