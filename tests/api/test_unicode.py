"""Full Unicode where it belongs (emoji, right-to-left scripts), refused where it deceives."""

from __future__ import annotations

import pytest

from tests.conftest import Harness, bearer


@pytest.mark.parametrize(
    "nickname",
    [
        "小明 🐼",
        "👨‍👩‍👧‍👦 family",  # zero-width joiners inside one emoji
        "مرحبا",  # Arabic, right to left
        "שלום עולם",  # Hebrew
        "e\u0301cole",  # a combining accent
        "\U0001d49c\U0001d4c1\U0001d4be\U0001d4b8",  # outside the Basic Multilingual Plane
    ],
)
async def test_real_names_round_trip(harness: Harness, nickname: str) -> None:
    token = (await harness.login("alice"))["token"]
    response = await harness.api.post(
        "/v1/me/profile", json={"nickName": nickname}, headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    me = await harness.api.get("/v1/me", headers=bearer(token))
    assert me.json()["nickname"] == nickname


@pytest.mark.parametrize(
    "nickname",
    ["admin\u202egnp.exe", "a\u2066b\u2069", "nul\x00", "bell\x07", "del\x7f", "tab\there"],
)
async def test_deceptive_or_control_characters_refused(harness: Harness, nickname: str) -> None:
    token = (await harness.login("alice"))["token"]
    response = await harness.api.post(
        "/v1/me/profile", json={"nickName": nickname}, headers=bearer(token)
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_request"


async def test_lone_surrogate_in_json_is_refused(harness: Harness) -> None:
    token = (await harness.login("alice"))["token"]
    body = b'{"nickName": "bad \\ud800 half"}'
    response = await harness.api.post(
        "/v1/me/profile",
        content=body,
        headers={**bearer(token), "content-type": "application/json"},
    )
    assert response.status_code in (400, 422), response.text


@pytest.mark.parametrize(
    "authorization",
    ["Bearer wxa_\x00", "Bearer " + "wxa_" + "a" * 5000, "Basic abc", "Bearer", "Bearer é"],
)
async def test_odd_authorization_headers_are_401(harness: Harness, authorization: str) -> None:
    response = await harness.api.get(
        "/v1/me", headers=[(b"Authorization", authorization.encode("utf-8"))]
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
