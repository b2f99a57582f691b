"""The SQL side of webhooks (:class:`~wxauth.core.webhooks.WebhookStore`): subscriptions,
and the outbox the :class:`~wxauth.storage.sql.SqlStore` writes into within the transaction
of each change (:func:`write_outbox`).

A claim is a compare-and-set per row, in ``id`` order within one transaction (so two
workers lock rows in the same order and never deadlock): ``UPDATE ... WHERE id = ? AND
state = 'pending' AND (lease_until IS NULL OR lease_until < now)``; whichever worker's
update matches owns the lease, on every database, across processes and servers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wxauth.core.webhooks import (
    DEAD,
    DELIVERED,
    PENDING,
    Delivery,
    EventGate,
    Subscription,
)
from wxauth.errors import NotFound
from wxauth.storage.boundary import translated
from wxauth.storage.tables import webhook_deliveries, webhook_subscriptions
from wxauth.storage.writes import Writes

subs = webhook_subscriptions
outbox = webhook_deliveries
INSERT_OUTBOX = outbox.insert()


def write_outbox(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Add the outbox rows of a change, in its transaction (nothing when there are none)."""
    if rows:
        conn.execute(INSERT_OUTBOX, rows)


def _subscription(row: Any) -> Subscription:
    m = dict(row._mapping)
    m["events"] = tuple(e for e in m["events"].split(",") if e)
    m["enabled"] = bool(m["enabled"])
    return Subscription(**m)


def _delivery(row: Any) -> Delivery:
    return Delivery(**row._mapping)


def _subscription_values(subscription: Subscription) -> dict[str, Any]:
    values = {c.name: getattr(subscription, c.name) for c in subs.c}
    values["events"] = ",".join(subscription.events)
    return values


class SqlWebhookStore:
    """Webhook subscriptions and deliveries in the store's database, written through the
    store's write path (on SQLite its writer thread)."""

    def __init__(self, engine: AsyncEngine, writes: Writes, *, ttl: float = 0.5) -> None:
        self.engine = engine
        self.writes = writes
        self.gate = EventGate(self.list_subscriptions, ttl=ttl)

    def __repr__(self) -> str:
        return f"SqlWebhookStore({self.engine.dialect.name})"

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncConnection]:
        with translated():
            async with self.engine.connect() as conn:
                yield conn

    # -- subscriptions ------------------------------------------------------------------

    async def add_subscription(self, subscription: Subscription) -> None:
        values = _subscription_values(subscription)
        await self.writes.run(lambda conn: conn.execute(subs.insert(), values))
        self.gate.invalidate()

    async def list_subscriptions(self) -> list[Subscription]:
        query = select(subs).order_by(subs.c.created_at, subs.c.id)
        async with self._reading() as conn:
            rows = (await conn.execute(query)).all()
        return [_subscription(row) for row in rows]

    async def get_subscription(self, subscription_id: str) -> Subscription | None:
        async with self._reading() as conn:
            row = (await conn.execute(select(subs).where(subs.c.id == subscription_id))).first()
        return None if row is None else _subscription(row)

    async def update_subscription(
        self,
        subscription_id: str,
        now: datetime,
        *,
        enabled: bool | None = None,
        secret_enc: str | None = None,
    ) -> Subscription:
        changes: dict[str, Any] = {"updated_at": now}
        if enabled is not None:
            changes["enabled"] = enabled
        if secret_enc is not None:
            changes["secret_enc"] = secret_enc

        def body(conn: Connection) -> Subscription:
            conn.execute(update(subs).where(subs.c.id == subscription_id).values(changes))
            row = conn.execute(select(subs).where(subs.c.id == subscription_id)).first()
            if row is None:
                raise NotFound("No such webhook subscription.")
            return _subscription(row)

        try:
            return await self.writes.run(body)
        finally:
            self.gate.invalidate()

    async def remove_subscription(self, subscription_id: str) -> bool:
        def body(conn: Connection) -> bool:
            conn.execute(delete(outbox).where(outbox.c.subscription_id == subscription_id))
            return bool(conn.execute(delete(subs).where(subs.c.id == subscription_id)).rowcount)

        try:
            return await self.writes.run(body)
        finally:
            self.gate.invalidate()

    # -- deliveries ---------------------------------------------------------------------

    async def claim_deliveries(
        self,
        subscription_ids: Sequence[str],
        now: datetime,
        *,
        owner: str,
        lease_until: datetime,
        limit: int,
    ) -> list[Delivery]:
        if not subscription_ids:
            return []
        earlier = outbox.alias("earlier")
        blocked = exists().where(
            earlier.c.subscription_id == outbox.c.subscription_id,
            earlier.c.user_id == outbox.c.user_id,
            earlier.c.state == PENDING,
            earlier.c.id < outbox.c.id,
        )
        free = or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now)
        due = (
            select(outbox.c.id)
            .where(
                outbox.c.state == PENDING,
                outbox.c.next_attempt_at <= now,
                outbox.c.subscription_id.in_(list(subscription_ids)),
                free,
                ~blocked,
            )
            .order_by(outbox.c.id)
            .limit(limit)
        )
        async with self._reading() as conn:
            candidates = list((await conn.scalars(due)).all())
        if not candidates:
            return []  # nothing due: a read, no write

        def body(conn: Connection) -> list[Delivery]:
            claimed = []
            for delivery_id in sorted(candidates):
                taken = conn.execute(
                    update(outbox)
                    .where(outbox.c.id == delivery_id, outbox.c.state == PENDING, free)
                    .values(
                        lease_owner=owner, lease_until=lease_until, attempts=outbox.c.attempts + 1
                    )
                ).rowcount
                if taken == 1:
                    claimed.append(delivery_id)
            if not claimed:
                return []
            rows = conn.execute(
                select(outbox).where(outbox.c.id.in_(claimed)).order_by(outbox.c.id)
            ).all()
            return [_delivery(row) for row in rows]

        return await self.writes.run(body)

    async def finish_delivery(
        self,
        delivery_id: int,
        *,
        owner: str,
        state: str,
        next_attempt_at: datetime,
        status: int | None,
        error: str | None,
        now: datetime,
    ) -> bool:
        query = (
            update(outbox)
            .where(outbox.c.id == delivery_id, outbox.c.lease_owner == owner)
            .values(
                state=state,
                next_attempt_at=next_attempt_at,
                last_status=status,
                last_error=None if error is None else error[:200],
                delivered_at=now if state == DELIVERED else None,
                lease_owner=None,
                lease_until=None,
            )
        )
        return bool(await self.writes.run(lambda conn: conn.execute(query).rowcount))

    async def get_delivery(self, delivery_id: int) -> Delivery | None:
        async with self._reading() as conn:
            row = (await conn.execute(select(outbox).where(outbox.c.id == delivery_id))).first()
        return None if row is None else _delivery(row)

    async def list_deliveries(
        self, *, subscription_id: str | None = None, state: str | None = None, limit: int = 50
    ) -> list[Delivery]:
        query = select(outbox).order_by(outbox.c.id.desc()).limit(limit)
        if subscription_id is not None:
            query = query.where(outbox.c.subscription_id == subscription_id)
        if state is not None:
            query = query.where(outbox.c.state == state)
        async with self._reading() as conn:
            rows = (await conn.execute(query)).all()
        return [_delivery(row) for row in rows]

    async def replay_deliveries(
        self, now: datetime, *, ids: Sequence[int] = (), dead_of: str | None = None
    ) -> int:
        chosen: list[ColumnElement[bool]] = []
        if ids:
            chosen.append(outbox.c.id.in_(list(ids)))
        if dead_of is not None:
            chosen.append(and_(outbox.c.subscription_id == dead_of, outbox.c.state == DEAD))
        if not chosen:
            return 0
        query = (
            update(outbox)
            .where(or_(*chosen))
            .values(
                state=PENDING,
                attempts=0,
                next_attempt_at=now,
                lease_owner=None,
                lease_until=None,
                delivered_at=None,
            )
        )
        return int(await self.writes.run(lambda conn: conn.execute(query).rowcount))

    async def queue_stats(self) -> tuple[int, datetime | None]:
        query = select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.state == PENDING)
        async with self._reading() as conn:
            count, oldest = (await conn.execute(query)).one()
        return int(count or 0), oldest

    async def purge_deliveries(self, before: datetime) -> int:
        query = delete(outbox).where(outbox.c.state == DELIVERED, outbox.c.created_at < before)
        return int(await self.writes.run(lambda conn: conn.execute(query).rowcount))
