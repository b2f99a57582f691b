"""The access_token manager against the in-process simulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import APPID, OTHER_APPID, OTHER_SECRET, SECRET
from wxauth.errors import InvalidRequest, ServerMisconfigured
from wxauth.simulator import SimulatorState, create_simulator_app
from wxauth.wechat.access_token import AccessTokens
from wxauth.wechat.client import WeChatClient
from wxauth.wechat.server_api import AccessToken, AccessTokenRejected, ServerApi


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(sim_state: SimulatorState) -> Clock:
    clock = Clock()
    sim_state.clock = clock  # WeChat and the server see the same time here
    return clock


@pytest.fixture
async def api(sim_state: SimulatorState) -> AsyncIterator[ServerApi]:
    transport = httpx.ASGITransport(app=create_simulator_app(sim_state))
    client = WeChatClient("http://wechat.test", transport=transport)
    yield ServerApi(client)
    await client.aclose()


def manager(api: ServerApi, clock: Clock, **kwargs: object) -> AccessTokens:
    apps = {APPID: SECRET, OTHER_APPID: OTHER_SECRET}
    return AccessTokens(api, apps, clock=clock, **kwargs)  # type: ignore[arg-type]


async def test_concurrent_gets_fetch_once(
    api: ServerApi, clock: Clock, sim_state: SimulatorState
) -> None:
    tokens = manager(api, clock)
    got = await asyncio.gather(*(tokens.get(APPID) for _ in range(50)))
    assert len(set(got)) == 1
    assert sim_state.calls["/cgi-bin/stable_token"] == 1
    assert sim_state.calls["/cgi-bin/token"] == 0
    await tokens.get(OTHER_APPID)  # per appid
    assert sim_state.calls["/cgi-bin/stable_token"] == 2


async def test_refreshes_with_margin(
    api: ServerApi, clock: Clock, sim_state: SimulatorState
) -> None:
    tokens = manager(api, clock)
    first = await tokens.get(APPID)
    clock.now += 7200 - 301
    assert await tokens.get(APPID) == first  # still outside the margin
    assert sim_state.calls["/cgi-bin/stable_token"] == 1
    clock.now += 2
    second = await tokens.get(APPID)  # inside the margin: WeChat hands out a new one
    assert second != first
    assert sim_state.calls["/cgi-bin/stable_token"] == 2


async def test_classic_token_source(
    api: ServerApi, clock: Clock, sim_state: SimulatorState
) -> None:
    tokens = manager(api, clock, stable=False)
    await asyncio.gather(*(tokens.get(APPID) for _ in range(10)))
    assert sim_state.calls["/cgi-bin/token"] == 1
    assert sim_state.calls["/cgi-bin/stable_token"] == 0


async def test_rejected_token_dropped_and_retried_once(
    api: ServerApi, clock: Clock, sim_state: SimulatorState
) -> None:
    tokens = manager(api, clock)
    first = await tokens.get(APPID)
    sim_state.wxa.revoke(APPID)  # the stable token is now refused with 40001
    seen: list[str] = []

    async def request(token: str) -> str:
        seen.append(token)
        errcode, _ = sim_state.wxa.check(token, clock.now)
        if errcode:
            raise AccessTokenRejected(wechat_errcode=errcode)
        return token

    result = await tokens.call(APPID, request)
    assert seen == [first, result] and result != first
    assert sim_state.calls["/cgi-bin/stable_token"] == 2


class StubbornSource:
    """Hands out the same token until asked to force a refresh."""

    def __init__(self) -> None:
        self.calls: list[bool] = []

    async def fetch_access_token(
        self, appid: str, secret: str, *, stable: bool = True, force_refresh: bool = False
    ) -> AccessToken:
        self.calls.append(force_refresh)
        return AccessToken("forced" if force_refresh else "same", 7200)


async def test_refused_token_handed_out_again_forces_refresh(clock: Clock) -> None:
    source = StubbornSource()
    tokens = AccessTokens(source, {APPID: SECRET}, clock=clock)
    assert await tokens.get(APPID) == "same"
    await tokens.discard(APPID, "same")
    assert await tokens.get(APPID) == "forced"
    assert source.calls == [False, False, True]


async def test_second_refusal_is_an_error_not_a_loop(api: ServerApi, clock: Clock) -> None:
    tokens = manager(api, clock)
    attempts = 0

    async def always_refused(_token: str) -> None:
        nonlocal attempts
        attempts += 1
        raise AccessTokenRejected(wechat_errcode=40001)

    with pytest.raises(AccessTokenRejected) as info:
        await tokens.call(APPID, always_refused)
    assert attempts == 2
    assert info.value.status == 502


async def test_discard_only_drops_the_failed_token(
    api: ServerApi, clock: Clock, sim_state: SimulatorState
) -> None:
    tokens = manager(api, clock)
    current = await tokens.get(APPID)
    await tokens.discard(APPID, "some-older-token")
    assert await tokens.get(APPID) == current
    assert sim_state.calls["/cgi-bin/stable_token"] == 1


async def test_unknown_app_and_wrong_secret(api: ServerApi, clock: Clock) -> None:
    with pytest.raises(InvalidRequest):
        await manager(api, clock).get("wx-unknown")
    wrong = AccessTokens(api, {APPID: "wrong-secret"}, clock=clock)
    with pytest.raises(ServerMisconfigured) as info:
        await wrong.get(APPID)
    assert info.value.wechat_errcode == 40125
    assert "wrong-secret" not in repr(wrong) and "wrong-secret" not in str(info.value)
