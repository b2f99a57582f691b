"""Access tokens shared through Redis, with a refresh lock per appid.

The token lives in a hash ``{prefix}access_token:{appid}`` that Redis drops when the token
expires: ``token_enc``, the token encrypted with the at-rest keys (``WXAUTH_SECRET_KEYS``, as
session_keys are), so that whoever reads Redis or its dump cannot call WeChat as the mini
program; ``token_sha256``, its digest; ``refresh_at`` and ``expires_at``. Deleting it is
compare-and-delete on the digest in one Lua script, so a process never drops a token that
another one has just put there. The lock is redis-py's ``Lock``: a random owner token, a TTL,
and a release that only deletes the lock it owns.

An entry that the keys do not open (keys rotated away, or written in plain text by an older
wxauth) counts as absent: the next process to need a token fetches one and replaces it.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING

from wxauth.core.keyring import Keyring, KeyringError
from wxauth.wechat.access_token import CachedToken

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.lock import Lock

DISCARD_IF_SAME = """
if redis.call('hget', KEYS[1], 'token_sha256') == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


def _text(value: bytes | str) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else value


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class RedisTokenCache:
    """:class:`~wxauth.wechat.access_token.SharedTokenCache` on Redis."""

    def __init__(
        self,
        redis: Redis,
        *,
        keyring: Keyring,
        prefix: str = "wxauth:",
        lock_ttl: float = 15.0,
        lock_wait: float = 10.0,
    ) -> None:
        self._redis = redis
        self._keyring = keyring
        self._prefix = prefix
        self._lock_ttl = lock_ttl
        self._lock_wait = lock_wait
        self._discard = redis.register_script(DISCARD_IF_SAME)

    def __repr__(self) -> str:
        return f"RedisTokenCache(prefix={self._prefix!r})"

    def _key(self, appid: str) -> str:
        return f"{self._prefix}access_token:{appid}"

    async def load(self, appid: str) -> CachedToken | None:
        values = await self._redis.hgetall(self._key(appid))
        try:
            return CachedToken(
                token=self._keyring.decrypt(_text(values[b"token_enc"])),
                refresh_at=float(values[b"refresh_at"]),
                expires_at=float(values[b"expires_at"]),
            )
        except (KeyError, ValueError, UnicodeDecodeError, KeyringError):
            return None

    async def store(self, appid: str, token: CachedToken) -> None:
        key = self._key(appid)
        mapping = {
            "token_enc": self._keyring.encrypt(token.token),
            "token_sha256": _digest(token.token),
            "refresh_at": repr(token.refresh_at),
            "expires_at": repr(token.expires_at),
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)  # no field of an older entry (a plain ``token``) outlives it
            pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
            pipe.pexpireat(key, int(token.expires_at * 1000))
            await pipe.execute()

    async def discard(self, appid: str, token: str) -> bool:
        deleted = await self._discard(keys=[self._key(appid)], args=[_digest(token)])
        return bool(deleted)

    @asynccontextmanager
    async def lock(self, appid: str) -> AsyncIterator[bool]:
        lock = self._redis.lock(
            f"{self._prefix}access_token_lock:{appid}",
            timeout=self._lock_ttl,
            sleep=0.05,
            blocking_timeout=self._lock_wait,
            thread_local=False,
        )
        held = await lock.acquire()
        try:
            yield bool(held)
        finally:
            if held:
                await _release(lock)


async def _release(lock: Lock) -> None:
    from redis.exceptions import LockError

    # The TTL may have run out while fetching: then the lock is no longer ours to free.
    with suppress(LockError):
        await lock.release()
