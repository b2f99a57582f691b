"""The example shops (examples/shop_fastapi, examples/shop_flask) against a real wxauth
(``wxauth dev`` in a subprocess), checking tokens through POST /v1/introspect."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from examples.shop_fastapi.app import create_shop as create_fastapi_shop
from examples.shop_flask.app import create_shop as create_flask_shop
from flask.testing import FlaskClient

from tests.conftest import bearer
from tests.integrations.conftest import SERVICE_KEY, MonotonicClock, WxAuthServer
from wxauth.integrations import BlockingVerifier, RemoteVerifier

TTL = 5.0  # the revocation bound these shops run with
GARBAGE = ["garbage", "wxa_" + "A" * 43, "Basic abc"]


def remote(server: WxAuthServer, mono: MonotonicClock) -> RemoteVerifier:
    return RemoteVerifier(server.url, SERVICE_KEY, cache_ttl=TTL, clock=mono)


def assert_invalid_token(status: int, body: object) -> None:
    assert status == 401
    assert isinstance(body, dict) and body["error"] == "invalid_token"
    assert "log in again" in body["message"]


@pytest.fixture
async def fastapi_shop(
    wxauth_server: WxAuthServer, mono: MonotonicClock
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_fastapi_shop(remote(wxauth_server, mono))
    async with app.router.lifespan_context(app):  # closes the verifier at the end
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
            yield client


@pytest.fixture
def flask_shop(wxauth_server: WxAuthServer, mono: MonotonicClock) -> Iterator[FlaskClient]:
    verifier = BlockingVerifier(remote(wxauth_server, mono))
    try:
        yield create_flask_shop(verifier).test_client()
    finally:
        verifier.close()


async def test_fastapi_shop_accepts_a_wxauth_token(
    fastapi_shop: httpx.AsyncClient, wxauth_server: WxAuthServer
) -> None:
    token = wxauth_server.login("alice")
    placed = await fastapi_shop.post(
        "/orders", json={"item": "tea", "quantity": 2}, headers=bearer(token)
    )
    assert placed.status_code == 201, placed.text
    assert placed.json()["total"] == 36
    mine = await fastapi_shop.get("/orders", headers=bearer(token))
    assert [o["item"] for o in mine.json()] == ["tea"]
    # Another user of the same mini program sees only their own orders.
    other = await fastapi_shop.get("/orders", headers=bearer(wxauth_server.login("bob")))
    assert other.json() == []


async def test_fastapi_shop_rejects_a_revoked_token_within_the_bound(
    fastapi_shop: httpx.AsyncClient, wxauth_server: WxAuthServer, mono: MonotonicClock
) -> None:
    token = wxauth_server.login("carol")
    assert (await fastapi_shop.get("/orders", headers=bearer(token))).status_code == 200
    wxauth_server.logout(token)
    mono.advance(TTL)
    response = await fastapi_shop.get("/orders", headers=bearer(token))
    assert_invalid_token(response.status_code, response.json())
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.parametrize("garbage", GARBAGE)
async def test_fastapi_shop_rejects_garbage_with_401(
    fastapi_shop: httpx.AsyncClient, garbage: str
) -> None:
    for headers in (bearer(garbage), {"Authorization": garbage}, {}):
        response = await fastapi_shop.get("/orders", headers=headers)
        assert_invalid_token(response.status_code, response.json())


async def test_fastapi_shop_public_page_with_and_without_a_user(
    fastapi_shop: httpx.AsyncClient, wxauth_server: WxAuthServer
) -> None:
    assert (await fastapi_shop.get("/products")).json()["hello"] == "guest"
    token = wxauth_server.login("dave")
    wxauth_server.update_profile(token, nickName="小明 🐼")
    headers = bearer(token)
    assert (await fastapi_shop.get("/products", headers=headers)).json()["hello"] == "小明 🐼"


def test_flask_shop_accepts_a_wxauth_token(
    flask_shop: FlaskClient, wxauth_server: WxAuthServer
) -> None:
    token = wxauth_server.login("erin")
    placed = flask_shop.post("/orders", json={"item": "mooncake"}, headers=bearer(token))
    assert placed.status_code == 201, placed.text
    assert placed.get_json()["total"] == 32
    assert [o["item"] for o in flask_shop.get("/orders", headers=bearer(token)).get_json()] == [
        "mooncake"
    ]
    bad = flask_shop.post(
        "/orders", json={"item": "mooncake", "quantity": 0}, headers=bearer(token)
    )
    assert bad.status_code == 422


def test_flask_shop_rejects_a_revoked_token_within_the_bound(
    flask_shop: FlaskClient, wxauth_server: WxAuthServer, mono: MonotonicClock
) -> None:
    token = wxauth_server.login("frank")
    assert flask_shop.get("/orders", headers=bearer(token)).status_code == 200
    wxauth_server.logout(token)
    mono.advance(TTL)
    response = flask_shop.get("/orders", headers=bearer(token))
    assert_invalid_token(response.status_code, response.get_json())
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.parametrize("garbage", GARBAGE)
def test_flask_shop_rejects_garbage_with_401(flask_shop: FlaskClient, garbage: str) -> None:
    for headers in (bearer(garbage), {"Authorization": garbage}, {}):
        response = flask_shop.get("/orders", headers=headers)
        assert_invalid_token(response.status_code, response.get_json())
