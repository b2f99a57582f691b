"""PostgreSQL's writes: a login in one statement, a touch in one, each a round trip.

A login upserts the user (returning its row), saves the session_key, inserts the session and
the event. Here that is one statement of data-modifying CTEs: the session and the event take
the user's id from the upsert's ``RETURNING``, so nothing waits for an answer before the
next write. A first login that brings a UnionID also links the new user to its person in
the same statement: the first user of a UnionID founds the person (its own id), a later one
joins it (see :func:`login_statement`). One statement is atomic by itself, so it runs
outside an explicit transaction (no ``BEGIN``, no ``COMMIT``). It is built and compiled
once per set of profile columns a login carries, and sent on asyncpg's own connection
(:mod:`wxauth.storage.driver`: through SQLAlchemy's ``execute`` the statement's cache key
alone, made anew on each call, cost a worker more CPU than asyncpg's work on it); asyncpg
prepares it once per connection and keeps it (its statement cache), so later logins send
only the values.

When webhook subscriptions want ``user.created``, the statement has one more CTE per
subscription: an outbox row inserted from the upsert's ``RETURNING`` only where the
returned id is the new one (the login created the user), its payload's ``person_id`` the
person the statement gave the user; so it stays one statement. A returning user's login that
carries a profile, when ``user.updated`` is wanted, runs in a transaction instead (its event
needs the stored row).

Everything else runs in a transaction as on the other databases
(:class:`~wxauth.storage.writes.TransactionWrites`).
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Executable,
    bindparam,
    exists,
    func,
    literal,
    literal_column,
    null,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wxauth.core.models import GuardedLogin, LoginRecord, User
from wxauth.core.webhooks import LoginOutbox
from wxauth.storage.boundary import translated
from wxauth.storage.compiled import Compiled
from wxauth.storage.driver import driver_connection, postgres_error_class
from wxauth.storage.login_sql import _changes
from wxauth.storage.tables import (
    USER_COLUMNS,
    WEBHOOK_OUTBOX_NAMES,
    login_events,
    persons,
    sessions,
    users,
    webhook_deliveries,
    wechat_sessions,
)
from wxauth.storage.writes import (
    TransactionWrites,
    event_values,
    may_log_in,
    read_then_login,
    user_of,
    user_values,
)

COMPILED_LOGINS = 256  # shapes of login (sets of profile columns, ...) kept compiled
SESSION_NAMES = tuple(c.name for c in sessions.c)
EVENT_NAMES = tuple(c.name for c in login_events.c if c.name not in ("id",))
TOUCH_ONE = (
    update(sessions)
    .where(sessions.c.token_hash == bindparam("b_token_hash"))
    .values(last_seen_at=bindparam("b_last_seen_at"), idle_expires_at=bindparam("b_idle"))
)


def _typed(prefix: str, column: Any) -> Any:
    return bindparam(f"{prefix}{column.name}", type_=column.type)


@functools.lru_cache(maxsize=256)
def login_statement(
    profile_columns: tuple[str, ...],
    with_event: bool,
    link_person: bool = False,
    guarded: bool = False,
    outbox_rows: int = 0,
) -> Executable:
    """One statement for a whole login that also sets ``profile_columns`` (sorted), and
    writes ``outbox_rows`` webhook outbox rows if it creates the user.

    With ``link_person`` (the login brings a UnionID), a user this login creates gets its
    person at once: when no user had this UnionID, a person row with the new user's id (the
    founder, as :meth:`~wxauth.storage.sql.SqlStore.link_person` makes it); otherwise the
    existing person, unless that one was merged into another (a chain to follow) or was
    founded by a racing login not yet committed (this statement cannot see it). In those
    rare cases, and for users that already existed, ``person_id`` comes back as it was and
    the caller links through ``link_person``.

    ``guarded``: nothing is written for an existing user who may not log in now (disabled,
    or their deletion due: :func:`~wxauth.core.models.blocks_login`, here in SQL), and the
    user's row as it was before the login comes back beside the written one (``p_``
    columns), from the statement's snapshot: one round trip where a read and a write were
    two."""
    fixed = ("id", "appid", "openid", "unionid", "created_at", "updated_at", "last_login_at")
    user_names = (*fixed, *profile_columns)
    values: dict[str, Any] = {n: _typed("u_", users.c[n]) for n in user_names}
    ctes: list[Any] = []
    if link_person:
        founded = _found_person().cte("login_person")
        joined = select(persons.c.id).where(
            persons.c.unionid == _typed("u_", users.c.unionid), persons.c.merged_into.is_(None)
        )
        values["person_id"] = func.coalesce(
            select(founded.c.id).scalar_subquery(), joined.scalar_subquery()
        )
        ctes.append(founded)
    upsert = postgresql.insert(users).values(values)
    upsert = upsert.on_conflict_do_update(
        index_elements=["appid", "openid"],
        set_=_changes(upsert.excluded, profile_columns),
        where=may_log_in(_typed("u_", users.c.created_at)) if guarded else None,
    )
    user = upsert.returning(*USER_COLUMNS).cte("login_user")
    key_values = select(
        user.c.u_appid,
        user.c.u_openid,
        _typed("k_", wechat_sessions.c.session_key_enc),
        _typed("u_", users.c.created_at),
    )
    key = postgresql.insert(wechat_sessions).from_select(
        ["appid", "openid", "session_key_enc", "updated_at"], key_values
    )
    key = key.on_conflict_do_update(
        index_elements=["appid", "openid"],
        set_={
            "session_key_enc": key.excluded.session_key_enc,
            "updated_at": key.excluded.updated_at,
        },
    )
    session = sessions.insert().from_select(
        list(SESSION_NAMES),
        select(
            *(
                user.c.u_id if name == "user_id" else _typed("s_", sessions.c[name])
                for name in SESSION_NAMES
            )
        ),
    )
    ctes += [key.cte("login_key"), session.cte("login_session")]
    if with_event:
        event = login_events.insert().from_select(
            list(EVENT_NAMES),
            select(
                *(
                    user.c.u_id if name == "user_id" else _typed("e_", login_events.c[name])
                    for name in EVENT_NAMES
                )
            ),
        )
        ctes.append(event.cte("login_event"))
    created = user.c.u_id == _typed("u_", users.c.id)
    for i in range(outbox_rows):
        row = webhook_deliveries.insert().from_select(
            list(WEBHOOK_OUTBOX_NAMES),
            select(
                *(
                    _person_in(_typed(f"w{i}_", webhook_deliveries.c[n]), user)
                    if n == "payload"
                    else _typed(f"w{i}_", webhook_deliveries.c[n])
                    for n in WEBHOOK_OUTBOX_NAMES
                )
            )
            .select_from(user)
            .where(created),
        )
        ctes.append(row.cte(f"login_outbox_{i}"))
    if not guarded:
        return select(user).add_cte(*ctes)
    before = select(*PREVIOUS_COLUMNS).where(
        users.c.appid == _typed("u_", users.c.appid),
        users.c.openid == _typed("u_", users.c.openid),
    )
    previous = before.cte("login_previous")
    both = previous.join(user, true(), full=True)
    return select(previous, user).select_from(both).add_cte(*ctes)


PREVIOUS_COLUMNS = [c.label(f"p_{c.name}") for c in users.c]


def _person_in(payload: Any, user: Any) -> Any:
    """The payload, written before the person was known (as the new user's own id), with the
    person the statement gave the user. Ids are hexadecimal: nothing to escape in JSON."""
    own = literal('"person_id":"') + user.c.u_id + literal('"')
    person = func.coalesce(user.c.u_person_id, user.c.u_id)
    return func.replace(payload, own, literal('"person_id":"') + person + literal('"'))


def _found_person() -> Any:
    """The person a first login of a UnionID founds: inserted only while no user of this
    (appid, openid) exists and no person holds the UnionID (a racing founder's row makes it
    do nothing, after waiting for that one to commit)."""
    no_user_yet = ~exists(
        select(literal_column("1")).where(
            users.c.appid == _typed("u_", users.c.appid),
            users.c.openid == _typed("u_", users.c.openid),
        )
    )
    row = select(
        _typed("u_", users.c.id),
        _typed("u_", users.c.unionid),
        null(),
        _typed("u_", users.c.created_at),
    ).where(no_user_yet)
    insert = postgresql.insert(persons).from_select(
        ["id", "unionid", "merged_into", "created_at"], row
    )
    return insert.on_conflict_do_nothing(index_elements=["unionid"]).returning(persons.c.id)


def login_values(record: LoginRecord) -> dict[str, Any]:
    values = {f"u_{name}": value for name, value in user_values(record).items()}
    values["k_session_key_enc"] = record.session_key_ciphertext
    for name in SESSION_NAMES:
        if name != "user_id":
            values[f"s_{name}"] = getattr(record.session, name)
    if record.event is not None:
        for name, value in event_values(record.event, user_id=None).items():
            if name != "user_id":
                values[f"e_{name}"] = value
    return values


LoginShape = tuple[tuple[str, ...], bool, bool, bool, int]
"""What a login's statement depends on: :func:`login_statement`'s arguments."""


def _login(
    record: LoginRecord, outbox: LoginOutbox | None, *, guarded: bool
) -> tuple[LoginShape, dict[str, Any]]:
    """A login's statement (its shape) and values, with a creation's outbox rows if wanted."""
    values = login_values(record)
    rows = [] if outbox is None else created_rows(record, outbox)
    for i, row in enumerate(rows):
        values.update({f"w{i}_{name}": row[name] for name in WEBHOOK_OUTBOX_NAMES})
    shape = (
        tuple(sorted(record.profile)),
        record.event is not None,
        record.unionid is not None,
        guarded,
        len(rows),
    )
    return shape, values


def created_rows(record: LoginRecord, outbox: LoginOutbox) -> list[dict[str, Any]]:
    """The outbox rows of the login should it create the user (all known beforehand but the
    person, which the statement puts in)."""
    new = User(
        id=record.new_user_id, appid=record.appid, openid=record.openid, unionid=record.unionid
    )
    return outbox.rows(new, True, record.profile, record.session.created_at)


class PostgresWrites(TransactionWrites):
    """:class:`~wxauth.storage.writes.Writes` on PostgreSQL."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self.guarded_login = self._guarded_login
        self._compiled: dict[LoginShape, Compiled] = {}

    async def _alone(self, statement: Executable, values: dict[str, Any]) -> Any:
        """Run one statement on its own (atomic by itself): one round trip."""
        with translated():
            async with self.engine.connect() as conn:
                conn = await _autocommit(conn)
                return await conn.execute(statement, values)

    async def _login_row(self, shape: LoginShape, values: dict[str, Any]) -> Any:
        """A login's statement, on its own on asyncpg's connection: its one row."""
        compiled = self._compiled.get(shape)
        if compiled is None:
            if len(self._compiled) >= COMPILED_LOGINS:
                self._compiled.clear()
            statement = login_statement(*shape)
            compiled = self._compiled[shape] = Compiled.of(statement, self.engine.dialect, ())
        params = compiled.params(values)
        with translated():
            async with driver_connection(self.engine, (Exception,), postgres_error_class) as d:
                return await d.fetchrow(compiled.sql, *params)

    async def record_login(
        self, record: LoginRecord, outbox: LoginOutbox | None = None
    ) -> tuple[User, bool]:
        if outbox is not None and outbox.updated:
            return await super().record_login(record, outbox)
        shape, values = _login(record, outbox, guarded=False)
        user = user_of(await self._login_row(shape, values))
        return user, user.id == record.new_user_id

    async def _guarded_login(
        self, record: LoginRecord, outbox: LoginOutbox | None = None
    ) -> GuardedLogin:
        if outbox is not None and outbox.updated:  # its event needs the stored row
            statements = self.statements
            return await self.run(lambda conn: read_then_login(conn, statements, record, outbox))
        shape, values = _login(record, outbox, guarded=True)
        row = await self._login_row(shape, values)
        previous = None if row["p_id"] is None else _user_from(row, "p_")
        if row["u_id"] is None:
            return GuardedLogin(previous, None, created=False)
        user = user_of(row)
        return GuardedLogin(previous, user, created=user.id == record.new_user_id)

    async def touch_session(
        self, token_hash: str, last_seen_at: datetime, idle_expires_at: datetime
    ) -> None:
        values = {"b_token_hash": token_hash, "b_last_seen_at": last_seen_at}
        await self._alone(TOUCH_ONE, {**values, "b_idle": idle_expires_at})


async def _autocommit(conn: AsyncConnection) -> AsyncConnection:
    return await conn.execution_options(isolation_level="AUTOCOMMIT")


def _user_from(row: Any, prefix: str) -> User:
    return User(**{c.name: row[f"{prefix}{c.name}"] for c in users.c})
