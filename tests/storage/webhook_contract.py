"""The webhook part of the store contract (mixed into ``StoreContract``): subscriptions, the
outbox rows each change writes in its own transaction, and the claims of the workers."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from wxauth.core.models import ClientInfo, LoginRecord
from wxauth.core.tokens import SessionPolicy, new_token
from wxauth.core.webhooks import (
    DEAD,
    DELIVERED,
    EVENT_TYPES,
    PENDING,
    SESSION_REVOKED,
    USER_CREATED,
    USER_UPDATED,
    Delivery,
    Subscription,
    new_subscription_id,
)
from wxauth.errors import NotFound

APPID = "wx1111111111111111"
OTHER_APPID = "wx2222222222222222"
NOW = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
POLICY = SessionPolicy(
    idle_ttl=timedelta(days=7), max_ttl=timedelta(days=30), touch_interval=timedelta(minutes=5)
)
SECRETS = ("ciphertext-1", "openid", "o-")  # never in a payload


def subscription(
    events: tuple[str, ...] = EVENT_TYPES, *, appid: str | None = None, enabled: bool = True
) -> Subscription:
    return Subscription(
        id=new_subscription_id(),
        url="https://hooks.example.com/wxauth",
        events=events,
        appid=appid,
        secret_enc="enc-secret",
        enabled=enabled,
        created_at=NOW,
        updated_at=NOW,
    )


def record(
    openid: str,
    *,
    appid: str = APPID,
    profile: dict[str, Any] | None = None,
    unionid: str | None = None,
) -> LoginRecord:
    session = POLICY.new_session(new_token(), "", appid, NOW, ClientInfo())
    return LoginRecord(
        appid=appid,
        openid=openid,
        unionid=unionid,
        session_key_ciphertext="ciphertext-1",
        session=session,
        profile=profile or {},
    )


async def outbox(store: Any) -> list[Delivery]:
    """Every outbox row, oldest first."""
    return list(reversed(await store.webhooks.list_deliveries(limit=10_000)))


async def every_change(store: Any) -> str:
    """One of each change that reports; the user's id."""
    first = record("o-alice")
    user, created = await store.record_login(first)
    assert created
    await store.record_login(record("o-alice", profile={"nickname": "小明 🐼"}))
    await store.update_user(user.id, {"city": "Shanghai"}, NOW)
    await store.set_phone(user.id, "+8613812345678", "86", NOW)
    await store.revoke_session(first.session.token_hash, NOW)
    await store.record_login(record("o-alice"))
    await store.revoke_user_sessions(user.id, NOW)
    third, fourth = record("o-alice"), record("o-alice")
    await store.record_login(third)
    await store.record_login(fourth)
    await store.cap_sessions(user.id, APPID, keep=fourth.session.token_hash, cap=1, now=NOW)
    await store.disable_user(user.id, reason="spam", ends_at=None, now=NOW)
    await store.enable_user(user.id, NOW)
    await store.record_login(record("o-alice"))
    await store.revoke_app_sessions(APPID, NOW, reason="app_disabled")
    assert await store.delete_user(user.id)
    user_id: str = user.id
    return user_id


async def claim(
    store: Any, sub: Subscription, at: datetime, owner: str, *, lease_s: float = 30
) -> list[Delivery]:
    lease_until = at + timedelta(seconds=lease_s)
    found: list[Delivery] = await store.webhooks.claim_deliveries(
        [sub.id], at, owner=owner, lease_until=lease_until, limit=20
    )
    return found


async def finish(
    store: Any,
    delivery: Delivery,
    owner: str,
    state: str,
    at: datetime,
    status: int,
    *,
    retry_at: datetime | None = None,
) -> bool:
    done: bool = await store.webhooks.finish_delivery(
        delivery.id,
        owner=owner,
        state=state,
        next_attempt_at=retry_at or at,
        status=status,
        error=None if state == DELIVERED else f"HTTP {status}",
        now=at,
    )
    return done


class WebhookContract:
    # -- subscriptions ----------------------------------------------------------------------

    async def test_subscriptions_are_kept_changed_and_removed(self, store: Any) -> None:
        hooks = store.webhooks
        one, two = subscription((USER_CREATED,)), subscription(appid=APPID)
        await hooks.add_subscription(one)
        await hooks.add_subscription(two)
        assert {s.id for s in await hooks.list_subscriptions()} == {one.id, two.id}
        assert await hooks.get_subscription(one.id) == one
        later = NOW + timedelta(hours=1)
        off = await hooks.update_subscription(one.id, later, enabled=False, secret_enc="new")
        assert (off.enabled, off.secret_enc, off.updated_at) == (False, "new", later)
        assert await hooks.get_subscription(one.id) == off
        assert await hooks.remove_subscription(one.id)
        assert not await hooks.remove_subscription(one.id)
        assert await hooks.get_subscription(one.id) is None
        with pytest.raises(NotFound):
            await hooks.update_subscription(one.id, later, enabled=True)

    # -- the outbox -------------------------------------------------------------------------

    async def test_no_subscription_no_outbox_rows(self, store: Any) -> None:
        await every_change(store)
        assert await outbox(store) == []

    async def test_every_change_writes_its_event(self, store: Any) -> None:
        sub = subscription()
        await store.webhooks.add_subscription(sub)
        user_id = await every_change(store)
        rows = await outbox(store)
        assert all(r.subscription_id == sub.id and r.user_id == user_id for r in rows)
        assert all(r.state == PENDING and r.attempts == 0 for r in rows)
        types = [r.event_type for r in rows]
        assert types == [
            "user.created",
            "user.updated",  # the second login carried a nickname
            "user.updated",
            "user.phone_bound",
            "session.revoked",  # revoke_session
            "session.revoked",  # revoke_user_sessions
            "session.revoked",  # cap_sessions
            "user.disabled",
            "session.revoked",  # ended by disabling
            "user.enabled",
            "session.revoked",  # revoke_app_sessions
            "user.deleted",
        ]
        payloads = [json.loads(r.payload) for r in rows]
        assert len({p["id"] for p in payloads}) == len(rows)
        for row, payload in zip(rows, payloads, strict=True):
            assert payload["id"] == row.event_id and payload["type"] == row.event_type
            assert payload["appid"] == APPID
            assert payload["occurred_at"].endswith("Z")
            assert payload["data"]["user_id"] == user_id
            assert not any(secret in row.payload for secret in SECRETS)
        assert payloads[0]["data"]["person_id"] == user_id
        assert payloads[1]["data"]["changes"] == {"nickname": "小明 🐼"}
        assert payloads[2]["data"]["changes"] == {"city": "Shanghai"}
        assert payloads[3]["data"]["phone_masked"] == "+86138****5678"
        assert "13812345678" not in rows[3].payload
        assert payloads[4]["data"]["reason"] == "revoked"
        assert len(payloads[4]["data"]["session_ids"][0]) == 16
        assert payloads[6]["data"]["reason"] == "session_replaced"
        assert payloads[7]["data"]["reason"] == "spam"
        assert payloads[8]["data"]["reason"] == "account_disabled"
        assert payloads[10]["data"]["reason"] == "app_disabled"

    async def test_only_what_a_subscription_wants(self, store: Any) -> None:
        created = subscription((USER_CREATED,), appid=OTHER_APPID)
        revoked = subscription((SESSION_REVOKED,))
        await store.webhooks.add_subscription(created)
        await store.webhooks.add_subscription(revoked)
        await store.webhooks.add_subscription(subscription(enabled=False))
        await every_change(store)
        await store.record_login(record("o-bob", appid=OTHER_APPID))
        rows = await outbox(store)
        assert {(r.subscription_id, r.event_type) for r in rows} == {
            (revoked.id, SESSION_REVOKED),
            (created.id, USER_CREATED),
        }
        assert [r.appid for r in rows if r.event_type == USER_CREATED] == [OTHER_APPID]

    async def test_a_guarded_login_reports_only_what_it_writes(self, store: Any) -> None:
        await store.webhooks.add_subscription(subscription((USER_CREATED, USER_UPDATED)))
        done = await store.record_login_unless_blocked(record("o-dan", unionid="u-dan"))
        assert done.created
        await store.disable_user(done.user.id, reason="spam", ends_at=None, now=NOW)
        profiled = record("o-dan", profile={"city": "Xi'an"})
        blocked = await store.record_login_unless_blocked(profiled)
        assert blocked.user is None
        rows = await outbox(store)
        assert [(r.event_type, r.user_id) for r in rows] == [(USER_CREATED, done.user.id)]
        assert json.loads(rows[0].payload)["data"]["person_id"] == done.user.person

    async def test_one_event_reaches_every_subscription_with_one_id(self, store: Any) -> None:
        subs = [subscription((USER_CREATED, USER_UPDATED)) for _ in range(3)]
        for sub in subs:
            await store.webhooks.add_subscription(sub)
        await store.record_login(record("o-carol"))
        rows = await outbox(store)
        assert sorted(r.subscription_id for r in rows) == sorted(s.id for s in subs)
        assert len({r.event_id for r in rows}) == 1
        assert len({r.payload for r in rows}) == 1

    async def test_racing_first_logins_report_one_creation(self, store: Any) -> None:
        await store.webhooks.add_subscription(subscription((USER_CREATED,)))
        results = await asyncio.gather(*(store.record_login(record("o-race")) for _ in range(5)))
        assert sum(created for _, created in results) == 1
        assert [r.event_type for r in await outbox(store)] == [USER_CREATED]

    async def test_a_users_person_is_reported_as_it_changes(self, store: Any) -> None:
        """Where a store links a created user's person in the login itself, ``user.created``
        carries it; elsewhere the link that follows is a ``user.updated``. Either way the
        last person reported is the user's, and an operator's move is reported too."""
        await store.webhooks.add_subscription(subscription((USER_CREATED, USER_UPDATED)))

        async def log_in(openid: str, appid: str) -> Any:  # as the login service does
            user, _ = await store.record_login(record(openid, appid=appid, unionid="u-1"))
            return user if user.person_id else await store.link_person(user.id, "u-1", NOW)

        first = await log_in("o-a", APPID)
        second = await log_in("o-b", OTHER_APPID)
        assert first.person == second.person == first.id

        def reported(user_id: str, rows: list[Delivery]) -> list[str]:
            found = []
            for row in rows:
                data = json.loads(row.payload)["data"]
                if data["user_id"] == user_id:
                    found.append(data.get("changes", {}).get("person_id", data["person_id"]))
            return found

        rows = await outbox(store)
        assert reported(first.id, rows) == [first.id]
        assert reported(second.id, rows)[-1] == first.id
        assert await store.set_person([second.id], "p-moved", merged=None, now=NOW) == 1
        assert reported(second.id, await outbox(store))[-1] == "p-moved"

    # -- claims -------------------------------------------------------------------------

    async def test_claims_follow_each_users_order(self, store: Any) -> None:
        sub = subscription()
        await store.webhooks.add_subscription(sub)
        alice, _ = await store.record_login(record("o-alice"))
        bob, _ = await store.record_login(record("o-bob"))
        await store.update_user(alice.id, {"city": "A"}, NOW)
        await store.update_user(bob.id, {"city": "B"}, NOW)
        later = NOW + timedelta(seconds=1)
        first = await claim(store, sub, later, "w1")
        assert [(d.user_id, d.event_type, d.attempts) for d in first] == [
            (alice.id, USER_CREATED, 1),
            (bob.id, USER_CREATED, 1),
        ]
        # Leased, and each user's next event waits behind them: nothing for a second worker.
        assert await claim(store, sub, later, "w2") == []
        assert not await finish(store, first[0], "w2", DELIVERED, later, 200)  # not its lease
        assert await finish(store, first[0], "w1", DELIVERED, later, 200)
        retry_at = later + timedelta(seconds=10)
        assert await finish(store, first[1], "w1", PENDING, later, 503, retry_at=retry_at)
        second = await claim(store, sub, later, "w2")
        assert [(d.user_id, d.event_type) for d in second] == [(alice.id, USER_UPDATED)]
        # Bob's creation is due again only at retry_at; his update still waits behind it.
        due = await claim(store, sub, retry_at, "w3")
        assert [(d.user_id, d.event_type, d.attempts) for d in due] == [(bob.id, USER_CREATED, 2)]
        assert (await store.webhooks.get_delivery(first[0].id)).state == DELIVERED
        assert (await store.webhooks.get_delivery(first[1].id)).last_status == 503

    async def test_an_expired_lease_is_claimed_again(self, store: Any) -> None:
        sub = subscription()
        await store.webhooks.add_subscription(sub)
        await store.record_login(record("o-alice"))
        [claimed] = await claim(store, sub, NOW, "dead")
        after = NOW + timedelta(seconds=31)
        [again] = await claim(store, sub, after, "alive")
        assert again.id == claimed.id and again.attempts == 2
        assert not await finish(store, claimed, "dead", DELIVERED, after, 200)

    async def test_racing_claims_lease_each_delivery_once(self, store: Any) -> None:
        sub = subscription((USER_CREATED,))
        await store.webhooks.add_subscription(sub)
        for n in range(12):
            await store.record_login(record(f"o-{n}"))
        claims = await asyncio.gather(*(claim(store, sub, NOW, f"w{w}") for w in range(4)))
        ids = [d.id for found in claims for d in found]
        assert len(ids) == len(set(ids)) == 12

    async def test_dead_ones_unblock_and_are_replayed(self, store: Any) -> None:
        hooks = store.webhooks
        sub = subscription()
        await hooks.add_subscription(sub)
        alice, _ = await store.record_login(record("o-alice"))
        await store.update_user(alice.id, {"city": "A"}, NOW)
        [head] = await claim(store, sub, NOW, "w")
        await finish(store, head, "w", DEAD, NOW, 410)
        [following] = await claim(store, sub, NOW, "w")
        assert following.event_type == USER_UPDATED
        assert [d.id for d in await hooks.list_deliveries(state=DEAD)] == [head.id]
        assert await hooks.queue_stats() == (1, NOW)
        later = NOW + timedelta(minutes=1)
        assert await hooks.replay_deliveries(later, dead_of=sub.id) == 1
        replayed = await hooks.get_delivery(head.id)
        assert (replayed.state, replayed.attempts, replayed.next_attempt_at) == (PENDING, 0, later)
        assert await hooks.queue_stats() == (2, NOW)
        await finish(store, following, "w", DELIVERED, NOW, 200)
        assert await hooks.purge_deliveries(NOW) == 0
        assert await hooks.purge_deliveries(later) == 1
        assert await hooks.get_delivery(following.id) is None
        assert await hooks.replay_deliveries(later, ids=[head.id]) == 1

    async def test_no_subscription_claims_nothing_and_a_removal_drops_its_queue(
        self, store: Any
    ) -> None:
        hooks = store.webhooks
        sub = subscription()
        await hooks.add_subscription(sub)
        await store.record_login(record("o-alice"))
        lease = NOW + timedelta(seconds=30)
        assert await hooks.claim_deliveries([], NOW, owner="w", lease_until=lease, limit=5) == []
        assert await hooks.remove_subscription(sub.id)
        assert await outbox(store) == []
