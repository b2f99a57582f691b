"""Access tokens shared through Redis, in-process: several managers, one fetch."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.conftest import APPID, SECRET
from tests.multiprocess.conftest import REDIS_URL
from wxauth.core.keyring import Keyring
from wxauth.simulator import SimulatorState, create_simulator_app
from wxauth.storage.redis import create_redis
from wxauth.storage.token_cache import RedisTokenCache
from wxauth.wechat.access_token import AccessTokens, CachedToken
from wxauth.wechat.client import WeChatClient
from wxauth.wechat.server_api import ServerApi

KEYRING = Keyring([b"k" * 16 + b"e" * 16])


async def test_managers_sharing_redis_fetch_once(
    sim_state: SimulatorState, redis_prefix: str
) -> None:
    transport = httpx.ASGITransport(app=create_simulator_app(sim_state))
    client = WeChatClient("http://wechat.test", transport=transport)
    redis = create_redis(REDIS_URL)
    # Five "processes": each its own manager and local cache, one Redis between them.
    managers = [
        AccessTokens(
            ServerApi(client),
            {APPID: SECRET},
            shared=RedisTokenCache(redis, keyring=KEYRING, prefix=redis_prefix),
        )
        for _ in range(5)
    ]
    tokens = await asyncio.gather(*(m.get(APPID) for m in managers for _ in range(10)))
    assert len(set(tokens)) == 1
    assert sim_state.calls["/cgi-bin/stable_token"] == 1
    # A refused token is dropped from Redis for everyone, and only that token.
    await managers[0].discard(APPID, tokens[0])
    fresh = await managers[1].get(APPID)  # its local copy is still the old one
    assert fresh == tokens[0]
    await client.aclose()
    await redis.aclose()


async def test_compare_and_delete_and_lock(redis_prefix: str) -> None:
    redis = create_redis(REDIS_URL)
    cache = RedisTokenCache(redis, keyring=KEYRING, prefix=redis_prefix, lock_ttl=5, lock_wait=0.2)
    await cache.store(APPID, CachedToken("new-token", 1e12, 1e12 + 300))
    assert not await cache.discard(APPID, "old-token")  # someone else's token stays
    loaded = await cache.load(APPID)
    assert loaded is not None and loaded.token == "new-token"
    assert await cache.discard(APPID, "new-token")
    assert await cache.load(APPID) is None
    async with cache.lock(APPID) as held:
        assert held
        async with cache.lock(APPID) as second:
            assert not second  # the bounded wait ran out
    async with cache.lock(APPID) as again:
        assert again  # released
    await redis.aclose()


async def test_expired_tokens_leave_redis(redis_prefix: str) -> None:
    redis = create_redis(REDIS_URL)
    cache = RedisTokenCache(redis, keyring=KEYRING, prefix=redis_prefix)
    await cache.store(APPID, CachedToken("t", time.time() - 10, time.time() - 1))
    assert await cache.load(APPID) is None
    await redis.aclose()


async def test_the_token_is_encrypted_in_redis(redis_prefix: str) -> None:
    redis = create_redis(REDIS_URL)
    cache = RedisTokenCache(redis, keyring=KEYRING, prefix=redis_prefix)
    token = "ACCESS_TOKEN_0123456789abcdef"
    await cache.store(APPID, CachedToken(token, 1e12, 1e12 + 300))
    stored = await redis.hgetall(f"{redis_prefix}access_token:{APPID}")
    assert set(stored) == {b"token_enc", b"token_sha256", b"refresh_at", b"expires_at"}
    assert not any(token.encode() in value for value in stored.values())
    # Keys rotated (a new one first, the old one kept): still readable.
    rotated = Keyring([b"n" * 32, b"k" * 16 + b"e" * 16])
    loaded = await RedisTokenCache(redis, keyring=rotated, prefix=redis_prefix).load(APPID)
    assert loaded is not None and loaded.token == token
    # Keys that do not open it: absent, as if never stored (the next get fetches a new one).
    stranger = RedisTokenCache(redis, keyring=Keyring([b"s" * 32]), prefix=redis_prefix)
    assert await stranger.load(APPID) is None
    await redis.aclose()


async def test_a_plain_entry_counts_as_absent_and_is_replaced_whole(redis_prefix: str) -> None:
    redis = create_redis(REDIS_URL)
    key = f"{redis_prefix}access_token:{APPID}"
    await redis.hset(key, mapping={"token": "plain", "refresh_at": "1e12", "expires_at": "2e12"})
    cache = RedisTokenCache(redis, keyring=KEYRING, prefix=redis_prefix)
    assert await cache.load(APPID) is None
    await cache.store(APPID, CachedToken("fresh", 1e12, 1e12 + 300))
    assert b"token" not in await redis.hgetall(key)  # the plain field went with the old entry
    loaded = await cache.load(APPID)
    assert loaded is not None and loaded.token == "fresh"
    await redis.aclose()
