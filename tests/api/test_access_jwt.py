"""POST /v1/token, the JWKS and the discovery document, verified by PyJWT from the JWKS alone."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest

from tests.conftest import APPID, FakeClock, Harness, bearer, close_harness, open_harness
from wxauth.config import Settings
from wxauth.simulator import SimulatorState
from wxauth.storage.sql import SqlStore
from wxauth.storage.tables import signing_keys
from wxauth.wiring import Wiring


@pytest.fixture
def now_clock() -> FakeClock:
    """A clock the test moves, starting at the real now (PyJWT checks exp against it)."""
    clock = FakeClock()
    clock.now = datetime.now(UTC)
    return clock


@pytest.fixture
def jwt_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"jwt_issuer": "https://auth.example.com", "jwt_ttl": 300})


@pytest.fixture
async def served(
    jwt_settings: Settings, sim_state: SimulatorState, now_clock: FakeClock
) -> AsyncIterator[tuple[Harness, Any]]:
    harness, app = await open_harness(jwt_settings, sim_state, now_clock)
    yield harness, app
    await close_harness(harness, app)


@pytest.fixture
def h(served: tuple[Harness, Any]) -> Harness:
    return served[0]


@pytest.fixture
def wiring(served: tuple[Harness, Any]) -> Wiring:
    wired: Wiring = served[1].state.wxauth.wiring
    return wired


async def mint(h: Harness, session_token: str) -> dict[str, Any]:
    response = await h.api.post("/v1/token", headers=bearer(session_token))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


async def jwks(h: Harness) -> jwt.PyJWKSet:
    response = await h.api.get("/.well-known/jwks.json")
    assert response.status_code == 200
    return jwt.PyJWKSet.from_dict(response.json())


def verify(token: str, keys: jwt.PyJWKSet) -> dict[str, Any]:
    """What a gateway does: the key named by the header's kid, from the JWKS only."""
    kid = jwt.get_unverified_header(token)["kid"]
    matching = [k for k in keys.keys if k.key_id == kid]
    if not matching:
        raise jwt.InvalidKeyError(f"no key {kid} in the JWKS")
    claims: dict[str, Any] = jwt.decode(
        token,
        matching[0],
        algorithms=["ES256"],
        audience=APPID,
        issuer="https://auth.example.com",
        options={"require": ["exp", "iat", "sub", "jti"]},
    )
    return claims


async def test_a_minted_jwt_verifies_from_the_jwks_with_the_documented_claims(h: Harness) -> None:
    login = await h.login("alice")
    body = await mint(h, login["token"])
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    claims = verify(body["access_token"], await jwks(h))
    assert claims["sub"] == login["user"]["id"]
    assert claims["aud"] == claims["azp"] == APPID
    assert claims["exp"] - claims["iat"] == 300
    assert len(claims["sid"]) == 16 and claims["jti"]
    assert claims["iss"] == "https://auth.example.com"
    sessions = await h.api.get("/v1/me/sessions", headers=bearer(login["token"]))
    assert claims["sid"] == sessions.json()["sessions"][0]["id"]
    again = verify((await mint(h, login["token"]))["access_token"], await jwks(h))
    assert again["jti"] != claims["jti"]
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "ES256"


async def test_a_tampered_or_foreign_jwt_does_not_verify(h: Harness) -> None:
    token = (await mint(h, (await h.login("alice"))["token"]))["access_token"]
    head, payload, signature = token.split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    claims["sub"] = "someone-else"
    forged = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    with pytest.raises(jwt.InvalidSignatureError):
        verify(f"{head}.{forged}.{signature}", await jwks(h))
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, (await jwks(h)).keys[0], algorithms=["ES256"], audience="wxother")


async def test_a_revoked_session_mints_no_more(h: Harness) -> None:
    login = await h.login("alice")
    await mint(h, login["token"])
    assert (await h.api.post("/v1/logout", headers=bearer(login["token"]))).status_code == 204
    refused = await h.api.post("/v1/token", headers=bearer(login["token"]))
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_token"
    assert (await h.api.post("/v1/token")).status_code == 401


async def test_a_jwt_never_outlives_its_session(
    jwt_settings: Settings, sim_state: SimulatorState, now_clock: FakeClock
) -> None:
    short = jwt_settings.model_copy(
        update={"session_idle_ttl": 1000, "session_max_ttl": 1000, "session_touch_interval": 10}
    )
    h, app = await open_harness(short, sim_state, now_clock)
    try:
        login = await h.login("alice")
        now_clock.advance(seconds=900)
        body = await mint(h, login["token"])
        assert 0 < body["expires_in"] <= 100
    finally:
        await close_harness(h, app)


async def test_after_rotation_old_tokens_verify_until_their_key_leaves_the_jwks(
    h: Harness, wiring: Wiring, now_clock: FakeClock
) -> None:
    login = await h.login("alice")
    old = (await mint(h, login["token"]))["access_token"]
    jwts = wiring.access_jwts
    await jwts.rotate()
    new = (await mint(h, login["token"]))["access_token"]
    old_kid, new_kid = (jwt.get_unverified_header(t)["kid"] for t in (old, new))
    assert old_kid != new_kid
    keys = await jwks(h)
    assert {k.key_id for k in keys.keys} == {old_kid, new_kid}
    verify(old, keys)
    verify(new, keys)
    # Still published one second before the last token the old key signed may expire...
    now_clock.advance(seconds=jwts.retention.total_seconds() - 1)
    verify(old, await jwks(h))
    # ...and gone after: the old token no longer verifies, the new one still does.
    now_clock.advance(seconds=2)
    keys = await jwks(h)
    assert [k.key_id for k in keys.keys] == [new_kid]
    with pytest.raises(jwt.InvalidKeyError):
        verify(old, keys)
    verify(new, keys)


async def test_signing_keys_are_stored_encrypted(h: Harness, wiring: Wiring) -> None:
    await mint(h, (await h.login("alice"))["token"])
    store = wiring.sql_store
    assert isinstance(store, SqlStore)
    async with store.engine.connect() as conn:
        rows = (await conn.execute(signing_keys.select())).all()
    assert len(rows) == 1
    assert "PRIVATE KEY" not in rows[0].private_key_enc
    assert "PRIVATE KEY" in wiring.keyring.decrypt(rows[0].private_key_enc)
    public = json.loads(rows[0].public_jwk)
    assert set(public) == {"kty", "crv", "x", "y", "kid", "alg", "use"}  # no "d"


async def test_discovery_names_the_issuer_jwks_and_introspection(h: Harness) -> None:
    doc = (await h.api.get("/.well-known/openid-configuration")).json()
    assert doc["issuer"] == "https://auth.example.com"
    assert doc["jwks_uri"] == "https://auth.example.com/.well-known/jwks.json"
    assert doc["introspection_endpoint"] == "https://auth.example.com/v1/introspect"
    assert doc["id_token_signing_alg_values_supported"] == ["ES256"]


async def test_the_issuer_defaults_to_the_public_url(
    settings: Settings, sim_state: SimulatorState
) -> None:
    custom = settings.model_copy(update={"public_url": "https://login.example.org/"})
    harness, app = await open_harness(custom, sim_state)
    try:
        doc = (await harness.api.get("/.well-known/openid-configuration")).json()
        assert doc["issuer"] == "https://login.example.org"
    finally:
        await close_harness(harness, app)


def test_jwt_settings_are_bounded() -> None:
    with pytest.raises(ValueError, match="jwt_ttl"):
        Settings(jwt_ttl=0)
