"""The verifiers with a required appid: a token of another app is refused, in-process and
through introspection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.conftest import (
    APPID,
    OTHER_APPID,
    OTHER_SECRET,
    SECRET,
    Harness,
    close_harness,
    open_harness,
)
from wxauth.config import Settings
from wxauth.errors import InvalidToken
from wxauth.integrations import RemoteVerifier
from wxauth.integrations.local import LocalVerifier
from wxauth.simulator import SimulatorState

KEY = "svc-key-current-0123456789abcdef"


@pytest.fixture
async def two(settings: Settings, sim_state: SimulatorState) -> AsyncIterator[tuple[Harness, Any]]:
    both = settings.model_copy(
        update={
            "apps": {APPID: SecretStr(SECRET), OTHER_APPID: SecretStr(OTHER_SECRET)},
            "service_keys": [SecretStr(KEY)],
        }
    )
    h, app = await open_harness(both, sim_state)
    yield h, app
    await close_harness(h, app)


async def token_of(h: Harness, appid: str) -> str:
    code = await h.code("alice", appid=appid)
    answer = await h.api.post("/v1/login", json={"code": code, "appid": appid})
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["token"]
    return token


async def test_local_verifier_refuses_another_apps_token(
    two: tuple[Harness, Any], settings: Settings
) -> None:
    h, _ = two
    mine, theirs = await token_of(h, APPID), await token_of(h, OTHER_APPID)
    verifier = LocalVerifier.from_settings(settings, appid=APPID)
    try:
        identity = await verifier.verify(mine)
        assert identity.appid == APPID and identity.person_id
        with pytest.raises(InvalidToken):
            await verifier.verify(theirs)
    finally:
        await verifier.aclose()
    anyone = LocalVerifier.from_settings(settings)
    try:
        assert (await anyone.verify(theirs)).appid == OTHER_APPID
    finally:
        await anyone.aclose()


async def test_remote_verifier_asks_for_its_appid(two: tuple[Harness, Any]) -> None:
    h, app = two
    mine, theirs = await token_of(h, APPID), await token_of(h, OTHER_APPID)
    asked: list[bytes] = []
    inner = httpx.ASGITransport(app=app)

    async def recording(request: httpx.Request) -> httpx.Response:
        asked.append(request.content)
        response = await inner.handle_async_request(request)
        content = await response.aread()
        return httpx.Response(response.status_code, content=content, headers=response.headers)

    verifier = RemoteVerifier(
        "http://wxauth.test", KEY, appid=APPID, transport=httpx.MockTransport(recording)
    )
    try:
        identity = await verifier.verify(mine)
        assert identity.appid == APPID and identity.person_id == identity.user.person_id
        with pytest.raises(InvalidToken):
            await verifier.verify(theirs)
    finally:
        await verifier.aclose()
    assert all(b'"appid":"' + APPID.encode() + b'"' in body for body in asked)
