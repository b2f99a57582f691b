"""Platform pushes seen before, shared through a real Redis: a replay to another process is
refused there too, and the key goes once a replay would be stale anyway."""

from __future__ import annotations

from redis.asyncio import Redis

from wxauth.storage.replay_cache import RedisReplayCache


async def test_a_push_is_first_seen_once_across_processes(
    redis_url: str, redis_prefix: str
) -> None:
    one, two = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        here = RedisReplayCache(one, prefix=redis_prefix)
        there = RedisReplayCache(two, prefix=redis_prefix)
        assert await here.first_seen("wxc:1700000000:n1", until=1_000_300.0, now=1_000_000.0)
        assert not await there.first_seen("wxc:1700000000:n1", until=1_000_300.0, now=1_000_000.0)
        assert await there.first_seen("wxc:1700000000:n2", until=1_000_300.0, now=1_000_000.0)
        ttl = await one.ttl(f"{redis_prefix}push:wxc:1700000000:n1")
        assert 290 <= ttl <= 300
    finally:
        await one.aclose()
        await two.aclose()
