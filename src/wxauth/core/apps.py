"""The apps registry: which mini programs a deployment serves, read from the store.

Every process keeps a snapshot of the registry and reloads it at most every ``ttl`` seconds
(half a second by default), so an app added, changed or disabled by ``wxauth apps`` or by a
platform push on one process is seen by all within about that long, with no restart and no
Redis. While the store cannot be read, the last snapshot stays in use.

A reload never holds requests up for long (:mod:`wxauth.core.refresh`). The first read of a
process and the one after :meth:`AppRegistry.invalidate` (this process changed the
registry) are waited for, and so is the reload under way when a lookup finds no such appid
in the stale snapshot (an app just added).

``seed`` holds the apps of ``WXAUTH_APPS`` (appid to secret): they are served even when the
store has no row for them, and their secret wins over a stored one (an override); a stored
row still decides their status and settings, so ``wxauth apps disable`` works on them too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta

from wxauth.core.keyring import Keyring
from wxauth.core.models import APP_ACTIVE, APP_DIRECT, APP_DISABLED, App
from wxauth.core.ports import Store
from wxauth.core.refresh import BackgroundReload
from wxauth.core.tokens import SessionPolicy
from wxauth.errors import AppDisabled, AuthorizationWithdrawn, InvalidRequest, ServerMisconfigured

log = logging.getLogger(__name__)

APP_REMOVED = "removed"
WITHDRAWN = "unauthorized"  # the disabled_reason of an app whose merchant withdrew it

Monotonic = Callable[[], float]

# A mini program's appid: "wx" and 16 hexadecimal digits (as the WeChat console shows it).
APPID = re.compile(r"wx[0-9a-f]{16}", re.IGNORECASE)


def check_appid(appid: str) -> str:
    if not APPID.fullmatch(appid):
        raise ValueError(
            f"{appid!r} is not an appid: an appid is wx and 16 hexadecimal digits "
            "(e.g. wx0123456789abcdef)"
        )
    return appid


def app_disabled(app: App) -> AppDisabled:
    if app.disabled_reason == WITHDRAWN:
        return AuthorizationWithdrawn()
    return AppDisabled()


class AppRegistry:
    """The deployment's apps: a snapshot of the store's registry plus the seeded ones."""

    def __init__(
        self,
        store: Store,
        *,
        seed: Mapping[str, str] | None = None,
        ttl: float = 0.5,
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        self._store = store
        self._seed = dict(seed or {})
        self.ttl = ttl
        self._now = monotonic
        self._apps: dict[str, App] = {}
        self._loaded_at: float | None = None
        self._loading: asyncio.Lock | None = None
        self._refresh = BackgroundReload(self._reload, name="wxauth-app-registry")

    def __repr__(self) -> str:
        return f"AppRegistry(seeded={sorted(self._seed)}, known={sorted(self._apps)})"

    async def snapshot(self) -> dict[str, App]:
        """Every app known now (removed ones included), by appid."""
        if self._loaded_at is None:
            await self._reload()
        elif self._now() - self._loaded_at >= self.ttl:
            await self._refresh.start()
        return self._apps

    async def settled(self) -> None:
        """Wait for a background reload in flight, if there is one."""
        await self._refresh.settled()

    async def aclose(self) -> None:
        await self._refresh.aclose()

    def latest(self) -> dict[str, App]:
        """The last snapshot, without reading the store (the seeded apps before any)."""
        return self._apps if self._loaded_at is not None else self._seeded(self._apps)

    def invalidate(self) -> None:
        """Read the store again on next use (after this process changed it)."""
        self._loaded_at = None

    async def _reload(self) -> None:
        if self._loading is None:
            self._loading = asyncio.Lock()
        async with self._loading:  # one reload at a time; the others use its result
            if self._loaded_at is not None and self._now() - self._loaded_at < self.ttl:
                return
            try:
                stored = await self._store.list_apps()
            except Exception as exc:
                if self._loaded_at is None and not self._apps:
                    self._apps = self._seeded({})
                log.warning("apps: could not reload the registry (%s)", type(exc).__name__)
                self._loaded_at = self._now()
                return
            self._apps = self._seeded({app.appid: app for app in stored})
            self._loaded_at = self._now()

    def _seeded(self, stored: dict[str, App]) -> dict[str, App]:
        apps = dict(stored)
        for appid in self._seed:
            if appid not in apps or apps[appid].status == APP_REMOVED:
                apps[appid] = App(appid=appid, mode=APP_DIRECT)
        return apps

    async def get(self, appid: str) -> App | None:
        found = (await self.snapshot()).get(appid)
        if found is None and self._refresh.running:
            # Not in the stale snapshot: perhaps just added; the reload under way decides.
            await self.settled()
            found = self._apps.get(appid)
        return found

    async def served(self) -> list[App]:
        """The apps that are not removed (disabled ones included)."""
        return [a for a in (await self.snapshot()).values() if a.status != APP_REMOVED]

    async def resolve(self, appid: str | None) -> App:
        """The app a login names (or the only one served): :class:`InvalidRequest` for an
        unknown appid, :class:`AppDisabled` for a disabled one."""
        if appid is None:
            served = await self.served()
            if len(served) != 1:
                raise InvalidRequest("Several mini programs are configured: name the appid.")
            app = served[0]
        else:
            found = await self.get(appid)
            if found is None or found.status == APP_REMOVED:
                raise InvalidRequest("Unknown appid: this server is not configured for it.")
            app = found
        if app.status != APP_ACTIVE:
            raise app_disabled(app)
        return app

    async def check_session_app(self, appid: str) -> None:
        """:class:`AppDisabled` when the registry holds ``appid`` as not active: every token
        of a disabled or removed app stops working. An appid it has never heard of passes
        (a verifier process may serve apps configured only in the service's environment)."""
        app = await self.get(appid)
        if app is not None and app.status != APP_ACTIVE:
            raise app_disabled(app)

    def secret(self, app: App, keyring: Keyring) -> str:
        """The app secret to log in with: the seeded one, else the stored one, decrypted."""
        if app.appid in self._seed:
            return self._seed[app.appid]
        if app.secret_enc is None:
            raise ServerMisconfigured(f"the app {app.appid} has no secret: run wxauth apps add")
        return keyring.decrypt(app.secret_enc)


class RegistrySecrets(Mapping[str, str]):
    """The secrets of the active apps, from the registry's latest snapshot: what
    the access-token manager reads (it is synchronous; token checks keep the snapshot
    fresh)."""

    def __init__(self, registry: AppRegistry, keyring: Callable[[], Keyring]) -> None:
        self._registry = registry
        self._keyring = keyring

    def __repr__(self) -> str:
        return f"RegistrySecrets({sorted(self)})"

    def _usable(self) -> dict[str, App]:
        return {
            appid: app for appid, app in self._registry.latest().items() if app.status == APP_ACTIVE
        }

    def __getitem__(self, appid: str) -> str:
        app = self._usable()[appid]
        if app.mode != APP_DIRECT:
            return ""  # a platform app's tokens come from its platform (RoutedTokenSource)
        return self._registry.secret(app, self._keyring())

    def __iter__(self) -> Iterator[str]:
        return iter(self._usable())

    def __len__(self) -> int:
        return len(self._usable())


def app_policy(policy: SessionPolicy, app: App | None) -> SessionPolicy:
    """The session lifetimes of ``app``: its own where it sets them, else the deployment's."""
    if app is None or (app.session_idle_ttl is None and app.session_max_ttl is None):
        return policy
    idle = timedelta(seconds=app.session_idle_ttl) if app.session_idle_ttl else policy.idle_ttl
    most = timedelta(seconds=app.session_max_ttl) if app.session_max_ttl else policy.max_ttl
    return dataclasses.replace(policy, idle_ttl=min(idle, most), max_ttl=most)


def disabled(app: App, reason: str | None, now: datetime) -> App:
    return dataclasses.replace(app, status=APP_DISABLED, disabled_reason=reason, updated_at=now)


def enabled(app: App, now: datetime) -> App:
    return dataclasses.replace(app, status=APP_ACTIVE, disabled_reason=None, updated_at=now)
