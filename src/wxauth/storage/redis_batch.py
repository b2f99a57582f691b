"""Calls of one Lua script, sent together: while one call (or pipeline of calls) is on its
way to Redis, the calls that come meanwhile wait, and go together as the next pipeline, on
one connection, in one write and one read.

Under load many logins are in flight in each process, and each claims its code in Redis.
Sent one by one, every claim takes a connection from the pool, writes, waits and parses on
its own; redis-py's own work per command then costs more than Redis's. Gathered, the
claims share that work (in a pipeline of ten, each costs about a third of a claim sent
alone). A call that finds the way free is sent at once, as before, so a quiet process
waits for nothing; a call that waits, waits for the one on its way (the answer is usually
in already and read in the next turn of the loop); its answer, or the error of its
pipeline, comes back to it alone.

A caller that gives up (its deadline passed, see
:meth:`~wxauth.storage.redis_health.RedisHealth.ask`) leaves its place; its call may still
reach Redis with the others, which is why only idempotent scripts belong here. The script
is loaded again when Redis has forgotten it (restarted or flushed).
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis

Call = tuple[list[str], list[bytes | int], "asyncio.Future[Any]"]


class ScriptBatch:
    def __init__(self, redis: Redis, script: str) -> None:
        from redis.exceptions import NoScriptError

        self._redis = redis
        self._script = script
        self._sha = hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()
        self._no_script = NoScriptError
        self._due: list[Call] = []
        self._busy = False  # a call or a pipeline of calls is on its way
        self._sending: set[asyncio.Task[None]] = set()  # held: the loop keeps weak refs
        self.pipelines = 0  # pipelines sent for calls that waited (each shares one)

    def __repr__(self) -> str:
        return f"ScriptBatch(sha={self._sha[:12]}, due={len(self._due)})"

    async def __call__(self, keys: list[str], args: list[bytes | int]) -> Any:
        """The script's answer to ``keys`` and ``args``; Redis's error (or the pipeline's,
        such as a timeout or a lost connection) raised as the caller's own."""
        if not self._busy:  # nothing on its way: sent at once, as a call of its own
            self._busy = True
            try:
                return await self._alone(keys, args)
            finally:
                self._next()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._due.append((keys, args, future))
        return await future

    def _next(self) -> None:
        """The way is free: the calls that waited meanwhile go, together."""
        self._busy = bool(self._due)
        if self._due:
            task = asyncio.get_running_loop().create_task(self._send())
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _alone(self, keys: list[str], args: list[bytes | int]) -> Any:
        try:
            return await self._redis.evalsha(self._sha, len(keys), *keys, *args)
        except self._no_script:
            await self._redis.script_load(self._script)
            return await self._redis.evalsha(self._sha, len(keys), *keys, *args)

    async def _send(self) -> None:
        calls, self._due = self._due, []
        try:
            await self._answer([call for call in calls if not call[2].done()])
        finally:
            self._next()

    async def _answer(self, calls: list[Call]) -> None:
        if not calls:  # every one of them gave up
            return
        try:
            answers = await self._pipeline(calls)
            if any(isinstance(answer, self._no_script) for answer in answers):
                await self._redis.script_load(self._script)
                answers = await self._pipeline(calls)
        except Exception as exc:  # every caller gets it, as its own call would
            for _, _, future in calls:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:  # cancelled (the process stops): so are the calls
            for _, _, future in calls:
                future.cancel()
            raise
        for (_, _, future), answer in zip(calls, answers, strict=True):
            if future.done():
                continue
            if isinstance(answer, Exception):
                future.set_exception(answer)
            else:
                future.set_result(answer)

    async def _pipeline(self, calls: list[Call]) -> list[Any]:
        self.pipelines += 1
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys, args, _ in calls:
                pipe.evalsha(self._sha, len(keys), *keys, *args)
            answers: list[Any] = await pipe.execute(raise_on_error=False)
        return answers
