"""The user's control of their account: their sessions as devices, logout everywhere, the
per-user session cap, disabling (bans), closing the account (PIPL) and exporting its data.

Every action leaves an :class:`~wxauth.core.models.AccountEvent` (who, when, from where).
Tokens are opaque and checked against the store on every use (through the session cache,
which forgets a user or session the moment it changes), so every one of these takes effect
at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from wxauth.core.models import (
    ENDED_DELETION,
    AccountEvent,
    LoginEvent,
    Session,
    User,
)
from wxauth.core.ports import Clock, Store
from wxauth.core.sessions import Authenticated
from wxauth.errors import NotFound

log = logging.getLogger(__name__)

LogoutScope = Literal["current", "all", "others"]
Actor = Literal["user", "operator", "system"]
SWEEP_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class DeletionRequest:
    """What closing an account did: erased at once (``due_at`` None), or scheduled."""

    due_at: datetime | None


class Accounts:
    """``session_cap``: live sessions per user and app (0: no cap); ``deletion_grace``: how
    long a requested deletion waits, during which a login cancels it."""

    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        session_cap: int = 0,
        deletion_grace: timedelta = timedelta(0),
    ) -> None:
        self._store = store
        self._clock = clock
        self.session_cap = session_cap
        self.deletion_grace = deletion_grace
        self._next_sweep: datetime | None = None

    def __repr__(self) -> str:
        return f"Accounts(cap={self.session_cap}, grace={self.deletion_grace})"

    async def _event(
        self,
        action: str,
        user: User | str,
        *,
        actor: Actor = "user",
        ip: str | None = None,
        detail: str | None = None,
    ) -> None:
        user_id, appid = (user, None) if isinstance(user, str) else (user.id, user.appid)
        event = AccountEvent(
            self._clock(), action, user_id, appid=appid, actor=actor, ip=ip, detail=detail
        )
        try:
            await self._store.add_account_event(event)
        except Exception as exc:  # the audit trail must never undo what was done
            log.warning("audit: could not record an account event (%s)", type(exc).__name__)

    # -- sessions as devices --------------------------------------------------------------

    async def active_sessions(self, user: User) -> list[Session]:
        """The user's live sessions, most recently used first."""
        now = self._clock()
        live = [s for s in await self._store.list_sessions(user.id) if s.is_active(now)]
        return sorted(live, key=lambda s: (s.last_seen_at, s.created_at), reverse=True)

    async def revoke_session(self, auth: Authenticated, public_id: str, ip: str | None) -> None:
        """End one of the user's own live sessions; :class:`NotFound` for anything else."""
        for session in await self.active_sessions(auth.user):
            if session.public_id == public_id:
                await self._store.revoke_session(session.token_hash, self._clock())
                await self._event("session_revoked", auth.user, ip=ip, detail=public_id)
                return
        raise NotFound("No such session of yours.")

    async def logout(self, auth: Authenticated, scope: LogoutScope, ip: str | None) -> int:
        """End this session, all of the user's, or all but this one; return how many."""
        now = self._clock()
        if scope == "current":
            ended = await self._store.revoke_session(auth.session.token_hash, now, reason="logout")
            return int(ended)
        keep = auth.session.token_hash if scope == "others" else None
        count = await self._store.revoke_user_sessions(
            auth.user.id, now, reason="logout", keep=keep
        )
        await self._event(f"logout_{scope}", auth.user, ip=ip, detail=f"{count} sessions")
        return count

    async def after_login(self, user: User, session: Session, ip: str | None) -> User:
        """A login's consequences: the cap ends the least recently used sessions beyond it,
        and a pending deletion is cancelled."""
        if self.session_cap > 0:
            ended = await self._store.cap_sessions(
                user.id, session.appid, keep=session.token_hash, cap=self.session_cap,
                now=self._clock(),
            )  # fmt: skip
            if ended:
                detail = f"{len(ended)} sessions beyond the cap of {self.session_cap}"
                await self._event("sessions_replaced", user, actor="system", ip=ip, detail=detail)
        if user.deletion_due_at is not None:
            user = await self._store.update_user(user.id, {"deletion_due_at": None}, self._clock())
            await self._event("deletion_cancelled", user, ip=ip, detail="logged in")
        return user

    # -- status ---------------------------------------------------------------------------

    async def disable(
        self, user_id: str, *, reason: str, until: datetime | None, actor: Actor = "operator"
    ) -> User:
        """Disable the user: their tokens stop working at once, their logins are refused
        with the public ``reason`` until ``until`` (None: until enabled)."""
        user = await self._store.disable_user(
            user_id, reason=reason, ends_at=until, now=self._clock()
        )
        detail = reason if until is None else f"{reason} (until {until.isoformat()})"
        await self._event("disabled", user, actor=actor, detail=detail[:200])
        return user

    async def enable(self, user_id: str, *, actor: Actor = "operator") -> User:
        user = await self._store.enable_user(user_id, self._clock())
        await self._event("enabled", user, actor=actor)
        return user

    # -- closing the account --------------------------------------------------------------

    async def request_deletion(self, user: User, ip: str | None) -> DeletionRequest:
        """The user closes their account: their sessions end now; the data goes now, or
        after the grace period unless they log in meanwhile."""
        now = self._clock()
        if self.deletion_grace <= timedelta(0):
            await self._event("deletion_requested", user, ip=ip, detail="at once")
            await self.erase(user.id, actor="user")
            return DeletionRequest(None)
        due = now + self.deletion_grace
        await self._store.update_user(user.id, {"deletion_due_at": due}, now)
        await self._store.revoke_user_sessions(user.id, now, reason=ENDED_DELETION)
        await self._event("deletion_requested", user, ip=ip, detail=f"due {due.isoformat()}")
        return DeletionRequest(due)

    async def erase(self, user_id: str, *, actor: Actor) -> bool:
        """Erase the user: profile, phone, avatar reference, session_key, sessions and login
        events go; a pseudonymous account event says it happened."""
        if not await self._store.delete_user(user_id):
            return False
        await self._event("deleted", user_id, actor=actor)
        log.info("account %s erased (%s)", user_id, actor)
        return True

    async def purge_due(self, *, limit: int = 100) -> int:
        """Erase the accounts whose deletion is due; return how many."""
        erased = 0
        while True:
            due = await self._store.due_deletions(self._clock(), limit=limit)
            for user_id in due:
                erased += await self.erase(user_id, actor="system")
            if len(due) < limit:
                return erased

    async def purge_due_if_due(self) -> None:
        """:meth:`purge_due`, at most once a minute per process (called on logins)."""
        now = self._clock()
        if self._next_sweep is not None and now < self._next_sweep:
            return
        self._next_sweep = now + SWEEP_INTERVAL
        try:
            await self.purge_due()
        except Exception as exc:  # a failed sweep must not fail the login that ran it
            log.warning("accounts: could not erase due deletions (%s)", type(exc).__name__)

    # -- export ---------------------------------------------------------------------------

    async def export(self, user: User, ip: str | None) -> dict[str, Any]:
        """Everything stored about the user, as JSON values: never the session_key (it says
        whether one is stored) and never a token's hash (sessions appear by public id)."""
        sessions = await self._store.list_sessions(user.id)
        logins = await self._store.list_login_events(limit=100_000, user_id=user.id)
        actions = await self._store.list_account_events(limit=100_000, user_id=user.id)
        has_key = await self._store.get_session_key(user.appid, user.openid) is not None
        await self._event("data_exported", user, ip=ip)
        return {
            "user": user_record(user),
            "wechat_session_key_stored": has_key,
            "sessions": [session_record(s) for s in sessions],
            "login_events": [login_event_record(e) for e in logins],
            "account_events": [account_event_record(e) for e in actions],
        }


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


USER_FIELDS = (
    "id", "appid", "openid", "unionid", "nickname", "avatar_url", "gender", "country",
    "province", "city", "language", "phone", "phone_country_code", "created_at", "updated_at",
    "last_login_at", "status", "disabled_reason", "disabled_ends_at", "deletion_due_at",
)  # fmt: skip
SESSION_FIELDS = (
    "appid", "created_at", "last_seen_at", "idle_expires_at", "expires_at", "revoked_at",
    "revoked_reason", "user_agent", "ip", "device_brand", "device_model", "device_platform",
    "device_system", "device_wechat_version",
)  # fmt: skip


def user_record(user: User) -> dict[str, Any]:
    return {name: _iso(getattr(user, name)) for name in USER_FIELDS}


def session_record(session: Session) -> dict[str, Any]:
    return {"id": session.public_id} | {
        name: _iso(getattr(session, name)) for name in SESSION_FIELDS
    }


def login_event_record(event: LoginEvent) -> dict[str, Any]:
    names = ("at", "appid", "ip", "result", "error_code", "wechat_errcode")
    return {name: _iso(getattr(event, name)) for name in names}


def account_event_record(event: AccountEvent) -> dict[str, Any]:
    names = ("at", "action", "actor", "appid", "ip", "detail")
    return {name: _iso(getattr(event, name)) for name in names}
