"""The ASGI middleware, in a plain Starlette app."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.conftest import bearer
from tests.integrations.fakes import DOWN, GOOD, TableVerifier
from wxauth.integrations.asgi import WxAuthMiddleware


async def whoami(request: Request) -> JSONResponse:
    user = request.state.wxauth_user
    return JSONResponse({"user_id": user.user_id if user else None})


def client(required: bool = False) -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/whoami", whoami)])
    wrapped = WxAuthMiddleware(app, verifier=TableVerifier(), required=required)
    return httpx.AsyncClient(transport=httpx.ASGITransport(wrapped), base_url="http://biz")


async def test_valid_token_puts_the_user_on_request_state() -> None:
    async with client() as c:
        assert (await c.get("/whoami", headers=bearer(GOOD))).json() == {"user_id": "u1"}


async def test_no_token_passes_as_anonymous_unless_required() -> None:
    async with client() as c:
        assert (await c.get("/whoami")).json() == {"user_id": None}
    async with client(required=True) as c:
        response = await c.get("/whoami")
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_token"


@pytest.mark.parametrize("token", ["wxa_nope", "garbage"])
async def test_a_sent_token_must_be_valid(token: str) -> None:
    async with client() as c:
        response = await c.get("/whoami", headers=bearer(token))
    assert response.status_code == 401
    assert set(response.json()) == {"error", "message", "request_id"}
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_service_unreachable_is_503() -> None:
    async with client() as c:
        response = await c.get("/whoami", headers=bearer(DOWN))
    assert response.status_code == 503
    assert response.json()["error"] == "auth_unavailable"
