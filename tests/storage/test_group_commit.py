"""SQLite's group commit: writes queued together share a transaction, and still fail alone."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import shutil
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from wxauth.core.models import ClientInfo, LoginEvent, LoginRecord
from wxauth.core.tokens import SessionPolicy, new_token
from wxauth.storage.engine import create_engine
from wxauth.storage.group_commit import GroupCommitWriter
from wxauth.storage.sql import SqlStore
from wxauth.storage.writes_sqlite import SqliteWrites

POLICY = SessionPolicy(timedelta(days=7), timedelta(days=30), timedelta(minutes=5))
NOW = datetime(2026, 5, 1, 8, 30, tzinfo=UTC)


def record(openid: str, token_hash: str | None = None, at: datetime = NOW) -> LoginRecord:
    session = POLICY.new_session(new_token(), "", "wxapp", at, ClientInfo("ua", "1.2.3.4"))
    if token_hash is not None:
        session = dataclasses.replace(session, token_hash=token_hash)
    event = LoginEvent(at, "ok", "wxapp", None, "1.2.3.4")
    return LoginRecord("wxapp", openid, None, "ciphertext", session, event=event)


def _insert(statement: TextClause, n: int, conn: Connection) -> Any:
    return conn.execute(statement, {"n": n})


def count(db_path: Path, table: str) -> int:
    with sqlite3.connect(db_path) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608


async def test_concurrent_logins_share_transactions(db_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{db_path}")
    store = SqlStore(engine)
    assert isinstance(store.writes, SqliteWrites)
    results = await asyncio.gather(*(store.record_login(record(f"o-{i % 50}")) for i in range(300)))
    assert sum(created for _, created in results) == 50  # one user per openid, still
    assert count(db_path, "users") == 50
    assert count(db_path, "sessions") == 300
    assert count(db_path, "login_events") == 300
    assert store.writes.writer.batches < 300  # writes were grouped
    await engine.dispose()


async def test_a_failing_write_fails_only_its_caller(db_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{db_path}")
    store = SqlStore(engine)
    taken = "f" * 64
    await store.record_login(record("o-first", taken))
    batch = [record(f"o-{i}") for i in range(20)]
    batch.insert(10, record("o-clash", taken))  # the same token hash: a primary key clash
    outcomes = await asyncio.gather(*(store.record_login(r) for r in batch), return_exceptions=True)
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(failed) == 1 and isinstance(failed[0], IntegrityError)
    assert isinstance(outcomes[10], IntegrityError)
    assert count(db_path, "sessions") == 21  # the first login and the 20 others
    with sqlite3.connect(db_path) as conn:  # nothing of the failed login stayed behind
        assert conn.execute("SELECT count(*) FROM users WHERE openid = 'o-clash'").fetchone() == (
            0,
        )
    await engine.dispose()


async def test_an_answer_means_committed(db_path: Path) -> None:
    writer = GroupCommitWriter(create_sync_engine(f"sqlite:///{db_path}"))

    def add(conn: Connection) -> int:
        conn.execute(text("CREATE TABLE IF NOT EXISTS t (n INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
        return 7

    assert await writer.run(add) == 7
    with sqlite3.connect(db_path) as conn:  # another connection sees it at once
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)
    writer.stop()


async def test_stop_finishes_what_is_queued(db_path: Path) -> None:
    writer = GroupCommitWriter(create_sync_engine(f"sqlite:///{db_path}"))
    await writer.run(lambda conn: conn.execute(text("CREATE TABLE t (n INTEGER)")))
    insert = text("INSERT INTO t VALUES (:n)")
    pending = [
        asyncio.ensure_future(writer.run(functools.partial(_insert, insert, n))) for n in range(50)
    ]
    await asyncio.sleep(0)
    await asyncio.to_thread(writer.stop)
    await asyncio.gather(*pending)
    assert count(db_path, "t") == 50


def two_writers_at_once(db_path: Path, *, lock: str | None) -> list[BaseException]:
    """Two writers on one database file, as two worker processes would have, each running 10
    transactions that hold SQLite's write lock for 60 ms, with a 10 ms busy timeout."""
    url = f"sqlite:///{db_path}"
    engines = [create_sync_engine(url, connect_args={"timeout": 0.01}) for _ in range(2)]
    writers = [GroupCommitWriter(e, max_batch=1, lock_path=lock) for e in engines]
    with engines[0].begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    errors: list[BaseException] = []

    def slow_insert(conn: Connection) -> None:
        conn.execute(text("INSERT INTO t VALUES (1)"))  # takes the write lock...
        time.sleep(0.06)  # ...and holds it

    def drive(writer: GroupCommitWriter) -> None:
        async def many() -> None:
            outcomes = await asyncio.gather(
                *(writer.run(slow_insert) for _ in range(10)), return_exceptions=True
            )
            errors.extend(o for o in outcomes if isinstance(o, BaseException))

        asyncio.run(many())

    threads = [threading.Thread(target=drive, args=(w,)) for w in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for writer in writers:
        writer.stop()
    return errors


def test_writers_sharing_a_file_take_turns(db_path: Path) -> None:
    lock = f"{db_path}-writelock"
    assert two_writers_at_once(db_path, lock=lock) == []
    assert count(db_path, "t") == 20
    assert Path(lock).exists()


def test_without_the_turn_lock_sqlite_gives_up(db_path: Path) -> None:
    """The control: the same load without the lock meets SQLite's busy timeout."""
    errors = two_writers_at_once(db_path, lock=None)
    assert errors and all("locked" in str(e) for e in errors)
    assert count(db_path, "t") == 20 - len(errors)


async def test_sqlite_writes_store_what_sqlalchemy_stores(tmp_path: Path, db_path: Path) -> None:
    """Login's plain-sqlite3 write path leaves the very rows the SQLAlchemy path leaves."""
    other = tmp_path / "other.db"
    shutil.copy(db_path, other)
    fast = SqlStore(create_engine(f"sqlite+aiosqlite:///{db_path}"))
    plain = SqlStore(create_engine(f"sqlite+aiosqlite:///{other}"))
    assert isinstance(plain.writes, SqliteWrites)
    plain.writes._logins = None  # the SQLAlchemy statements, in one transaction
    first = record("o-1")
    again = dataclasses.replace(
        record("o-1"), unionid="u-1", profile={"nickname": "小明 🐼", "gender": 1}
    )
    later = dataclasses.replace(record("o-1"), unionid=None)  # a known unionid stays
    # Times with microseconds and another offset are stored as the same UTC text.
    beijing = timezone(timedelta(hours=8))
    elsewhere = record("o-2", at=datetime(2026, 5, 2, 1, 2, 3, 4005, tzinfo=beijing))
    results = []
    logins = [
        dataclasses.replace(login, new_user_id=new_id)
        for login, new_id in zip((first, again, later, elsewhere), "abcd", strict=True)
    ]
    for store in (fast, plain):
        results.append([await store.record_login(r) for r in logins])
    assert results[0] == results[1]
    assert [created for _, created in results[0]] == [True, False, False, True]
    assert results[0][-1][0].created_at == datetime(2026, 5, 1, 17, 2, 3, 4005, tzinfo=UTC)
    assert results[0][2][0].unionid == "u-1" and results[0][2][0].nickname == "小明 🐼"
    for table in ("users", "sessions", "wechat_sessions", "login_events"):
        with sqlite3.connect(db_path) as a, sqlite3.connect(other) as b:
            query = f"SELECT * FROM {table} ORDER BY 1"  # noqa: S608
            assert a.execute(query).fetchall() == b.execute(query).fetchall(), table
    await fast.engine.dispose()
    await plain.engine.dispose()
