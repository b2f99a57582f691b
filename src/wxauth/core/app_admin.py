"""Changing the apps registry: what ``wxauth apps`` and the console's Apps page both do.

Every change is checked first (bad input is :class:`~wxauth.errors.InvalidRequest` and
changes nothing), saved through the store, and this process's registry reloads at once;
other processes see it within the registry's reload interval. Disabling or removing an app
also ends its live sessions, so its tokens stay refused after it is enabled again::

    admin = AppAdmin(store=..., registry=..., keyring=lambda: keyring, clock=utcnow)
    await admin.add("wx0123456789abcdef", secret=secret, changes={"session_max_ttl": 86400})
    ended = await admin.disable("wx0123456789abcdef", reason="contract ended")

Secrets are stored encrypted with the at-rest keys and never come back out of here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping

from wxauth.core.apps import APP_REMOVED, WITHDRAWN, AppRegistry, check_appid, disabled, enabled
from wxauth.core.keyring import Keyring
from wxauth.core.models import APP_DIRECT, APP_PLATFORM, ENDED_APP_DISABLED, App
from wxauth.core.ports import Clock, Store
from wxauth.errors import InvalidRequest, NotFound

SECRET_MAX = 128
NAME_MAX = 100
REASON_MAX = 200
TTL_MIN, TTL_MAX = 60, 366 * 86400
LOGIN_LIMIT_MAX = 10_000_000
# The settings an app may carry of its own (None: the deployment's), with their bounds.
SETTINGS: dict[str, tuple[int, int] | None] = {
    "display_name": None,
    "session_idle_ttl": (TTL_MIN, TTL_MAX),
    "session_max_ttl": (TTL_MIN, TTL_MAX),
    "rate_limit_login": (0, LOGIN_LIMIT_MAX),
}

Changes = Mapping[str, int | str | None]


def checked_appid(appid: str) -> str:
    try:
        return check_appid(appid.strip())
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


def check_secret(secret: str) -> str:
    if not secret or len(secret) > SECRET_MAX or not secret.isprintable():
        raise InvalidRequest(f"the app secret must be 1 to {SECRET_MAX} printable characters")
    return secret


def check_reason(reason: str | None) -> str | None:
    text = (reason or "").strip()
    if len(text) > REASON_MAX or not text.isprintable():
        raise InvalidRequest(f"a reason is at most {REASON_MAX} printable characters")
    return text or None


def with_settings(app: App, changes: Changes) -> App:
    """``app`` with ``changes`` to its own settings (None: back to the deployment's), once
    the result is valid."""
    unknown = sorted(set(changes) - set(SETTINGS))
    if unknown:
        raise InvalidRequest(f"not an app setting: {', '.join(unknown)}")
    values = dict(changes)
    if isinstance(values.get("display_name"), str):
        values["display_name"] = str(values["display_name"]).strip() or None
    updated = dataclasses.replace(app, **values)  # type: ignore[arg-type]
    name = updated.display_name
    if name is not None and (not isinstance(name, str) or len(name) > NAME_MAX
                             or not name.isprintable()):  # fmt: skip
        raise InvalidRequest(f"a display name is at most {NAME_MAX} printable characters")
    for field, bounds in SETTINGS.items():
        value = getattr(updated, field)
        if bounds is None or value is None:
            continue
        low, high = bounds
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidRequest(f"{field} is a whole number from {low} to {high}, or empty")
    idle, most = updated.session_idle_ttl, updated.session_max_ttl
    if idle is not None and most is not None and idle > most:
        raise InvalidRequest("session_idle_ttl must not exceed session_max_ttl")
    return updated


class AppAdmin:
    """Adds, changes, disables, enables and removes apps (see the module docstring).

    ``seeded`` are the appids of ``WXAUTH_APPS``: served without a row, so a change to one
    writes the row that then holds its status and settings (never its secret, which stays
    the environment's)."""

    def __init__(
        self,
        *,
        store: Store,
        registry: AppRegistry,
        keyring: Callable[[], Keyring],
        clock: Clock,
        seeded: Collection[str] = (),
    ) -> None:
        self._store = store
        self._registry = registry
        self._keyring = keyring
        self._clock = clock
        self.seeded = frozenset(seeded)

    def __repr__(self) -> str:
        return f"AppAdmin(seeded={sorted(self.seeded)})"

    async def current(self, appid: str) -> App:
        """The app as it stands: :class:`NotFound` when the deployment does not serve it."""
        found = await self._store.get_app(appid)
        if found is not None and found.status != APP_REMOVED:
            return found
        if appid in self.seeded:
            return App(appid=appid, created_at=self._clock())  # a row will hold its status
        raise NotFound(f"No app {appid} in the registry (add it first).")

    async def _save(self, app: App) -> App:
        saved = await self._store.save_app(app)
        self._registry.invalidate()
        return saved

    async def add(
        self,
        appid: str,
        *,
        secret: str | None,
        platform: str | None = None,
        changes: Changes | None = None,
        exists_ok: bool = True,
    ) -> App:
        """Register an app (or, with ``exists_ok``, change one): a direct app with its
        secret, or one that logs in through the third-party ``platform``."""
        appid = checked_appid(appid)
        if platform is None and secret is None:
            raise InvalidRequest("an app that logs in directly needs its app secret")
        if secret is not None:
            check_secret(secret)
        old = await self._store.get_app(appid)
        live = old is not None and old.status != APP_REMOVED
        if not exists_ok and (live or appid in self.seeded):
            raise InvalidRequest(f"the app {appid} is already served: change it instead")
        base = old if old is not None and live else App(appid=appid)
        now = self._clock()
        record = dataclasses.replace(
            base,
            mode=APP_PLATFORM if platform else APP_DIRECT,
            component_appid=platform,
            secret_enc=self._keyring().encrypt(secret) if secret else base.secret_enc,
            created_at=base.created_at or now,
            updated_at=now,
        )
        return await self._save(with_settings(record, changes or {}))

    async def update(self, appid: str, changes: Changes) -> App:
        """Change the app's own settings (None: back to the deployment's default)."""
        app = await self.current(appid)
        updated = with_settings(app, changes)
        return await self._save(dataclasses.replace(updated, updated_at=self._clock()))

    async def disable(self, appid: str, *, reason: str | None = None) -> int:
        """Refuse the app's logins and tokens, and end its live sessions; how many ended."""
        reason = check_reason(reason)
        app = await self.current(appid)
        now = self._clock()
        await self._save(disabled(app, reason, now))
        return await self._store.revoke_app_sessions(appid, now, reason=ENDED_APP_DISABLED)

    async def enable(self, appid: str) -> App:
        """Serve a disabled app again (the sessions that ended stay ended)."""
        app = await self.current(appid)
        if app.disabled_reason == WITHDRAWN:
            raise InvalidRequest(
                f"the merchant withdrew {appid} from its platform: they must authorize it again"
            )
        return await self._save(enabled(app, self._clock()))

    async def rotate_secret(self, appid: str, secret: str) -> App:
        """Store a new app secret (after it was reset in WeChat's console)."""
        check_secret(secret)
        app = await self.current(appid)
        if appid in self.seeded:
            raise InvalidRequest(f"the secret of {appid} comes from WXAUTH_APPS: change it there")
        if app.mode != APP_DIRECT:
            raise InvalidRequest(f"{appid} logs in through its platform: it has no secret here")
        record = dataclasses.replace(
            app, secret_enc=self._keyring().encrypt(secret), updated_at=self._clock()
        )
        return await self._save(record)

    async def remove(self, appid: str) -> int:
        """Stop serving the app: its secret is dropped and its sessions end (its users
        stay); how many sessions ended."""
        app = await self.current(appid)
        now = self._clock()
        tombstone = dataclasses.replace(
            app, status=APP_REMOVED, secret_enc=None, refresh_token_enc=None, updated_at=now
        )
        await self._save(tombstone)
        return await self._store.revoke_app_sessions(appid, now, reason=ENDED_APP_DISABLED)
