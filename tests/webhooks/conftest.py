"""A SQLite store (the migrated test database), a keyring, subscriptions with their
secrets, and workers that deliver to real receivers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.webhooks.receiver import Receiver
from wxauth.core.keyring import Keyring, generate_key
from wxauth.core.webhook_signing import new_secret
from wxauth.core.webhook_worker import DeliveryWorker, RetryPolicy, Sender
from wxauth.core.webhooks import EVENT_TYPES, Subscription, new_subscription_id
from wxauth.outbound import WebhookSender
from wxauth.storage.engine import create_engine
from wxauth.storage.sql import SqlStore


def utcnow() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def keyring() -> Keyring:
    import base64

    return Keyring([base64.urlsafe_b64decode(generate_key())])


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SqlStore]:
    engine = create_engine(f"sqlite+aiosqlite:///{db_path}")
    store = SqlStore(engine, webhook_ttl=0)
    yield store
    store.writes.close()
    await engine.dispose()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    await receiver.start()
    yield receiver
    await receiver.stop()


Subscribe = Callable[..., Any]


@pytest.fixture
def subscribe(store: SqlStore, keyring: Keyring) -> Subscribe:
    """``await subscribe(url, events=...)``: the subscription and its secret."""

    async def add(
        url: str, events: tuple[str, ...] = EVENT_TYPES, appid: str | None = None
    ) -> tuple[Subscription, str]:
        secret = new_secret()
        now = utcnow()
        sub = Subscription(
            id=new_subscription_id(),
            url=url,
            events=events,
            appid=appid,
            secret_enc=keyring.encrypt(secret),
            created_at=now,
            updated_at=now,
        )
        await store.webhooks.add_subscription(sub)
        return sub, secret

    return add


def make_worker(
    store: SqlStore,
    keyring: Keyring,
    *,
    sender: Sender | None = None,
    max_attempts: int = 5,
    base_s: float = 0.01,
    max_s: float = 0.05,
    timeout: float = 5.0,
    retention: timedelta = timedelta(days=3650),  # the contract's events are in March 2026
) -> DeliveryWorker:
    return DeliveryWorker(
        store.webhooks,
        sender or WebhookSender(timeout=timeout, allow_private=True),
        keyring,
        clock=utcnow,
        policy=RetryPolicy(max_attempts=max_attempts, base_s=base_s, max_s=max_s),
        lease_s=2 * timeout + 5,
        poll_interval=0.02,
        retention=retention,
    )


@contextlib.contextmanager
def running(worker: DeliveryWorker) -> Iterator[asyncio.Task[None]]:
    """The worker's loop as a task for the block's length."""
    task = asyncio.get_running_loop().create_task(worker.run())
    try:
        yield task
    finally:
        task.cancel()
