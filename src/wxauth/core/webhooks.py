"""Webhooks: who is told of what (subscriptions), what they are told (events) and the
outbox of deliveries the stores write in the transaction of each change.

A store writes outbox rows only for the event types some enabled subscription wants, read
from a :class:`Wanted` snapshot that :class:`EventGate` keeps (reloaded at most every
``ttl`` seconds, as :class:`~wxauth.core.apps.AppRegistry` reloads the apps): a deployment
without subscriptions writes none and its logins run the statements they always ran.

Payloads carry ids and the changed fields, never a session_key, token or secret; a phone
number only masked (``+86138****5678``): a receiver that needs the number asks for it with
its own credentials, so a leaked webhook log holds no phone book.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from wxauth.core.models import User
from wxauth.core.refresh import BackgroundReload

log = logging.getLogger(__name__)

USER_CREATED = "user.created"
USER_UPDATED = "user.updated"
USER_PHONE_BOUND = "user.phone_bound"
USER_DISABLED = "user.disabled"
USER_ENABLED = "user.enabled"
USER_DELETED = "user.deleted"
SESSION_REVOKED = "session.revoked"
EVENT_TYPES = (
    USER_CREATED,
    USER_UPDATED,
    USER_PHONE_BOUND,
    USER_DISABLED,
    USER_ENABLED,
    USER_DELETED,
    SESSION_REVOKED,
)

PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"
STATES = (PENDING, DELIVERED, DEAD)

# The user fields a ``user.updated`` reports (what update_user is given, by these names).
REPORTED_FIELDS = frozenset(
    {
        "nickname",
        "avatar_url",
        "gender",
        "country",
        "province",
        "city",
        "language",
        "deletion_due_at",
        "person_id",  # linked by UnionID, or merged by an operator
    }
)

Monotonic = Callable[[], float]


def new_subscription_id() -> str:
    return "wh_" + uuid.uuid4().hex[:20]


def new_event_id() -> str:
    """Unique per event (the ``webhook-id`` header): a receiver drops repeats by it."""
    return "evt_" + uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Subscription:
    """An endpoint told of ``events`` (of every app, or of ``appid``)."""

    id: str
    url: str
    events: tuple[str, ...]
    secret_enc: str = field(repr=False)
    created_at: datetime
    updated_at: datetime
    appid: str | None = None
    enabled: bool = True

    def wants(self, event_type: str, appid: str | None) -> bool:
        return (
            self.enabled
            and event_type in self.events
            and (self.appid is None or self.appid == appid)
        )


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event on its way to one subscription."""

    id: int
    subscription_id: str
    event_id: str
    event_type: str
    appid: str | None
    user_id: str
    occurred_at: datetime
    payload: str = field(repr=False)
    state: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    last_status: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None
    lease_owner: str | None = field(default=None, repr=False)
    lease_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened to a user, as its subscribers are told it."""

    type: str
    appid: str | None
    user_id: str
    occurred_at: datetime
    data: Mapping[str, Any]
    id: str = field(default_factory=new_event_id)

    def payload(self) -> str:
        """The JSON body every subscriber receives (and whose bytes are signed)."""
        body = {
            "id": self.id,
            "type": self.type,
            "occurred_at": iso(self.occurred_at),
            "appid": self.appid,
            "data": dict(self.data),
        }
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=_json)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _json(value: object) -> object:
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def mask_phone(phone: str | None) -> str | None:
    """``+8613812345678`` → ``+86138****5678``: the country code, the first three and the
    last four digits of the national number."""
    if not phone:
        return None
    if len(phone) <= 9:
        return "*" * len(phone)
    return phone[:6] + "*" * (len(phone) - 10) + phone[-4:]


def _who(user: User) -> dict[str, Any]:
    return {"user_id": user.id, "person_id": user.person, "unionid": user.unionid}


def user_created(
    user_id: str,
    appid: str,
    unionid: str | None,
    profile: Mapping[str, Any],
    at: datetime,
    person_id: str | None = None,
) -> Event:
    """A login created the user (their person the user themself, unless the login linked
    them to the person of their UnionID)."""
    person = person_id or user_id
    data: dict[str, Any] = {"user_id": user_id, "person_id": person, "unionid": unionid}
    data["profile"] = {k: v for k, v in profile.items() if k in REPORTED_FIELDS}
    return Event(USER_CREATED, appid, user_id, at, data)


def user_updated(user: User, changes: Mapping[str, Any], at: datetime) -> Event | None:
    """The reported fields among ``changes`` with their new values; None when none is."""
    reported = {k: v for k, v in changes.items() if k in REPORTED_FIELDS}
    if not reported:
        return None
    return Event(USER_UPDATED, user.appid, user.id, at, {**_who(user), "changes": reported})


def phone_bound(user: User, at: datetime) -> Event:
    data = {
        **_who(user),
        "phone_masked": mask_phone(user.phone),
        "country_code": user.phone_country_code,
    }
    return Event(USER_PHONE_BOUND, user.appid, user.id, at, data)


def user_disabled(user: User, at: datetime) -> Event:
    data = {**_who(user), "reason": user.disabled_reason, "ends_at": user.disabled_ends_at}
    return Event(USER_DISABLED, user.appid, user.id, at, data)


def user_enabled(user: User, at: datetime) -> Event:
    return Event(USER_ENABLED, user.appid, user.id, at, _who(user))


def user_deleted(user: User, at: datetime) -> Event:
    return Event(USER_DELETED, user.appid, user.id, at, _who(user))


def sessions_revoked(
    user_id: str, appid: str | None, session_ids: Sequence[str], reason: str, at: datetime
) -> Event:
    """The sessions (by the public id a user sees them by, never a token) one change ended."""
    data = {"user_id": user_id, "session_ids": list(session_ids), "reason": reason}
    return Event(SESSION_REVOKED, appid, user_id, at, data)


@dataclass(frozen=True, slots=True)
class Wanted:
    """The enabled subscriptions, as a store consults them while it writes."""

    subscriptions: tuple[Subscription, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.subscriptions)

    def wants(self, event_type: str, appid: str | None) -> bool:
        return any(s.wants(event_type, appid) for s in self.subscriptions)

    def rows(self, events: Iterable[Event | None]) -> list[dict[str, Any]]:
        """The outbox rows of ``events``: one per event and subscription that wants it."""
        rows = []
        for event in events:
            if event is None:
                continue
            payload: str | None = None
            for sub in self.subscriptions:
                if sub.wants(event.type, event.appid):
                    payload = payload or event.payload()
                    rows.append(outbox_row(sub.id, event, payload))
        return rows

    def by_id(self) -> dict[str, Subscription]:
        return {s.id: s for s in self.subscriptions}


NOTHING_WANTED = Wanted()


def outbox_row(subscription_id: str, event: Event, payload: str) -> dict[str, Any]:
    return {
        "subscription_id": subscription_id,
        "event_id": event.id,
        "event_type": event.type,
        "appid": event.appid,
        "user_id": event.user_id,
        "occurred_at": event.occurred_at,
        "payload": payload,
        "state": PENDING,
        "attempts": 0,
        "next_attempt_at": event.occurred_at,
        "created_at": event.occurred_at,
    }


@dataclass(frozen=True, slots=True)
class LoginOutbox:
    """What a login may report, decided before it is written: ``user.created`` if it
    creates the user, ``user.updated`` with the profile it carries if not."""

    wanted: Wanted
    created: bool
    updated: bool

    @classmethod
    def of(cls, wanted: Wanted, appid: str, profile: Mapping[str, Any]) -> LoginOutbox | None:
        """None when the login reports nothing (no subscription wants it)."""
        if not wanted:
            return None
        created = wanted.wants(USER_CREATED, appid)
        updated = bool(profile) and wanted.wants(USER_UPDATED, appid)
        return cls(wanted, created, updated) if created or updated else None

    def rows(
        self, user: User, was_created: bool, profile: Mapping[str, Any], at: datetime
    ) -> list[dict[str, Any]]:
        if was_created and self.created:
            event: Event | None = user_created(
                user.id, user.appid, user.unionid, profile, at, user.person
            )
        elif not was_created and self.updated:
            event = user_updated(user, profile, at)
        else:
            return []
        return self.wanted.rows([event])


class EventGate:
    """The :class:`Wanted` snapshot of a store, reloaded at most every ``ttl`` seconds
    (every time with ``ttl=0``). Until the first load succeeds a failure is raised (a
    write must not go unreported because the subscriptions could not be read); afterwards
    the last snapshot stays in use while the store cannot be read."""

    def __init__(
        self,
        load: Callable[[], Awaitable[Sequence[Subscription]]],
        *,
        ttl: float = 0.5,
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        self._load = load
        self.ttl = ttl
        self._now = monotonic
        self._wanted = NOTHING_WANTED
        self._loaded_at: float | None = None
        self._loading: asyncio.Lock | None = None
        self._refresh = BackgroundReload(self._reload, name="wxauth-webhook-subscriptions")

    def __repr__(self) -> str:
        return f"EventGate(subscriptions={len(self._wanted.subscriptions)}, ttl={self.ttl})"

    def _fresh(self) -> bool:
        return self._loaded_at is not None and self._now() - self._loaded_at < self.ttl

    async def current(self) -> Wanted:
        if self._fresh():
            return self._wanted
        if self._loaded_at is None:  # nothing to fall back on: wait for it
            await self._reload()
        else:  # a stale snapshot answers if the reload is slow (wxauth.core.refresh)
            await self._refresh.start()
        return self._wanted

    async def _reload(self) -> None:
        if self._loading is None:
            self._loading = asyncio.Lock()
        async with self._loading:
            if self._fresh():
                return
            try:
                found = await self._load()
            except Exception as exc:
                if self._loaded_at is None:
                    raise
                log.warning("webhooks: could not reload the subscriptions (%s)", type(exc).__name__)
                self._loaded_at = self._now()
                return
            self._wanted = Wanted(tuple(s for s in found if s.enabled))
            self._loaded_at = self._now()

    async def settled(self) -> None:
        """Wait for a background reload in flight, if there is one."""
        await self._refresh.settled()

    async def aclose(self) -> None:
        await self._refresh.aclose()

    def invalidate(self) -> None:
        """Read the subscriptions again on next use (this process changed them)."""
        self._loaded_at = None


class WebhookStore(Protocol):
    """Subscriptions and the outbox of deliveries, beside the users they report on.

    ``gate`` is what the store's own writes consult; every change of a subscription made
    here invalidates it.
    """

    @property
    def gate(self) -> EventGate: ...

    async def add_subscription(self, subscription: Subscription) -> None: ...

    async def list_subscriptions(self) -> list[Subscription]:
        """Every subscription (disabled ones too), oldest first."""
        ...

    async def get_subscription(self, subscription_id: str) -> Subscription | None: ...

    async def update_subscription(
        self,
        subscription_id: str,
        now: datetime,
        *,
        enabled: bool | None = None,
        secret_enc: str | None = None,
    ) -> Subscription:
        """Change what is given; :class:`~wxauth.errors.NotFound` for no such id."""
        ...

    async def remove_subscription(self, subscription_id: str) -> bool:
        """Delete it and its deliveries; False when there was none."""
        ...

    async def claim_deliveries(
        self,
        subscription_ids: Sequence[str],
        now: datetime,
        *,
        owner: str,
        lease_until: datetime,
        limit: int,
    ) -> list[Delivery]:
        """Lease up to ``limit`` deliveries due at ``now``, each the oldest pending one of
        its (subscription, user), not leased by anyone else (or whose lease has run out),
        oldest first; each claim counts as an attempt. Safe across processes: a lease is
        taken by compare-and-set."""
        ...

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
        """Record an attempt's outcome and release the lease, if ``owner`` still holds it."""
        ...

    async def get_delivery(self, delivery_id: int) -> Delivery | None: ...

    async def list_deliveries(
        self, *, subscription_id: str | None = None, state: str | None = None, limit: int = 50
    ) -> list[Delivery]:
        """The newest ``limit`` deliveries matching the filters, newest first."""
        ...

    async def replay_deliveries(
        self, now: datetime, *, ids: Sequence[int] = (), dead_of: str | None = None
    ) -> int:
        """Queue again (pending, no attempts, due now) the deliveries ``ids`` and/or every
        dead delivery of subscription ``dead_of``; return how many."""
        ...

    async def queue_stats(self) -> tuple[int, datetime | None]:
        """How many deliveries are pending, and when the oldest of them was written."""
        ...

    async def purge_deliveries(self, before: datetime) -> int:
        """Delete delivered deliveries written before ``before``; return how many went."""
        ...


def replayed(delivery: Delivery, now: datetime) -> Delivery:
    return dataclasses.replace(
        delivery,
        state=PENDING,
        attempts=0,
        next_attempt_at=now,
        lease_owner=None,
        lease_until=None,
    )
