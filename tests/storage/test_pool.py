"""Database connections as a bounded resource: a request that finds none free within
``WXAUTH_DATABASE_POOL_TIMEOUT``, or a server that refuses more connections, answers 503
``storage_unavailable`` with Retry-After, never 500; and once a connection is free again,
the same app serves."""

from __future__ import annotations

import logging
import time

import pytest

from tests.conftest import bearer, close_harness, open_harness
from wxauth.config import Settings
from wxauth.simulator import SimulatorState
from wxauth.storage.engine import PoolSize, create_engine

from .conftest import POSTGRES_USERS, _postgres, _postgres_user, unique_name

POOL_TIMEOUT_S = 0.3
FAKE_TOKEN = "wxa_" + "A" * 43


def assert_503(response_status: int, body: dict[str, object], retry: str | None) -> None:
    assert response_status == 503, body
    assert body["error"] == "storage_unavailable"
    assert retry is not None and int(retry) > 0


def test_the_pool_is_sized_from_the_settings() -> None:
    engine = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none", pool=PoolSize(3, 2, 1.5))
    pool = engine.sync_engine.pool
    assert pool.size() == 3  # type: ignore[attr-defined]
    assert pool._max_overflow == 2  # type: ignore[attr-defined]
    assert pool._timeout == 1.5  # type: ignore[attr-defined]
    assert not pool._pre_ping  # a round trip per checkout, i.e. per request


@pytest.fixture(params=["postgres_url", "mariadb_url"], ids=["postgresql", "mariadb"])
def server_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(request.param)
    return url


async def test_no_free_connection_within_the_bound_is_503(
    server_url: str,
    settings: Settings,
    sim_state: SimulatorState,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = server_url
    one = {
        "database_url": url,
        "database_pool_size": 1,
        "database_max_overflow": 0,
        "database_pool_timeout": POOL_TIMEOUT_S,
        "session_cache_ttl": 0,  # every check reads the database
    }
    h, app = await open_harness(settings.model_copy(update=one), sim_state)
    try:
        token = (await h.login("alice"))["token"]
        engine = app.state.wxauth.wiring.engine
        with caplog.at_level(logging.ERROR):
            async with engine.connect() as held:  # the pool's only connection, taken
                await held.exec_driver_sql("SELECT 1")
                started = time.monotonic()
                me = await h.api.get("/v1/me", headers=bearer(token))
                waited = time.monotonic() - started
                assert_503(me.status_code, me.json(), me.headers.get("retry-after"))
                login = await h.api.post("/v1/login", json={"code": await h.code("bob")})
                assert_503(login.status_code, login.json(), login.headers.get("retry-after"))
        assert POOL_TIMEOUT_S * 0.9 <= waited < POOL_TIMEOUT_S + 2.0  # waited the bound
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no traceback
        me = await h.api.get("/v1/me", headers=bearer(token))  # free again: served
        assert me.status_code == 200, me.text
    finally:
        await close_harness(h, app)


async def test_postgres_refusing_more_connections_is_503_not_500(
    postgres_url: str,
    settings: Settings,
    sim_state: SimulatorState,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """PostgreSQL's "too many clients already" and "too many connections for role" are both
    SQLSTATE 53300; a role allowed no connections gets the latter on every connect."""
    admin = await _postgres_user()
    assert admin in POSTGRES_USERS
    role = unique_name()
    await _postgres(admin, f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0')
    try:
        refused = postgres_url.replace(f"//{admin}@", f"//{role}@")
        h, app = await open_harness(
            settings.model_copy(update={"database_url": refused, "session_cache_ttl": 0}),
            sim_state,
        )
        try:
            with caplog.at_level(logging.WARNING):
                login = await h.api.post("/v1/login", json={"code": await h.code()})
                me = await h.api.get("/v1/me", headers=bearer(FAKE_TOKEN))
            assert_503(login.status_code, login.json(), login.headers.get("retry-after"))
            assert_503(me.status_code, me.json(), me.headers.get("retry-after"))
            assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
            warned = [r.getMessage() for r in caplog.records if "unavailable" in r.getMessage()]
            assert any("SQLSTATE 53300" in message for message in warned), warned
        finally:
            await close_harness(h, app)
    finally:
        await _postgres(admin, f'DROP ROLE IF EXISTS "{role}"')
