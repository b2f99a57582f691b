"""The database going away under a running server, for real (a TCP proxy in front of the
real PostgreSQL or MariaDB): logins and token checks answer 503 ``storage_unavailable``,
never 500 and never with a traceback in the log; nothing is half-written; and once the
database is back, the same process serves again, without a restart."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import APPID, bearer, close_harness, open_harness
from tests.tcpproxy import TcpProxy
from wxauth.config import Settings
from wxauth.simulator import SimulatorState
from wxauth.simulator.state import openid_for

from .test_pool import assert_503


@pytest.fixture(params=["postgres_url", "mariadb_url"], ids=["postgresql", "mariadb"])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(request.param)  # migrated (alembic runs its own loop)
    return url


@pytest.fixture
async def proxied(database_url: str) -> AsyncIterator[tuple[str, TcpProxy]]:
    """The backend's scratch database, reached through a proxy."""
    url = make_url(database_url)
    assert url.port is not None
    proxy = TcpProxy(url.port)
    await proxy.up()
    yield url.set(port=proxy.port).render_as_string(hide_password=False), proxy
    await proxy.aclose()


async def test_a_database_outage_is_503_and_the_process_recovers(
    proxied: tuple[str, TcpProxy],
    settings: Settings,
    sim_state: SimulatorState,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, proxy = proxied
    changes = {"database_url": url, "session_cache_ttl": 0}  # every check reads the database
    h, app = await open_harness(settings.model_copy(update=changes), sim_state)
    try:
        token = (await h.login("alice"))["token"]
        assert (await h.login("carol"))["new_user"] is True  # the pool's connections warm
        await proxy.down()
        with caplog.at_level(logging.WARNING):
            # The login first: it finds the pool's connections dead (nothing has failed on
            # them yet), so its write fails on the wire, not at checkout.
            code = await h.code("bob")
            login = await h.api.post("/v1/login", json={"code": code})
            assert_503(login.status_code, login.json(), login.headers.get("retry-after"))
            me = await h.api.get("/v1/me", headers=bearer(token))
            assert_503(me.status_code, me.json(), me.headers.get("retry-after"))
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert "Traceback" not in caplog.text
        await proxy.up()
        me = await h.api.get("/v1/me", headers=bearer(token))
        assert me.status_code == 200, me.text
        bob = await h.login("bob")  # a fresh code: nothing of the failed login remains
        assert bob["new_user"] is True
        store = app.state.wxauth.wiring.store
        for name in ("alice", "bob", "carol"):
            assert await store.find_user(APPID, openid_for(APPID, name)) is not None
    finally:
        await close_harness(h, app)
