"""PostgreSQL's writes: a login in one statement, a touch in one, each a round trip.

A login upserts the user (returning its row), saves the session_key, inserts the session and
the event. Here that is one statement of data-modifying CTEs: the session and the event take
the user's id from the upsert's ``RETURNING``, so nothing waits for an answer before the
next write. One statement is atomic by itself, so it runs outside an explicit transaction
(SQLAlchemy's asyncpg adapter then sends no ``BEGIN`` and no ``COMMIT``); asyncpg prepares it
once per connection and keeps it (its statement cache), so later logins send only the
values. The statement is built once per set of profile columns a login carries.

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
from wxauth.storage.boundary import translated
from wxauth.storage.login_sql import _changes
from wxauth.storage.tables import USER_COLUMNS, login_events, sessions, users, wechat_sessions
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
def login_statement(profile_columns: tuple[str, ...], with_event: bool) -> Executable:
    """One statement for a whole login that also sets ``profile_columns`` (sorted)."""
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


class PostgresWrites(TransactionWrites):
    """:class:`~wxauth.storage.writes.Writes` on PostgreSQL."""

    async def _alone(self, statement: Executable, values: dict[str, Any]) -> Any:
        """Run one statement on its own (atomic by itself): one round trip."""
        with translated():
            async with self.engine.connect() as conn:
                conn = await _autocommit(conn)
                return await conn.execute(statement, values)

    async def record_login(self, record: LoginRecord) -> tuple[User, bool]:
        statement = login_statement(tuple(sorted(record.profile)), record.event is not None)
        result = await self._alone(statement, login_values(record))
        user = user_of(result.one())
        return user, user.id == record.new_user_id

    async def touch_session(
        self, token_hash: str, last_seen_at: datetime, idle_expires_at: datetime
    ) -> None:
        values = {"b_token_hash": token_hash, "b_last_seen_at": last_seen_at}
        await self._alone(TOUCH_ONE, {**values, "b_idle": idle_expires_at})


async def _autocommit(conn: AsyncConnection) -> AsyncConnection:
    return await conn.execution_options(isolation_level="AUTOCOMMIT")
