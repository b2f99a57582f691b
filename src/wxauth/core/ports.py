"""What the core needs from the outside, as Protocols."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from wxauth.core.insights import AppCounts, Count, EventQuery, LatencyCount, LoginCount
from wxauth.core.models import (
    ENDED_REVOKED,
    AccountEvent,
    App,
    GuardedLogin,
    LoginEvent,
    LoginRecord,
    Session,
    SigningKey,
    User,
    blocks_login,
)
from wxauth.core.webhooks import WebhookStore

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The wall clock, aware and in UTC: every :data:`Clock`'s default."""
    return datetime.now(UTC)


class WeChatSessionLike(Protocol):
    @property
    def openid(self) -> str: ...
    @property
    def session_key(self) -> str: ...
    @property
    def unionid(self) -> str | None: ...


class WeChatGateway(Protocol):
    async def code2session(self, appid: str, secret: str, code: str) -> WeChatSessionLike: ...


class PlatformLogin(Protocol):
    """A third-party platform logging in users of the apps authorized to it."""

    async def code2session(self, app: App, code: str) -> WeChatSessionLike: ...


class Store(Protocol):
    """Persistence for users, sessions and session_keys.

    ``record_login`` is atomic: the user row (created once per (appid, openid), even when
    first logins race), the encrypted session_key, the new session and the record's audit
    event land together or not at all.

    A change that some enabled webhook subscription of :attr:`webhooks` wants to hear of
    (:data:`wxauth.core.webhooks.EVENT_TYPES`) writes its outbox rows in its own
    transaction: ``user.created`` (``record_login``), ``user.updated`` (``update_user``, and
    a returning user's login that carries a profile), ``user.phone_bound`` (``set_phone``),
    ``user.disabled`` / ``user.enabled``, ``user.deleted`` and ``session.revoked`` (every
    method that ends sessions, one event per user).
    """

    @property
    def webhooks(self) -> WebhookStore:
        """The webhook subscriptions and the outbox, in the same database."""
        ...

    async def record_login(self, record: LoginRecord) -> tuple[User, bool]:
        """Upsert the user, store the session_key, create the session; return (user, created)."""
        ...

    async def record_login_unless_blocked(self, record: LoginRecord) -> GuardedLogin:
        """:meth:`record_login`, unless the user exists and may not log in at the session's
        ``created_at`` (:func:`~wxauth.core.models.blocks_login`): then nothing is written.
        Either way, the user as they were before comes back (a store may do all of it in
        one round trip; :func:`login_unless_blocked` reads first)."""
        ...

    async def find_session(self, token_hash: str) -> tuple[Session, User] | None: ...

    async def touch_session(
        self, token_hash: str, last_seen_at: datetime, idle_expires_at: datetime
    ) -> None: ...

    async def revoke_session(
        self, token_hash: str, now: datetime, *, reason: str = ENDED_REVOKED
    ) -> bool:
        """End a live session, recording why; False when it was not live (or not there)."""
        ...

    async def get_user(self, user_id: str) -> User | None: ...

    async def update_user(self, user_id: str, changes: dict[str, Any], now: datetime) -> User: ...

    async def get_session_key(self, appid: str, openid: str) -> str | None:
        """The encrypted session_key stored for (appid, openid)."""
        ...

    async def ping(self) -> None: ...

    # -- audit and operator tools ---------------------------------------------------------

    async def add_login_event(self, event: LoginEvent) -> None: ...

    async def list_login_events(
        self, *, limit: int, user_id: str | None = None
    ) -> list[LoginEvent]:
        """The newest ``limit`` events (of one user if given), newest first."""
        ...

    async def purge_login_events(self, before: datetime) -> int:
        """Delete events older than ``before``; return how many went."""
        ...

    async def avatar_urls(self, containing: str) -> set[str]:
        """The distinct ``avatar_url`` values that contain ``containing`` (pruning avatars)."""
        ...

    async def list_users(
        self, *, appid: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[User]:
        """Users by creation time, oldest first."""
        ...

    async def list_sessions(self, user_id: str) -> list[Session]:
        """All of a user's sessions (expired and revoked ones too), newest first."""
        ...

    async def revoke_user_sessions(
        self,
        user_id: str,
        now: datetime,
        *,
        reason: str = ENDED_REVOKED,
        keep: str | None = None,
    ) -> int:
        """Revoke every live session of a user (but the one whose hash is ``keep``), recording
        why; return how many."""
        ...

    # -- accounts -------------------------------------------------------------------------

    async def find_user(self, appid: str, openid: str) -> User | None: ...

    async def cap_sessions(
        self, user_id: str, appid: str, *, keep: str, cap: int, now: datetime
    ) -> list[str]:
        """End the user's live sessions of ``appid`` beyond the ``cap`` most recently used,
        never the one whose hash is ``keep`` (reason ``session_replaced``); return the hashes
        of those ended."""
        ...

    async def disable_user(
        self, user_id: str, *, reason: str, ends_at: datetime | None, now: datetime
    ) -> User:
        """Mark the user disabled and end their live sessions (reason ``account_disabled``),
        in one transaction. :class:`~wxauth.errors.NotFound` for no such user."""
        ...

    async def enable_user(self, user_id: str, now: datetime) -> User:
        """Mark the user active again (their ended sessions stay ended)."""
        ...

    async def due_deletions(self, now: datetime, *, limit: int = 100) -> list[str]:
        """Ids of users whose requested deletion is due (``deletion_due_at`` <= ``now``)."""
        ...

    async def add_account_event(self, event: AccountEvent) -> None: ...

    async def list_account_events(
        self, *, limit: int, user_id: str | None = None
    ) -> list[AccountEvent]:
        """The newest ``limit`` account events (of one user if given), newest first."""
        ...

    async def delete_user(self, user_id: str) -> bool:
        """Remove the user, their sessions, their session_key and their login events, in one
        transaction (a data-subject deletion request), and drop the addresses from their
        account events (which stay, pseudonymous). False when there is no such user."""
        ...

    async def set_phone(self, user_id: str, phone: str, country_code: str, now: datetime) -> User:
        """Store the user's verified phone number (E.164) and its country code."""
        ...

    async def delete_expired_sessions(self, before: datetime, *, batch_size: int = 1000) -> int:
        """Delete sessions whose idle expiry is before ``before`` (revoked ones included), in
        batches of ``batch_size`` rows, one short transaction each; return how many went."""
        ...

    # -- signing keys (access JWTs) ---------------------------------------------------------

    async def add_signing_key(self, key: SigningKey) -> None:
        """Store ``key`` and retire every other key still signing (``retired_at`` = the new
        key's ``created_at``), in one transaction."""
        ...

    async def list_signing_keys(self) -> list[SigningKey]:
        """Every stored signing key, newest first."""
        ...

    async def delete_signing_keys(self, retired_before: datetime) -> int:
        """Delete the keys retired before ``retired_before``; return how many went."""
        ...

    # -- the operator console -------------------------------------------------------------

    async def search_users(
        self, query: str, *, appid: str | None = None, limit: int = 50
    ) -> list[User]:
        """Users whose id, openid or unionid is ``query``, whose nickname contains it, or
        (4 digits or more) whose phone number ends with it; newest first."""
        ...

    async def login_counts(
        self, since: datetime, *, bucket_s: int, appid: str | None = None
    ) -> list[LoginCount]:
        """Login events at or after ``since``, counted per bucket, result and error code."""
        ...

    async def new_user_counts(
        self, since: datetime, *, bucket_s: int, appid: str | None = None
    ) -> list[Count]:
        """Users created at or after ``since``, counted per bucket, oldest bucket first."""
        ...

    async def count_live_sessions(self, now: datetime, *, appid: str | None = None) -> int:
        """Sessions neither revoked nor expired (idle or absolute) at ``now``."""
        ...

    async def latency_counts(
        self, since: datetime, *, bucket_s: int, appid: str | None = None
    ) -> list[LatencyCount]:
        """Login events at or after ``since`` that timed code2Session (``wechat_ms`` not
        None), counted per bucket and milliseconds, oldest bucket first."""
        ...

    async def app_counts(self, now: datetime) -> list[AppCounts]:
        """Per appid: its users and its sessions live at ``now`` (an appid with neither is
        left out), by appid."""
        ...

    async def search_login_events(self, query: EventQuery) -> list[LoginEvent]:
        """The newest ``query.limit`` login events matching every filter given, newest first."""

    # -- apps, persons and the platform ---------------------------------------------------

    async def save_app(self, app: App) -> App:
        """Insert or replace the app (by appid), as given; return it."""
        ...

    async def get_app(self, appid: str) -> App | None: ...

    async def list_apps(self) -> list[App]:
        """Every registered app, by appid."""
        ...

    async def revoke_app_sessions(self, appid: str, now: datetime, *, reason: str) -> int:
        """End every live session of ``appid``, recording why; return how many."""
        ...

    async def link_person(self, user_id: str, unionid: str, now: datetime) -> User:
        """Attach the user to the person of ``unionid``, in one transaction: the person of
        the first user seen with it (following operators' merges), or the user's own person
        when it is the first; also stores the unionid on the user when it had none.
        Racing links of one unionid agree on one person. :class:`~wxauth.errors.NotFound`
        for no such user."""
        ...

    async def person_users(self, person_id: str) -> list[User]:
        """The users of a person (a user not linked to any is their own person), oldest
        first."""
        ...

    async def set_person(
        self, user_ids: Sequence[str], person_id: str, *, merged: str | None, now: datetime
    ) -> int:
        """Move the users to ``person_id`` and mark the person ``merged`` as merged into it
        (``merged=None``: clear ``person_id``'s own merge mark, as undoing a merge does), in
        one transaction; return how many users moved."""
        ...

    async def save_component_ticket(
        self, component_appid: str, ticket_enc: str, received_at: datetime
    ) -> None:
        """Keep the newest component_verify_ticket (encrypted) of a platform; an older one
        (by ``received_at``) never replaces a newer."""
        ...

    async def get_component_ticket(self, component_appid: str) -> tuple[str, datetime] | None:
        """The newest ticket's ciphertext and when it came."""
        ...


async def login_unless_blocked(store: Store, record: LoginRecord) -> GuardedLogin:
    """:meth:`Store.record_login_unless_blocked` as a read, then the write."""
    previous = await store.find_user(record.appid, record.openid)
    if previous is not None and blocks_login(previous, record.session.created_at):
        return GuardedLogin(previous, None, created=False)
    user, created = await store.record_login(record)
    return GuardedLogin(previous, user, created)
