"""The operator store contract, run against memory, SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from wxauth.core.memory_operators import MemoryOperatorStore
from wxauth.core.operators import Operator, OperatorEvent, OperatorSession
from wxauth.storage.operators_sql import SqlOperatorStore

from .conftest import emptied

NOW = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)


def session(token_hash: str, operator: str = "ops") -> OperatorSession:
    return OperatorSession(
        token_hash=token_hash,
        operator=operator,
        created_at=NOW,
        last_seen_at=NOW,
        expires_at=NOW + timedelta(hours=12),
        ip="10.0.0.1",
    )


class OperatorStoreContract:
    @pytest.fixture
    async def store(self) -> AsyncIterator[Any]:
        raise NotImplementedError
        yield

    async def test_operators_are_added_replaced_and_listed(self, store: Any) -> None:
        ops = Operator("运维 ops", "admin", "hash-1", "enc", NOW)
        await store.add_operator(ops)
        await store.add_operator(Operator("bob", "viewer", "hash-2", None, NOW))
        assert await store.get_operator("运维 ops") == ops
        assert await store.get_operator("nobody") is None
        await store.add_operator(Operator("bob", "admin", "hash-3", None, NOW))
        assert [(o.name, o.role, o.password_hash) for o in await store.list_operators()] == [
            ("bob", "admin", "hash-3"),
            ("运维 ops", "admin", "hash-1"),
        ]

    async def test_an_operator_is_removed_with_their_sessions_not_their_events(
        self, store: Any
    ) -> None:
        await store.add_operator(Operator("ops", "admin", "hash-1", None, NOW))
        await store.add_operator(Operator("bob", "viewer", "hash-2", None, NOW))
        await store.add_operator_session(session("a" * 64))
        await store.add_operator_session(session("b" * 64, operator="bob"))
        await store.add_operator_event(OperatorEvent(NOW, "ops", "sign_in"))
        assert await store.remove_operator("ops") is True
        assert await store.remove_operator("ops") is False
        assert await store.get_operator("ops") is None
        assert await store.find_operator_session("a" * 64) is None
        assert await store.find_operator_session("b" * 64) is not None
        assert [o.name for o in await store.list_operators()] == ["bob"]
        assert [e.action for e in await store.list_operator_events(limit=5)] == ["sign_in"]

    async def test_disabled_at_round_trips(self, store: Any) -> None:
        await store.add_operator(Operator("ops", "admin", "hash-1", None, NOW, disabled_at=NOW))
        found = await store.get_operator("ops")
        assert found is not None and found.disabled_at == NOW and not found.can_write

    async def test_sessions_are_found_touched_and_ended(self, store: Any) -> None:
        await store.add_operator_session(session("a" * 64))
        await store.add_operator_session(session("b" * 64))
        await store.add_operator_session(session("c" * 64, operator="bob"))
        assert await store.find_operator_session("a" * 64) == session("a" * 64)
        later = NOW + timedelta(minutes=5)
        await store.touch_operator_session("a" * 64, later)
        found = await store.find_operator_session("a" * 64)
        assert found is not None and found.last_seen_at == later
        await store.delete_operator_session("a" * 64)
        assert await store.find_operator_session("a" * 64) is None
        assert await store.delete_operator_sessions("ops") == 1
        assert await store.find_operator_session("b" * 64) is None
        assert await store.find_operator_session("c" * 64) is not None

    async def test_events_are_listed_newest_first_with_filters(self, store: Any) -> None:
        for minute, operator, action in [(0, "ops", "sign_in"), (1, "bob", "sign_in"),
                                         (2, "ops", "user_disabled")]:  # fmt: skip
            at = NOW + timedelta(minutes=minute)
            await store.add_operator_event(
                OperatorEvent(at, operator, action, target="u1", ip="10.0.0.1", detail="🐼")
            )
        events = await store.list_operator_events(limit=10)
        assert [(e.operator, e.action) for e in events] == [
            ("ops", "user_disabled"),
            ("bob", "sign_in"),
            ("ops", "sign_in"),
        ]
        assert events[0].detail == "🐼" and events[0].at == NOW + timedelta(minutes=2)
        ops = await store.list_operator_events(limit=10, operator="ops")
        assert [e.action for e in ops] == ["user_disabled", "sign_in"]
        window = await store.list_operator_events(
            limit=10, since=NOW + timedelta(minutes=1), until=NOW + timedelta(minutes=2)
        )
        assert [e.operator for e in window] == ["bob"]
        assert len(await store.list_operator_events(limit=1)) == 1


class TestMemoryOperatorStore(OperatorStoreContract):
    @pytest.fixture
    async def store(self) -> AsyncIterator[Any]:
        yield MemoryOperatorStore()


class TestSqliteOperatorStore(OperatorStoreContract):
    @pytest.fixture
    async def store(self, db_path: Path) -> AsyncIterator[Any]:
        engine = await emptied(f"sqlite+aiosqlite:///{db_path}")
        yield SqlOperatorStore(engine)
        await engine.dispose()


class TestPostgresOperatorStore(OperatorStoreContract):
    @pytest.fixture
    async def store(self, postgres_url: str) -> AsyncIterator[Any]:
        engine = await emptied(postgres_url)
        yield SqlOperatorStore(engine)
        await engine.dispose()


class TestMariaDbOperatorStore(OperatorStoreContract):
    @pytest.fixture
    async def store(self, mariadb_url: str) -> AsyncIterator[Any]:
        engine = await emptied(mariadb_url)
        yield SqlOperatorStore(engine)
        await engine.dispose()
