"""The apps registry: reloads on its interval, seeds from WXAUTH_APPS, survives a store
that cannot be read, and resolves the app of a login."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from wxauth.core.apps import AppRegistry, app_policy, disabled
from wxauth.core.keyring import Keyring, generate_key
from wxauth.core.memory import MemoryStore
from wxauth.core.models import App
from wxauth.core.tokens import SessionPolicy
from wxauth.errors import AppDisabled, AuthorizationWithdrawn, InvalidRequest, StorageUnavailable

A, B = "wx1111111111111111", "wx2222222222222222"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Ticking:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Failing(MemoryStore):
    broken = False

    async def list_apps(self) -> list[App]:
        if self.broken:
            raise StorageUnavailable()
        return await super().list_apps()


def registry(store: Any, clock: Ticking, **kwargs: Any) -> AppRegistry:
    return AppRegistry(store, ttl=1.0, monotonic=clock, **kwargs)


async def test_a_change_is_seen_after_the_interval() -> None:
    store, clock = MemoryStore(), Ticking()
    apps = registry(store, clock)
    assert await apps.get(A) is None
    await store.save_app(App(A))
    assert await apps.get(A) is None  # within the interval: the snapshot
    clock.now += 1.0
    assert await apps.get(A) == App(A)
    apps.invalidate()  # this process changed it: the next read waits for the store
    await store.save_app(App(B))
    assert await apps.get(B) == App(B)


class SlowStore(MemoryStore):
    """A database too busy to answer the registry's reload in time."""

    delay = 0.0

    async def list_apps(self) -> list[App]:
        await asyncio.sleep(self.delay)
        return await super().list_apps()


async def test_a_slow_reload_does_not_hold_requests_up() -> None:
    store, clock = SlowStore(), Ticking()
    await store.save_app(App(A))
    apps = registry(store, clock)
    assert await apps.get(A) == App(A)
    await store.save_app(disabled(App(A), None, NOW))
    store.delay = 0.5
    clock.now += 1.0
    started = asyncio.get_running_loop().time()
    assert (await apps.get(A)) == App(A)  # the stale snapshot, at once
    assert asyncio.get_running_loop().time() - started < store.delay
    await apps.settled()
    found = await apps.get(A)
    assert found is not None and found.status != App(A).status
    await apps.aclose()


async def test_seeded_apps_are_served_and_a_row_decides_their_status() -> None:
    store, clock = MemoryStore(), Ticking()
    apps = registry(store, clock, seed={A: "secret-a"})
    assert (await apps.resolve(None)).appid == A
    keyring = Keyring([bytes(range(32))])
    assert apps.secret(await apps.resolve(A), keyring) == "secret-a"
    await store.save_app(disabled(App(A, secret_enc=keyring.encrypt("other")), None, NOW))
    apps.invalidate()
    with pytest.raises(AppDisabled):
        await apps.resolve(A)
    with pytest.raises(AppDisabled):
        await apps.check_session_app(A)
    await apps.check_session_app(B)  # never heard of: a verifier may not know it


async def test_resolve_refuses_unknown_and_ambiguous_and_says_withdrawn() -> None:
    store, clock = MemoryStore(), Ticking()
    await store.save_app(App(A))
    await store.save_app(disabled(App(B), "unauthorized", NOW))
    apps = registry(store, clock)
    with pytest.raises(InvalidRequest):
        await apps.resolve("wx9999999999999999")
    with pytest.raises(InvalidRequest):
        await apps.resolve(None)  # two served
    with pytest.raises(AuthorizationWithdrawn):
        await apps.resolve(B)


async def test_a_store_that_cannot_be_read_keeps_the_last_snapshot() -> None:
    store, clock = Failing(), Ticking()
    await store.save_app(App(A))
    apps = registry(store, clock)
    assert await apps.get(A) is not None
    store.broken = True
    clock.now += 5
    assert await apps.get(A) is not None
    await apps.settled()  # the reload failed: the last snapshot stays
    assert await apps.get(A) is not None


async def test_stored_secrets_are_decrypted_with_the_keyring() -> None:
    keyring = Keyring([base64.urlsafe_b64decode(generate_key())])
    store, clock = MemoryStore(), Ticking()
    await store.save_app(App(A, secret_enc=keyring.encrypt("s3cret")))
    apps = registry(store, clock)
    assert apps.secret(await apps.resolve(A), keyring) == "s3cret"


def test_app_policy_uses_the_apps_own_lifetimes() -> None:
    base = SessionPolicy(timedelta(days=7), timedelta(days=30), timedelta(minutes=5))
    assert app_policy(base, App(A)) is base
    own = app_policy(base, App(A, session_idle_ttl=600, session_max_ttl=300))
    assert (own.idle_ttl, own.max_ttl) == (timedelta(seconds=300), timedelta(seconds=300))
