"""Fixtures for several processes sharing Redis: skip when Redis is absent (fail under CI)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

REDIS_URL = "redis://127.0.0.1:6379/0"


def require_redis() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis at {REDIS_URL} is not reachable under CI: {exc}")
        pytest.skip("Redis is not reachable on 127.0.0.1:6379: install and start redis-server")


def _prefixed_keys() -> Iterator[str]:
    import redis

    require_redis()
    prefix = f"wxauth-test-{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A Redis key prefix unique to this test; its keys are deleted afterwards."""
    yield from _prefixed_keys()


@pytest.fixture(scope="module")
def module_redis_prefix() -> Iterator[str]:
    """The same, shared by the tests of one module."""
    yield from _prefixed_keys()
