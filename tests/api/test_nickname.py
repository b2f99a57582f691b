"""Nickname rules: length, control characters, direction overrides, invisible names."""

from __future__ import annotations

import pytest

from tests.conftest import Harness, bearer


@pytest.mark.parametrize(
    "nickname",
    [
        "x" * 65,
        "tab\there",
        "evil\u202egnp.exe",
        "\u2066name",
        "\u200b\u200b",
        "   ",
        "\u3164",  # Hangul filler: the "blank name" trick
        "\u3164\u3164 \u200b",
        "\u2800\u2800",  # Braille blank
        "\uffa0\u115f\u1160",
        "\u200d\u2060\ufeff",  # joiners and word joiners only
    ],
)
async def test_bad_nicknames_are_422(harness: Harness, nickname: str) -> None:
    token = (await harness.login("alice"))["token"]
    response = await harness.api.post(
        "/v1/me/profile", json={"nickName": nickname}, headers=bearer(token)
    )
    assert response.status_code == 422, nickname
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    "nickname", ["小明", "👨\u200d👩\u200d👧 family", "x" * 64, "O'Brien-李", "\u3164김"]
)
async def test_good_nicknames_are_stored(harness: Harness, nickname: str) -> None:
    token = (await harness.login("alice"))["token"]
    response = await harness.api.post(
        "/v1/me/profile", json={"nickName": nickname}, headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    assert response.json()["nickname"] == nickname
