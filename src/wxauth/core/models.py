"""Records the core works with. Secrets (session_key) never live on these."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

USER_ACTIVE = "active"
USER_DISABLED = "disabled"

# Why a session ended (``Session.revoked_reason``).
ENDED_LOGOUT = "logout"
ENDED_REVOKED = "revoked"  # by the user from another device, or by an operator
ENDED_REPLACED = "session_replaced"  # a newer login beyond the per-user cap
ENDED_DISABLED = "account_disabled"
ENDED_DELETION = "account_deletion"


def new_user_id() -> str:
    """An opaque user id that says nothing about the openid."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class User:
    id: str
    appid: str
    openid: str = field(repr=False)
    unionid: str | None = field(default=None, repr=False)
    nickname: str | None = None
    avatar_url: str | None = None
    gender: int | None = None
    country: str | None = None
    province: str | None = None
    city: str | None = None
    language: str | None = None
    phone: str | None = field(default=None, repr=False)
    phone_country_code: str | None = field(default=None, repr=False)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    last_login_at: datetime | None = None
    # Account status: "active" or "disabled" (with a public reason, until an optional time).
    status: str = "active"
    disabled_reason: str | None = None
    disabled_ends_at: datetime | None = None
    # The user asked to close their account: it is erased at this time unless they log in.
    deletion_due_at: datetime | None = None
    # The person (one per UnionID, or one merged by an operator) this user is one app's
    # view of; None until linked: the person is then the user themself (see ``person``).
    person_id: str | None = None

    @property
    def person(self) -> str:
        """The id of the person across apps: shared by the users of one UnionID."""
        return self.person_id or self.id

    @property
    def has_phone(self) -> bool:
        return bool(self.phone)

    def is_disabled(self, now: datetime) -> bool:
        """Disabled now: a ban whose end time has passed has ended by itself."""
        if self.status != USER_DISABLED:
            return False
        return self.disabled_ends_at is None or now < self.disabled_ends_at


@dataclass(frozen=True, slots=True)
class Session:
    """A wxauth session. Only the SHA-256 of its token is known; the token is never stored."""

    token_hash: str = field(repr=False)
    user_id: str
    appid: str
    created_at: datetime
    last_seen_at: datetime
    idle_expires_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    user_agent: str | None = None
    ip: str | None = None
    # What the phone says about itself at login (wx.getDeviceInfo / getSystemInfo).
    device_brand: str | None = None
    device_model: str | None = None
    device_platform: str | None = None
    device_system: str | None = None
    device_wechat_version: str | None = None
    revoked_reason: str | None = None

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.idle_expires_at and now < self.expires_at

    @property
    def public_id(self) -> str:
        """The id a user sees their session by: a prefix of the token's hash, which names
        the session but cannot be used as its token (that takes the hash's preimage)."""
        return self.token_hash[:PUBLIC_ID_LENGTH]


PUBLIC_ID_LENGTH = 16
# Longest accepted value of each device field, in characters.
DEVICE_LIMITS = {"brand": 32, "model": 64, "platform": 16, "system": 64, "wechat_version": 32}


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """The phone's own description of itself; every field bounded plain text or None."""

    brand: str | None = None
    model: str | None = None
    platform: str | None = None
    system: str | None = None
    wechat_version: str | None = None


@dataclass(frozen=True, slots=True)
class ClientInfo:
    user_agent: str | None = None
    ip: str | None = None
    device: DeviceInfo | None = None


@dataclass(frozen=True, slots=True)
class ProfileUpdate:
    """Profile fields to change; ``None`` means "leave as it is"."""

    nickname: str | None = None
    avatar_url: str | None = None
    gender: int | None = None
    country: str | None = None
    province: str | None = None
    city: str | None = None
    language: str | None = None

    def changes(self) -> dict[str, Any]:
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}


@dataclass(frozen=True, slots=True)
class LoginRecord:
    """Everything one successful code2Session writes, in one transaction."""

    appid: str
    openid: str = field(repr=False)
    unionid: str | None = field(repr=False)
    session_key_ciphertext: str = field(repr=False)
    session: Session
    profile: dict[str, Any] = field(default_factory=dict)
    # The login's audit event, written in the same transaction (the store fills in user_id).
    event: LoginEvent | None = None
    # The id the user gets should this login create them (the store never makes ids).
    new_user_id: str = field(default_factory=lambda: new_user_id())


@dataclass(frozen=True, slots=True)
class GuardedLogin:
    """What a login that minds the user's standing found and wrote
    (:meth:`~wxauth.core.ports.Store.record_login_unless_blocked`)."""

    previous: User | None  # the user as they were before this login; None for a first one
    user: User | None  # as written; None when ``previous`` may not log in (nothing written)
    created: bool


def blocks_login(user: User, now: datetime) -> bool:
    """Whether ``user`` may not log in at ``now``: disabled, or their deletion is due (a
    due deletion is carried out first, and the login then makes a new user)."""
    due = user.deletion_due_at is not None and user.deletion_due_at <= now
    return due or user.is_disabled(now)


@dataclass(frozen=True, slots=True)
class LoginEvent:
    """One login attempt, for the audit trail: its outcome, never the code or the token."""

    at: datetime
    result: str  # "ok" or "error"
    appid: str | None = None
    user_id: str | None = None
    ip: str | None = None
    error_code: str | None = None
    wechat_errcode: int | None = None
    id: int | None = None
    # How long code2Session took (ms, measured around the call); None when WeChat was not
    # asked (a bad request, an unknown app, the circuit breaker open, a code in flight).
    wechat_ms: int | None = None


@dataclass(frozen=True, slots=True)
class AccountEvent:
    """An action on an account, for the audit trail: who (``actor``: ``user``, ``operator``
    or ``system``), when, from where, what. Kept after the account is erased, with its
    address dropped: the user id then names no one."""

    at: datetime
    action: str
    user_id: str
    appid: str | None = None
    actor: str = "user"
    ip: str | None = None
    detail: str | None = None
    id: int | None = None


# -- apps (the registry) -----------------------------------------------------------------

APP_ACTIVE = "active"
APP_DISABLED = "disabled"
APP_DIRECT = "direct"  # logs in with its own secret (code2Session)
APP_PLATFORM = "platform"  # authorized to a third-party platform (component mode)
ENDED_APP_DISABLED = "app_disabled"


@dataclass(frozen=True, slots=True)
class App:
    """A mini program the deployment serves. Secrets are stored encrypted (the keyring's
    ciphertext) and never live here in the clear; ``None`` settings fall back to the
    deployment's defaults."""

    appid: str
    mode: str = APP_DIRECT
    secret_enc: str | None = field(default=None, repr=False)
    status: str = APP_ACTIVE
    disabled_reason: str | None = None
    display_name: str | None = None
    session_idle_ttl: int | None = None
    session_max_ttl: int | None = None
    rate_limit_login: int | None = None
    component_appid: str | None = None
    refresh_token_enc: str | None = field(default=None, repr=False)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.status == APP_ACTIVE


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A key that signs access JWTs (``POST /v1/token``). The private half is stored only
    encrypted with the at-rest keyring; the public half is a JWK as JSON text.

    The newest key without ``retired_at`` signs; a retired key stays in the JWKS until the
    last token it may have signed has expired."""

    kid: str
    alg: str
    private_key_enc: str = field(repr=False)
    public_jwk: str
    created_at: datetime
    retired_at: datetime | None = None
