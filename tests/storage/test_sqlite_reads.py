"""The token check's inline SQLite read gives what the async engine gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from wxauth.core.models import ClientInfo, LoginRecord
from wxauth.core.tokens import SessionPolicy, new_token
from wxauth.storage.engine import create_engine
from wxauth.storage.sql import SqlStore, _session, _user

POLICY = SessionPolicy(timedelta(days=7), timedelta(days=30), timedelta(minutes=5))


async def test_inline_read_matches_the_engine(db_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{db_path}")
    store = SqlStore(engine)
    assert store._inline_reads is not None
    now = datetime(2026, 5, 1, 8, 30, 15, 123456, tzinfo=UTC)
    session = POLICY.new_session(new_token(), "", "wxapp", now, ClientInfo("ua", "1.2.3.4"))
    record = LoginRecord("wxapp", "o-1", "u-1", "ciphertext", session, {"nickname": "小明 🐼"})
    user, _ = await store.record_login(record)

    inline = store._inline_reads.first({"token_hash": session.token_hash})
    engine_row = await store._find_session_row(session.token_hash)
    assert inline is not None and engine_row is not None
    assert (_session(inline), _user(inline)) == (_session(engine_row), _user(engine_row))
    assert _session(inline).created_at == now  # aware UTC, microseconds kept
    assert _user(inline).nickname == "小明 🐼"
    assert await store.find_session(session.token_hash) == (_session(inline), user)
    assert await store.find_session("0" * 64) is None
    await engine.dispose()


def test_memory_databases_do_not_read_inline() -> None:
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    assert SqlStore(engine)._inline_reads is None
