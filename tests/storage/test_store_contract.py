"""The store contract: one class of tests, run against every Store.

Each subclass supplies a ``store`` fixture: in memory, SQLite, PostgreSQL, MariaDB, and the
same behind the session caches (which must not change what a store answers). The databases
come from ``tests/storage/conftest.py``: one per test run on each server, emptied per test.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from wxauth.core.cache import CachedStore, LocalSessionCache
from wxauth.core.insights import EventQuery
from wxauth.core.memory import MemoryStore
from wxauth.core.models import (
    APP_PLATFORM,
    AccountEvent,
    App,
    ClientInfo,
    DeviceInfo,
    LoginEvent,
    LoginRecord,
    Session,
    SigningKey,
    User,
)
from wxauth.core.tokens import SessionPolicy, new_token
from wxauth.errors import NotFound
from wxauth.storage.sql import SqlStore

from .conftest import emptied
from .webhook_contract import WebhookContract

APPID = "wx1111111111111111"
OTHER_APPID = "wx2222222222222222"
NOW = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
POLICY = SessionPolicy(
    idle_ttl=timedelta(days=7), max_ttl=timedelta(days=30), touch_interval=timedelta(minutes=5)
)

NICKNAMES = [
    "小明 🐼",  # CJK and an emoji outside the BMP (4 bytes in UTF-8: utf8mb4 on MySQL)
    "👨‍👩‍👧‍👦 family",  # a ZWJ sequence
    "مرحبا بالعالم",  # right to left
    "𠀋𡈽𡌛",  # CJK extension B, also 4 bytes each
    "Zoë e\u0301 \u202etxt",  # composed and combining accents, a bidi override
    "🐼" * 100,  # the column's full length in characters
]


def login_record(
    openid: str,
    *,
    appid: str = APPID,
    now: datetime = NOW,
    profile: dict[str, Any] | None = None,
    unionid: str | None = None,
    key: str = "ciphertext-1",
    client: ClientInfo | None = None,
) -> LoginRecord:
    session = POLICY.new_session(new_token(), "", appid, now, client or ClientInfo())
    return LoginRecord(
        appid=appid,
        openid=openid,
        unionid=unionid,
        session_key_ciphertext=key,
        session=session,
        profile=profile or {},
    )


async def login(store: Any, openid: str, **kwargs: Any) -> tuple[User, bool, Session]:
    record = login_record(openid, **kwargs)
    user, created = await store.record_login(record)
    return user, created, dataclasses.replace(record.session, user_id=user.id)


def signing_key(kid: str, created_at: datetime) -> SigningKey:
    return SigningKey(
        kid=kid,
        alg="ES256",
        private_key_enc=f"enc-{kid}",
        public_jwk=f'{{"kid": "{kid}"}}',
        created_at=created_at,
    )


class StoreContract(WebhookContract):
    count = 1000  # sessions in the large-count test, over 250 users
    concurrency = 10  # logins in flight at once in the large-count test

    @pytest.fixture
    async def store(self) -> AsyncIterator[Any]:
        raise NotImplementedError
        yield

    # -- users -------------------------------------------------------------------------------

    async def test_first_login_creates_the_user_and_the_session(self, store: Any) -> None:
        user, created, session = await login(store, "o-alice", unionid="u-alice")
        assert created
        assert (user.appid, user.openid, user.unionid) == (APPID, "o-alice", "u-alice")
        assert user.created_at == user.last_login_at == NOW
        found = await store.find_session(session.token_hash)
        assert found is not None
        assert found == (session, user)

    async def test_a_second_login_reuses_the_user(self, store: Any) -> None:
        first, _, _ = await login(store, "o-alice")
        later = NOW + timedelta(hours=1)
        again, created, session = await login(store, "o-alice", now=later, unionid="u-a")
        assert not created
        assert again.id == first.id
        assert again.last_login_at == later and again.unionid == "u-a"
        assert await store.find_session(session.token_hash) == (session, again)

    async def test_racing_first_logins_make_one_user(self, store: Any) -> None:
        results = await asyncio.gather(*(login(store, "o-racer") for _ in range(12)))
        assert len({user.id for user, _, _ in results}) == 1
        assert [created for _, created, _ in results].count(True) == 1
        for user, _, session in results:
            assert await store.find_session(session.token_hash) == (session, user)

    async def test_a_guarded_login_returns_the_user_as_they_were(self, store: Any) -> None:
        first = await store.record_login_unless_blocked(login_record("o-g"))
        assert first.previous is None and first.created and first.user is not None
        later = NOW + timedelta(hours=1)
        record = login_record("o-g", now=later, unionid="u-g", profile={"nickname": "🐼"})
        again = await store.record_login_unless_blocked(record)
        assert not again.created and again.previous == first.user
        assert again.user.id == first.user.id
        assert (again.user.unionid, again.user.nickname, again.user.last_login_at) == (
            "u-g",
            "🐼",
            later,
        )
        session = dataclasses.replace(record.session, user_id=again.user.id)
        assert await store.find_session(session.token_hash) == (session, again.user)

    async def test_a_guarded_login_of_a_blocked_user_writes_nothing(self, store: Any) -> None:
        banned, _, _ = await login(store, "o-banned")
        ends = NOW + timedelta(hours=2)
        banned = await store.disable_user(banned.id, reason="spam", ends_at=ends, now=NOW)
        leaving, _, _ = await login(store, "o-leaving")
        due = NOW + timedelta(minutes=30)
        leaving = await store.update_user(leaving.id, {"deletion_due_at": due}, NOW)
        soon = NOW + timedelta(hours=1)
        for user in (banned, leaving):
            record = dataclasses.replace(
                login_record(user.openid, now=soon, key="ciphertext-2", profile={"city": "X"}),
                event=LoginEvent(soon, "ok", APPID, None, None),
            )
            done = await store.record_login_unless_blocked(record)
            assert (done.previous, done.user, done.created) == (user, None, False)
            assert await store.find_session(record.session.token_hash) is None
            assert await store.get_user(user.id) == user
            assert await store.get_session_key(APPID, user.openid) == "ciphertext-1"
            assert await store.list_login_events(limit=5, user_id=user.id) == []
        # A ban that has run out, and a deletion that is not due yet, let the login in.
        after = NOW + timedelta(hours=3)
        back = await store.record_login_unless_blocked(login_record("o-banned", now=after))
        assert back.user is not None and back.previous == banned
        pending, _, _ = await login(store, "o-pending")
        await store.update_user(pending.id, {"deletion_due_at": after}, NOW)
        kept = await store.record_login_unless_blocked(login_record("o-pending", now=soon))
        assert kept.user is not None and kept.user.id == pending.id

    async def test_openids_are_case_sensitive_and_per_app(self, store: Any) -> None:
        ids = {
            (await login(store, "oAbC"))[0].id,
            (await login(store, "oabc"))[0].id,
            (await login(store, "oAbC", appid=OTHER_APPID))[0].id,
        }
        assert len(ids) == 3

    async def test_get_and_update_user(self, store: Any) -> None:
        user, _, _ = await login(store, "o-alice")
        assert await store.get_user(user.id) == user
        assert await store.get_user("no-such-user") is None
        later = NOW + timedelta(minutes=1)
        updated = await store.update_user(user.id, {"nickname": "Alice", "gender": 2}, later)
        assert (updated.nickname, updated.gender, updated.updated_at) == ("Alice", 2, later)
        assert await store.get_user(user.id) == updated
        with pytest.raises(NotFound):
            await store.update_user("no-such-user", {"nickname": "x"}, later)

    async def test_a_changed_user_is_seen_through_the_session(self, store: Any) -> None:
        user, _, session = await login(store, "o-alice")
        assert await store.find_session(session.token_hash) is not None
        await store.update_user(user.id, {"nickname": "新名字"}, NOW)
        found = await store.find_session(session.token_hash)
        assert found is not None and found[1].nickname == "新名字"

    # -- sessions ----------------------------------------------------------------------------

    async def test_unknown_session(self, store: Any) -> None:
        assert await store.find_session("0" * 64) is None

    async def test_touch_moves_last_seen_and_idle_expiry(self, store: Any) -> None:
        _, _, session = await login(store, "o-alice")
        seen = NOW + timedelta(hours=2)
        idle = POLICY.idle_expiry(session, seen)
        await store.touch_session(session.token_hash, seen, idle)
        found = await store.find_session(session.token_hash)
        assert found is not None
        assert (found[0].last_seen_at, found[0].idle_expires_at) == (seen, idle)
        assert found[0].expires_at == session.expires_at

    async def test_revoke_once(self, store: Any) -> None:
        _, _, session = await login(store, "o-alice")
        _, _, other = await login(store, "o-alice")
        assert await store.find_session(session.token_hash) is not None  # cached, if cached
        later = NOW + timedelta(minutes=3)
        assert await store.revoke_session(session.token_hash, later) is True
        assert await store.revoke_session(session.token_hash, later) is False
        assert await store.revoke_session("0" * 64, later) is False
        found = await store.find_session(session.token_hash)
        assert found is not None and found[0].revoked_at == later
        assert not found[0].is_active(later)
        still = await store.find_session(other.token_hash)
        assert still is not None and still[0].is_active(later)

    async def test_expiry_times_round_trip(self, store: Any) -> None:
        _, _, session = await login(store, "o-alice")
        found = await store.find_session(session.token_hash)
        assert found is not None
        stored = found[0]
        for name in ("created_at", "last_seen_at", "idle_expires_at", "expires_at"):
            value = getattr(stored, name)
            assert value == getattr(session, name) and value.tzinfo is not None
        assert stored.is_active(session.idle_expires_at - timedelta(microseconds=1))
        assert not stored.is_active(session.idle_expires_at)

    async def test_a_user_holds_several_sessions(self, store: Any) -> None:
        sessions = [(await login(store, "o-alice"))[2] for _ in range(3)]
        assert len({s.token_hash for s in sessions}) == 3
        for session in sessions:
            assert await store.find_session(session.token_hash) is not None

    # -- session_keys ------------------------------------------------------------------------

    async def test_the_newest_session_key_wins(self, store: Any) -> None:
        await login(store, "o-alice", key="key-1")
        await login(store, "o-alice", key="key-2")
        await login(store, "o-alice", appid=OTHER_APPID, key="other-app")
        assert await store.get_session_key(APPID, "o-alice") == "key-2"
        assert await store.get_session_key(OTHER_APPID, "o-alice") == "other-app"
        assert await store.get_session_key(APPID, "o-nobody") is None

    # -- Unicode -----------------------------------------------------------------------------

    @pytest.mark.parametrize("nickname", NICKNAMES)
    async def test_unicode_round_trips(self, store: Any, nickname: str) -> None:
        client = ClientInfo(user_agent=f"微信/8.0 {nickname[:20]}", ip="::1")
        user, _, session = await login(
            store, "o-uni", profile={"nickname": nickname, "city": "القاهرة"}, client=client
        )
        assert user.nickname == nickname and user.city == "القاهرة"
        found = await store.find_session(session.token_hash)
        assert found is not None and found[0].user_agent == client.user_agent
        renamed = await store.update_user(user.id, {"nickname": nickname[::-1]}, NOW)
        assert renamed.nickname == nickname[::-1]
        fetched = await store.get_user(user.id)
        assert fetched is not None and fetched.nickname == nickname[::-1]

    # -- counts and cleanup ------------------------------------------------------------------

    async def test_thousands_of_sessions(self, store: Any) -> None:
        old = NOW - timedelta(days=40)  # absolutely and idly expired by NOW
        sessions: list[Session] = []
        for first in range(0, self.count, self.concurrency):
            batch = [
                login(store, f"o-{n % 250}", now=old if n % 2 else NOW)
                for n in range(first, first + self.concurrency)
            ]
            sessions += [session for _, _, session in await asyncio.gather(*batch)]
        assert len({s.token_hash for s in sessions}) == self.count

        deleted = await store.delete_expired_sessions(NOW, batch_size=300)

        assert deleted == self.count // 2
        assert await store.delete_expired_sessions(NOW, batch_size=300) == 0
        found = await asyncio.gather(*(store.find_session(s.token_hash) for s in sessions[::7]))
        assert [f is not None for f in found] == [s.created_at == NOW for s in sessions[::7]]

    async def test_cleanup_spares_sessions_that_may_still_be_used(self, store: Any) -> None:
        _, _, idle = await login(store, "o-a", now=NOW - timedelta(days=8))
        _, _, touched = await login(store, "o-b", now=NOW - timedelta(days=8))
        seen = NOW - timedelta(days=1)
        await store.touch_session(touched.token_hash, seen, POLICY.idle_expiry(touched, seen))
        _, _, revoked = await login(store, "o-c", now=NOW)
        await store.revoke_session(revoked.token_hash, NOW)

        assert await store.delete_expired_sessions(NOW) == 1

        assert await store.find_session(idle.token_hash) is None
        assert await store.find_session(touched.token_hash) is not None
        # A revoked session goes once its idle expiry has passed: it is inactive till then.
        assert await store.find_session(revoked.token_hash) is not None
        assert (
            await store.delete_expired_sessions(revoked.idle_expires_at + timedelta(seconds=1)) == 2
        )

    async def test_ping(self, store: Any) -> None:
        await store.ping()

    # -- writes seen through the session (a cache must forget what they changed) ------------

    async def test_set_phone(self, store: Any) -> None:
        user, _, session = await login(store, "o-alice")
        assert not user.has_phone
        assert await store.find_session(session.token_hash) is not None  # cached, if cached
        later = NOW + timedelta(minutes=1)
        updated = await store.set_phone(user.id, "+8613800138000", "86", later)
        assert updated.has_phone and updated.updated_at == later
        assert "13800138000" not in repr(updated)
        again = await store.get_user(user.id)
        assert again is not None
        assert (again.phone, again.phone_country_code) == ("+8613800138000", "86")
        found = await store.find_session(session.token_hash)
        assert found is not None and found[1].has_phone
        with pytest.raises(NotFound):
            await store.set_phone("no-such-user", "+8613800138000", "86", later)

    async def test_revoke_user_sessions(self, store: Any) -> None:
        alice, _, first = await login(store, "o-alice")
        _, _, second = await login(store, "o-alice", now=NOW + timedelta(seconds=1))
        _, _, bob = await login(store, "o-bob")
        for session in (first, second, bob):
            assert await store.find_session(session.token_hash) is not None
        later = NOW + timedelta(minutes=1)
        assert await store.revoke_user_sessions(alice.id, later) == 2
        assert await store.revoke_user_sessions(alice.id, later) == 0
        for session in (first, second):
            found = await store.find_session(session.token_hash)
            assert found is not None and not found[0].is_active(later)
        assert all(s.revoked_at == later for s in await store.list_sessions(alice.id))
        still = await store.find_session(bob.token_hash)
        assert still is not None and still[0].is_active(later)

    async def test_delete_user_removes_everything_of_theirs(self, store: Any) -> None:
        alice, _, session = await login(store, "o-alice", key="enc-alice")
        bob, _, _ = await login(store, "o-bob", key="enc-bob")
        await store.add_login_event(LoginEvent(NOW, "ok", APPID, alice.id, "1.2.3.4"))
        assert await store.find_session(session.token_hash) is not None
        assert await store.delete_user(alice.id) is True
        assert await store.find_session(session.token_hash) is None
        assert await store.get_user(alice.id) is None
        assert await store.list_sessions(alice.id) == []
        assert await store.get_session_key(APPID, "o-alice") is None
        assert await store.list_login_events(limit=10, user_id=alice.id) == []
        assert await store.delete_user(alice.id) is False
        assert await store.get_user(bob.id) is not None  # the others keep theirs
        assert await store.get_session_key(APPID, "o-bob") == "enc-bob"
        assert len(await store.list_sessions(bob.id)) == 1
        again, created, _ = await login(store, "o-alice")  # back, as a new user
        assert created and again.id != alice.id

    # -- accounts ----------------------------------------------------------------------------

    async def test_devices_and_why_a_session_ended_round_trip(self, store: Any) -> None:
        device = DeviceInfo("Apple", "iPhone 15 <iPhone16,1>", "ios", "iOS 17.2", "8.0.47")
        client = ClientInfo(user_agent="wechat", ip="203.0.113.9", device=device)
        user, _, session = await login(store, "o-alice", client=client)
        found = await store.find_session(session.token_hash)
        assert found is not None and found[0] == session
        stored = found[0]
        assert (stored.device_brand, stored.device_model, stored.device_platform) == (
            "Apple",
            "iPhone 15 <iPhone16,1>",
            "ios",
        )
        assert (stored.device_system, stored.device_wechat_version) == ("iOS 17.2", "8.0.47")
        assert stored.revoked_reason is None and len(stored.public_id) == 16
        assert await store.revoke_session(session.token_hash, NOW, reason="logout")
        found = await store.find_session(session.token_hash)
        assert found is not None and found[0].revoked_reason == "logout"
        assert user.status == "active" and not user.is_disabled(NOW)

    async def test_find_user_by_openid(self, store: Any) -> None:
        user, _, _ = await login(store, "o-alice")
        assert await store.find_user(APPID, "o-alice") == user
        assert await store.find_user(OTHER_APPID, "o-alice") is None
        assert await store.find_user(APPID, "o-nobody") is None

    async def test_revoke_user_sessions_keeps_one_and_says_why(self, store: Any) -> None:
        alice, _, first = await login(store, "o-alice")
        _, _, second = await login(store, "o-alice", now=NOW + timedelta(seconds=1))
        for session in (first, second):
            assert await store.find_session(session.token_hash) is not None
        later = NOW + timedelta(minutes=1)
        ended = await store.revoke_user_sessions(
            alice.id, later, reason="logout", keep=first.token_hash
        )
        assert ended == 1
        kept = await store.find_session(first.token_hash)
        gone = await store.find_session(second.token_hash)
        assert kept is not None and kept[0].is_active(later)
        assert gone is not None and not gone[0].is_active(later)
        assert gone[0].revoked_reason == "logout"

    async def test_cap_sessions_ends_the_least_recently_used(self, store: Any) -> None:
        alice, _, oldest = await login(store, "o-alice")
        _, _, used = await login(store, "o-alice", now=NOW + timedelta(seconds=1))
        _, _, middle = await login(store, "o-alice", now=NOW + timedelta(seconds=2))
        _, _, other_app = await login(store, "o-alice", appid=OTHER_APPID)
        seen = NOW + timedelta(minutes=10)
        await store.touch_session(used.token_hash, seen, POLICY.idle_expiry(used, seen))
        later = NOW + timedelta(minutes=11)
        _, _, newest = await login(store, "o-alice", now=later)
        for session in (oldest, used, middle, newest):
            assert await store.find_session(session.token_hash) is not None  # cached, if cached
        ended = await store.cap_sessions(alice.id, APPID, keep=newest.token_hash, cap=2, now=later)
        assert sorted(ended) == sorted([oldest.token_hash, middle.token_hash])
        for session, alive in ((oldest, False), (middle, False), (used, True), (newest, True)):
            found = await store.find_session(session.token_hash)
            assert found is not None and found[0].is_active(later) is alive
            if not alive:
                assert found[0].revoked_reason == "session_replaced"
        other = await store.find_session(other_app.token_hash)
        assert other is not None and other[0].is_active(later)  # caps are per app
        assert await store.cap_sessions(
            alice.id, APPID, keep=newest.token_hash, cap=1, now=later
        ) == [used.token_hash]

    async def test_disable_and_enable(self, store: Any) -> None:
        alice, _, session = await login(store, "o-alice")
        bob, _, bobs = await login(store, "o-bob")
        assert await store.find_session(session.token_hash) is not None  # cached, if cached
        ends = NOW + timedelta(days=1)
        later = NOW + timedelta(minutes=1)
        disabled = await store.disable_user(alice.id, reason="spam", ends_at=ends, now=later)
        assert (disabled.status, disabled.disabled_reason, disabled.disabled_ends_at) == (
            "disabled",
            "spam",
            ends,
        )
        assert disabled.is_disabled(later) and not disabled.is_disabled(ends)
        found = await store.find_session(session.token_hash)
        assert found is not None
        assert found[1].is_disabled(later) and found[0].revoked_reason == "account_disabled"
        still = await store.find_session(bobs.token_hash)
        assert still is not None and still[0].is_active(later) and not still[1].is_disabled(later)
        enabled = await store.enable_user(alice.id, later)
        assert (enabled.status, enabled.disabled_reason, enabled.disabled_ends_at) == (
            "active",
            None,
            None,
        )
        found = await store.find_session(session.token_hash)
        assert found is not None and not found[1].is_disabled(later)
        assert not found[0].is_active(later)  # the ban's end does not revive its sessions
        with pytest.raises(NotFound):
            await store.disable_user("no-such-user", reason="x", ends_at=None, now=later)
        with pytest.raises(NotFound):
            await store.enable_user("no-such-user", later)
        assert bob.status == "active"

    async def test_due_deletions(self, store: Any) -> None:
        a, _, _ = await login(store, "o-a")
        b, _, _ = await login(store, "o-b")
        c, _, _ = await login(store, "o-c")
        await store.update_user(a.id, {"deletion_due_at": NOW + timedelta(hours=1)}, NOW)
        await store.update_user(b.id, {"deletion_due_at": NOW - timedelta(hours=1)}, NOW)
        assert await store.due_deletions(NOW) == [b.id]
        assert await store.due_deletions(NOW + timedelta(hours=2)) == [b.id, a.id]
        assert await store.due_deletions(NOW + timedelta(hours=2), limit=1) == [b.id]
        cancelled = await store.update_user(a.id, {"deletion_due_at": None}, NOW)
        assert cancelled.deletion_due_at is None
        assert await store.due_deletions(NOW + timedelta(hours=2)) == [b.id]
        assert c.deletion_due_at is None

    async def test_account_events_outlive_the_account_without_its_address(self, store: Any) -> None:
        alice, _, _ = await login(store, "o-alice")
        bob, _, _ = await login(store, "o-bob")
        await store.add_account_event(
            AccountEvent(NOW, "disabled", alice.id, APPID, "operator", None, "spam")
        )
        await store.add_account_event(
            AccountEvent(NOW, "deletion_requested", alice.id, APPID, "user", "203.0.113.9")
        )
        await store.add_account_event(
            AccountEvent(NOW, "data_exported", bob.id, APPID, "user", "::1")
        )
        events = await store.list_account_events(limit=10, user_id=alice.id)
        assert [e.action for e in events] == ["deletion_requested", "disabled"]
        assert events[0].ip == "203.0.113.9" and events[1].detail == "spam"
        assert events[1].actor == "operator" and events[0].at == NOW
        assert len(await store.list_account_events(limit=10)) == 3
        assert len(await store.list_account_events(limit=1)) == 1
        assert await store.delete_user(alice.id)
        kept = await store.list_account_events(limit=10, user_id=alice.id)
        assert [e.action for e in kept] == ["deletion_requested", "disabled"]
        assert all(e.ip is None for e in kept)
        bobs = await store.list_account_events(limit=10, user_id=bob.id)
        assert bobs[0].ip == "::1"

    # -- audit and operator tools ------------------------------------------------------------

    async def test_login_events_newest_first_and_purged(self, store: Any) -> None:
        alice, _, _ = await login(store, "o-alice", now=NOW - timedelta(days=100))
        old = LoginEvent(NOW - timedelta(days=100), "ok", APPID, alice.id, "1.2.3.4")
        await store.add_login_event(old)
        error = LoginEvent(NOW, "error", APPID, None, "::1", "invalid_code", 40029)
        await store.add_login_event(error)
        await store.add_login_event(LoginEvent(NOW, "ok", APPID, alice.id, "1.2.3.4"))
        events = await store.list_login_events(limit=10)
        assert [e.result for e in events] == ["ok", "error", "ok"]
        assert events[1].error_code == "invalid_code" and events[1].wechat_errcode == 40029
        assert events[1].ip == "::1" and events[1].at == NOW
        assert len(await store.list_login_events(limit=10, user_id=alice.id)) == 2
        assert len(await store.list_login_events(limit=1)) == 1
        assert await store.purge_login_events(NOW - timedelta(days=90)) == 1
        assert len(await store.list_login_events(limit=10)) == 2

    async def test_list_users_and_sessions(self, store: Any) -> None:
        a, _, _ = await login(store, "o-a")
        b, _, _ = await login(store, "o-b", now=NOW + timedelta(seconds=1), appid=OTHER_APPID)
        await login(store, "o-a", now=NOW + timedelta(seconds=2))
        assert [u.id for u in await store.list_users()] == [a.id, b.id]
        assert [u.id for u in await store.list_users(appid=OTHER_APPID)] == [b.id]
        assert [u.id for u in await store.list_users(limit=1, offset=1)] == [b.id]
        sessions = await store.list_sessions(a.id)
        assert len(sessions) == 2 and sessions[0].created_at > sessions[1].created_at

    async def test_avatar_urls_are_the_distinct_ones_containing_the_path(self, store: Any) -> None:
        ours = "https://auth.example/v1/avatars/" + "a" * 40 + ".jpg"
        urls = {
            "o-a": ours,
            "o-b": ours,  # one picture, two users
            "o-c": "https://auth.example/v1/avatars/" + "b" * 40 + ".png",
            "o-d": "https://thirdwx.qlogo.cn/mmopen/vi_32/x/132",  # WeChat's, not ours
            "o-e": "https://auth.example/v1/avatarsX" + "c" * 40 + ".png",
        }
        for openid, url in urls.items():
            user, _, _ = await login(store, openid)
            await store.update_user(user.id, {"avatar_url": url}, NOW)
        await login(store, "o-f")  # no avatar
        assert await store.avatar_urls("/v1/avatars/") == {ours, urls["o-c"]}
        # LIKE's wildcards in what is asked for are taken literally.
        assert await store.avatar_urls("/v1_avatars/") == set()
        assert await store.avatar_urls("%") == set()

    # -- apps, persons and the platform ---------------------------------------------------

    async def test_apps_round_trip_and_replace(self, store: Any) -> None:
        assert await store.get_app(APPID) is None
        app = App(
            appid=APPID,
            secret_enc="ciphertext",
            display_name="小店 🐼",
            session_idle_ttl=600,
            session_max_ttl=3600,
            rate_limit_login=10,
            created_at=NOW,
            updated_at=NOW,
        )
        assert await store.save_app(app) == app
        other = App(appid=OTHER_APPID, mode=APP_PLATFORM, component_appid="wx3333333333333333",
                    refresh_token_enc="rt", created_at=NOW, updated_at=NOW)  # fmt: skip
        await store.save_app(other)
        assert await store.get_app(APPID) == app
        assert [a.appid for a in await store.list_apps()] == [APPID, OTHER_APPID]
        later = NOW + timedelta(minutes=1)
        off = dataclasses.replace(app, status="disabled", disabled_reason="why", updated_at=later)
        await store.save_app(off)
        assert await store.get_app(APPID) == off
        assert await store.get_app(OTHER_APPID) == other

    async def test_revoke_app_sessions_ends_only_that_apps(self, store: Any) -> None:
        _, _, mine = await login(store, "o-a")
        _, _, theirs = await login(store, "o-b", appid=OTHER_APPID)
        later = NOW + timedelta(seconds=1)
        assert await store.revoke_app_sessions(APPID, later, reason="app_disabled") == 1
        assert await store.revoke_app_sessions(APPID, later, reason="app_disabled") == 0
        found = await store.find_session(mine.token_hash)
        assert found[0].revoked_at == later and found[0].revoked_reason == "app_disabled"
        assert (await store.find_session(theirs.token_hash))[0].revoked_at is None

    async def test_one_unionid_is_one_person_across_apps(self, store: Any) -> None:
        first, _, _ = await login(store, "o-a", unionid="u-1")
        second, _, _ = await login(store, "o-b", appid=OTHER_APPID, unionid="u-1")
        linked = await store.link_person(first.id, "u-1", NOW)
        assert linked.person_id == first.id
        other = await store.link_person(second.id, "u-1", NOW)
        assert other.person_id == first.id
        assert {u.id for u in await store.person_users(first.id)} == {first.id, second.id}
        stranger, _, _ = await login(store, "o-c", unionid="u-2")
        assert (await store.link_person(stranger.id, "u-2", NOW)).person_id == stranger.id

    async def test_a_unionid_that_arrives_later_attaches_the_user(self, store: Any) -> None:
        known, _, _ = await login(store, "o-a", unionid="u-1")
        await store.link_person(known.id, "u-1", NOW)
        late, _, session = await login(store, "o-b", appid=OTHER_APPID)
        assert late.unionid is None and late.person == late.id
        attached = await store.link_person(late.id, "u-1", NOW)
        assert (attached.unionid, attached.person_id) == ("u-1", known.id)
        assert (await store.find_session(session.token_hash))[1].person == known.id
        assert len(await store.list_users()) == 2  # attached, not duplicated

    async def test_racing_links_of_one_unionid_agree(self, store: Any) -> None:
        users = [(await login(store, f"o-{i}", unionid="u-r"))[0] for i in range(6)]
        linked = await asyncio.gather(*(store.link_person(u.id, "u-r", NOW) for u in users))
        assert len({u.person_id for u in linked}) == 1

    async def test_link_person_of_no_user(self, store: Any) -> None:
        with pytest.raises(NotFound):
            await store.link_person("no-such-user", "u-1", NOW)

    async def test_set_person_moves_users_and_marks_the_merge(self, store: Any) -> None:
        a, _, _ = await login(store, "o-a", unionid="u-a")
        b, _, _ = await login(store, "o-b", appid=OTHER_APPID, unionid="u-b")
        await store.link_person(a.id, "u-a", NOW)
        await store.link_person(b.id, "u-b", NOW)
        assert await store.set_person([b.id], a.id, merged=b.id, now=NOW) == 1
        assert {u.id for u in await store.person_users(a.id)} == {a.id, b.id}
        # a new user of the merged person's unionid follows the merge
        c, _, _ = await login(store, "o-c", unionid="u-b")
        assert (await store.link_person(c.id, "u-b", NOW)).person_id == a.id
        # undone: the mark goes, and new links land on the old person again
        assert await store.set_person([b.id, c.id], b.id, merged=None, now=NOW) == 2
        d, _, _ = await login(store, "o-d", appid=OTHER_APPID, unionid="u-b")
        assert (await store.link_person(d.id, "u-b", NOW)).person_id == b.id
        assert [u.id for u in await store.person_users(a.id)] == [a.id]

    async def test_the_newest_component_ticket_wins(self, store: Any) -> None:
        platform = "wx3333333333333333"
        assert await store.get_component_ticket(platform) is None
        await store.save_component_ticket(platform, "t1", NOW)
        await store.save_component_ticket(platform, "t2", NOW + timedelta(minutes=10))
        await store.save_component_ticket(platform, "t0", NOW - timedelta(minutes=10))
        assert await store.get_component_ticket(platform) == ("t2", NOW + timedelta(minutes=10))

    # -- signing keys (access JWTs) ---------------------------------------------------------

    async def test_a_new_signing_key_retires_the_others_in_one_step(self, store: Any) -> None:
        first = signing_key("k1", NOW)
        await store.add_signing_key(first)
        assert await store.list_signing_keys() == [first]
        later = NOW + timedelta(minutes=5)
        await store.add_signing_key(signing_key("k2", later))
        keys = await store.list_signing_keys()
        assert [(k.kid, k.retired_at) for k in keys] == [("k2", None), ("k1", later)]
        assert keys[1].private_key_enc == "enc-k1" and keys[1].public_jwk == '{"kid": "k1"}'
        await store.add_signing_key(signing_key("k3", later + timedelta(minutes=5)))
        keys = await store.list_signing_keys()
        assert [(k.kid, k.retired_at) for k in keys] == [
            ("k3", None),
            ("k2", later + timedelta(minutes=5)),
            ("k1", later),  # retired once, when it was replaced
        ]

    async def test_signing_keys_retired_long_ago_are_deleted(self, store: Any) -> None:
        for i in range(3):
            await store.add_signing_key(signing_key(f"k{i}", NOW + timedelta(minutes=i)))
        # k0 retired at NOW+1min, k1 at NOW+2min, k2 still signs
        assert await store.delete_signing_keys(NOW + timedelta(minutes=1)) == 0
        assert await store.delete_signing_keys(NOW + timedelta(minutes=2)) == 1
        assert [k.kid for k in await store.list_signing_keys()] == ["k2", "k1"]
        assert await store.delete_signing_keys(NOW + timedelta(days=1)) == 1
        assert [k.kid for k in await store.list_signing_keys()] == ["k2"]

    # -- the operator console ---------------------------------------------------------------

    async def test_search_users_by_id_openid_unionid_nickname_and_phone_tail(
        self, store: Any
    ) -> None:
        panda, _, _ = await login(
            store, "o-panda", unionid="u-panda", profile={"nickname": "小熊猫 🐼"}
        )
        other, _, _ = await login(
            store, "o-other", appid=OTHER_APPID, now=NOW + timedelta(seconds=1),
            profile={"nickname": "熊猫_fan"},
        )  # fmt: skip
        await store.set_phone(panda.id, "+8613800001234", "86", NOW)

        def ids(users: list[User]) -> list[str]:
            return [u.id for u in users]

        assert ids(await store.search_users(panda.id)) == [panda.id]
        assert ids(await store.search_users("o-panda")) == [panda.id]
        assert ids(await store.search_users("u-panda")) == [panda.id]
        assert ids(await store.search_users("1234")) == [panda.id]
        assert ids(await store.search_users("熊猫")) == [other.id, panda.id]  # newest first
        assert ids(await store.search_users("熊猫", appid=APPID)) == [panda.id]
        assert ids(await store.search_users("熊猫", limit=1)) == [other.id]
        # a part of an openid, or of a phone number other than its end, finds no one
        assert await store.search_users("o-pan") == []
        assert await store.search_users("1380") == []
        # LIKE's wildcards are taken literally
        assert await store.search_users("%") == []
        assert ids(await store.search_users("_")) == [other.id]

    async def test_login_counts_per_bucket_result_and_error(self, store: Any) -> None:
        hour = datetime(2026, 3, 4, 5, tzinfo=UTC)
        events = [
            (hour + timedelta(minutes=1), "ok", None, APPID),
            (hour + timedelta(minutes=59), "ok", None, APPID),
            (hour + timedelta(minutes=30), "error", "invalid_code", APPID),
            (hour + timedelta(hours=1, seconds=1), "error", "wechat_unavailable", OTHER_APPID),
            (hour + timedelta(hours=1, minutes=2), "ok", None, OTHER_APPID),
            (hour - timedelta(seconds=1), "ok", None, APPID),  # before `since`
        ]
        for at, result, code, appid in events:
            await store.add_login_event(
                LoginEvent(at=at, result=result, error_code=code, appid=appid)
            )
        counts = await store.login_counts(hour, bucket_s=3600)
        as_tuples = sorted((c.start, c.result, c.error_code or "", c.count) for c in counts)
        second = hour + timedelta(hours=1)
        assert as_tuples == [
            (hour, "error", "invalid_code", 1),
            (hour, "ok", "", 2),
            (second, "error", "wechat_unavailable", 1),
            (second, "ok", "", 1),
        ]
        assert all(c.start.tzinfo is not None for c in counts)
        only = await store.login_counts(hour, bucket_s=3600, appid=OTHER_APPID)
        assert sum(c.count for c in only) == 2
        days = await store.login_counts(hour - timedelta(days=1), bucket_s=86400)
        assert [(c.start, sum(x.count for x in days if x.start == c.start)) for c in days][:1] == [
            (datetime(2026, 3, 4, tzinfo=UTC), 6)
        ]

    async def test_new_user_counts_per_day(self, store: Any) -> None:
        day = datetime(2026, 3, 4, tzinfo=UTC)
        await login(store, "o-1", now=day + timedelta(hours=1))
        await login(store, "o-2", now=day + timedelta(hours=23, minutes=59))
        await login(store, "o-3", now=day + timedelta(days=1, hours=2), appid=OTHER_APPID)
        await login(store, "o-0", now=day - timedelta(hours=1))  # before `since`
        counts = await store.new_user_counts(day, bucket_s=86400)
        assert [(c.start, c.count) for c in counts] == [
            (day, 2),
            (day + timedelta(days=1), 1),
        ]
        other = await store.new_user_counts(day, bucket_s=86400, appid=OTHER_APPID)
        assert [(c.start, c.count) for c in other] == [(day + timedelta(days=1), 1)]

    async def test_count_live_sessions(self, store: Any) -> None:
        _, _, live = await login(store, "o-a")
        _, _, revoked = await login(store, "o-b")
        await login(store, "o-c", appid=OTHER_APPID)
        await store.revoke_session(revoked.token_hash, NOW)
        assert await store.count_live_sessions(NOW) == 2
        assert await store.count_live_sessions(NOW, appid=APPID) == 1
        assert await store.count_live_sessions(live.idle_expires_at) == 0

    async def test_latency_counts_per_bucket_and_milliseconds(self, store: Any) -> None:
        hour = datetime(2026, 3, 4, 5, tzinfo=UTC)
        events = [
            (hour + timedelta(minutes=1), 120, APPID),
            (hour + timedelta(minutes=2), 120, APPID),
            (hour + timedelta(minutes=3), 480, APPID),
            (hour + timedelta(minutes=4), None, APPID),  # not timed: left out
            (hour + timedelta(hours=1, minutes=5), 95, OTHER_APPID),
            (hour - timedelta(seconds=1), 1000, APPID),  # before `since`
        ]
        for at, ms, appid in events:
            await store.add_login_event(LoginEvent(at=at, result="ok", appid=appid, wechat_ms=ms))
        counts = await store.latency_counts(hour, bucket_s=3600)
        second = hour + timedelta(hours=1)
        assert [(c.start, c.ms, c.count) for c in counts] == [
            (hour, 120, 2),
            (hour, 480, 1),
            (second, 95, 1),
        ]
        assert all(c.start.tzinfo is not None for c in counts)
        only = await store.latency_counts(hour, bucket_s=3600, appid=OTHER_APPID)
        assert [(c.start, c.ms, c.count) for c in only] == [(second, 95, 1)]
        found = await store.search_login_events(EventQuery(limit=10))
        assert sorted(e.wechat_ms or 0 for e in found) == [0, 95, 120, 120, 480, 1000]

    async def test_a_login_keeps_its_events_wechat_latency(self, store: Any) -> None:
        record = dataclasses.replace(
            login_record("o-timed"),
            event=LoginEvent(at=NOW, result="ok", appid=APPID, wechat_ms=73),
        )
        user, _ = await store.record_login(record)
        [event] = await store.list_login_events(limit=5, user_id=user.id)
        assert (event.user_id, event.wechat_ms) == (user.id, 73)

    async def test_app_counts_of_users_and_live_sessions(self, store: Any) -> None:
        await login(store, "o-a")
        _, _, revoked = await login(store, "o-b")
        await login(store, "o-b")  # a second session of the same user
        await login(store, "o-c", appid=OTHER_APPID)
        await store.revoke_session(revoked.token_hash, NOW)
        counts = await store.app_counts(NOW)
        assert [(c.appid, c.users, c.live_sessions) for c in counts] == [
            (APPID, 2, 2),
            (OTHER_APPID, 1, 1),
        ]
        later = await store.app_counts(NOW + timedelta(days=400))  # every session expired
        assert [(c.appid, c.users, c.live_sessions) for c in later] == [
            (APPID, 2, 0),
            (OTHER_APPID, 1, 0),
        ]

    async def test_search_login_events_filters(self, store: Any) -> None:
        user, _, _ = await login(store, "o-a")
        base = NOW
        rows = [
            LoginEvent(at=base, result="ok", appid=APPID, user_id=user.id),
            LoginEvent(at=base + timedelta(minutes=1), result="error", appid=APPID,
                       error_code="invalid_code"),
            LoginEvent(at=base + timedelta(minutes=2), result="ok", appid=OTHER_APPID),
        ]  # fmt: skip
        for event in rows:
            await store.add_login_event(event)

        async def found(**filters: Any) -> list[tuple[datetime, str]]:
            events = await store.search_login_events(EventQuery(**filters))
            return [(e.at, e.result) for e in events]

        assert await found() == [
            (base + timedelta(minutes=2), "ok"),
            (base + timedelta(minutes=1), "error"),
            (base, "ok"),
        ]
        assert await found(result="error") == [(base + timedelta(minutes=1), "error")]
        assert await found(appid=OTHER_APPID) == [(base + timedelta(minutes=2), "ok")]
        assert await found(user_id=user.id) == [(base, "ok")]
        assert await found(
            since=base + timedelta(minutes=1), until=base + timedelta(minutes=2)
        ) == [(base + timedelta(minutes=1), "error")]
        assert await found(limit=1) == [(base + timedelta(minutes=2), "ok")]


class TestMemoryStore(StoreContract):
    @pytest.fixture
    async def store(self) -> AsyncIterator[Any]:
        yield MemoryStore()


class TestCachedMemoryStore(StoreContract):
    """A long TTL, so that only the cache's own forgetting keeps it right."""

    @pytest.fixture
    async def store(self) -> AsyncIterator[Any]:
        yield CachedStore(MemoryStore(), LocalSessionCache(ttl=3600))


class TestSqliteStore(StoreContract):
    concurrency = 1  # SQLite has one writer: waiting writers back off in sleeps of up to 100 ms

    @pytest.fixture
    async def store(self, db_path: Path) -> AsyncIterator[Any]:
        engine = await emptied(f"sqlite+aiosqlite:///{db_path}")
        yield SqlStore(engine)
        await engine.dispose()


class TestPostgresStore(StoreContract):
    @pytest.fixture
    async def store(self, postgres_url: str) -> AsyncIterator[Any]:
        engine = await emptied(postgres_url)
        yield SqlStore(engine)
        await engine.dispose()


class TestMariaDbStore(StoreContract):
    @pytest.fixture
    async def store(self, mariadb_url: str) -> AsyncIterator[Any]:
        engine = await emptied(mariadb_url)
        yield SqlStore(engine)
        await engine.dispose()


class TestRedisCachedPostgresStore(StoreContract):
    """PostgreSQL behind both cache tiers, with a long in-process TTL."""

    count = 200  # PostgreSQL's large count is tested above; this is about the cache

    @pytest.fixture
    async def store(
        self, postgres_url: str, redis_url: str, redis_prefix: str
    ) -> AsyncIterator[Any]:
        from wxauth.storage.redis import create_redis
        from wxauth.storage.redis_cache import RedisSessionCache

        engine = await emptied(postgres_url)
        redis = create_redis(redis_url)
        cache = RedisSessionCache(redis, LocalSessionCache(ttl=3600), prefix=redis_prefix, ttl_s=60)
        yield CachedStore(SqlStore(engine), cache)
        await cache.aclose()
        await redis.aclose()
        await engine.dispose()
