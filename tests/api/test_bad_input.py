"""Bad input gets a clear 4xx with the error shape, and changes nothing."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import Harness, bearer


def _counts(db_path: Path) -> tuple[int, int]:
    with sqlite3.connect(db_path) as conn:
        users = conn.execute("SELECT count(*) FROM users").fetchone()[0]
        sessions = conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
    return users, sessions


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"", 422),
        (b"[]", 422),
        (b'{"code": 5}', 422),
        (b'{"code": ""}', 422),
        (b'{"code": "has space"}', 422),
        (b'{"code": "' + b"a" * 200 + b'"}', 422),
        (b'{"code": "abc", "appid": "bad appid!"}', 422),
        (b'{"code": "abc", "unexpected": 1}', 422),
    ],
)
async def test_bad_login_bodies(harness: Harness, db_path: Path, body: bytes, status: int) -> None:
    before = _counts(db_path)
    response = await harness.api.post(
        "/v1/login", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    data = response.json()
    assert data["error"] == "invalid_request"
    assert data["message"]
    assert "Traceback" not in response.text
    assert _counts(db_path) == before


@pytest.mark.parametrize(
    "profile",
    [
        {"nickName": ""},
        {"nickName": "x" * 65},
        {"nickName": "bad\x00name"},
        {"nickName": "line\nbreak"},
        {"gender": 7},
        {"gender": "male"},
        {"avatarUrl": "javascript:alert(1)"},
        {"city": "c" * 65},
        {"nickname": "a", "unknown": True},
    ],
)
async def test_bad_profiles_change_nothing(harness: Harness, profile: dict[str, object]) -> None:
    token = (await harness.login("alice"))["token"]
    await harness.api.post("/v1/me/profile", json={"nickName": "Alice"}, headers=bearer(token))
    response = await harness.api.post("/v1/me/profile", json=profile, headers=bearer(token))
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_request"
    me = (await harness.api.get("/v1/me", headers=bearer(token))).json()
    assert me["nickname"] == "Alice"
    assert me["gender"] is None


async def test_body_too_large_is_413(harness: Harness) -> None:
    big = b'{"code": "' + b"a" * 70_000 + b'"}'
    response = await harness.api.post(
        "/v1/login", content=big, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


async def test_streamed_body_too_large_is_413(harness: Harness) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"a" * 1000

    response = await harness.api.post(
        "/v1/login", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


async def test_unknown_path_and_method(harness: Harness) -> None:
    missing = await harness.api.get("/v1/nope")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    wrong_method = await harness.api.get("/v1/login")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "invalid_request"


async def test_health_and_readiness(harness: Harness) -> None:
    assert (await harness.api.get("/healthz")).json() == {"status": "ok"}
    ready = await harness.api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok"}


async def test_openapi_lists_the_endpoints(harness: Harness) -> None:
    spec = (await harness.api.get("/openapi.json")).json()
    for path in ("/v1/login", "/v1/me", "/v1/me/profile", "/v1/logout", "/healthz", "/readyz"):
        assert path in spec["paths"]
    assert (await harness.api.get("/docs")).status_code == 200


async def test_metrics_count_requests_by_route(harness: Harness) -> None:
    token = (await harness.login("alice"))["token"]
    for _ in range(3):
        await harness.api.get("/v1/me", headers=bearer(token))
    await harness.api.get("/v1/me", headers=bearer("wxa_nope"))
    text = (await harness.api.get("/metrics")).text
    assert 'wxauth_http_requests_total{route="/v1/me",status="200"} 3.0' in text
    assert 'wxauth_http_requests_total{route="/v1/me",status="401"} 1.0' in text
    assert 'wxauth_http_requests_total{route="/v1/login",status="200"} 1.0' in text
    assert 'wxauth_http_request_seconds_count{route="/v1/me"} 4.0' in text
    assert token not in text
