"""GET /v1/wechat/access-token: WeChat's token relayed to service keys scoped to an app."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from tests.conftest import (
    APPID,
    OTHER_APPID,
    OTHER_SECRET,
    SECRET,
    FakeClock,
    Harness,
    bearer,
    close_harness,
    open_harness,
)
from wxauth.config import SCOPE_ACCESS_TOKEN, SCOPE_INTROSPECT, Settings, parse_service_key
from wxauth.simulator import SimulatorState

A_KEY = secrets.token_urlsafe(32)  # access_token for APPID only
INTRO_KEY = secrets.token_urlsafe(32)  # introspection, every app
BARE_KEY = secrets.token_urlsafe(32)  # the original form: everything


@pytest.fixture
async def h(settings: Settings, sim_state: SimulatorState) -> AsyncIterator[Harness]:
    keyed = settings.model_copy(
        update={
            "apps": {APPID: SecretStr(SECRET), OTHER_APPID: SecretStr(OTHER_SECRET)},
            "service_keys": [
                SecretStr(f"orders:{A_KEY}:access_token:{APPID}"),
                SecretStr(f"gateway:{INTRO_KEY}:introspect:*"),
                SecretStr(BARE_KEY),
            ],
            "rate_limit_access_token_refresh": 2,
        }
    )
    # A still clock: the refresh limit's window never ends in the middle of a test.
    harness, app = await open_harness(keyed, sim_state, FakeClock())
    yield harness
    await close_harness(harness, app)


async def relay(h: Harness, key: str, appid: str = APPID) -> Any:
    return await h.api.get("/v1/wechat/access-token", params={"appid": appid}, headers=bearer(key))


async def fetches(h: Harness) -> int:
    calls = (await h.phone.get("/sim/stats")).json()["calls"]
    return int(calls.get("/cgi-bin/stable_token", 0))


async def test_a_key_scoped_to_app_a_gets_its_token_and_403_for_b(h: Harness) -> None:
    first = await relay(h, A_KEY)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["access_token"] and 7000 < body["expires_in"] <= 7200
    assert first.headers["cache-control"] == "no-store"
    assert (await relay(h, A_KEY)).json()["access_token"] == body["access_token"]
    refused = await relay(h, A_KEY, OTHER_APPID)
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert await fetches(h) == 1  # one fetch, however many callers
    # The relayed token is the one WeChat accepts.
    check = await h.phone.post(
        f"/wxa/business/getuserphonenumber?access_token={body['access_token']}",
        json={"code": "nope"},
    )
    assert check.json()["errcode"] not in (40001, 41001, 42001)


async def test_scopes_keep_introspection_and_tokens_apart(h: Harness) -> None:
    assert (await relay(h, INTRO_KEY)).status_code == 403
    assert (await relay(h, BARE_KEY, OTHER_APPID)).status_code == 200
    login = await h.login("alice", appid=APPID)
    asked = {"token": login["token"]}
    refused = await h.api.post("/v1/introspect", json=asked, headers=bearer(A_KEY))
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    for key in (INTRO_KEY, BARE_KEY):
        answer = await h.api.post("/v1/introspect", json=asked, headers=bearer(key))
        assert answer.json()["active"] is True
    unknown = await relay(h, "x" * 43)
    assert unknown.status_code == 401


async def test_introspection_of_another_apps_token_is_inactive(
    settings: Settings, sim_state: SimulatorState
) -> None:
    keyed = settings.model_copy(
        update={
            "apps": {APPID: SecretStr(SECRET), OTHER_APPID: SecretStr(OTHER_SECRET)},
            "service_keys": [SecretStr(f"b-only:{INTRO_KEY}:introspect:{OTHER_APPID}")],
        }
    )
    h, app = await open_harness(keyed, sim_state)
    try:
        token = (await h.login("alice", appid=APPID))["token"]
        answer = await h.api.post(
            "/v1/introspect", json={"token": token}, headers=bearer(INTRO_KEY)
        )
        assert answer.status_code == 200 and answer.json() == {"active": False}
    finally:
        await close_harness(h, app)


async def test_refresh_only_for_the_cached_token_and_rate_limited(h: Harness) -> None:
    token = (await relay(h, A_KEY)).json()["access_token"]

    async def refresh(rejected: str) -> Any:
        return await h.api.post(
            "/v1/wechat/access-token/refresh",
            json={"appid": APPID, "rejected_token": rejected},
            headers=bearer(A_KEY),
        )

    stale = await refresh("not-the-cached-token")
    assert stale.status_code == 200 and stale.json()["access_token"] == token
    assert await fetches(h) == 1  # nothing fetched for a token that is not ours
    renewed = await refresh(token)
    assert renewed.status_code == 200
    new = renewed.json()["access_token"]
    assert new != token
    assert (await relay(h, A_KEY)).json()["access_token"] == new
    assert (await refresh(token)).json()["access_token"] == new  # someone else's old one
    assert (await refresh(new)).status_code == 200  # the second refresh of the window
    limited = await refresh((await relay(h, A_KEY)).json()["access_token"])
    assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
    forbidden = await h.api.post(
        "/v1/wechat/access-token/refresh",
        json={"appid": OTHER_APPID, "rejected_token": new},
        headers=bearer(A_KEY),
    )
    assert forbidden.status_code == 403


def test_service_key_entries_bare_and_scoped() -> None:
    bare = parse_service_key(BARE_KEY)
    assert bare.allows(SCOPE_INTROSPECT, OTHER_APPID) and bare.allows(SCOPE_ACCESS_TOKEN)
    scoped = parse_service_key(f"orders:{A_KEY}:access_token+introspect:{APPID}|{OTHER_APPID}")
    assert scoped.name == "orders" and scoped.key.get_secret_value() == A_KEY
    assert scoped.allows(SCOPE_ACCESS_TOKEN, OTHER_APPID)
    assert not scoped.allows(SCOPE_ACCESS_TOKEN, "wx3333333333333333")
    everything = parse_service_key(f"all:{A_KEY}:*:*")
    assert everything.allows(SCOPE_INTROSPECT, "wx3333333333333333")


@pytest.mark.parametrize(
    "entry",
    [
        f"x:{A_KEY}:tokens:*",  # not a scope
        f"x:{A_KEY}::*",  # no scope
        f":{A_KEY}:introspect:*",  # no name
        f"x:{A_KEY}:introspect:not-an-appid",
        "x:password-password-password-password:introspect:*",  # weak
    ],
)
def test_bad_scoped_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError, match=r"WXAUTH_SERVICE_KEYS|appid"):
        Settings(service_keys=[SecretStr(entry)])
    with pytest.raises(ValueError):
        Settings(service_keys=entry)
