"""PostgreSQL's writes: a login in one statement, a touch in one, each a round trip.

A login upserts the user (returning its row), saves the session_key, inserts the session and
the event. Here that is one statement of data-modifying CTEs: the session and the event take
the user's id from the upsert's ``RETURNING``, so nothing waits for an answer before the
next write. One statement is atomic by itself, so it runs outside an explicit transaction
(SQLAlchemy's asyncpg adapter then sends no ``BEGIN`` and no ``COMMIT``); asyncpg prepares it
once per connection and keeps it (its statement cache), so later logins send only the
values. The statement is built once per set of profile columns a login carries.

When webhook subscriptions want ``user.created``, the statement has one more CTE per
subscription: an outbox row inserted from the upsert's ``RETURNING`` only where the
returned id is the new one (the login created the user), so it stays one statement. A
returning user's login that carries a profile, when ``user.updated`` is wanted, runs in a
transaction instead (its event needs the stored row).

Everything else runs in a transaction as on the other databases
(:class:`~wxauth.storage.writes.TransactionWrites`).
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import Executable, bindparam, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from wxauth.core.models import LoginRecord, User
from wxauth.core.webhooks import LoginOutbox
from wxauth.storage.boundary import translated
from wxauth.storage.login_sql import _changes
from wxauth.storage.tables import (
    USER_COLUMNS,
    WEBHOOK_OUTBOX_NAMES,
    login_events,
    sessions,
    users,
    webhook_deliveries,
    wechat_sessions,
)
from wxauth.storage.writes import TransactionWrites, event_values, user_of, user_values

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
    profile_columns: tuple[str, ...], with_event: bool, outbox_rows: int = 0
) -> Executable:
    """One statement for a whole login that also sets ``profile_columns`` (sorted), and
    writes ``outbox_rows`` webhook outbox rows if it creates the user."""
    fixed = ("id", "appid", "openid", "unionid", "created_at", "updated_at", "last_login_at")
    user_names = (*fixed, *profile_columns)
    upsert = postgresql.insert(users).values({n: _typed("u_", users.c[n]) for n in user_names})
    upsert = upsert.on_conflict_do_update(
        index_elements=["appid", "openid"], set_=_changes(upsert.excluded, profile_columns)
    )
    user = upsert.returning(*USER_COLUMNS).cte("login_user")
    key = postgresql.insert(wechat_sessions).values(
        appid=_typed("u_", users.c.appid),
        openid=_typed("u_", users.c.openid),
        session_key_enc=_typed("k_", wechat_sessions.c.session_key_enc),
        updated_at=_typed("u_", users.c.created_at),
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
    ctes = [key.cte("login_key"), session.cte("login_session")]
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
            select(*(_typed(f"w{i}_", webhook_deliveries.c[n]) for n in WEBHOOK_OUTBOX_NAMES))
            .select_from(user)
            .where(created),
        )
        ctes.append(row.cte(f"login_outbox_{i}"))
    return select(user).add_cte(*ctes)


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


def created_rows(record: LoginRecord, outbox: LoginOutbox) -> list[dict[str, Any]]:
    """The outbox rows of the login should it create the user (all known beforehand)."""
    new = User(
        id=record.new_user_id, appid=record.appid, openid=record.openid, unionid=record.unionid
    )
    return outbox.rows(new, True, record.profile, record.session.created_at)


class PostgresWrites(TransactionWrites):
    """:class:`~wxauth.storage.writes.Writes` on PostgreSQL."""

    async def _alone(self, statement: Executable, values: dict[str, Any]) -> Any:
        """Run one statement on its own (atomic by itself): one round trip."""
        with translated():
            async with self.engine.connect() as conn:
                conn = await _autocommit(conn)
                return await conn.execute(statement, values)

    async def record_login(
        self, record: LoginRecord, outbox: LoginOutbox | None = None
    ) -> tuple[User, bool]:
        if outbox is not None and outbox.updated:
            return await super().record_login(record, outbox)
        values = login_values(record)
        rows = [] if outbox is None else created_rows(record, outbox)
        for i, row in enumerate(rows):
            values.update({f"w{i}_{name}": row[name] for name in WEBHOOK_OUTBOX_NAMES})
        profile = tuple(sorted(record.profile))
        statement = login_statement(profile, record.event is not None, len(rows))
        result = await self._alone(statement, values)
        user = user_of(result.one())
        return user, user.id == record.new_user_id

    async def touch_session(
        self, token_hash: str, last_seen_at: datetime, idle_expires_at: datetime
    ) -> None:
        values = {"b_token_hash": token_hash, "b_last_seen_at": last_seen_at}
        await self._alone(TOUCH_ONE, {**values, "b_idle": idle_expires_at})


async def _autocommit(conn: AsyncConnection) -> AsyncConnection:
    return await conn.execution_options(isolation_level="AUTOCOMMIT")
