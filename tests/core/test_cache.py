"""The in-process session cache, the caching store, and the login-code guard."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import APPID, SECRET
from wxauth.core.cache import MAX_FILL_AGE_S, CachedStore, LocalSessionCache
from wxauth.core.codes import WeChatWithCodeGuard, code_fingerprint
from wxauth.core.memory import MemoryStore
from wxauth.errors import InvalidCode, WeChatUnavailable
from wxauth.simulator import SimulatorState, create_simulator_app
from wxauth.simulator.state import FaultRule
from wxauth.wechat.client import WeChatClient

from ..storage.test_store_contract import NOW, login_record


class Ticks:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def stored(store: Any, openid: str = "o-alice") -> Any:
    record = login_record(openid)
    user, _ = await store.record_login(record)
    return dataclasses.replace(record.session, user_id=user.id), user


async def test_local_entries_live_for_their_ttl() -> None:
    ticks = Ticks()
    cache = LocalSessionCache(ttl=1.0, monotonic=ticks)
    session, user = await stored(MemoryStore())
    await cache.put(session, user)
    ticks.now += 0.99
    assert await cache.get(session.token_hash) == (session, user)
    ticks.now += 0.02
    assert await cache.get(session.token_hash) is None


def vouching(ticks: Ticks, *, hold: float = 60.0) -> LocalSessionCache:
    """A local tier that may hold entries for ``hold`` seconds while vouched for; its wall
    clock is the records' own ``NOW`` moved with ``ticks``."""
    start = ticks.now
    return LocalSessionCache(
        ttl=1.0,
        hold=hold,
        touch_interval=timedelta(minutes=5),
        monotonic=ticks,
        wall=lambda: NOW + timedelta(seconds=ticks.now - start),
    )


async def test_a_vouched_entry_outlives_its_ttl_and_no_longer() -> None:
    """While the invalidation channel's listener has been current within the TTL, an entry
    lives up to ``hold``; once the listener falls behind, the TTL rules again."""
    ticks = Ticks()
    cache = vouching(ticks)
    session, user = await stored(MemoryStore())
    await cache.put(session, user)
    ticks.now += 30
    cache.current_as_of = ticks.now - 0.5
    assert await cache.get(session.token_hash) == (session, user)
    ticks.now += 0.6  # nothing heard from the channel for 1.1 s: not vouched for
    assert await cache.get(session.token_hash) is None
    cache.current_as_of = ticks.now
    assert await cache.get(session.token_hash) == (session, user)
    ticks.now += 30  # past the hold
    cache.current_as_of = ticks.now
    assert await cache.get(session.token_hash) is None


async def test_no_entry_is_vouched_for_past_its_touch() -> None:
    """At the touch, the other processes' touches must be read back (and a session that
    another process kept alive is never refused for the idle time this copy holds)."""
    ticks = Ticks()
    cache = vouching(ticks, hold=3600)
    session, user = await stored(MemoryStore())
    await cache.put(session, user)
    ticks.now += 299
    cache.current_as_of = ticks.now
    assert await cache.get(session.token_hash) == (session, user)
    ticks.now += 2  # five minutes after it was last seen: it needs a touch
    cache.current_as_of = ticks.now
    assert await cache.get(session.token_hash) is None


async def test_a_fill_after_a_forget_is_not_vouched_for() -> None:
    """The read that filled an entry may predate a revocation heard meanwhile: such an
    entry lives the TTL only, whatever the channel says."""
    ticks = Ticks()
    cache = vouching(ticks)
    session, user = await stored(MemoryStore())
    cache.evict_session(session.token_hash)  # a revocation heard on the channel
    await cache.put(session, user)  # from a read made before it
    ticks.now += 2
    cache.current_as_of = ticks.now
    assert await cache.get(session.token_hash) is None
    ticks.now += MAX_FILL_AGE_S  # long after: fills are believed again
    await cache.put(session, user)
    ticks.now += 2
    cache.current_as_of = ticks.now
    assert await cache.get(session.token_hash) == (session, user)


async def test_a_cleared_cache_vouches_for_nothing() -> None:
    ticks = Ticks()
    cache = vouching(ticks)
    cache.current_as_of = ticks.now
    cache.clear()
    session, user = await stored(MemoryStore())
    await cache.put(session, user)
    ticks.now += 2
    assert await cache.get(session.token_hash) is None


async def test_local_cache_keeps_the_newest_entries() -> None:
    cache = LocalSessionCache(ttl=60, max_entries=2)
    store = MemoryStore()
    entries = [await stored(store, f"o-{i}") for i in range(3)]
    for session, user in entries:
        await cache.put(session, user)
    assert await cache.get(entries[0][0].token_hash) is None
    assert await cache.get(entries[2][0].token_hash) == entries[2]


async def test_forgetting_the_user_drops_its_sessions() -> None:
    cache = LocalSessionCache(ttl=60)
    session, user = await stored(MemoryStore())
    await cache.put(session, user)
    await cache.forget_user(user.id)
    assert await cache.get(session.token_hash) is None


async def test_a_hit_needs_no_store() -> None:
    store = MemoryStore()
    cached = CachedStore(store, LocalSessionCache(ttl=60))
    session, user = await stored(cached)
    assert await cached.find_session(session.token_hash) == (session, user)
    store.sessions.clear()  # the cache answers on its own now
    assert await cached.find_session(session.token_hash) == (session, user)


class SlowStore(MemoryStore):
    def __init__(self, ticks: Ticks) -> None:
        super().__init__()
        self.ticks = ticks

    async def find_session(self, token_hash: str) -> Any:
        self.ticks.now += MAX_FILL_AGE_S  # a read that took too long
        return await super().find_session(token_hash)


async def test_a_slow_read_is_not_cached() -> None:
    ticks = Ticks()
    store = SlowStore(ticks)
    cached = CachedStore(store, LocalSessionCache(ttl=60, monotonic=ticks), monotonic=ticks)
    session, _ = await stored(cached)
    assert await cached.find_session(session.token_hash) is not None
    store.sessions.clear()
    assert await cached.find_session(session.token_hash) is None


async def test_methods_it_does_not_know_reach_the_store() -> None:
    cached = CachedStore(MemoryStore(), LocalSessionCache())
    assert await cached.delete_expired_sessions(NOW) == 0


# -- the login-code guard --------------------------------------------------------------------


class SetGuard:
    def __init__(self) -> None:
        self.claimed: set[str] = set()

    async def claim(self, appid: str, code: str) -> bool:
        key = code_fingerprint(appid, code)
        if key in self.claimed:
            return False
        self.claimed.add(key)
        return True

    async def release(self, appid: str, code: str) -> None:
        self.claimed.discard(code_fingerprint(appid, code))


@pytest.fixture
def wechat(sim_state: SimulatorState) -> Iterator[WeChatClient]:
    transport = httpx.ASGITransport(app=create_simulator_app(sim_state))
    yield WeChatClient("http://wechat.test", timeout=2.0, transport=transport)


async def test_a_claimed_code_never_reaches_wechat(
    wechat: WeChatClient, sim_state: SimulatorState
) -> None:
    guard = SetGuard()
    code = sim_state.issue_code(APPID, "alice")
    assert (await WeChatWithCodeGuard(wechat, guard).code2session(APPID, SECRET, code)).openid
    with pytest.raises(InvalidCode):
        await WeChatWithCodeGuard(wechat, guard).code2session(APPID, SECRET, code)
    assert sim_state.calls["/sns/jscode2session"] == 1
    assert code not in repr(guard.claimed)


async def test_a_code_wechat_did_not_take_is_given_back(
    wechat: WeChatClient, sim_state: SimulatorState
) -> None:
    guard = SetGuard()
    code = sim_state.issue_code(APPID, "alice")
    sim_state.faults.append(FaultRule(rate=1.0, errcode=-1))  # busy, twice
    with pytest.raises(WeChatUnavailable):
        await WeChatWithCodeGuard(wechat, guard).code2session(APPID, SECRET, code)
    sim_state.faults.clear()
    assert (await WeChatWithCodeGuard(wechat, guard).code2session(APPID, SECRET, code)).openid
    await wechat.aclose()
