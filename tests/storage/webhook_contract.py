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
        hooks = store.webhooks
        sub = subscription()
        await hooks.add_subscription(sub)
        alice, _ = await store.record_login(record("o-alice"))
        bob, _ = await store.record_login(record("o-bob"))
        await store.update_user(alice.id, {"city": "A"}, NOW)
        await store.update_user(bob.id, {"city": "B"}, NOW)
        later = NOW + timedelta(seconds=1)
        lease = later + timedelta(seconds=30)
        first = await hooks.claim_deliveries(
            [sub.id], later, owner="w1", lease_until=lease, limit=10
        )
        assert [(d.user_id, d.event_type, d.attempts) for d in first] == [
            (alice.id, USER_CREATED, 1),
            (bob.id, USER_CREATED, 1),
        ]
        # Leased, and each user's next event waits behind them: nothing for a second worker.
        assert (
            await hooks.claim_deliveries([sub.id], later, owner="w2", lease_until=lease, limit=10)
            == []
        )
        assert not await hooks.finish_delivery(
            first[0].id,
            owner="w2",
            state=DELIVERED,
            next_attempt_at=later,
            status=200,
            error=None,
            now=later,
        )
        assert await hooks.finish_delivery(
            first[0].id,
            owner="w1",
            state=DELIVERED,
            next_attempt_at=later,
            status=200,
            error=None,
            now=later,
        )
        retry_at = later + timedelta(seconds=10)
        assert await hooks.finish_delivery(
            first[1].id,
            owner="w1",
            state=PENDING,
            next_attempt_at=retry_at,
            status=503,
            error="HTTP 503",
            now=later,
        )
        second = await hooks.claim_deliveries(
            [sub.id], later, owner="w2", lease_until=lease, limit=10
        )
        assert [(d.user_id, d.event_type) for d in second] == [(alice.id, USER_UPDATED)]
        # Bob's creation is due again only at retry_at; his update still waits behind it.
        due = await hooks.claim_deliveries(
            [sub.id], retry_at, owner="w3", lease_until=retry_at + timedelta(seconds=30), limit=10
        )
        assert [(d.user_id, d.event_type, d.attempts) for d in due] == [(bob.id, USER_CREATED, 2)]
        assert (await hooks.get_delivery(first[0].id)).state == DELIVERED
        assert (await hooks.get_delivery(first[1].id)).last_status == 503

    async def test_an_expired_lease_is_claimed_again(self, store: Any) -> None:
        hooks = store.webhooks
        sub = subscription()
        await hooks.add_subscription(sub)
        await store.record_login(record("o-alice"))
        lease = NOW + timedelta(seconds=30)
        [claimed] = await hooks.claim_deliveries(
            [sub.id], NOW, owner="dead", lease_until=lease, limit=5
        )
        after = lease + timedelta(seconds=1)
        [again] = await hooks.claim_deliveries(
            [sub.id], after, owner="alive", lease_until=after + timedelta(seconds=30), limit=5
        )
        assert again.id == claimed.id and again.attempts == 2
        assert not await hooks.finish_delivery(
            claimed.id,
            owner="dead",
            state=DELIVERED,
            next_attempt_at=after,
            status=200,
            error=None,
            now=after,
        )

    async def test_racing_claims_lease_each_delivery_once(self, store: Any) -> None:
        hooks = store.webhooks
        sub = subscription((USER_CREATED,))
        await hooks.add_subscription(sub)
        for n in range(12):
            await store.record_login(record(f"o-{n}"))
        lease = NOW + timedelta(seconds=30)
        claims = await asyncio.gather(
            *(
                hooks.claim_deliveries([sub.id], NOW, owner=f"w{w}", lease_until=lease, limit=12)
                for w in range(4)
            )
        )
        ids = [d.id for claim in claims for d in claim]
        assert len(ids) == len(set(ids)) == 12

    async def test_dead_ones_unblock_and_are_replayed(self, store: Any) -> None:
        hooks = store.webhooks
        sub = subscription()
        await hooks.add_subscription(sub)
        alice, _ = await store.record_login(record("o-alice"))
        await store.update_user(alice.id, {"city": "A"}, NOW)
        lease = NOW + timedelta(seconds=30)
        [head] = await hooks.claim_deliveries([sub.id], NOW, owner="w", lease_until=lease, limit=5)
        await hooks.finish_delivery(
            head.id,
            owner="w",
            state=DEAD,
            next_attempt_at=NOW,
            status=410,
            error="HTTP 410",
            now=NOW,
        )
        [following] = await hooks.claim_deliveries(
            [sub.id], NOW, owner="w", lease_until=lease, limit=5
        )
        assert following.event_type == USER_UPDATED
        assert [d.id for d in await hooks.list_deliveries(state=DEAD)] == [head.id]
        assert await hooks.queue_stats() == (1, NOW)
        later = NOW + timedelta(minutes=1)
        assert await hooks.replay_deliveries(later, dead_of=sub.id) == 1
        replayed = await hooks.get_delivery(head.id)
        assert (replayed.state, replayed.attempts, replayed.next_attempt_at) == (PENDING, 0, later)
        assert await hooks.queue_stats() == (2, NOW)
        await hooks.finish_delivery(
            following.id,
            owner="w",
            state=DELIVERED,
            next_attempt_at=NOW,
            status=200,
            error=None,
            now=NOW,
        )
        assert await hooks.purge_deliveries(NOW) == 0
        assert await hooks.purge_deliveries(later) == 1
        assert await hooks.get_delivery(following.id) is None
        assert await hooks.replay_deliveries(later, ids=[head.id]) == 1

    async def test_a_disabled_or_removed_subscription_delivers_nothing(self, store: Any) -> None:
        hooks = store.webhooks
        sub = subscription()
        await hooks.add_subscription(sub)
        await store.record_login(record("o-alice"))
        lease = NOW + timedelta(seconds=30)
        assert await hooks.claim_deliveries([], NOW, owner="w", lease_until=lease, limit=5) == []
        assert await hooks.remove_subscription(sub.id)
        assert await outbox(store) == []
