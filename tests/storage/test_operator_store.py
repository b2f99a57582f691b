"""The audit and operator methods of the Store, on every store: memory, SQLite, PostgreSQL,
MySQL/MariaDB."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.storage.databases import scratch_database
from wxauth.core.memory import MemoryStore
from wxauth.core.models import ClientInfo, LoginEvent, LoginRecord
from wxauth.core.ports import Store
from wxauth.core.tokens import SessionPolicy, new_token
from wxauth.storage.engine import create_engine
from wxauth.storage.sql import SqlStore

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
POLICY = SessionPolicy(timedelta(days=7), timedelta(days=30), timedelta(minutes=5))


@pytest.fixture(params=["memory", "sqlite", "postgresql", "mysql"])
async def store(request: pytest.FixtureRequest, db_path: Path) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    if request.param == "sqlite":
        engine = create_engine(f"sqlite+aiosqlite:///{db_path}")
        yield SqlStore(engine)
        await engine.dispose()
        return
    async with scratch_database(request.param) as url:
        engine = create_engine(url)
        try:
            yield SqlStore(engine)
        finally:
            await engine.dispose()


async def login(store: Store, openid: str, when: datetime = NOW, appid: str = "wxA") -> str:
    session = POLICY.new_session(new_token(), "", appid, when, ClientInfo("ua", "1.2.3.4"))
    record = LoginRecord(appid, openid, None, f"enc-{openid}", session, {"nickname": "小明 🐼"})
    user, _ = await store.record_login(record)
    await store.add_login_event(LoginEvent(when, "ok", appid, user.id, "1.2.3.4"))
    return user.id


async def test_login_events_newest_first_and_purged(store: Store) -> None:
    alice = await login(store, "o-alice", NOW - timedelta(days=100))
    await store.add_login_event(LoginEvent(NOW, "error", "wxA", None, "::1", "invalid_code", 40029))
    await login(store, "o-alice")
    events = await store.list_login_events(limit=10)
    assert [e.result for e in events] == ["ok", "error", "ok"]
    assert events[1].error_code == "invalid_code" and events[1].wechat_errcode == 40029
    assert events[1].ip == "::1" and events[1].at == NOW
    assert len(await store.list_login_events(limit=10, user_id=alice)) == 2
    assert len(await store.list_login_events(limit=1)) == 1
    assert await store.purge_login_events(NOW - timedelta(days=90)) == 1
    assert len(await store.list_login_events(limit=10)) == 2


async def test_list_users_and_sessions(store: Store) -> None:
    a = await login(store, "o-a", NOW)
    b = await login(store, "o-b", NOW + timedelta(seconds=1), appid="wxB")
    await login(store, "o-a", NOW + timedelta(seconds=2))
    assert [u.id for u in await store.list_users()] == [a, b]
    assert [u.id for u in await store.list_users(appid="wxB")] == [b]
    assert [u.id for u in await store.list_users(limit=1, offset=1)] == [b]
    sessions = await store.list_sessions(a)
    assert len(sessions) == 2 and sessions[0].created_at > sessions[1].created_at
    assert await store.revoke_user_sessions(a, NOW) == 2
    assert await store.revoke_user_sessions(a, NOW) == 0
    assert all(s.revoked_at == NOW for s in await store.list_sessions(a))
    assert all(s.revoked_at is None for s in await store.list_sessions(b))


async def test_delete_user_removes_everything_of_theirs(store: Store) -> None:
    a = await login(store, "o-a")
    b = await login(store, "o-b")
    assert await store.delete_user(a) is True
    assert await store.get_user(a) is None
    assert await store.list_sessions(a) == []
    assert await store.get_session_key("wxA", "o-a") is None
    assert await store.list_login_events(limit=10, user_id=a) == []
    assert await store.delete_user(a) is False
    assert await store.get_user(b) is not None  # the others keep theirs
    assert await store.get_session_key("wxA", "o-b") == "enc-o-b"
    assert len(await store.list_sessions(b)) == 1
    again = await login(store, "o-a")  # the same WeChat user may come back, as a new user
    assert again != a


async def test_avatar_urls_are_the_distinct_ones_containing_the_path(store: Store) -> None:
    ours = "https://auth.example/v1/avatars/" + "a" * 40 + ".jpg"
    urls = {
        "o-a": ours,
        "o-b": ours,  # one picture, two users
        "o-c": "https://auth.example/v1/avatars/" + "b" * 40 + ".png",
        "o-d": "https://thirdwx.qlogo.cn/mmopen/vi_32/x/132",  # WeChat's, not ours
        "o-e": "https://auth.example/v1/avatarsX" + "c" * 40 + ".png",
    }
    for openid, url in urls.items():
        await store.update_user(await login(store, openid), {"avatar_url": url}, NOW)
    await login(store, "o-f")  # no avatar
    found = await store.avatar_urls("/v1/avatars/")
    assert found == {ours, urls["o-c"]}
    # LIKE's wildcards in what is asked for are taken literally.
    assert await store.avatar_urls("/v1_avatars/") == set()
    assert await store.avatar_urls("%") == set()
