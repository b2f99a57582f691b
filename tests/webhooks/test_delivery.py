"""Deliveries to real receivers over HTTP, from a SQLite store: every event as signed, in
order per user, through receiver outages, retries, dead letters and replays."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import timedelta
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook

from tests.storage.webhook_contract import every_change, record
from tests.webhooks.conftest import Subscribe, make_worker, running, utcnow
from tests.webhooks.receiver import Received, Receiver, eventually
from wxauth.core.keyring import Keyring
from wxauth.core.webhooks import (
    DEAD,
    DELIVERED,
    PENDING,
    USER_CREATED,
    USER_UPDATED,
    Delivery,
)
from wxauth.integrations.webhooks import verify
from wxauth.storage.sql import SqlStore


async def deliveries(store: SqlStore) -> list[Delivery]:
    return list(reversed(await store.webhooks.list_deliveries(limit=10_000)))


async def one(store: SqlStore, delivery_id: int) -> Delivery:
    found = await store.webhooks.get_delivery(delivery_id)
    assert found is not None
    return found


async def test_every_event_type_arrives_as_signed(
    store: SqlStore, keyring: Keyring, receiver: Receiver, subscribe: Subscribe
) -> None:
    _, secret = await subscribe(receiver.url)
    await every_change(store)
    written = await deliveries(store)
    worker = make_worker(store, keyring)
    with running(worker):
        await eventually(lambda: len(receiver.received) == len(written))
        await eventually(lambda: _all_in(store, DELIVERED, len(written)))
    # What arrived is exactly what was written, in its order, verified two ways.
    assert [r.body.decode() for r in receiver.received] == [d.payload for d in written]
    for got, delivery in zip(receiver.received, written, strict=True):
        assert verify(secret, got.headers, got.body) == json.loads(delivery.payload)
        assert Webhook(secret).verify(got.body, got.headers)["id"] == delivery.event_id
        assert got.headers["webhook-id"] == delivery.event_id
        assert got.headers["Content-Type"] == "application/json"
        assert secret not in str(got.headers)
    assert {e["type"] for e in receiver.events()} == {
        "user.created",
        "user.updated",
        "user.phone_bound",
        "user.disabled",
        "user.enabled",
        "user.deleted",
        "session.revoked",
    }


async def test_events_made_while_the_receiver_is_down_arrive_in_order(
    store: SqlStore, keyring: Keyring, subscribe: Subscribe
) -> None:
    receiver = Receiver()  # not started: its port refuses connections
    await subscribe(receiver.url, events=(USER_CREATED, USER_UPDATED))
    users = [(await store.record_login(record(f"o-{n}")))[0] for n in range(3)]
    for step in range(3):
        for user in users:
            await store.update_user(user.id, {"city": f"city-{step}"}, utcnow())
    worker = make_worker(store, keyring)
    try:
        with running(worker):

            async def tried() -> bool:
                heads = await store.webhooks.list_deliveries(state=PENDING)
                return sum(d.attempts >= 2 for d in heads) == 3  # each user's head, retried

            await eventually(tried)
            failed = [d for d in await deliveries(store) if d.attempts]
            assert {d.event_type for d in failed} == {USER_CREATED}
            assert all("could not connect" in (d.last_error or "") for d in failed)
            await receiver.start()
            await eventually(lambda: len(receiver.received) == 12)
        by_user: dict[str, list[str]] = defaultdict(list)
        for event in receiver.events():
            by_user[event["data"]["user_id"]].append(
                event["data"].get("changes", {}).get("city", event["type"])
            )
        assert by_user == {u.id: ["user.created", "city-0", "city-1", "city-2"] for u in users}
    finally:
        await receiver.stop()


async def test_a_failing_receiver_keeps_each_users_order(
    store: SqlStore, keyring: Keyring, receiver: Receiver, subscribe: Subscribe
) -> None:
    """Every event fails the first time it comes: the next of its user waits for it."""
    seen: set[str] = set()
    accepted: list[dict[str, Any]] = []

    def first_time_fails(got: Received) -> web.StreamResponse:
        if got.headers["webhook-id"] not in seen:
            seen.add(got.headers["webhook-id"])
            return web.Response(status=503)
        accepted.append(got.event)
        return web.Response(status=200)

    receiver.answer = first_time_fails
    await subscribe(receiver.url)
    users = [(await store.record_login(record(f"o-{n}")))[0] for n in range(4)]
    for step in range(4):
        for user in users:
            await store.update_user(user.id, {"city": str(step)}, utcnow())
    with running(make_worker(store, keyring)):
        await eventually(lambda: len(accepted) == 20)
        # The receiver has the last one; the worker records it once the answer is back.
        await eventually(lambda: _all_in(store, DELIVERED, 20))
    for user in users:
        mine = [e for e in accepted if e["data"]["user_id"] == user.id]
        assert [e["data"].get("changes", {}).get("city") for e in mine] == [
            None,
            "0",
            "1",
            "2",
            "3",
        ]
    assert len(receiver.received) == 40  # each twice: once refused, once accepted
    assert all(d.state == DELIVERED and d.attempts == 2 for d in await deliveries(store))


async def test_retries_end_in_a_dead_letter_and_a_replay_delivers(
    store: SqlStore, keyring: Keyring, receiver: Receiver, subscribe: Subscribe
) -> None:
    receiver.answer = lambda _r: web.Response(status=500)
    sub, _ = await subscribe(receiver.url, events=(USER_CREATED, USER_UPDATED))
    user, _ = await store.record_login(record("o-alice"))
    await store.update_user(user.id, {"city": "Beijing"}, utcnow())
    with running(make_worker(store, keyring, max_attempts=3)):
        await eventually(lambda: _all_in(store, DEAD, 2))
    dead = await deliveries(store)
    assert [(d.event_type, d.attempts, d.last_status) for d in dead] == [
        (USER_CREATED, 3, 500),
        (USER_UPDATED, 3, 500),
    ]
    assert len(receiver.received) == 6
    receiver.answer = lambda _r: web.Response(status=202)
    assert await store.webhooks.replay_deliveries(utcnow(), dead_of=sub.id) == 2
    with running(make_worker(store, keyring, max_attempts=3)):
        await eventually(lambda: _all_in(store, DELIVERED, 2))
    assert [e["type"] for e in receiver.events()[6:]] == [USER_CREATED, USER_UPDATED]
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert ids[-2:] == [d.event_id for d in dead]  # the same ids: a receiver sees repeats


async def _all_in(store: SqlStore, state: str, count: int) -> bool:
    found = await deliveries(store)
    return len(found) == count and all(d.state == state for d in found)


async def test_a_4xx_is_dead_at_once_408_and_429_are_retried(
    store: SqlStore, keyring: Keyring, receiver: Receiver, subscribe: Subscribe
) -> None:
    statuses = iter([410, 429, 408])

    def answer(_got: Received) -> web.StreamResponse:
        status = next(statuses, 204)
        headers = {"Retry-After": "7"} if status == 429 else {}
        return web.Response(status=status, headers=headers)

    receiver.answer = answer
    await subscribe(receiver.url, events=(USER_CREATED,))
    await store.record_login(record("o-alice"))
    await store.record_login(record("o-bob"))
    worker = make_worker(store, keyring, base_s=0.01, max_s=60)
    assert await worker.run_once() == 2
    first, second = await deliveries(store)
    assert (first.state, first.attempts, first.last_status) == (DEAD, 1, 410)
    assert (second.state, second.last_status) == (PENDING, 429)
    # The receiver's Retry-After (7 s) wins over the backoff (0.01 s).
    assert second.next_attempt_at - utcnow() > timedelta(seconds=5)
    await store.webhooks.replay_deliveries(utcnow(), ids=[second.id])
    assert await worker.run_once() == 1
    assert (await one(store, second.id)).last_status == 408
    await store.webhooks.replay_deliveries(utcnow(), ids=[second.id])
    assert await worker.run_once() == 1
    assert (await one(store, second.id)).state == DELIVERED


async def test_redirects_are_not_followed(
    store: SqlStore, keyring: Keyring, receiver: Receiver, subscribe: Subscribe
) -> None:
    elsewhere = Receiver()
    await elsewhere.start()
    try:
        receiver.answer = lambda _r: web.Response(status=307, headers={"Location": elsewhere.url})
        await subscribe(receiver.url, events=(USER_CREATED,))
        await store.record_login(record("o-alice"))
        assert await make_worker(store, keyring).run_once() == 1
        [delivery] = await deliveries(store)
        assert (delivery.state, delivery.last_status) == (DEAD, 307)
        assert len(receiver.received) == 1 and elsewhere.received == []
    finally:
        await elsewhere.stop()


async def test_a_slow_receiver_times_out_and_is_tried_again(
    store: SqlStore, keyring: Keyring, receiver: Receiver, subscribe: Subscribe
) -> None:
    receiver.delay = 5
    await subscribe(receiver.url, events=(USER_CREATED,))
    await store.record_login(record("o-alice"))
    assert await make_worker(store, keyring, timeout=0.2).run_once() == 1
    [delivery] = await deliveries(store)
    assert delivery.state == PENDING and delivery.attempts == 1
    assert delivery.last_error == "no answer within 0.2 s"


async def test_a_disabled_subscription_waits_and_a_removed_one_is_gone(
    store: SqlStore, keyring: Keyring, receiver: Receiver, subscribe: Subscribe
) -> None:
    sub, _ = await subscribe(receiver.url, events=(USER_CREATED,))
    await store.record_login(record("o-alice"))
    await store.webhooks.update_subscription(sub.id, utcnow(), enabled=False)
    await store.record_login(record("o-bob"))  # not recorded: nobody wants it now
    worker = make_worker(store, keyring)
    assert await worker.run_once() == 0
    await store.webhooks.update_subscription(sub.id, utcnow(), enabled=True)
    assert await worker.run_once() == 1
    assert [e["type"] for e in receiver.events()] == [USER_CREATED]
    assert await store.webhooks.remove_subscription(sub.id)
    assert await deliveries(store) == []


async def test_the_metrics_count_attempts_and_show_the_queue(
    store: SqlStore, keyring: Keyring, receiver: Receiver, subscribe: Subscribe
) -> None:
    from prometheus_client import generate_latest

    from wxauth.api.metrics import Metrics

    statuses = iter([503])
    receiver.answer = lambda _r: web.Response(status=next(statuses, 204))
    await subscribe(receiver.url, events=(USER_CREATED,))
    for n in range(3):
        await store.record_login(record(f"o-{n}"))
    metrics = Metrics()
    worker = make_worker(store, keyring)
    worker.observer = metrics

    def sample(name: str, **labels: str) -> float | None:
        value: float | None = metrics.registry.get_sample_value(name, labels)
        return value

    with running(worker):
        await eventually(lambda: sample("wxauth_webhook_deliveries_total", result="delivered") == 3)
    assert sample("wxauth_webhook_deliveries_total", result="retry") == 1
    assert sample("wxauth_webhook_deliveries_total", result="dead") is None
    assert sample("wxauth_webhook_queue_depth") == 1  # after the first round: the refused one
    age = sample("wxauth_webhook_queue_oldest_seconds")
    assert age is not None and age > 0  # the contract's events are from March 2026
    assert b"wxauth_webhook_queue_depth" in generate_latest(metrics.registry)
