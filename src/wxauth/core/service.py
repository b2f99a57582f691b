"""Login with a ``wx.login`` code, and the profile the user keeps.

Checking tokens is :class:`~wxauth.core.sessions.Authenticator`'s, so that a process that only
verifies tokens needs no WeChat gateway, no app secrets and no at-rest keys.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from wxauth.core import profile
from wxauth.core.accounts import Accounts
from wxauth.core.apps import AppRegistry, app_policy
from wxauth.core.keyring import Keyring
from wxauth.core.models import (
    APP_PLATFORM,
    App,
    ClientInfo,
    LoginEvent,
    LoginRecord,
    ProfileUpdate,
    User,
    new_user_id,
)
from wxauth.core.ports import (
    Clock,
    PlatformLogin,
    Store,
    WeChatGateway,
    WeChatSessionLike,
    utcnow,
)
from wxauth.core.proof import Proof, verified_profile
from wxauth.core.session_keys import SessionKeys
from wxauth.core.sessions import check_user, disabled_error
from wxauth.core.tokens import SessionPolicy, new_token
from wxauth.errors import AccountDisabled, InvalidCode, ServerMisconfigured, WxAuthError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LoginResult:
    token: str
    expires_in: int
    user: User
    new_user: bool

    def __repr__(self) -> str:
        return f"LoginResult(user={self.user!r}, new_user={self.new_user})"


@dataclass(slots=True)
class Timing:
    """How long WeChat took to answer one login's code2Session (ms), once it answered."""

    wechat_ms: int | None = None


class WxAuth:
    """Login with a ``wx.login`` code, and profiles.

    ``apps`` maps appid to app secret. A login code being exchanged is remembered while the
    exchange runs, so a retried request carrying the same code answers ``invalid_code``
    at once instead of racing WeChat for a second session. ``new_id`` makes the id a user
    gets when a login creates them; ``monotonic`` times code2Session for the login events.
    """

    def __init__(
        self,
        *,
        apps: Mapping[str, str],
        wechat: WeChatGateway,
        store: Store,
        session_keys: SessionKeys,
        policy: SessionPolicy,
        clock: Clock = utcnow,
        audit_retention: timedelta = timedelta(days=90),
        new_id: Callable[[], str] = new_user_id,
        accounts: Accounts | None = None,
        registry: AppRegistry | None = None,
        keyring: Keyring | None = None,
        platforms: Mapping[str, PlatformLogin] | None = None,
        monotonic: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._platforms = platforms or {}
        self._monotonic = monotonic
        self.registry = registry or AppRegistry(store, seed=apps)
        self._keyring = keyring or session_keys.keyring
        self.audit_retention = audit_retention
        self._next_audit_purge: datetime | None = None
        self._wechat = wechat
        self._store = store
        self.session_keys = session_keys
        self._policy = policy
        self._clock = clock
        self._new_id = new_id
        self._codes_in_flight: set[tuple[str, str]] = set()
        self._accounts = accounts or Accounts(store=store, clock=clock)

    def __repr__(self) -> str:
        return f"WxAuth({self.registry!r})"

    @property
    def store(self) -> Store:
        return self._store

    async def login(
        self,
        code: str,
        *,
        appid: str | None = None,
        client: ClientInfo | None = None,
        profile_update: ProfileUpdate | None = None,
        proof: Proof | None = None,
    ) -> LoginResult:
        """Log in with a ``wx.login`` code; ``proof`` (signed or encrypted userInfo, made under
        the session_key of this very code) sets the profile only if it verifies.

        Every attempt leaves a login event: a success's in the login's own transaction, a
        failure's on a best-effort basis (failing to write it is logged and never turns the
        answer into another error).
        """
        client = client or ClientInfo()
        timing = Timing()
        try:
            result = await self._login(code, appid, client, profile_update, proof, timing)
        except WxAuthError as exc:
            apps = await self.registry.served()
            known = appid if appid in {a.appid for a in apps} else None
            if appid is None and len(apps) == 1:
                known = apps[0].appid
            event = LoginEvent(
                self._clock(), "error", known, None, client.ip, exc.code, exc.wechat_errcode,
                wechat_ms=timing.wechat_ms,
            )  # fmt: skip
            await self._audit(event)
            raise
        await self._purge_audit_if_due(self._clock())
        await self._accounts.purge_due_if_due()
        return result

    async def _login(
        self,
        code: str,
        appid: str | None,
        client: ClientInfo,
        profile_update: ProfileUpdate | None,
        proof: Proof | None,
        timing: Timing,
    ) -> LoginResult:
        app = await self.registry.resolve(appid)
        appid = app.appid
        key = (appid, code)
        if key in self._codes_in_flight:
            raise InvalidCode("This login code is already being used; call wx.login again.")
        self._codes_in_flight.add(key)
        try:
            wx = await self._timed_code2session(app, code, timing)
        finally:
            self._codes_in_flight.discard(key)
        if proof is not None:  # checked before anything is written
            profile_update = verified_profile(proof, wx.session_key, appid=appid, openid=wx.openid)
        now = self._clock()
        token = new_token()
        # The user id is not known until the store has upserted the user, in the same
        # transaction that saves this session and the event: it fills them in.
        session = app_policy(self._policy, app).new_session(token, "", appid, now, client)
        changes = profile.meaningful_changes(profile_update) if profile_update else {}
        record = LoginRecord(
            appid=appid,
            openid=wx.openid,
            unionid=wx.unionid,
            new_user_id=self._new_id(),
            session_key_ciphertext=self.session_keys.encrypt(wx.session_key),
            session=session,
            profile=changes,
            event=LoginEvent(now, "ok", appid, None, client.ip, wechat_ms=timing.wechat_ms),
        )
        done = await self._store.record_login_unless_blocked(record)
        existing = done.previous
        if done.user is None and existing is not None:  # nothing written
            if existing.deletion_due_at is not None and existing.deletion_due_at <= now:
                # Due but not yet swept: erased now, and this login makes a new user.
                await self._accounts.erase(existing.id, actor="system")
                done = await self._store.record_login_unless_blocked(record)
                existing = None
            else:
                check_user(existing, now)
        if done.user is None:  # disabled meanwhile, by another process
            raise disabled_error(done.previous) if done.previous else AccountDisabled()
        user, created = done.user, done.created
        if wx.unionid and (
            user.person_id is None or (existing is not None and existing.unionid != wx.unionid)
        ):
            # One person across the owner's apps, also for a user first seen without one (a
            # store may have linked a user it created in the login's own write already).
            user = await self._store.link_person(user.id, wx.unionid, now)
        user = await self._accounts.after_login(user, record.session, client.ip)
        log.info("login appid=%s user=%s new=%s", appid, user.id, created)
        expires_in = int((session.expires_at - now).total_seconds())
        return LoginResult(token=token, expires_in=expires_in, user=user, new_user=created)

    async def _timed_code2session(self, app: App, code: str, timing: Timing) -> WeChatSessionLike:
        """code2Session, timed when WeChat answered (a session, or an error code); a call
        refused before it left (the breaker open, a code already claimed) or one WeChat
        never answered is not timed."""
        started = self._monotonic()
        try:
            wx = await self._code2session(app, code)
        except WxAuthError as exc:
            if exc.wechat_errcode is not None:
                timing.wechat_ms = round((self._monotonic() - started) * 1000)
            raise
        timing.wechat_ms = round((self._monotonic() - started) * 1000)
        return wx

    async def _code2session(self, app: App, code: str) -> WeChatSessionLike:
        if app.mode != APP_PLATFORM:
            secret = self.registry.secret(app, self._keyring)
            return await self._wechat.code2session(app.appid, secret, code)
        platform = self._platforms.get(app.component_appid or "")
        if platform is None:
            raise ServerMisconfigured(
                f"the app {app.appid} logs in through the platform {app.component_appid}, "
                "which is not configured: add it to WXAUTH_PLATFORMS"
            )
        return await platform.code2session(app, code)

    async def update_profile(
        self, user: User, update: ProfileUpdate, proof: Proof | None = None
    ) -> User:
        """Store ``update``, or with ``proof`` only what verifies under the stored session_key."""
        if proof is not None:
            session_key = await self.session_keys.usable(user)
            update = verified_profile(proof, session_key, appid=user.appid, openid=user.openid)
        changes = profile.meaningful_changes(update)
        if not changes:
            return user
        return await self._store.update_user(user.id, changes, self._clock())

    # -- audit --------------------------------------------------------------------------

    async def _audit(self, event: LoginEvent) -> None:
        try:
            await self._store.add_login_event(event)
        except Exception as exc:  # the audit trail must never fail a login
            log.warning("audit: could not record a login event (%s)", type(exc).__name__)
        await self._purge_audit_if_due(event.at)

    async def _purge_audit_if_due(self, now: datetime) -> None:
        """Drop events past retention, at most once an hour per process."""
        if self._next_audit_purge is not None and now < self._next_audit_purge:
            return
        self._next_audit_purge = now + timedelta(hours=1)
        try:
            purged = await self._store.purge_login_events(now - self.audit_retention)
        except Exception as exc:
            log.warning("audit: could not purge login events (%s)", type(exc).__name__)
            return
        if purged:
            log.info("audit: purged %d login events past retention", purged)
