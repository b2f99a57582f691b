"""The people who run the service: operator accounts, their sign-ins and what they did.

An operator is ``admin`` (may change things) or ``viewer`` (may only look). Passwords are
kept as argon2id hashes; an optional TOTP secret is kept encrypted under the at-rest keys.
A sign-in gives an opaque token (stored only as its SHA-256, as users' tokens are) that
expires when unused for ``idle_ttl`` and at ``max_ttl`` whatever happens::

    operators = Operators(store=..., keyring=..., clock=utcnow)
    await operators.add("ops", "a long passphrase", role="admin")
    signed_in = await operators.sign_in("ops", "a long passphrase", totp=None, ip="10.0.0.1")
    op = await operators.authenticate(signed_in.token)      # None once it has expired

Every action an operator takes is recorded with :meth:`Operators.record` under their name.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal, Protocol

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from wxauth.core.keyring import Keyring
from wxauth.core.ports import Clock
from wxauth.errors import InvalidRequest, NotFound

log = logging.getLogger(__name__)

Role = Literal["admin", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "viewer")
NAME_MAX = 64
PASSWORD_MIN = 12


@dataclass(frozen=True, slots=True)
class Operator:
    name: str
    role: Role
    password_hash: str = ""
    totp_secret_enc: str | None = None
    created_at: datetime | None = None
    disabled_at: datetime | None = None

    def __repr__(self) -> str:
        return f"Operator({self.name!r}, {self.role})"

    @property
    def can_write(self) -> bool:
        return self.role == "admin" and self.disabled_at is None

    @property
    def has_totp(self) -> bool:
        return self.totp_secret_enc is not None


@dataclass(frozen=True, slots=True)
class OperatorSession:
    token_hash: str
    operator: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ip: str | None = None

    def __repr__(self) -> str:
        return f"OperatorSession({self.operator!r}, created={self.created_at.isoformat()})"


@dataclass(frozen=True, slots=True)
class OperatorEvent:
    """One operator action, for the audit trail (never a password, code or token)."""

    at: datetime
    operator: str
    action: str
    target: str | None = None
    ip: str | None = None
    detail: str | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str
    operator: Operator
    session: OperatorSession

    def __repr__(self) -> str:
        return f"SignedIn({self.operator!r})"


class SignInRefused(Exception):
    """The name, password or TOTP code is wrong (one answer for all)."""


class OperatorStore(Protocol):
    """Operators, their sessions and their actions."""

    async def add_operator(self, operator: Operator) -> None:
        """Add an operator, or replace the one of that name (a new password or role)."""
        ...

    async def get_operator(self, name: str) -> Operator | None: ...

    async def remove_operator(self, name: str) -> bool:
        """Delete the operator and their sessions (their events stay); False when there
        was no such operator."""
        ...

    async def list_operators(self) -> list[Operator]:
        """Every operator, by name."""
        ...

    async def add_operator_session(self, session: OperatorSession) -> None: ...

    async def find_operator_session(self, token_hash: str) -> OperatorSession | None: ...

    async def touch_operator_session(self, token_hash: str, last_seen_at: datetime) -> None: ...

    async def delete_operator_session(self, token_hash: str) -> None: ...

    async def delete_operator_sessions(self, operator: str) -> int:
        """End every session of one operator (a new password, a removal); return how many."""
        ...

    async def add_operator_event(self, event: OperatorEvent) -> None: ...

    async def list_operator_events(
        self,
        *,
        limit: int,
        operator: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[OperatorEvent]:
        """The newest ``limit`` events matching every filter given, newest first."""
        ...


def hash_operator_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def check_name(name: str) -> str:
    if not name or len(name) > NAME_MAX or not name.isprintable() or name != name.strip():
        raise InvalidRequest(f"an operator name is 1 to {NAME_MAX} printable characters")
    return name


def check_password(password: str) -> str:
    if len(password) < PASSWORD_MIN:
        raise InvalidRequest(f"an operator password has at least {PASSWORD_MIN} characters")
    return password


class Operators:
    """Operator accounts and sign-ins over an :class:`OperatorStore`."""

    def __init__(
        self,
        *,
        store: OperatorStore,
        clock: Clock,
        keyring: Keyring | None = None,
        idle_ttl: timedelta = timedelta(minutes=30),
        max_ttl: timedelta = timedelta(hours=12),
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.store = store
        self._clock = clock
        self._keyring = keyring
        self.idle_ttl = idle_ttl
        self.max_ttl = max_ttl
        self._hasher = hasher or PasswordHasher()
        # Verified against when the name is unknown, so that both cost the same time.
        self._decoy = self._hasher.hash(secrets.token_urlsafe(16))

    def __repr__(self) -> str:
        return f"Operators(idle={self.idle_ttl}, max={self.max_ttl})"

    async def add(
        self, name: str, password: str, *, role: Role, totp_secret: str | None = None
    ) -> Operator:
        """Create the operator (or replace their password, role and TOTP secret: their
        sessions then end)."""
        if role not in ROLES:
            raise InvalidRequest(f"a role is one of {', '.join(ROLES)}")
        encrypted = None
        if totp_secret is not None:
            if self._keyring is None:
                raise InvalidRequest("TOTP needs the at-rest keys (WXAUTH_SECRET_KEYS)")
            encrypted = self._keyring.encrypt(totp_secret)
        operator = Operator(
            name=check_name(name),
            role=role,
            password_hash=self._hasher.hash(check_password(password)),
            totp_secret_enc=encrypted,
            created_at=self._clock(),
        )
        await self.store.add_operator(operator)
        await self.store.delete_operator_sessions(name)
        return operator

    async def set_disabled(self, name: str, disabled: bool) -> Operator:
        """Disable the operator (their sessions end at once and they cannot sign in) or
        enable them again; :class:`NotFound` for no such operator."""
        operator = await self.store.get_operator(name)
        if operator is None:
            raise NotFound(f"No operator {name!r}.")
        changed = replace(operator, disabled_at=self._clock() if disabled else None)
        await self.store.add_operator(changed)
        if disabled:
            await self.store.delete_operator_sessions(name)
        return changed

    async def remove(self, name: str) -> None:
        """Delete the operator and end their sessions; what they did stays in the audit
        trail. :class:`NotFound` for no such operator."""
        if not await self.store.remove_operator(name):
            raise NotFound(f"No operator {name!r}.")

    async def sign_in(
        self, name: str, password: str, *, totp: str | None, ip: str | None
    ) -> SignedIn:
        """A new session for the operator; :class:`SignInRefused` for a wrong name,
        password or TOTP code, or a disabled operator (recorded as ``sign_in_failed``)."""
        operator = await self.store.get_operator(name)
        if not self._verify(operator, password) or operator is None:
            await self.record(name[:NAME_MAX], "sign_in_failed", ip=ip)
            raise SignInRefused()
        if operator.has_totp and not self._totp_ok(operator, totp):
            await self.record(name, "sign_in_failed", ip=ip, detail="totp")
            raise SignInRefused()
        if self._hasher.check_needs_rehash(operator.password_hash):
            rehashed = replace(operator, password_hash=self._hasher.hash(password))
            await self.store.add_operator(rehashed)
        now = self._clock()
        token = secrets.token_urlsafe(32)
        session = OperatorSession(
            token_hash=hash_operator_token(token),
            operator=operator.name,
            created_at=now,
            last_seen_at=now,
            expires_at=now + self.max_ttl,
            ip=ip,
        )
        await self.store.add_operator_session(session)
        await self.record(operator.name, "sign_in", ip=ip)
        return SignedIn(token, operator, session)

    def _verify(self, operator: Operator | None, password: str) -> bool:
        if operator is None or operator.disabled_at is not None:
            self._check_hash(self._decoy, password)
            return False
        return self._check_hash(operator.password_hash, password)

    def _check_hash(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def _totp_ok(self, operator: Operator, code: str | None) -> bool:
        if not code or self._keyring is None or operator.totp_secret_enc is None:
            return False
        secret = self._keyring.decrypt(operator.totp_secret_enc)
        return bool(pyotp.TOTP(secret).verify(code.strip(), for_time=self._clock(), valid_window=1))

    async def authenticate(self, token: str) -> tuple[Operator, OperatorSession] | None:
        """The operator behind a session token, or None (unknown, idle too long, past its
        absolute expiry, or the operator is gone or disabled). Slides the idle expiry."""
        if not token:
            return None
        session = await self.store.find_operator_session(hash_operator_token(token))
        now = self._clock()
        if session is None:
            return None
        if now >= session.expires_at or now >= session.last_seen_at + self.idle_ttl:
            await self.store.delete_operator_session(session.token_hash)
            return None
        operator = await self.store.get_operator(session.operator)
        if operator is None or operator.disabled_at is not None:
            return None
        if now - session.last_seen_at >= timedelta(seconds=30):  # not a write per page
            await self.store.touch_operator_session(session.token_hash, now)
        return operator, session

    async def sign_out(self, token: str, *, ip: str | None) -> None:
        found = await self.authenticate(token)
        if found is not None:
            await self.store.delete_operator_session(found[1].token_hash)
            await self.record(found[0].name, "sign_out", ip=ip)

    async def record(
        self,
        operator: str,
        action: str,
        *,
        target: str | None = None,
        ip: str | None = None,
        detail: str | None = None,
    ) -> None:
        event = OperatorEvent(
            self._clock(), operator, action, target=target, ip=ip,
            detail=detail[:200] if detail else None,
        )  # fmt: skip
        await self.store.add_operator_event(event)


def csrf_token(session_token: str, key: bytes) -> str:
    """The CSRF token of a console session: tied to it, so it cannot be carried to another
    session, and needing no storage."""
    return hmac.new(key, b"csrf:" + session_token.encode("ascii"), hashlib.sha256).hexdigest()


def csrf_ok(session_token: str, key: bytes, given: str) -> bool:
    return bool(given) and hmac.compare_digest(csrf_token(session_token, key), given)
