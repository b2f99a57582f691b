"""Calls of one script sent together (``ScriptBatch``), on a real Redis: each caller gets
its own answer or its own error, in fewer round trips than calls."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from tests.services import closed_port
from wxauth.storage.redis import create_redis
from wxauth.storage.redis_batch import ScriptBatch
from wxauth.storage.redis_cache import CLAIM_SCRIPT, RedisCodeGuard

Redis = Any
APPID = "wx-batch"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = create_redis(redis_url)
    yield client
    await client.aclose()


def claim_of(prefix: str, code: str) -> tuple[list[str], list[bytes | int]]:
    return [f"{prefix}batch:{code}"], [secrets.token_bytes(8), 60]


async def test_concurrent_claims_share_round_trips_and_each_gets_its_own_answer(
    redis: Redis, redis_prefix: str
) -> None:
    batch = ScriptBatch(redis, CLAIM_SCRIPT)
    calls = [claim_of(redis_prefix, f"code-{n % 10}") for n in range(60)]  # each code 6 times
    answers = await asyncio.gather(*(batch(keys, args) for keys, args in calls))
    # One winner per code (the script answers nothing to the first), whoever sent it.
    winners = [keys[0] for (keys, _), answer in zip(calls, answers, strict=True) if answer is None]
    assert sorted(winners) == sorted({keys[0] for keys, _ in calls})
    for (keys, args), answer in zip(calls, answers, strict=True):
        held = await redis.get(keys[0])
        assert (answer is None and held == args[0]) or answer == held  # the holder's own mark
    assert 1 <= batch.pipelines < 10  # the first went alone, the others in a few pipelines


async def test_a_lone_call_is_sent_at_once(redis: Redis, redis_prefix: str) -> None:
    batch = ScriptBatch(redis, CLAIM_SCRIPT)
    keys, args = claim_of(redis_prefix, "alone")
    assert await batch(keys, args) is None
    assert await batch(keys, args) == args[0]  # asked again: the same holder
    assert batch.pipelines == 0


async def test_a_batch_after_redis_forgot_the_script_loads_it_again(
    redis: Redis, redis_prefix: str
) -> None:
    batch = ScriptBatch(redis, CLAIM_SCRIPT)
    assert await batch(*claim_of(redis_prefix, "warm")) is None
    await redis.script_flush()
    calls = [claim_of(redis_prefix, f"after-flush-{n}") for n in range(20)]
    answers = await asyncio.gather(*(batch(keys, args) for keys, args in calls))
    assert answers == [None] * 20
    assert batch.pipelines >= 1  # some went together, after the script was loaded again


async def test_one_calls_error_is_its_own(redis: Redis, redis_prefix: str) -> None:
    batch = ScriptBatch(redis, CLAIM_SCRIPT)
    wrong = f"{redis_prefix}batch:a-list"
    await redis.rpush(wrong, b"x")  # GET on a list: Redis's WRONGTYPE error
    calls = [claim_of(redis_prefix, f"fine-{n}") for n in range(10)]
    calls.insert(5, ([wrong], [b"mark", 60]))
    answers = await asyncio.gather(
        *(batch(keys, args) for keys, args in calls), return_exceptions=True
    )
    assert isinstance(answers[5], ResponseError)
    assert answers[:5] + answers[6:] == [None] * 10


async def test_a_caller_that_gives_up_leaves_the_others_their_answers(
    redis: Redis, redis_prefix: str
) -> None:
    batch = ScriptBatch(redis, CLAIM_SCRIPT)
    calls = [claim_of(redis_prefix, f"patient-{n}") for n in range(10)]
    tasks = [asyncio.ensure_future(batch(keys, args)) for keys, args in calls]
    await asyncio.sleep(0)
    tasks[3].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(done[3], asyncio.CancelledError)
    assert [d for n, d in enumerate(done) if n != 3] == [None] * 9
    assert await batch(*claim_of(redis_prefix, "after")) is None  # the way is free again


async def test_every_waiting_call_gets_the_connections_error(redis_prefix: str) -> None:
    dead = create_redis(f"redis://127.0.0.1:{closed_port()}/0")
    batch = ScriptBatch(dead, CLAIM_SCRIPT)
    calls = [claim_of(redis_prefix, f"lost-{n}") for n in range(8)]
    answers = await asyncio.gather(
        *(batch(keys, args) for keys, args in calls), return_exceptions=True
    )
    assert all(isinstance(answer, RedisConnectionError) for answer in answers), answers
    await dead.aclose()


async def test_concurrent_logins_claim_their_codes_in_fewer_round_trips(
    redis: Redis, redis_prefix: str
) -> None:
    guard = RedisCodeGuard(redis, prefix=redis_prefix)
    codes = [f"login-{n}" for n in range(40)]
    first = await asyncio.gather(*(guard.claim(APPID, code) for code in codes))
    again = await asyncio.gather(*(guard.claim(APPID, code) for code in codes[:5]))
    assert first == [True] * 40 and again == [False] * 5
    assert guard.passed == 0
    assert 1 <= guard.pipelines < 40
