"""What a login-code claim costs this process's CPU in Redis: sent alone, or gathered with
the claims made meanwhile (``ScriptBatch``), with many claimers at once.

Needs a Redis on 127.0.0.1:6379 (its keys are made under a random prefix and expire in a
minute). Prints the CPU time per claim and the claims per second of each way, in turns::

    .venv/bin/python -m bench.redis_claims [--claimers 100] [--claims 300] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from wxauth.storage.redis import create_redis
from wxauth.storage.redis_batch import ScriptBatch
from wxauth.storage.redis_cache import CLAIM_SCRIPT

REDIS_URL = "redis://127.0.0.1:6379/0"

Claim = Callable[[list[str], list[bytes | int]], Awaitable[Any]]


async def drive(claim: Claim, *, claimers: int, claims: int, prefix: str) -> tuple[float, float]:
    """CPU µs per claim and claims per second, ``claimers`` at once, each ``claims`` times."""

    async def claimer(n: int) -> None:
        for m in range(claims):
            await claim([f"{prefix}{n}:{m}:{time.monotonic_ns()}"], [secrets.token_bytes(12), 60])

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(claimer(n) for n in range(claimers)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    done = claimers * claims
    return cpu / done * 1e6, done / wall


async def main(claimers: int, claims: int, rounds: int) -> int:
    redis = create_redis(REDIS_URL)
    try:
        await redis.ping()
    except Exception as exc:  # nothing to measure
        print(f"Redis does not answer on {REDIS_URL} ({type(exc).__name__})", file=sys.stderr)
        await redis.aclose()
        return 1
    sha = await redis.script_load(CLAIM_SCRIPT)
    batch = ScriptBatch(redis, CLAIM_SCRIPT)

    async def alone(keys: list[str], args: list[bytes | int]) -> Any:
        return await redis.evalsha(sha, len(keys), *keys, *args)

    prefix = f"wxauth_bench_claims_{secrets.token_hex(4)}:"
    print(f"{claimers} claimers, {claims} claims each")
    for _ in range(rounds):
        for name, claim in (("alone", alone), ("gathered", batch)):
            pipelines = batch.pipelines
            us, rate = await drive(claim, claimers=claimers, claims=claims, prefix=prefix)
            extra = f", {batch.pipelines - pipelines} pipelines" if claim is batch else ""
            print(f"{name:>8}: {us:6.1f} µs of CPU per claim, {rate:8.0f} claims/s{extra}")
    await redis.aclose()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.redis_claims")
    parser.add_argument("--claimers", type=int, default=100)
    parser.add_argument("--claims", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        runner: Any = asyncio.run
    else:
        runner = uvloop.run
    sys.exit(runner(main(args.claimers, args.claims, args.rounds)))
