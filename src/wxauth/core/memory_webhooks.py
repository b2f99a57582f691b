"""Webhook subscriptions and deliveries in memory, beside a
:class:`~wxauth.core.memory.MemoryStore` (which appends to :attr:`deliveries` as it writes)."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from wxauth.core.webhooks import (
    DEAD,
    DELIVERED,
    PENDING,
    Delivery,
    EventGate,
    Subscription,
    replayed,
)
from wxauth.errors import NotFound


class MemoryWebhookStore:
    def __init__(self) -> None:
        self.subscriptions: dict[str, Subscription] = {}
        self.deliveries: dict[int, Delivery] = {}
        self._ids = itertools.count(1)
        self.gate = EventGate(self.list_subscriptions, ttl=0)

    def __repr__(self) -> str:
        return f"MemoryWebhookStore(subscriptions={len(self.subscriptions)})"

    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        """The outbox rows of a change (the memory store's "transaction")."""
        for row in rows:
            delivery_id = next(self._ids)
            self.deliveries[delivery_id] = Delivery(id=delivery_id, **row)

    async def add_subscription(self, subscription: Subscription) -> None:
        self.subscriptions[subscription.id] = subscription

    async def list_subscriptions(self) -> list[Subscription]:
        return sorted(self.subscriptions.values(), key=lambda s: (s.created_at, s.id))

    async def get_subscription(self, subscription_id: str) -> Subscription | None:
        return self.subscriptions.get(subscription_id)

    async def update_subscription(
        self,
        subscription_id: str,
        now: datetime,
        *,
        enabled: bool | None = None,
        secret_enc: str | None = None,
    ) -> Subscription:
        found = self.subscriptions.get(subscription_id)
        if found is None:
            raise NotFound("No such webhook subscription.")
        changed = dataclasses.replace(
            found,
            updated_at=now,
            enabled=found.enabled if enabled is None else enabled,
            secret_enc=found.secret_enc if secret_enc is None else secret_enc,
        )
        self.subscriptions[subscription_id] = changed
        return changed

    async def remove_subscription(self, subscription_id: str) -> bool:
        for delivery_id in [
            d.id for d in self.deliveries.values() if d.subscription_id == subscription_id
        ]:
            del self.deliveries[delivery_id]
        return self.subscriptions.pop(subscription_id, None) is not None

    def _blocked(self, delivery: Delivery) -> bool:
        return any(
            d.subscription_id == delivery.subscription_id
            and d.user_id == delivery.user_id
            and d.state == PENDING
            and d.id < delivery.id
            for d in self.deliveries.values()
        )

    async def claim_deliveries(
        self,
        subscription_ids: Sequence[str],
        now: datetime,
        *,
        owner: str,
        lease_until: datetime,
        limit: int,
    ) -> list[Delivery]:
        claimed: list[Delivery] = []
        for delivery in sorted(self.deliveries.values(), key=lambda d: d.id):
            if len(claimed) >= limit:
                break
            free = delivery.lease_until is None or delivery.lease_until < now
            if (
                delivery.state == PENDING
                and delivery.next_attempt_at <= now
                and delivery.subscription_id in subscription_ids
                and free
                and not self._blocked(delivery)
            ):
                taken = dataclasses.replace(
                    delivery,
                    lease_owner=owner,
                    lease_until=lease_until,
                    attempts=delivery.attempts + 1,
                )
                self.deliveries[delivery.id] = taken
                claimed.append(taken)
        return claimed

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
        found = self.deliveries.get(delivery_id)
        if found is None or found.lease_owner != owner:
            return False
        self.deliveries[delivery_id] = dataclasses.replace(
            found,
            state=state,
            next_attempt_at=next_attempt_at,
            last_status=status,
            last_error=None if error is None else error[:200],
            delivered_at=now if state == DELIVERED else None,
            lease_owner=None,
            lease_until=None,
        )
        return True

    async def get_delivery(self, delivery_id: int) -> Delivery | None:
        return self.deliveries.get(delivery_id)

    async def list_deliveries(
        self, *, subscription_id: str | None = None, state: str | None = None, limit: int = 50
    ) -> list[Delivery]:
        chosen = (
            d
            for d in sorted(self.deliveries.values(), key=lambda d: d.id, reverse=True)
            if (subscription_id is None or d.subscription_id == subscription_id)
            and (state is None or d.state == state)
        )
        return list(itertools.islice(chosen, limit))

    async def replay_deliveries(
        self, now: datetime, *, ids: Sequence[int] = (), dead_of: str | None = None
    ) -> int:
        chosen = [
            d
            for d in self.deliveries.values()
            if d.id in ids or (d.subscription_id == dead_of and d.state == DEAD)
        ]
        for delivery in chosen:
            self.deliveries[delivery.id] = dataclasses.replace(
                replayed(delivery, now), delivered_at=None
            )
        return len(chosen)

    async def queue_stats(self) -> tuple[int, datetime | None]:
        pending = [d.created_at for d in self.deliveries.values() if d.state == PENDING]
        return len(pending), min(pending, default=None)

    async def purge_deliveries(self, before: datetime) -> int:
        gone = [
            d.id for d in self.deliveries.values() if d.state == DELIVERED and d.created_at < before
        ]
        for delivery_id in gone:
            del self.deliveries[delivery_id]
        return len(gone)
