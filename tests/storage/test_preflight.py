"""The start-up checks of the database: the schema revision (cached for /readyz) and the
one-line answers for a database that is missing or cannot be reached."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from wxauth.api.app import create_app
from wxauth.config import Settings
from wxauth.core.keyring import generate_key
from wxauth.errors import ServerMisconfigured
from wxauth.storage.engine import create_engine
from wxauth.storage.migrate import SchemaCheck, downgrade, head_revision, is_current, upgrade
from wxauth.storage.preflight import check_database, require_migrated


async def test_revision_helpers_and_the_cached_check(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 's.db'}"
    engine = create_engine(url)
    try:
        assert not await is_current(engine)
        check = SchemaCheck(engine, recheck_s=3600)
        status = await check.status()
        assert status.current is None and status.head == head_revision()
        assert status.problem() == (
            f"the database is not migrated (revision none, need {head_revision()}): "
            "run wxauth db upgrade"
        )
        await asyncio.to_thread(upgrade, url)
        assert await is_current(engine)
        assert not (await check.status()).ok  # cached within recheck_s
        check = SchemaCheck(engine, recheck_s=0)
        assert (await check.status()).ok
        await asyncio.to_thread(downgrade, url, "0001")
        assert (await check.status()).ok  # once at head, never asked again
        with pytest.raises(ServerMisconfigured, match="revision 0001, need"):
            await require_migrated(url)
    finally:
        await engine.dispose()


async def test_readyz_reports_an_unmigrated_schema(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{db}",
        apps="wx0123456789abcdef:s",
        secret_keys=generate_key(),
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {
            "status": "unavailable",
            "reason": f"the database is not migrated (revision none, need {head_revision()}): "
            "run wxauth db upgrade",
        }
        assert (await client.get("/healthz")).json() == {"status": "ok"}
    await app.state.wxauth.wiring.aclose()


async def test_missing_postgres_database(postgres_url: str) -> None:
    missing = make_url(postgres_url).set(database="wxauth_no_such_database")
    url = missing.render_as_string(hide_password=False)
    with pytest.raises(ServerMisconfigured) as caught:
        await check_database(url)
    assert caught.value.message.startswith(
        "the database 'wxauth_no_such_database' does not exist at postgresql://"
    )
    assert (await check_database(postgres_url)).ok
