"""The FastAPI glue: CurrentUser/OptionalUser, error rendering, closing, and mounting the
whole wxauth API inside an existing app (checked in-process, against the simulator)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import APPID, FakeClock, bearer
from tests.integrations.fakes import DOWN, GOOD, TableVerifier
from wxauth.api.mount import mount_wxauth
from wxauth.config import Settings
from wxauth.integrations.fastapi import CurrentUser, OptionalUser, install
from wxauth.simulator import SimulatorState, create_simulator_app


def business_app() -> FastAPI:
    app = FastAPI()

    @app.get("/whoami")
    async def whoami(user: CurrentUser) -> dict[str, str]:
        return {"user_id": user.user_id, "appid": user.appid}

    @app.get("/maybe")
    async def maybe(user: OptionalUser) -> dict[str, str | None]:
        return {"user_id": user.user_id if user else None}

    return app


@pytest.fixture
async def table_app() -> AsyncIterator[tuple[httpx.AsyncClient, TableVerifier]]:
    app, verifier = business_app(), TableVerifier()
    install(app, verifier)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://biz") as client:
            yield client, verifier
    assert verifier.closed  # install closes the verifier with the app


async def test_current_user(table_app: tuple[httpx.AsyncClient, TableVerifier]) -> None:
    client, _ = table_app
    response = await client.get("/whoami", headers=bearer(GOOD))
    assert response.json() == {"user_id": "u1", "appid": "wx1"}


@pytest.mark.parametrize(
    "headers", [{}, bearer("wxa_nope"), {"Authorization": "Basic x"}, {"Authorization": "Bearer"}]
)
async def test_invalid_token_is_401_like_the_service(
    table_app: tuple[httpx.AsyncClient, TableVerifier], headers: dict[str, str]
) -> None:
    client, _ = table_app
    response = await client.get("/whoami", headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert set(body) == {"error", "message", "request_id"}
    assert body["error"] == "invalid_token"
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_service_unreachable_is_503(
    table_app: tuple[httpx.AsyncClient, TableVerifier],
) -> None:
    client, _ = table_app
    response = await client.get("/whoami", headers=bearer(DOWN))
    assert response.status_code == 503
    assert response.json()["error"] == "auth_unavailable"
    assert response.headers["retry-after"] == "5"


async def test_optional_user(table_app: tuple[httpx.AsyncClient, TableVerifier]) -> None:
    client, _ = table_app
    assert (await client.get("/maybe")).json() == {"user_id": None}
    assert (await client.get("/maybe", headers=bearer(GOOD))).json() == {"user_id": "u1"}
    assert (await client.get("/maybe", headers=bearer("wxa_nope"))).status_code == 401


async def test_mounted_wxauth_logs_in_and_checks_in_process(
    settings: Settings, sim_state: SimulatorState, clock: FakeClock
) -> None:
    app = business_app()
    sim = create_simulator_app(sim_state)
    mount_wxauth(
        app, settings, path="/auth", wechat_transport=httpx.ASGITransport(sim), clock=clock
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://biz") as client,
        httpx.AsyncClient(transport=httpx.ASGITransport(sim), base_url="http://sim") as phone,
    ):
        code = (await phone.post("/sim/login", json={"appid": APPID, "user": "alice"})).json()
        login = await client.post("/auth/v1/login", json={"code": code["code"]})
        assert login.status_code == 200, login.text
        token, user_id = login.json()["token"], login.json()["user"]["id"]

        assert (await client.get("/whoami", headers=bearer(token))).json()["user_id"] == user_id
        assert (await client.get("/auth/v1/me", headers=bearer(token))).status_code == 200

        assert (await client.post("/auth/v1/logout", headers=bearer(token))).status_code == 204
        refused = await client.get("/whoami", headers=bearer(token))  # at once: no cache
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_token"
        # The mounted API keeps its own error rendering and request ids.
        missing = await client.get("/auth/v1/nope")
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"
        assert missing.headers["x-request-id"]
