"""The SQL implementation of :class:`wxauth.core.operators.OperatorStore`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wxauth.core.operators import Operator, OperatorEvent, OperatorSession
from wxauth.storage.boundary import translated
from wxauth.storage.tables import operator_events, operator_sessions, operators


class SqlOperatorStore:
    """Operators in the same database as the users (tables of migration 0006)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def __repr__(self) -> str:
        return f"SqlOperatorStore({self.engine.dialect.name})"

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncConnection]:
        with translated():
            async with self.engine.connect() as conn:
                yield conn

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        with translated():
            async with self.engine.begin() as conn:
                yield conn

    async def add_operator(self, operator: Operator) -> None:
        values = {c.name: getattr(operator, c.name) for c in operators.c}
        async with self._writing() as conn:
            await conn.execute(delete(operators).where(operators.c.name == operator.name))
            await conn.execute(insert(operators), values)

    async def get_operator(self, name: str) -> Operator | None:
        async with self._reading() as conn:
            row = (await conn.execute(select(operators).where(operators.c.name == name))).first()
        return None if row is None else Operator(**row._mapping)

    async def remove_operator(self, name: str) -> bool:
        async with self._writing() as conn:
            await conn.execute(
                delete(operator_sessions).where(operator_sessions.c.operator == name)
            )
            gone = await conn.execute(delete(operators).where(operators.c.name == name))
        return bool(gone.rowcount)

    async def list_operators(self) -> list[Operator]:
        async with self._reading() as conn:
            rows = (await conn.execute(select(operators).order_by(operators.c.name))).all()
        return [Operator(**row._mapping) for row in rows]

    async def add_operator_session(self, session: OperatorSession) -> None:
        values = {c.name: getattr(session, c.name) for c in operator_sessions.c}
        async with self._writing() as conn:
            await conn.execute(insert(operator_sessions), values)

    async def find_operator_session(self, token_hash: str) -> OperatorSession | None:
        query = select(operator_sessions).where(operator_sessions.c.token_hash == token_hash)
        async with self._reading() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else OperatorSession(**row._mapping)

    async def touch_operator_session(self, token_hash: str, last_seen_at: datetime) -> None:
        query = (
            update(operator_sessions)
            .where(operator_sessions.c.token_hash == token_hash)
            .values(last_seen_at=last_seen_at)
        )
        async with self._writing() as conn:
            await conn.execute(query)

    async def delete_operator_session(self, token_hash: str) -> None:
        query = delete(operator_sessions).where(operator_sessions.c.token_hash == token_hash)
        async with self._writing() as conn:
            await conn.execute(query)

    async def delete_operator_sessions(self, operator: str) -> int:
        query = delete(operator_sessions).where(operator_sessions.c.operator == operator)
        async with self._writing() as conn:
            return (await conn.execute(query)).rowcount

    async def add_operator_event(self, event: OperatorEvent) -> None:
        values = {c.name: getattr(event, c.name) for c in operator_events.c if c.name != "id"}
        async with self._writing() as conn:
            await conn.execute(insert(operator_events), values)

    async def list_operator_events(
        self,
        *,
        limit: int,
        operator: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[OperatorEvent]:
        query = select(operator_events).order_by(operator_events.c.id.desc()).limit(limit)
        if operator is not None:
            query = query.where(operator_events.c.operator == operator)
        if since is not None:
            query = query.where(operator_events.c.at >= since)
        if until is not None:
            query = query.where(operator_events.c.at < until)
        async with self._reading() as conn:
            rows = (await conn.execute(query)).all()
        return [OperatorEvent(**row._mapping) for row in rows]
