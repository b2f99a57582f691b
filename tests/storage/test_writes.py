"""The write paths chosen per dialect: which one each database gets, every SQLite write
through the writer thread, PostgreSQL's one-statement login, and MySQL's login where the
upsert cannot return the row. What they store is the store contract's business
(``test_store_contract.py`` runs every backend); here, how they get there."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from wxauth.core.models import LoginEvent, Session, User
from wxauth.core.webhooks import USER_CREATED
from wxauth.storage.engine import create_engine
from wxauth.storage.sql import SqlStore
from wxauth.storage.writes import TransactionWrites
from wxauth.storage.writes_mysql import MysqlWrites
from wxauth.storage.writes_postgres import PostgresWrites
from wxauth.storage.writes_sqlite import SqliteWrites

from .conftest import emptied
from .test_store_contract import NOW, login_record
from .webhook_contract import subscription


def test_each_dialect_gets_its_own_write_paths(tmp_path: Path) -> None:
    urls = {
        f"sqlite+aiosqlite:///{tmp_path / 'w.db'}": SqliteWrites,
        "sqlite+aiosqlite:///:memory:": TransactionWrites,
        "postgresql+asyncpg://u@127.0.0.1:1/d": PostgresWrites,
        "mysql+asyncmy://u@127.0.0.1:1/d": MysqlWrites,
    }
    for url, kind in urls.items():
        store = SqlStore(create_engine(url))
        assert type(store.writes) is kind, url
        store.writes.close()


async def test_every_sqlite_write_goes_through_the_writer(db_path: Path) -> None:
    """Logins, touches, revocations, profile and phone changes, account events, caps,
    disabling, deleting and the cleanups: each a transaction of the writer thread (which
    takes the turn lock shared with the other processes), none through the async engine."""
    engine = create_engine(f"sqlite+aiosqlite:///{db_path}")
    store = SqlStore(engine)
    assert isinstance(store.writes, SqliteWrites)
    async_writes: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _seen(_conn: Connection, _cursor: object, statement: str, *_: object) -> None:
        if not statement.lstrip().upper().startswith(("SELECT", "PRAGMA")):
            async_writes.append(statement)

    writer = store.writes.writer
    user, _, session = await _login(store, "o-1")
    _, _, other = await _login(store, "o-1")
    steps = [
        store.touch_session(session.token_hash, NOW, NOW + timedelta(days=7)),
        store.update_user(user.id, {"nickname": "小明"}, NOW),
        store.set_phone(user.id, "13800000000", "86", NOW),
        store.revoke_session(session.token_hash, NOW),
        store.cap_sessions(user.id, user.appid, keep=other.token_hash, cap=1, now=NOW),
        store.revoke_user_sessions(user.id, NOW),
        store.disable_user(user.id, reason="spam", ends_at=None, now=NOW),
        store.enable_user(user.id, NOW),
        store.add_login_event(LoginEvent(NOW, "error", user.appid, None, None, "x", None)),
        store.purge_login_events(NOW - timedelta(days=1)),
        store.delete_expired_sessions(NOW - timedelta(days=1)),
        store.delete_user(user.id),
    ]
    for step in steps:
        before = writer.batches
        await step
        assert writer.batches == before + 1, step
    assert async_writes == []
    assert await store.get_user(user.id) is None
    store.writes.close()
    await engine.dispose()


async def _login(store: SqlStore, openid: str) -> tuple[User, bool, Session]:
    record = login_record(openid)
    user, created = await store.record_login(record)
    return user, created, dataclasses.replace(record.session, user_id=user.id)


async def sent_on(engine: AsyncEngine) -> list[str]:
    """Every query asyncpg sends on ``engine``'s connections from now on (its pool is
    emptied first): SQLAlchemy's and those on asyncpg's own connection alike."""
    await engine.dispose()
    statements: list[str] = []

    @event.listens_for(engine.sync_engine, "connect")
    def _logged(dbapi_connection: Any, _record: object) -> None:
        dbapi_connection.driver_connection.add_query_logger(lambda q: statements.append(q.query))

    return statements


async def test_a_postgres_login_is_one_statement(postgres_url: str) -> None:
    engine = await emptied(postgres_url)
    statements = await sent_on(engine)
    store = SqlStore(engine, webhook_ttl=60)
    await store.webhooks.gate.current()  # the subscriptions (none), read once a minute here
    statements.clear()
    first = login_record("o-1")
    first = dataclasses.replace(first, event=LoginEvent(NOW, "ok", first.appid, None, "1.2.3.4"))
    user, created = await store.record_login(first)
    again = dataclasses.replace(
        login_record("o-1", profile={"nickname": "🐼"}), event=None, new_user_id="other"
    )
    same, created_again = await store.record_login(again)
    assert created and not created_again and same.id == user.id and same.nickname == "🐼"
    assert len(statements) == 2  # one per login: the session and event wait for no answer
    assert len(await store.list_sessions(user.id)) == 2
    events = await store.list_login_events(limit=10, user_id=user.id)
    assert [(e.result, e.ip) for e in events] == [("ok", "1.2.3.4")]
    assert await store.get_session_key(user.appid, "o-1") == "ciphertext-1"
    await engine.dispose()


async def test_a_postgres_login_that_fails_leaves_nothing_and_its_connection_serves_on(
    postgres_url: str,
) -> None:
    """The login's statement runs on asyncpg's own connection: an error of it comes out as
    SQLAlchemy's would (here an IntegrityError: the session's token hash is taken), the
    user's upsert in the same statement is undone with it, and the pool's one connection
    serves the next login."""
    from sqlalchemy.exc import IntegrityError

    engine = await emptied(postgres_url)
    await engine.dispose()
    engine = create_engine(postgres_url, pool_size=1, max_overflow=0)
    store = SqlStore(engine)
    record = login_record("o-1", unionid="u-1")
    first = await store.record_login_unless_blocked(record)
    assert first.user is not None and first.user.person_id == first.user.id
    clash = login_record("o-2", unionid="u-2")
    taken = dataclasses.replace(clash.session, token_hash=record.session.token_hash)
    with pytest.raises(IntegrityError) as raised:
        await store.record_login_unless_blocked(dataclasses.replace(clash, session=taken))
    assert not raised.value.connection_invalidated
    assert await store.find_user(clash.appid, "o-2") is None
    assert await store.get_session_key(clash.appid, "o-2") is None
    assert await store.person_users(clash.new_user_id) == []
    after = await store.record_login_unless_blocked(clash)
    assert after.created and after.user is not None and after.user.person_id == after.user.id
    found = await store.find_session(clash.session.token_hash)
    assert found is not None and found[1] == after.user
    await engine.dispose()


async def test_a_reported_postgres_creation_is_still_one_statement(postgres_url: str) -> None:
    """With user.created wanted, the outbox rows are CTEs of the login's one statement,
    written only when the login created the user."""
    engine = await emptied(postgres_url)
    store = SqlStore(engine, webhook_ttl=60)
    subs = [subscription((USER_CREATED,)) for _ in range(2)]
    for sub in subs:
        await store.webhooks.add_subscription(sub)
    statements = await sent_on(engine)
    await store.webhooks.gate.current()
    statements.clear()
    user, created = await store.record_login(login_record("o-1"))
    again = dataclasses.replace(login_record("o-1"), new_user_id="other")
    _, created_again = await store.record_login(again)
    guarded = await store.record_login_unless_blocked(login_record("o-2", unionid="u-2"))
    assert created and not created_again and guarded.created and guarded.user is not None
    assert len(statements) == 3
    rows = await store.webhooks.list_deliveries()
    assert sorted(r.subscription_id for r in rows) == sorted(s.id for s in subs * 2)
    assert {(r.event_type, r.user_id) for r in rows} == {
        (USER_CREATED, user.id),
        (USER_CREATED, guarded.user.id),
    }
    await engine.dispose()


async def test_mysql_without_returning_reads_the_user_back(mariadb_url: str) -> None:
    """MySQL itself has no RETURNING: the upsert, then the row read in the same
    transaction. MariaDB has it, so the MySQL path is forced here."""
    engine = await emptied(mariadb_url)
    store = SqlStore(engine)
    assert isinstance(store.writes, MysqlWrites)
    assert store.writes.statements.returning  # MariaDB >= 10.5
    store.writes.statements = dataclasses.replace(store.writes.statements, returning=False)
    user, created = await store.record_login(login_record("o-1"))
    again = dataclasses.replace(login_record("o-1", unionid="u-1"), new_user_id="other")
    same, created_again = await store.record_login(again)
    assert created and not created_again
    assert same.id == user.id and same.unionid == "u-1"
    await engine.dispose()


@pytest.mark.parametrize("profile", [{}, {"nickname": "小明 🐼", "gender": 1}])
async def test_postgres_login_statement_is_built_once_per_profile(
    postgres_url: str, profile: dict[str, object]
) -> None:
    from wxauth.storage.writes_postgres import login_statement

    columns = tuple(sorted(profile))
    assert login_statement(columns, True) is login_statement(columns, True)
    assert login_statement(columns, True) is not login_statement(columns, False)
    engine = await emptied(postgres_url)
    store = SqlStore(engine)
    user, created = await store.record_login(login_record("o-p", profile=dict(profile)))
    assert created and user.nickname == profile.get("nickname")
    await engine.dispose()


async def test_a_postgres_first_login_links_its_person_in_the_same_statement(
    postgres_url: str,
) -> None:
    """The founder of a UnionID gets a person of its own id, a user of another app with it
    joins that person, in the login's one statement; where the statement cannot decide (a
    merged person, a user that already existed) ``person_id`` comes back as it was, and
    ``link_person`` settles it as before. No person is made for a login without UnionID
    or for a user that existed."""
    from .test_store_contract import OTHER_APPID

    engine = await emptied(postgres_url)
    statements = await sent_on(engine)
    store = SqlStore(engine, webhook_ttl=60)
    await store.webhooks.gate.current()  # the subscriptions (none), read once a minute here
    statements.clear()
    founder, _ = await store.record_login(login_record("o-a", unionid="u-1"))
    joiner, _ = await store.record_login(login_record("o-b", appid=OTHER_APPID, unionid="u-1"))
    assert len(statements) == 2
    assert (founder.person_id, joiner.person_id) == (founder.id, founder.id)
    assert {u.id for u in await store.person_users(founder.id)} == {founder.id, joiner.id}

    plain, _ = await store.record_login(login_record("o-c"))
    assert plain.person_id is None
    again = dataclasses.replace(login_record("o-c", unionid="u-2"), new_user_id="other")
    existing, created = await store.record_login(again)
    assert not created and existing.person_id is None  # left to link_person
    assert (await store.link_person(existing.id, "u-2", NOW)).person_id == existing.id

    # A merged person is a chain to follow: not in the statement.
    other, _ = await store.record_login(login_record("o-d", unionid="u-3"))
    await store.set_person([other.id], founder.id, merged=other.id, now=NOW)
    late, _ = await store.record_login(login_record("o-e", appid=OTHER_APPID, unionid="u-3"))
    assert late.person_id is None
    assert (await store.link_person(late.id, "u-3", NOW)).person_id == founder.id
    async with engine.connect() as conn:
        from sqlalchemy import func, select

        from wxauth.storage.tables import persons

        count = (await conn.execute(select(func.count()).select_from(persons))).scalar_one()
    assert count == 3  # u-1, u-2, u-3: one each
    await engine.dispose()


async def test_a_postgres_guarded_login_is_one_statement(postgres_url: str) -> None:
    """The read before a login (is the user disabled, or due for deletion?) happens in the
    login's statement: one round trip, whether it writes or, for a blocked user, not."""
    engine = await emptied(postgres_url)
    statements = await sent_on(engine)
    store = SqlStore(engine, webhook_ttl=60)
    await store.webhooks.gate.current()  # the subscriptions (none), read once a minute here
    statements.clear()
    first = await store.record_login_unless_blocked(login_record("o-1", unionid="u-1"))
    again = await store.record_login_unless_blocked(login_record("o-1", unionid="u-1"))
    assert len(statements) == 2
    assert first.created and first.user is not None and first.user.person_id == first.user.id
    assert again.previous == first.user and not again.created
    await store.disable_user(first.user.id, reason="spam", ends_at=None, now=NOW)
    statements.clear()
    blocked = await store.record_login_unless_blocked(login_record("o-1"))
    assert len(statements) == 1 and blocked.user is None
    assert blocked.previous is not None and blocked.previous.status == "disabled"
    await engine.dispose()


@pytest.mark.parametrize("returning", [True, False])
async def test_a_mariadb_guarded_login_links_its_person_in_its_transaction(
    mariadb_url: str, returning: bool
) -> None:
    """On MySQL and MariaDB the read before the login, the login and a new user's person
    are one transaction; racing first logins of one UnionID in two apps agree on one
    person. ``returning=False`` is MySQL's path (the row read back, by a locking read: a
    plain one would see the transaction's first snapshot, from before a racing insert)."""
    import asyncio

    from .test_store_contract import OTHER_APPID

    engine = await emptied(mariadb_url)
    store = SqlStore(engine)
    assert isinstance(store.writes, MysqlWrites) and store.writes.guarded_login is not None
    store.writes.statements = dataclasses.replace(store.writes.statements, returning=returning)
    first, second = await asyncio.gather(
        store.record_login_unless_blocked(login_record("o-a", unionid="u-1")),
        store.record_login_unless_blocked(login_record("o-b", appid=OTHER_APPID, unionid="u-1")),
    )
    assert first.user is not None and second.user is not None
    assert first.created and second.created
    assert first.user.person_id is not None
    assert first.user.person_id == second.user.person_id
    racers = await asyncio.gather(
        *(store.record_login_unless_blocked(login_record("o-r", unionid="u-r")) for _ in range(6))
    )
    assert [r.created for r in racers].count(True) == 1
    assert len({r.user.id for r in racers if r.user is not None}) == 1
    await engine.dispose()


async def test_a_sqlite_first_login_links_its_person_in_the_same_batch(db_path: Path) -> None:
    """SQLite: the founder and a joiner of a UnionID each get their person in their login's
    writer transaction (one batch each, no write after it)."""
    from .test_store_contract import OTHER_APPID

    engine = create_engine(f"sqlite+aiosqlite:///{db_path}")
    store = SqlStore(engine)
    assert isinstance(store.writes, SqliteWrites)
    writer = store.writes.writer
    before = writer.batches
    founder, _ = await store.record_login(login_record("o-a", unionid="u-1"))
    joiner, _ = await store.record_login(login_record("o-b", appid=OTHER_APPID, unionid="u-1"))
    assert writer.batches == before + 2
    assert (founder.person_id, joiner.person_id) == (founder.id, founder.id)
    again, created = await store.record_login(login_record("o-a", unionid="u-1"))
    assert not created and again.person_id == founder.id
    store.writes.close()
    await engine.dispose()


async def test_a_mariadb_login_is_one_query_and_a_failed_one_leaves_nothing(
    mariadb_url: str,
) -> None:
    """MariaDB sends a login's writes as one query. A statement of it that fails (here the
    session: its token's hash is taken) stops the rest, and the whole transaction is rolled
    back, the user's upsert before it included; the pool's one connection then serves the
    next login as if nothing had happened. A merged person is left to link_person."""
    from sqlalchemy.exc import IntegrityError

    from .test_store_contract import OTHER_APPID

    engine = await emptied(mariadb_url)
    await engine.dispose()
    engine = create_engine(mariadb_url, pool_size=1, max_overflow=0)
    store = SqlStore(engine)
    record = login_record("o-1", unionid="u-1")
    first = await store.record_login_unless_blocked(record)
    assert first.user is not None and first.user.person_id == first.user.id
    # Known once connected (the engine was new): MariaDB, whose upsert returns the row.
    assert isinstance(store.writes, MysqlWrites) and store.writes.statements.returning
    clash = login_record("o-2", unionid="u-2")
    taken = dataclasses.replace(clash.session, token_hash=record.session.token_hash)
    with pytest.raises(IntegrityError):
        await store.record_login_unless_blocked(dataclasses.replace(clash, session=taken))
    assert await store.find_user(clash.appid, "o-2") is None
    assert await store.get_session_key(clash.appid, "o-2") is None
    assert await store.person_users(clash.new_user_id) == []

    joining = login_record("o-3", appid=OTHER_APPID, unionid="u-1")
    joiner = await store.record_login_unless_blocked(joining)
    assert joiner.created and joiner.user is not None
    assert joiner.user.person_id == first.user.id
    found = await store.find_session(joining.session.token_hash)
    assert found is not None and found[1] == joiner.user

    other = await store.record_login_unless_blocked(login_record("o-4", unionid="u-4"))
    assert other.user is not None
    await store.set_person([other.user.id], first.user.id, merged=other.user.id, now=NOW)
    late = await store.record_login_unless_blocked(
        login_record("o-5", appid=OTHER_APPID, unionid="u-4")
    )
    assert late.user is not None and late.user.person_id is None  # a merge to follow
    assert (await store.link_person(late.user.id, "u-4", NOW)).person_id == first.user.id
    await engine.dispose()


async def test_a_mariadb_login_is_one_round_trip_and_the_pool_rolls_back_only_when_needed(
    mariadb_url: str,
) -> None:
    """The login's query ends with its COMMIT, so the pool sends no ROLLBACK when the
    connection comes back; after a login that failed in the middle, it does, and the
    failed login's writes are gone. A read through SQLAlchemy is rolled back as before."""
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    engine = await emptied(mariadb_url)
    await engine.dispose()
    engine = create_engine(mariadb_url, pool_size=1, max_overflow=0)
    store = SqlStore(engine)

    async def rollbacks() -> int:
        async with engine.connect() as conn:  # the pool's one connection: the same session
            row = (await conn.execute(text("SHOW SESSION STATUS LIKE 'Com_rollback'"))).one()
        return int(row[1])

    await store.record_login_unless_blocked(login_record("o-0"))  # settles MariaDB's path
    before = await rollbacks()  # the read's own rollback, as it closes, is counted next time
    record = login_record("o-1", unionid="u-1")
    for _ in range(3):
        done = await store.record_login_unless_blocked(record)
        assert done.user is not None
        record = login_record(f"o-{_ + 2}")
    assert await rollbacks() == before + 1  # only the first look's own
    clash = login_record("o-9")
    taken = dataclasses.replace(clash.session, token_hash=record.session.token_hash)
    await store.record_login_unless_blocked(record)
    with pytest.raises(IntegrityError):
        await store.record_login_unless_blocked(dataclasses.replace(clash, session=taken))
    assert await rollbacks() == before + 3  # the failed login's, and the second look's
    assert await store.find_user(clash.appid, "o-9") is None
    assert (await store.record_login_unless_blocked(clash)).created
    await engine.dispose()


async def test_a_mysql_write_that_innodb_picks_as_a_deadlocks_victim_runs_again(
    mariadb_url: str,
) -> None:
    """A real deadlock: another connection holds user A's row and many more, the write
    locks B and then waits for A; when the other asks for B, InnoDB rolls the smaller
    transaction (the write's) back. The write runs again, once the other has committed,
    and succeeds: the caller sees no error."""
    import asyncio

    import asyncmy
    from sqlalchemy import text

    engine = await emptied(mariadb_url)
    store = SqlStore(engine)
    assert isinstance(store.writes, MysqlWrites)
    ids = [(await store.record_login(login_record(f"o-{i}")))[0].id for i in range(30)]
    a, b = ids[0], ids[1]
    holds_b = asyncio.Event()
    attempts = 0

    def body(conn: Connection) -> str:
        nonlocal attempts
        attempts += 1
        conn.execute(text("UPDATE users SET city = 'w' WHERE id = :id"), {"id": b})
        holds_b.set()
        conn.execute(text("UPDATE users SET city = 'w' WHERE id = :id"), {"id": a})
        return "done"

    url = engine.url
    other = await asyncmy.connect(
        host=url.host, port=url.port, user=url.username, db=url.database, autocommit=False
    )

    async def rival() -> None:
        async with other.cursor() as cursor:
            for user_id in [a, *ids[2:]]:  # A first, and enough rows to outweigh the write
                await cursor.execute("UPDATE users SET city = 'r' WHERE id = %s", (user_id,))
            await holds_b.wait()
            await asyncio.sleep(0.3)  # the write now waits for A
            await cursor.execute("UPDATE users SET city = 'r' WHERE id = %s", (b,))
            await other.commit()

    try:
        rival_task = asyncio.create_task(rival())
        assert await store.writes.run(body) == "done"
        await rival_task
    finally:
        other.close()
    assert (attempts, store.writes.deadlocks) == (2, 1)
    stored = [await store.get_user(user_id) for user_id in (a, b)]
    assert [user.city if user else None for user in stored] == ["w", "w"]
    await engine.dispose()
