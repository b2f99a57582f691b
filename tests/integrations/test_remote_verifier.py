"""RemoteVerifier against wxauth in-process (through httpx.ASGITransport): the cache, its
bounds, and the answers when wxauth misbehaves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.conftest import APPID, FakeClock, Harness, bearer, close_harness, open_harness
from tests.integrations.conftest import SERVICE_KEY, MonotonicClock
from wxauth.config import Settings
from wxauth.errors import AuthUnavailable, InvalidToken, ServerMisconfigured
from wxauth.integrations import RemoteVerifier, VerifierSettings
from wxauth.integrations.cache import TtlCache
from wxauth.simulator import SimulatorState

TTL = 10.0


class Switchable(httpx.AsyncBaseTransport):
    """Passes requests to wxauth and counts them; ``down`` makes wxauth unreachable and
    ``status`` makes it answer that status instead."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.calls = 0
        self.down = False
        self.status: int | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if self.status is not None:
            return httpx.Response(self.status, headers={"retry-after": "7"}, request=request)
        return await self.inner.handle_async_request(request)


@dataclass
class Rig:
    h: Harness
    wire: Switchable
    verifier: RemoteVerifier
    mono: MonotonicClock

    async def logout(self, token: str) -> None:
        assert (await self.h.api.post("/v1/logout", headers=bearer(token))).status_code == 204


@pytest.fixture
async def rig(
    settings: Settings, sim_state: SimulatorState, clock: FakeClock, mono: MonotonicClock
) -> AsyncIterator[Rig]:
    keyed = settings.model_copy(update={"service_keys": [SecretStr(SERVICE_KEY)]})
    h, app = await open_harness(keyed, sim_state, clock)
    wire = Switchable(httpx.ASGITransport(app=app))
    verifier = RemoteVerifier(
        "http://wxauth.test",
        SERVICE_KEY,
        cache_ttl=TTL,
        negative_ttl=30,
        transport=wire,
        clock=mono,
        wall_clock=lambda: clock.now.timestamp(),
    )
    yield Rig(h, wire, verifier, mono)
    await verifier.aclose()
    await close_harness(h, app)


async def test_valid_token_gives_the_identity(rig: Rig) -> None:
    login = await rig.h.login("alice")
    identity = await rig.verifier.verify(login["token"])
    assert identity.user_id == login["user"]["id"]
    assert identity.appid == APPID
    assert identity.user.id == login["user"]["id"]
    assert (identity.expires_at - identity.issued_at).days == 30
    assert login["token"] not in repr(identity) and SERVICE_KEY not in repr(rig.verifier)


async def test_positive_is_cached_and_revocation_bites_at_the_bound(rig: Rig) -> None:
    token = (await rig.h.login("alice"))["token"]
    await rig.verifier.verify(token)
    await rig.logout(token)
    rig.mono.advance(TTL - 0.001)
    await rig.verifier.verify(token)  # still cached: allowed, within the bound
    assert rig.wire.calls == 1
    rig.mono.advance(0.001)  # the bound, counted from when the question was sent
    with pytest.raises(InvalidToken):
        await rig.verifier.verify(token)
    assert rig.wire.calls == 2


async def test_negative_is_cached_too(rig: Rig) -> None:
    unknown = "wxa_" + "Q" * 43
    for _ in range(3):
        with pytest.raises(InvalidToken):
            await rig.verifier.verify(unknown)
    assert rig.wire.calls == 1


async def test_garbage_never_reaches_wxauth(rig: Rig) -> None:
    for garbage in ("", "garbage", "Bearer x", "wxa_" + "x" * 500, "wxa_é"):
        with pytest.raises(InvalidToken):
            await rig.verifier.verify(garbage)
    assert rig.wire.calls == 0


async def test_service_down_cached_positive_within_ttl_then_503(rig: Rig) -> None:
    cached = (await rig.h.login("alice"))["token"]
    uncached = (await rig.h.login("bob"))["token"]
    await rig.verifier.verify(cached)
    rig.wire.down = True
    assert (await rig.verifier.verify(cached)).user.appid == APPID
    with pytest.raises(AuthUnavailable) as raised:
        await rig.verifier.verify(uncached)
    assert raised.value.status == 503 and raised.value.headers()["Retry-After"]
    rig.mono.advance(TTL)
    with pytest.raises(AuthUnavailable):  # past its TTL a positive is never used again
        await rig.verifier.verify(cached)
    rig.wire.down = False
    assert (await rig.verifier.verify(cached)).user.appid == APPID


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_server_errors_are_503_with_retry_after(rig: Rig, status: int) -> None:
    token = (await rig.h.login("alice"))["token"]
    rig.wire.status = status
    with pytest.raises(AuthUnavailable) as raised:
        await rig.verifier.verify(token)
    assert raised.value.headers() == {"Retry-After": "7"}


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_refused_key_or_wrong_url_is_misconfiguration(rig: Rig, status: int) -> None:
    token = (await rig.h.login("alice"))["token"]
    rig.wire.status = status
    with pytest.raises(ServerMisconfigured):
        await rig.verifier.verify(token)


async def test_wrong_service_key_is_misconfiguration_not_invalid_token(rig: Rig) -> None:
    token = (await rig.h.login("alice"))["token"]
    wrong = RemoteVerifier("http://wxauth.test", "not-the-key", transport=rig.wire)
    try:
        with pytest.raises(ServerMisconfigured):
            await wrong.verify(token)
    finally:
        await wrong.aclose()


async def test_non_json_answer_is_503(rig: Rig) -> None:
    token = (await rig.h.login("alice"))["token"]

    async def html(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>maintenance</html>")

    odd = RemoteVerifier("http://wxauth.test", SERVICE_KEY, transport=httpx.MockTransport(html))
    try:
        with pytest.raises(AuthUnavailable):
            await odd.verify(token)
    finally:
        await odd.aclose()


async def test_cache_never_outlives_the_token(rig: Rig, clock: FakeClock) -> None:
    login = await rig.h.login("alice")
    expiry = (await rig.verifier.verify(login["token"])).expires_at
    rig.verifier._cache.clear()
    # The verifier's wall clock reads 2 s before the token's absolute expiry.
    rig.verifier._wall_clock = lambda: expiry.timestamp() - 2
    await rig.verifier.verify(login["token"])
    rig.mono.advance(2)
    await rig.verifier.verify(login["token"])
    assert rig.wire.calls == 3  # the second answer was cached for 2 s only, not TTL


async def test_concurrent_checks_of_one_token_ask_once(rig: Rig) -> None:
    token = (await rig.h.login("alice"))["token"]
    identities = await asyncio.gather(*(rig.verifier.verify(token) for _ in range(8)))
    assert {i.user_id for i in identities} == {identities[0].user_id}
    assert rig.wire.calls == 1


@pytest.mark.parametrize("kwargs", [{"cache_ttl": 61}, {"negative_ttl": -1}])
def test_cache_ttls_are_bounded(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="between 0 and 60"):
        RemoteVerifier("http://wxauth.test", "k", **kwargs)


def test_settings_refuse_a_long_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WXAUTH_SERVER_URL", "http://auth.internal")
    monkeypatch.setenv("WXAUTH_SERVICE_KEY", "s3cr3t-service-key-value")
    assert VerifierSettings().verify_cache_ttl == 10
    assert "s3cr3t" not in repr(VerifierSettings())
    monkeypatch.setenv("WXAUTH_VERIFY_CACHE_TTL", "3600")
    with pytest.raises(ValueError, match="less than or equal to 60"):
        VerifierSettings()


def test_ttl_cache_expires_and_evicts_least_recently_used() -> None:
    cache: TtlCache[int] = TtlCache(max_entries=2)
    cache.put("a", 1, expires_at=10)
    cache.put("b", 2, expires_at=10)
    assert cache.get("a", now=5) is not None  # "a" is now the most recent
    cache.put("c", 3, expires_at=10)
    assert cache.get("b", now=5) is None
    assert cache.get("a", now=10) is None  # the deadline itself is already too late
    assert len(cache) == 1
