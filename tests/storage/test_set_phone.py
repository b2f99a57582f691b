"""set_phone on the in-memory and SQL stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wxauth.api.app import session_policy
from wxauth.config import Settings
from wxauth.core.memory import MemoryStore
from wxauth.core.models import ClientInfo, LoginRecord
from wxauth.core.ports import Store
from wxauth.core.tokens import new_token
from wxauth.errors import NotFound
from wxauth.storage.engine import create_engine
from wxauth.storage.sql import SqlStore

NOW = datetime(2026, 1, 1, tzinfo=UTC)


async def check_set_phone(store: Store, settings: Settings) -> None:
    session = session_policy(settings).new_session(new_token(), "", "wxapp", NOW, ClientInfo())
    record = LoginRecord("wxapp", "openid-1", None, "ciphertext", session)
    user, _ = await store.record_login(record)
    assert not user.has_phone
    later = NOW + timedelta(minutes=1)
    updated = await store.set_phone(user.id, "+8613800138000", "86", later)
    assert updated.has_phone and updated.updated_at == later
    assert "13800138000" not in repr(updated)
    again = await store.get_user(user.id)
    assert again is not None
    assert (again.phone, again.phone_country_code) == ("+8613800138000", "86")
    with pytest.raises(NotFound):
        await store.set_phone("no-such-user", "+8613800138000", "86", later)


async def test_memory_store(settings: Settings) -> None:
    await check_set_phone(MemoryStore(), settings)


async def test_sqlite_store(settings: Settings) -> None:
    engine = create_engine(settings.database_url)
    try:
        await check_set_phone(SqlStore(engine), settings)
    finally:
        await engine.dispose()
