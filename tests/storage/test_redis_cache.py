"""The Redis tier of the session cache and the login-code guard, on a real Redis.

Two caches on one Redis stand for two processes; their in-process TTL is long here, so
only the invalidation channel can make them forget.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from tests.conftest import APPID, bearer, close_harness, open_harness
from tests.services import closed_port
from wxauth.config import Settings
from wxauth.core.cache import LocalSessionCache
from wxauth.core.models import Session, User
from wxauth.simulator import SimulatorState
from wxauth.storage.redis import create_redis
from wxauth.storage.redis_cache import (
    Entry,
    RedisCodeGuard,
    RedisSessionCache,
    decode,
    encode,
)

from .test_store_contract import NOW, login_record

Redis = Any


def records(openid: str = "o-alice") -> tuple[Session, User]:
    session = login_record(openid).session
    user = User(id=f"id-{openid}", appid=APPID, openid=openid, nickname="小明 🐼", created_at=NOW)
    return dataclasses.replace(session, user_id=user.id), user


async def eventually(check: Callable[[], Awaitable[bool]]) -> bool:
    """Poll ``check`` until it holds (pub/sub delivery is asynchronous); False after 5 s."""
    deadline = asyncio.get_running_loop().time() + 5.0
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.01)
    return False


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = create_redis(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def pair(redis: Redis, redis_prefix: str) -> AsyncIterator[list[RedisSessionCache]]:
    caches = [
        RedisSessionCache(redis, LocalSessionCache(ttl=3600), prefix=redis_prefix, ttl_s=60)
        for _ in range(2)
    ]
    for cache in caches:
        cache.listen()
        await asyncio.wait_for(cache.subscribed.wait(), 5)
    yield caches
    for cache in caches:
        await cache.aclose()


def test_records_survive_the_json_codec() -> None:
    session, user = records()
    head = f"17|3|{user.id}|".encode()
    assert decode(Session, head + encode(session)) == (Entry(17, 3), session)
    assert decode(User, head + encode(user)) == (Entry(17, 3), user)
    assert decode(User, b"-") is None
    assert decode(User, encode(user)) is None  # no stamp: another version's entry
    assert decode(User, b'19|0|x|{"id": 1, "no_such_field": 2}') is None


async def test_a_users_change_outlives_its_tombstone(
    pair: list[RedisSessionCache], redis: Redis, redis_prefix: str
) -> None:
    """Two sessions of one user are cached; all the user's sessions are revoked (their user
    entry forgotten). Once the tombstone is gone and the other session caches the user anew,
    the first session's entry, cached before the change, is still not believed."""
    a, b = pair
    first, user = records()
    second = dataclasses.replace(first, token_hash="f" * 64)
    await a.put(first, user)
    await a.put(second, user)
    await b.forget_user(user.id)
    await redis.delete(f"{redis_prefix}u:{user.id}")  # the tombstone's TTL ran out
    b.local.clear()
    await b.put(second, user)  # a fresh read of the other session
    assert await b.get("f" * 64) == (second, user)
    assert await b.get(first.token_hash) is None


async def test_one_process_fills_the_other_reads(pair: list[RedisSessionCache]) -> None:
    a, b = pair
    session, user = records()
    await a.put(session, user)
    assert await b.get(session.token_hash) == (session, user)
    assert await b.local.get(session.token_hash) == (session, user)


async def test_a_revocation_reaches_every_process(pair: list[RedisSessionCache]) -> None:
    a, b = pair
    session, user = records()
    await a.put(session, user)
    assert await b.get(session.token_hash) is not None  # now in b's own memory too

    await a.forget_session(session.token_hash)

    assert await a.get(session.token_hash) is None
    assert await eventually(lambda: _missing(b.local, session.token_hash))
    assert await b.get(session.token_hash) is None


async def test_a_changed_user_is_dropped_everywhere(pair: list[RedisSessionCache]) -> None:
    a, b = pair
    session, user = records()
    await a.put(session, user)
    assert await b.get(session.token_hash) is not None
    await b.forget_user(user.id)
    assert await eventually(lambda: _missing(a.local, session.token_hash))
    assert await a.get(session.token_hash) is None


async def test_a_stale_fill_cannot_undo_a_revocation(pair: list[RedisSessionCache]) -> None:
    a, b = pair
    session, user = records()
    await a.forget_session(session.token_hash)
    await b.put(session, user)  # read from SQL before the revocation, written after it
    await b.local.forget_session(session.token_hash)
    assert await b.get(session.token_hash) is None
    assert await a.get(session.token_hash) is None


async def test_the_channel_vouches_for_the_local_tier(redis: Redis, redis_prefix: str) -> None:
    """With a short TTL and a long hold: an entry outlives its TTL while the listener hears
    Redis answer its pings, is dropped when another process revokes it, and stops being
    believed within the TTL once the listener falls silent."""
    ttl = 0.3
    a, b = (
        RedisSessionCache(
            redis,
            LocalSessionCache(
                ttl=ttl, hold=60, touch_interval=timedelta(minutes=5), wall=lambda: NOW
            ),
            prefix=redis_prefix,
            ttl_s=60,
        )
        for _ in range(2)
    )
    try:
        for cache in (a, b):
            cache.listen()
            await asyncio.wait_for(cache.subscribed.wait(), 5)
        session, user = records()
        other, _ = records()
        other = dataclasses.replace(other, token_hash="e" * 64)
        await a.put(session, user)
        await a.put(other, user)
        assert await b.get(session.token_hash) is not None  # now in b's memory
        assert await b.get(other.token_hash) is not None
        await asyncio.sleep(3 * ttl)
        assert await b.local.get(session.token_hash) == (session, user)  # vouched for

        await a.forget_session(session.token_hash)
        assert await eventually(lambda: _missing(b.local, session.token_hash))
        assert await b.local.get(other.token_hash) is not None

        assert b._listener is not None
        b._listener.cancel()  # the listener hears nothing more
        await asyncio.sleep(2 * ttl)
        assert await b.local.get(other.token_hash) is None
    finally:
        await a.aclose()
        await b.aclose()


async def _missing(local: LocalSessionCache, token_hash: str) -> bool:
    return await local.get(token_hash) is None


async def test_without_redis_the_cache_steps_aside(redis_prefix: str) -> None:
    port = closed_port()
    redis = create_redis(f"redis://127.0.0.1:{port}/0")
    cache = RedisSessionCache(redis, LocalSessionCache(ttl=0), prefix=redis_prefix, ttl_s=60)
    session, user = records()
    await cache.put(session, user)
    assert await cache.get(session.token_hash) is None
    await cache.forget_session(session.token_hash)
    assert await RedisCodeGuard(redis, prefix=redis_prefix).claim(APPID, "code") is True
    await cache.aclose()
    await redis.aclose()


async def test_a_code_is_claimed_once(redis: Redis, redis_prefix: str) -> None:
    guards = [RedisCodeGuard(redis, prefix=redis_prefix) for _ in range(2)]
    claims = await asyncio.gather(*(g.claim(APPID, "the-code") for g in guards * 4))
    assert claims.count(True) == 1
    assert await guards[0].claim(APPID, "another-code") is True
    await guards[1].release(APPID, "the-code")
    assert await guards[1].claim(APPID, "the-code") is True
    keys = [key async for key in redis.scan_iter(match=f"{redis_prefix}code:*")]
    assert keys and all(b"the-code" not in key for key in keys)
    assert 0 < await redis.ttl(keys[0]) <= 300


# -- two API instances sharing one database and one Redis ------------------------------------


@pytest.fixture
def shared_settings(settings: Settings, redis_url: str, redis_prefix: str) -> Settings:
    return settings.model_copy(update={"redis_url": redis_url, "redis_prefix": redis_prefix})


async def test_two_instances_share_logins_and_logouts(
    shared_settings: Settings, sim_state: SimulatorState
) -> None:
    one, app_one = await open_harness(shared_settings, sim_state)
    two, app_two = await open_harness(shared_settings, sim_state)
    try:
        token = (await one.login("alice"))["token"]
        for harness in (one, two, one, two):  # both warm their caches
            assert (await harness.api.get("/v1/me", headers=bearer(token))).status_code == 200

        assert (await two.api.post("/v1/logout", headers=bearer(token))).status_code == 204

        async def rejected() -> bool:
            me = await one.api.get("/v1/me", headers=bearer(token))
            return me.status_code == 401 and me.json()["error"] == "invalid_token"

        assert await eventually(rejected)
    finally:
        await close_harness(one, app_one)
        await close_harness(two, app_two)


async def test_a_profile_change_is_seen_by_the_other_instance(
    shared_settings: Settings, sim_state: SimulatorState
) -> None:
    one, app_one = await open_harness(shared_settings, sim_state)
    two, app_two = await open_harness(shared_settings, sim_state)
    try:
        token = (await one.login("alice"))["token"]
        assert (await two.api.get("/v1/me", headers=bearer(token))).status_code == 200
        changed = await one.api.post(
            "/v1/me/profile", headers=bearer(token), json={"nickName": "新名字 🐼"}
        )
        assert changed.status_code == 200

        async def renamed() -> bool:
            me = await two.api.get("/v1/me", headers=bearer(token))
            return bool(me.json()["nickname"] == "新名字 🐼")

        assert await eventually(renamed)
    finally:
        await close_harness(one, app_one)
        await close_harness(two, app_two)


async def test_a_retried_code_is_exchanged_once_across_instances(
    shared_settings: Settings, sim_state: SimulatorState
) -> None:
    one, app_one = await open_harness(shared_settings, sim_state)
    two, app_two = await open_harness(shared_settings, sim_state)
    try:
        code = await one.code("bob")
        sim_state.calls.clear()
        answers_ = await asyncio.gather(
            one.api.post("/v1/login", json={"code": code}),
            two.api.post("/v1/login", json={"code": code}),
        )
        assert sorted(a.status_code for a in answers_) == [200, 400]
        refused = next(a for a in answers_ if a.status_code == 400)
        assert refused.json()["error"] == "invalid_code"
        assert sim_state.calls["/sns/jscode2session"] == 1
    finally:
        await close_harness(one, app_one)
        await close_harness(two, app_two)


def test_settings_bound_the_in_process_ttl() -> None:
    with pytest.raises(ValueError, match="less than or equal to 1"):
        Settings(session_cache_local_ttl=5, apps={"wx0000000000000a01": SecretStr("s")})
    assert Settings().session_cache_local_ttl == 1.0
