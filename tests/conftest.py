"""Shared fixtures: a migrated SQLite database, the simulator, and the API in-process."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from wxauth.api.app import create_app
from wxauth.config import Settings
from wxauth.core.keyring import generate_key
from wxauth.simulator import SimApp, SimulatorState, create_simulator_app
from wxauth.storage.migrate import upgrade

APPID = "wx1111111111111111"
SECRET = "s3cret-of-the-test-app-0123456789"
OTHER_APPID = "wx2222222222222222"
OTHER_SECRET = "another-secret-9876543210"


class FakeClock:
    """A clock the tests move by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def db_path(tmp_path: Path, migrated_template: Path) -> Path:
    path = tmp_path / "wxauth.db"
    shutil.copy(migrated_template, path)
    return path


@pytest.fixture
def settings(db_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite+aiosqlite:///{db_path}",
        apps={APPID: SecretStr(SECRET)},
        wechat_base_url="http://wechat.test",
        secret_keys=[SecretStr(generate_key())],
    )


@pytest.fixture
def sim_state() -> SimulatorState:
    return SimulatorState([SimApp(APPID, SECRET), SimApp(OTHER_APPID, OTHER_SECRET)])


@pytest.fixture
def sim_transport(sim_state: SimulatorState) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=create_simulator_app(sim_state))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# Every (method, route, status) the in-process API answered during the run: at the end, each
# must be documented in the OpenAPI (see pytest_sessionfinish below).
SEEN: set[tuple[str, str, int]] = set()


class Recording:
    """An ASGI wrapper that notes the route and status of every answer."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        statuses: list[int] = []

        async def noting(message: Any) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])
            await send(message)

        await self.app(scope, receive, noting)
        route = scope.get("route")
        if scope["type"] == "http" and route is not None and statuses:
            SEEN.add((scope["method"], getattr(route, "path", ""), statuses[0]))


def undocumented(seen: set[tuple[str, str, int]], spec: dict[str, Any]) -> list[str]:
    """The answers seen that the OpenAPI does not list for their route."""
    missing = []
    for method, path, status in sorted(seen):
        operation = spec.get("paths", {}).get(path, {}).get(method.lower())
        if operation is not None and str(status) not in operation["responses"]:
            missing.append(f"{method} {path} answered {status}")
    return missing


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not SEEN:
        return
    spec = create_app(
        Settings(
            database_url="sqlite+aiosqlite:///:memory:",
            apps={APPID: SecretStr(SECRET)},
            secret_keys=[SecretStr(generate_key())],
        )
    ).openapi()
    missing = undocumented(SEEN, spec)
    if missing:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = ["answers the OpenAPI does not document:", *missing]
        if reporter is not None:
            reporter.write_line("\n".join(lines), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@dataclass
class Harness:
    """The API and the simulator's phone side, both in-process."""

    api: httpx.AsyncClient
    phone: httpx.AsyncClient
    sim: SimulatorState

    async def code(self, user: str = "alice", appid: str = APPID) -> str:
        response = await self.phone.post("/sim/login", json={"appid": appid, "user": user})
        assert response.status_code == 200, response.text
        code: str = response.json()["code"]
        return code

    async def login(self, user: str = "alice", **extra: Any) -> dict[str, Any]:
        response = await self.api.post("/v1/login", json={"code": await self.code(user), **extra})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


async def open_harness(
    settings: Settings, sim_state: SimulatorState, clock: FakeClock | None = None
) -> tuple[Harness, Any]:
    sim_app = create_simulator_app(sim_state)
    kwargs: dict[str, Any] = {"wechat_transport": httpx.ASGITransport(app=sim_app)}
    if clock is not None:
        kwargs["clock"] = clock
    app = create_app(settings, **kwargs)
    recorded = Recording(app)
    api = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=recorded), base_url="http://wxauth.test"
    )
    phone = httpx.AsyncClient(transport=httpx.ASGITransport(app=sim_app), base_url="http://sim")
    return Harness(api, phone, sim_state), app


async def close_harness(harness: Harness, app: Any) -> None:
    await harness.api.aclose()
    await harness.phone.aclose()
    async with app.router.lifespan_context(app):  # runs the shutdown half: closes pools
        pass


@pytest.fixture
async def harness(
    settings: Settings, sim_state: SimulatorState, clock: FakeClock
) -> AsyncIterator[Harness]:
    h, app = await open_harness(settings, sim_state, clock)
    yield h
    await close_harness(h, app)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"
