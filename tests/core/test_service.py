"""The core service over the in-memory store, with the simulator as WeChat."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from tests.conftest import APPID, SECRET, FakeClock
from wxauth.config import Settings
from wxauth.core.keyring import Keyring, KeyringError, generate_key
from wxauth.core.memory import MemoryStore
from wxauth.core.models import ClientInfo, ProfileUpdate
from wxauth.core.service import WxAuth
from wxauth.core.sessions import Authenticator
from wxauth.core.tokens import hash_token
from wxauth.errors import InvalidCode, InvalidRequest, InvalidToken
from wxauth.simulator import SimulatorState, create_simulator_app
from wxauth.simulator.state import openid_for
from wxauth.wiring import Wiring


def make_wiring(sim_state: SimulatorState, store: MemoryStore, clock: FakeClock) -> Wiring:
    settings = Settings(
        apps={APPID: SECRET},
        wechat_base_url="http://wechat.test",
        secret_keys=[generate_key()],
        session_cache_ttl=0,
    )
    transport = httpx.ASGITransport(app=create_simulator_app(sim_state))
    return Wiring(settings, wechat_transport=transport, clock=clock, store=store)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
async def wiring(
    sim_state: SimulatorState, store: MemoryStore, clock: FakeClock
) -> AsyncIterator[Wiring]:
    wiring = make_wiring(sim_state, store, clock)
    yield wiring
    await wiring.aclose()


@pytest.fixture
def service(wiring: Wiring) -> WxAuth:
    return wiring.login


@pytest.fixture
def sessions(wiring: Wiring) -> Authenticator:
    return wiring.authenticator


async def test_login_stores_hash_and_encrypted_key(
    service: WxAuth, store: MemoryStore, sim_state: SimulatorState
) -> None:
    result = await service.login(
        sim_state.issue_code(APPID, "alice"), client=ClientInfo("ua/1", "10.0.0.1")
    )
    assert result.new_user
    assert list(store.sessions) == [hash_token(result.token)]
    session = store.sessions[hash_token(result.token)]
    assert (session.user_agent, session.ip) == ("ua/1", "10.0.0.1")
    ciphertext = store.session_keys[(APPID, openid_for(APPID, "alice"))]
    session_key = sim_state.current_key(APPID, "alice")
    assert session_key is not None and session_key not in ciphertext
    assert await service.session_keys.session_key(result.user) == session_key
    assert result.token not in repr(result)


async def test_authenticate_touches_only_after_interval(
    sessions: Authenticator,
    service: WxAuth,
    store: MemoryStore,
    sim_state: SimulatorState,
    clock: FakeClock,
) -> None:
    token = (await service.login(sim_state.issue_code(APPID, "alice"))).token
    key = hash_token(token)
    created = store.sessions[key].last_seen_at
    clock.advance(minutes=4)
    await sessions.authenticate(token)
    assert store.sessions[key].last_seen_at == created
    clock.advance(minutes=2)
    await sessions.authenticate(token)
    assert store.sessions[key].last_seen_at == clock.now
    assert store.sessions[key].idle_expires_at == clock.now + timedelta(days=7)


async def test_idle_expiry_never_passes_absolute(
    sessions: Authenticator,
    service: WxAuth,
    store: MemoryStore,
    sim_state: SimulatorState,
    clock: FakeClock,
) -> None:
    token = (await service.login(sim_state.issue_code(APPID, "alice"))).token
    for _ in range(4):  # used every 6 days: never idle; the last touch is at day 24 + ...
        clock.advance(days=6)
        await sessions.authenticate(token)
    clock.advance(days=3)  # ... and at day 27, when 7 more idle days would pass day 30
    await sessions.authenticate(token)
    session = store.sessions[hash_token(token)]
    assert session.idle_expires_at == session.expires_at


@pytest.mark.parametrize("token", ["", "x", "wxa_" + "é" * 10, "wxa_" + "a" * 200])
async def test_garbage_tokens_are_invalid(
    sessions: Authenticator, service: WxAuth, token: str
) -> None:
    with pytest.raises(InvalidToken):
        await sessions.authenticate(token)


async def test_revoked_expired_unknown_are_indistinguishable(
    sessions: Authenticator, service: WxAuth, sim_state: SimulatorState, clock: FakeClock
) -> None:
    revoked = (await service.login(sim_state.issue_code(APPID, "a"))).token
    expired = (await service.login(sim_state.issue_code(APPID, "b"))).token
    await sessions.logout(revoked)
    clock.advance(days=8)
    messages = set()
    for token in (revoked, expired, "wxa_" + "Z" * 43):
        with pytest.raises(InvalidToken) as caught:
            await sessions.authenticate(token)
        messages.add((caught.value.status, caught.value.code, caught.value.message))
    assert len(messages) == 1


async def test_same_code_twice_at_once_is_exchanged_once(
    service: WxAuth, store: MemoryStore, sim_state: SimulatorState
) -> None:
    from wxauth.simulator.state import FaultRule

    sim_state.faults.append(FaultRule(rate=1.0, latency_ms=50))  # the retry arrives mid-exchange
    code = sim_state.issue_code(APPID, "alice")
    results = await asyncio.gather(service.login(code), service.login(code), return_exceptions=True)
    successes = [r for r in results if not isinstance(r, BaseException)]
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(successes) == 1
    assert len(failures) == 1 and isinstance(failures[0], InvalidCode)
    assert len(store.sessions) == 1
    assert sim_state.calls["/sns/jscode2session"] == 1


async def test_unknown_appid_is_refused_before_wechat(
    service: WxAuth, sim_state: SimulatorState
) -> None:
    with pytest.raises(InvalidRequest):
        await service.login("code", appid="wxother")
    assert sim_state.calls["/sns/jscode2session"] == 0


async def test_profile_update_rules(service: WxAuth, sim_state: SimulatorState) -> None:
    user = (await service.login(sim_state.issue_code(APPID, "alice"))).user
    assert await service.update_profile(user, ProfileUpdate(nickname="微信用户")) is user
    user = await service.update_profile(user, ProfileUpdate(nickname="  Alice  ", gender=2))
    assert (user.nickname, user.gender) == ("Alice", 2)
    user = await service.update_profile(user, ProfileUpdate(gender=0, city=""))
    assert (user.gender, user.city) == (2, None)


def test_keyring_rotation() -> None:
    import base64

    old, new = (base64.urlsafe_b64decode(generate_key()) for _ in range(2))
    ciphertext = Keyring([old]).encrypt("session-key")
    rotated = Keyring([new, old]).rotate(ciphertext)
    assert Keyring([new]).decrypt(rotated) == "session-key"
    with pytest.raises(KeyringError):
        Keyring([new]).decrypt(ciphertext)
    assert "session-key" not in repr(Keyring([new]))
