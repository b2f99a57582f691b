"""The SQL implementation of :class:`wxauth.core.ports.Store`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Insert, Row, func, select, text, update
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wxauth.core.models import LoginRecord, Session, User
from wxauth.core.service import new_user_id
from wxauth.errors import NotFound
from wxauth.storage.tables import sessions, users, wechat_sessions

USER_COLUMNS = [c.label(f"u_{c.name}") for c in users.c]
SESSION_COLUMNS = [c.label(f"s_{c.name}") for c in sessions.c]


def _user(row: Row[Any]) -> User:
    m = row._mapping
    return User(**{c.name: m[f"u_{c.name}"] for c in users.c})


def _session(row: Row[Any]) -> Session:
    m = row._mapping
    return Session(**{c.name: m[f"s_{c.name}"] for c in sessions.c})


class SqlStore:
    """Users, sessions and session_keys in SQLite, PostgreSQL or MySQL/MariaDB."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name

    def __repr__(self) -> str:
        return f"SqlStore({self._dialect})"

    async def record_login(self, record: LoginRecord) -> tuple[User, bool]:
        now = record.session.created_at
        async with self.engine.begin() as conn:
            created = await self._insert_user(conn, record, now)
            if not created:
                await conn.execute(
                    update(users)
                    .where(users.c.appid == record.appid, users.c.openid == record.openid)
                    .values(
                        last_login_at=now,
                        unionid=func.coalesce(record.unionid, users.c.unionid),
                        **record.profile,
                        **({"updated_at": now} if record.profile else {}),
                    )
                )
            row = (
                await conn.execute(
                    select(*USER_COLUMNS).where(
                        users.c.appid == record.appid, users.c.openid == record.openid
                    )
                )
            ).one()
            user = _user(row)
            await self._save_session_key(conn, record, now)
            session_values = {c.name: getattr(record.session, c.name) for c in sessions.c}
            session_values["user_id"] = user.id
            await conn.execute(sessions.insert().values(**session_values))
        return user, created

    async def _insert_user(self, conn: AsyncConnection, record: LoginRecord, now: datetime) -> bool:
        values = {
            "id": new_user_id(),
            "appid": record.appid,
            "openid": record.openid,
            "unionid": record.unionid,
            "created_at": now,
            "updated_at": now,
            "last_login_at": now,
            **record.profile,
        }
        result = await conn.execute(self._insert_ignore(values))
        return result.rowcount == 1

    def _insert_ignore(self, values: dict[str, Any]) -> Insert:
        if self._dialect == "postgresql":
            return (
                postgresql.insert(users)
                .values(**values)
                .on_conflict_do_nothing(index_elements=["appid", "openid"])
            )
        if self._dialect == "sqlite":
            return (
                sqlite.insert(users)
                .values(**values)
                .on_conflict_do_nothing(index_elements=["appid", "openid"])
            )
        return users.insert().values(**values).prefix_with("IGNORE")

    async def _save_session_key(
        self, conn: AsyncConnection, record: LoginRecord, now: datetime
    ) -> None:
        values = {
            "appid": record.appid,
            "openid": record.openid,
            "session_key_enc": record.session_key_ciphertext,
            "updated_at": now,
        }
        changed = {"session_key_enc": record.session_key_ciphertext, "updated_at": now}
        if self._dialect in ("postgresql", "sqlite"):
            insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
            stmt: Any = (
                insert(wechat_sessions)
                .values(**values)
                .on_conflict_do_update(index_elements=["appid", "openid"], set_=changed)
            )
        else:
            stmt = mysql.insert(wechat_sessions).values(**values).on_duplicate_key_update(**changed)
        await conn.execute(stmt)

    async def find_session(self, token_hash: str) -> tuple[Session, User] | None:
        query = (
            select(*SESSION_COLUMNS, *USER_COLUMNS)
            .join_from(sessions, users, sessions.c.user_id == users.c.id)
            .where(sessions.c.token_hash == token_hash)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else (_session(row), _user(row))

    async def touch_session(
        self, token_hash: str, last_seen_at: datetime, idle_expires_at: datetime
    ) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(sessions)
                .where(sessions.c.token_hash == token_hash)
                .values(last_seen_at=last_seen_at, idle_expires_at=idle_expires_at)
            )

    async def revoke_session(self, token_hash: str, now: datetime) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(sessions)
                .where(sessions.c.token_hash == token_hash, sessions.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        return result.rowcount == 1

    async def get_user(self, user_id: str) -> User | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(*USER_COLUMNS).where(users.c.id == user_id))).first()
        return None if row is None else _user(row)

    async def update_user(self, user_id: str, changes: dict[str, Any], now: datetime) -> User:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(users).where(users.c.id == user_id).values(updated_at=now, **changes)
            )
            row = (await conn.execute(select(*USER_COLUMNS).where(users.c.id == user_id))).first()
        if row is None:
            raise NotFound("No such user.")
        return _user(row)

    async def get_session_key(self, appid: str, openid: str) -> str | None:
        query = select(wechat_sessions.c.session_key_enc).where(
            wechat_sessions.c.appid == appid, wechat_sessions.c.openid == openid
        )
        async with self.engine.connect() as conn:
            value = (await conn.execute(query)).scalar_one_or_none()
        return value

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
