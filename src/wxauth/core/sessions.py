"""Checking session tokens and ending sessions: what a verifier needs, and nothing of login.

:class:`Authenticator` reads sessions from a :class:`~wxauth.core.ports.Store`; it never
calls WeChat and never decrypts a session_key, so a process that only checks tokens needs
neither app secrets nor at-rest keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from wxauth.core.apps import AppRegistry, app_policy
from wxauth.core.models import ENDED_LOGOUT, ENDED_REPLACED, Session, User
from wxauth.core.ports import Clock, Store
from wxauth.core.tokens import SessionPolicy, hash_token, looks_like_token
from wxauth.errors import AccountDisabled, InvalidToken, SessionReplaced


def disabled_error(user: User) -> AccountDisabled:
    ends = user.disabled_ends_at
    return AccountDisabled(reason=user.disabled_reason, until=ends.isoformat() if ends else None)


def check_user(user: User, now: datetime) -> None:
    """:class:`AccountDisabled` for a user who is disabled now."""
    if user.is_disabled(now):
        raise disabled_error(user)


@dataclass(frozen=True, slots=True)
class Authenticated:
    user: User
    session: Session


class Authenticator:
    """The user and session behind a token; sliding idle expiry; logout."""

    def __init__(
        self,
        *,
        store: Store,
        policy: SessionPolicy,
        clock: Clock,
        registry: AppRegistry | None = None,
    ) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock
        self.registry = registry or AppRegistry(store)

    def __repr__(self) -> str:
        return f"Authenticator({self._store!r})"

    async def authenticate(self, token: str, *, appid: str | None = None) -> Authenticated:
        """The user and session behind ``token``: :class:`AccountDisabled` when the user is
        disabled, :class:`SessionReplaced` for a session a newer login ended beyond the cap,
        :class:`AppDisabled` when its app is disabled, :class:`InvalidToken` for anything
        else, a token of another app than ``appid`` (when given) included: a token belongs
        to one app and is only ever accepted for it."""
        if not looks_like_token(token):
            raise InvalidToken()
        found = await self._store.find_session(hash_token(token))
        now = self._clock()
        if found is None:
            raise InvalidToken()
        session, user = found
        if appid is not None and session.appid != appid:
            raise InvalidToken()
        await self.registry.check_session_app(session.appid)
        check_user(user, now)
        if not session.is_active(now):
            if session.revoked_reason == ENDED_REPLACED:
                raise SessionReplaced()
            raise InvalidToken()
        if self._policy.needs_touch(session, now):
            policy = app_policy(self._policy, await self.registry.get(session.appid))
            await self._store.touch_session(
                session.token_hash, now, policy.idle_expiry(session, now)
            )
        return Authenticated(user=user, session=session)

    async def logout(self, token: str) -> None:
        if looks_like_token(token):
            await self._store.revoke_session(hash_token(token), self._clock(), reason=ENDED_LOGOUT)
