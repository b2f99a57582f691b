"""POST /v1/introspect: service keys, RFC 7662 answers, and exactly {"active": false}."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from tests.conftest import APPID, FakeClock, Harness, bearer, close_harness, open_harness
from wxauth.api.routes.introspect import key_matches
from wxauth.config import Settings
from wxauth.simulator import SimulatorState
from wxauth.simulator.state import openid_for

KEY = "svc-key-current-0123456789abcdef"
OLD_KEY = "svc-key-previous-fedcba9876543210"
INACTIVE = {"active": False}


@pytest.fixture
async def h(
    settings: Settings, sim_state: SimulatorState, clock: FakeClock
) -> AsyncIterator[Harness]:
    keyed = settings.model_copy(update={"service_keys": [SecretStr(KEY), SecretStr(OLD_KEY)]})
    harness, app = await open_harness(keyed, sim_state, clock)
    yield harness
    await close_harness(harness, app)


async def introspect(h: Harness, token: object, key: str = KEY) -> dict[str, object]:
    response = await h.api.post("/v1/introspect", json={"token": token}, headers=bearer(key))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, object] = response.json()
    return body


async def test_active_token_answers_rfc7662_fields(h: Harness) -> None:
    login = await h.login("alice")
    body = await introspect(h, login["token"])
    assert body["active"] is True
    assert body["token_type"] == "Bearer"
    assert body["sub"] == login["user"]["id"]
    assert body["client_id"] == APPID
    assert body["openid"] == openid_for(APPID, "alice")
    assert "unionid" in body
    assert isinstance(body["exp"], int) and isinstance(body["iat"], int)
    assert body["exp"] - body["iat"] == 30 * 86_400
    assert body["user"] == login["user"]


async def test_form_encoded_request_as_rfc7662_clients_send_it(h: Harness) -> None:
    token = (await h.login("alice"))["token"]
    response = await h.api.post(
        "/v1/introspect",
        content=f"token={token}&token_type_hint=access_token",
        headers={**bearer(KEY), "content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert response.json()["active"] is True


async def test_every_configured_key_works_for_rotation(h: Harness) -> None:
    token = (await h.login("alice"))["token"]
    assert (await introspect(h, token, key=OLD_KEY))["active"] is True


@pytest.mark.parametrize(
    "headers",
    [
        {},
        bearer("wrong-key"),
        bearer(KEY + "x"),
        bearer(KEY[:-1]),
        {"Authorization": f"Basic {KEY}"},
    ],
)
async def test_without_a_valid_service_key_401(h: Harness, headers: dict[str, str]) -> None:
    token = (await h.login("alice"))["token"]
    response = await h.api.post("/v1/introspect", json={"token": token}, headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "invalid_token"
    assert "service key" in body["message"]
    assert body["request_id"] == response.headers["x-request-id"]
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert token not in response.text and KEY not in response.text


async def test_the_key_is_checked_before_the_body(h: Harness) -> None:
    response = await h.api.post("/v1/introspect", content=b"{not json", headers=bearer("nope"))
    assert response.status_code == 401


async def test_no_service_keys_configured_means_no_introspection(harness: Harness) -> None:
    token = (await harness.login("alice"))["token"]
    response = await harness.api.post("/v1/introspect", json={"token": token}, headers=bearer(""))
    assert response.status_code == 401
    response = await harness.api.post("/v1/introspect", json={"token": token}, headers=bearer(KEY))
    assert response.status_code == 401


@pytest.fixture
async def guarded(
    settings: Settings, sim_state: SimulatorState, clock: FakeClock
) -> AsyncIterator[Harness]:
    changes = {
        "service_keys": [SecretStr(KEY)],
        "rate_limit_service_key_failures_ip": 5,
        "rate_limit_window": 3600,
        "trusted_proxies": ["127.0.0.0/8"],
    }
    harness, app = await open_harness(settings.model_copy(update=changes), sim_state, clock)
    yield harness
    await close_harness(harness, app)


def from_address(address: str, key: str) -> dict[str, str]:
    return {**bearer(key), "X-Forwarded-For": address}


async def test_wrong_service_keys_are_limited_per_address(guarded: Harness) -> None:
    token = (await guarded.login("alice"))["token"]
    body = {"token": token}
    for n in range(5):
        wrong = from_address("203.0.113.1", f"guess-{n}")
        assert (
            await guarded.api.post("/v1/introspect", json=body, headers=wrong)
        ).status_code == 401
    limited = await guarded.api.post(
        "/v1/introspect", json=body, headers=from_address("203.0.113.1", "guess-again")
    )
    assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 3600
    missing = await guarded.api.post(
        "/v1/introspect", json=body, headers={"X-Forwarded-For": "203.0.113.1"}
    )
    assert missing.status_code == 429  # no key at all is a wrong key too
    # Another address is not affected; a right key is never limited, not even from there.
    other = from_address("203.0.113.2", "guess")
    assert (await guarded.api.post("/v1/introspect", json=body, headers=other)).status_code == 401
    for _ in range(200):
        right = await guarded.api.post(
            "/v1/introspect", json=body, headers=from_address("203.0.113.1", KEY)
        )
        assert right.status_code == 200 and right.json()["active"] is True


async def test_revoked_token_is_exactly_inactive(h: Harness) -> None:
    token = (await h.login("alice"))["token"]
    assert (await h.api.post("/v1/logout", headers=bearer(token))).status_code == 204
    assert await introspect(h, token) == INACTIVE


async def test_expired_token_is_exactly_inactive(h: Harness, clock: FakeClock) -> None:
    token = (await h.login("alice"))["token"]
    clock.advance(days=31)
    assert await introspect(h, token) == INACTIVE


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "wxa_" + "A" * 43, "wxa_" + "x" * 5000, "wxa_é", "Bearer wxa_abc", "\x00"],
)
async def test_unknown_or_garbage_token_is_exactly_inactive(h: Harness, token: str) -> None:
    await h.login("alice")
    assert await introspect(h, token) == INACTIVE


@pytest.mark.parametrize(
    ("content", "status"),
    [(b"{not json", 400), (b"{}", 422), (b'{"token": 12}', 422), (b'{"token": null}', 422)],
)
async def test_malformed_body_is_4xx_in_the_usual_shape(
    h: Harness, content: bytes, status: int
) -> None:
    response = await h.api.post(
        "/v1/introspect",
        content=content,
        headers={**bearer(KEY), "content-type": "application/json"},
    )
    assert response.status_code == status
    assert response.json()["error"] == "invalid_request"


async def test_form_body_that_is_not_utf8_is_400(h: Harness) -> None:
    response = await h.api.post(
        "/v1/introspect",
        content=b"token=\xff\xfe",
        headers={**bearer(KEY), "content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_introspection_keeps_the_session_alive(h: Harness, clock: FakeClock) -> None:
    # A backend checking the token is a use of it: the idle expiry slides.
    token = (await h.login("alice"))["token"]
    for _ in range(3):
        clock.advance(days=6)
        assert (await introspect(h, token))["active"] is True


def test_key_matches_needs_an_exact_match() -> None:
    keys = [SecretStr("alpha"), SecretStr("beta")]
    assert key_matches("beta", keys)
    assert not key_matches("bet", keys)
    assert not key_matches("betaa", keys)
    assert not key_matches("", keys)
    assert not key_matches("alpha", [])
