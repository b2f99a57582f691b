"""The delivery worker: claims due deliveries from the outbox, signs and sends them, and
records each outcome. Every server process may run one; leases make that safe.

- **At least once.** A claim leases a delivery for ``lease`` seconds (longer than a send
  may take); a worker that dies mid-send leaves it to be claimed again when the lease runs
  out, so the receiver may see an event twice, with the same ``webhook-id``.
- **In order per user per subscription.** Only the oldest pending delivery of each (user,
  subscription) is ever claimed: the next waits until it is delivered or dead.
- **Outcomes.** 2xx: delivered. 408, 425, 429, 5xx, a timeout, a connection error or a
  refused address: tried again after ``retry_base * 2**(attempt-1)`` seconds (at most
  ``retry_max``, and at least the receiver's ``Retry-After``), with jitter (50 to 100 % of
  it), until ``max_attempts`` attempts have been made: then dead. Any other status
  (a redirect, which is never followed, or a 4xx) is dead at once: the receiver refused it
  and sending it again would not change that. A dead delivery waits for
  ``wxauth webhooks replay``.
- **Outages.** While the database cannot be read or written the worker waits and tries
  again, without a restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from wxauth.core.keyring import Keyring
from wxauth.core.webhook_signing import signed_headers
from wxauth.core.webhooks import (
    DEAD,
    DELIVERED,
    PENDING,
    Delivery,
    EventGate,
    Subscription,
    WebhookStore,
)
from wxauth.errors import KeyringError

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
RETRIED_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True, slots=True)
class SendResult:
    """What one attempt came to: the receiver's status, or why there was none."""

    status: int | None
    error: str | None = None
    retry_after: float | None = None


class Sender(Protocol):
    async def send(self, url: str, headers: dict[str, str], body: bytes) -> SendResult:
        """POST ``body``; never raises for the receiver's or the network's failures."""
        ...


class DeliveryObserver(Protocol):
    """Where the worker reports what it did (Prometheus in the API)."""

    def attempted(self, result: str) -> None:
        """``delivered``, ``retry`` or ``dead``."""
        ...

    def queue(self, pending: int, oldest_age_s: float) -> None: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 12
    base_s: float = 10.0
    max_s: float = 3600.0

    def delay(self, attempts: int, retry_after: float | None, rand: float) -> float:
        """Seconds before the next attempt, after ``attempts`` attempts (``rand`` in [0, 1))."""
        exponential = min(self.max_s, self.base_s * 2.0 ** max(attempts - 1, 0))
        delay = exponential * (0.5 + rand / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_s))
        return delay


def outcome(result: SendResult, attempts: int, policy: RetryPolicy) -> str:
    """``delivered``, ``retry`` or ``dead`` for an attempt (the ``attempts``-th)."""
    status = result.status
    if status is not None and 200 <= status < 300:
        return DELIVERED
    retryable = status is None or status >= 500 or status in RETRIED_STATUSES
    if not retryable or attempts >= policy.max_attempts:
        return DEAD
    return "retry"


class DeliveryWorker:
    """One process's deliverer. :meth:`run` until cancelled; :meth:`run_once` for a round."""

    def __init__(
        self,
        store: WebhookStore,
        sender: Sender,
        keyring: Keyring,
        *,
        clock: Clock,
        policy: RetryPolicy,
        lease_s: float,
        poll_interval: float = 1.0,
        batch: int = 32,
        retention: timedelta = timedelta(days=7),
        observer: DeliveryObserver | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.store = store
        self.gate: EventGate = store.gate
        self.sender = sender
        self.keyring = keyring
        self.clock = clock
        self.policy = policy
        self.lease = timedelta(seconds=lease_s)
        self.poll_interval = poll_interval
        self.batch = batch
        self.retention = retention
        self.observer = observer
        self._rand = rand
        self.owner = f"{os.getpid()}-{secrets.token_hex(6)}"
        self._secrets: dict[str, tuple[str, str]] = {}  # id -> (ciphertext, plaintext)
        self._last_stats: float | None = None
        self._last_purge: datetime | None = None
        self._failing = False
        self._has_subscriptions = False

    def __repr__(self) -> str:
        return f"DeliveryWorker(owner={self.owner!r})"

    @property
    def paused(self) -> bool:
        """Whether the last round failed on the database (the worker keeps trying)."""
        return self._failing

    async def run(self) -> None:
        """Deliver until cancelled; a failing database only pauses it."""
        while True:
            try:
                sent = await self.run_once()
                if self._has_subscriptions:  # without any: no statistics, no purges
                    await self._housekeeping()
                if self._failing:
                    log.warning("webhooks: the database answers again; delivering")
                    self._failing = False
            except Exception as exc:  # the database is down or busy: wait, then go on
                if not self._failing:
                    log.warning("webhooks: delivery paused (%s)", type(exc).__name__)
                    self._failing = True
                sent = 0
            if sent < self.batch:
                await asyncio.sleep(self.poll_interval)

    async def run_once(self) -> int:
        """Claim what is due and send it (concurrently: at most one per user and
        subscription); return how many were attempted."""
        wanted = await self.gate.current()
        self._has_subscriptions = bool(wanted)
        if not wanted:
            return 0
        subscriptions = wanted.by_id()
        now = self.clock()
        claimed = await self.store.claim_deliveries(
            list(subscriptions),
            now,
            owner=self.owner,
            lease_until=now + self.lease,
            limit=self.batch,
        )
        await asyncio.gather(
            *(
                self._deliver(d, subscriptions[d.subscription_id])
                for d in claimed
                if d.subscription_id in subscriptions
            )
        )
        return len(claimed)

    def _secret(self, subscription: Subscription) -> str:
        cached = self._secrets.get(subscription.id)
        if cached is None or cached[0] != subscription.secret_enc:
            cached = (subscription.secret_enc, self.keyring.decrypt(subscription.secret_enc))
            self._secrets[subscription.id] = cached
        return cached[1]

    async def _deliver(self, delivery: Delivery, subscription: Subscription) -> None:
        body = delivery.payload.encode("utf-8")
        try:
            secret = self._secret(subscription)
        except KeyringError:
            result = SendResult(None, "the signing secret does not open under WXAUTH_SECRET_KEYS")
        else:
            timestamp = int(self.clock().timestamp())
            headers = {
                "content-type": "application/json",
                **signed_headers(secret, delivery.event_id, timestamp, body),
            }
            result = await self.sender.send(subscription.url, headers, body)
        await self._record(delivery, result)

    async def _record(self, delivery: Delivery, result: SendResult) -> None:
        now = self.clock()
        verdict = outcome(result, delivery.attempts, self.policy)
        state = PENDING if verdict == "retry" else verdict
        next_at = now
        if verdict == "retry":
            delay = self.policy.delay(delivery.attempts, result.retry_after, self._rand())
            next_at = now + timedelta(seconds=delay)
        if verdict != DELIVERED:
            log.info(
                "webhooks: delivery %s to %s: %s (%s)",
                delivery.id,
                delivery.subscription_id,
                verdict,
                result.error or result.status,
            )
        error = result.error or (None if result.status is None else f"HTTP {result.status}")
        await self.store.finish_delivery(
            delivery.id,
            owner=self.owner,
            state=state,
            next_attempt_at=next_at,
            status=result.status,
            error=None if verdict == DELIVERED else error,
            now=now,
        )
        if self.observer is not None:
            self.observer.attempted(verdict)

    async def _housekeeping(self) -> None:
        """Now and then: the queue's depth and age for the metrics, and delivered rows
        past the retention deleted."""
        now = self.clock()
        loop = asyncio.get_running_loop().time()
        if self.observer is not None and (
            self._last_stats is None or loop - self._last_stats >= 10
        ):
            self._last_stats = loop
            pending, oldest = await self.store.queue_stats()
            age = 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
            self.observer.queue(pending, age)
        if self._last_purge is None or now - self._last_purge >= timedelta(hours=1):
            self._last_purge = now
            await self.store.purge_deliveries(now - self.retention)
