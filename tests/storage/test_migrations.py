"""The shipped migrations build exactly the schema the code declares, and go back down."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from wxauth.storage.migrate import downgrade, upgrade
from wxauth.storage.tables import metadata


def test_migrated_schema_matches_tables(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert diff == []
    assert {"users", "sessions", "wechat_sessions", "login_events"} <= tables


def test_downgrade_to_base_and_up_again(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    downgrade(url, "base")
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    with engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) == {"alembic_version"}
    engine.dispose()
    upgrade(url)


def test_0003_upgrades_existing_rows_in_place(tmp_path: Path) -> None:
    import asyncio
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import text

    from wxauth.storage.engine import create_engine as create_async_engine
    from wxauth.storage.sql import SqlStore

    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    upgrade(url, "0002")
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    now = datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None)
    later = now + timedelta(days=1)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, appid, openid, created_at, updated_at) "
                "VALUES ('u1', 'wxapp', 'o1', :now, :now)"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO sessions (token_hash, user_id, appid, created_at, last_seen_at, "
                "idle_expires_at, expires_at) VALUES (:h, 'u1', 'wxapp', :now, :now, :l, :l)"
            ),
            {"h": "a" * 64, "now": now, "l": later},
        )
    engine.dispose()
    upgrade(url)

    async def read() -> None:
        store = SqlStore(create_async_engine(url))
        found = await store.find_session("a" * 64)
        assert found is not None
        session, user = found
        assert user.status == "active" and user.deletion_due_at is None
        assert session.revoked_reason is None and session.device_brand is None
        assert session.is_active(later.replace(tzinfo=UTC) - timedelta(seconds=1))
        await store.engine.dispose()

    asyncio.run(read())


def test_a_mariadb_migration_logs_no_note_per_table(caplog: pytest.LogCaptureFixture) -> None:
    """MariaDB notes that each primary key's name is ignored; ``wxauth db upgrade`` (and a
    downgrade) shows none of those notes, and leaves the driver's log as it found it."""
    import asyncio
    import logging

    from tests.services import MARIADB_PORT, require
    from tests.storage.conftest import _mariadb, unique_name

    require("MariaDB", MARIADB_PORT)
    name = unique_name()
    asyncio.run(_mariadb(f"CREATE DATABASE `{name}`"))
    url = f"mysql+asyncmy://root@127.0.0.1:{MARIADB_PORT}/{name}"
    try:
        with caplog.at_level(logging.WARNING, logger="asyncmy"):
            upgrade(url)
            downgrade(url, "base")
            upgrade(url)
        assert [r.getMessage() for r in caplog.records if r.name.startswith("asyncmy")] == []
        assert logging.getLogger("asyncmy").filters == []
        asyncio.run(_mariadb(f"SELECT COUNT(*) FROM `{name}`.users"))  # noqa: S608
    finally:
        asyncio.run(_mariadb(f"DROP DATABASE IF EXISTS `{name}`"))
