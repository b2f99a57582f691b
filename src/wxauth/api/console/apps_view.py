"""What the Apps page shows: the registry's apps with their counts, and the state of each
third-party platform, read from the store and this process's caches (never from WeChat)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from wxauth.api.state import ApiState
from wxauth.core.apps import APP_REMOVED, WITHDRAWN
from wxauth.core.models import APP_ACTIVE, APP_PLATFORM, App
from wxauth.platform import Platform

log = logging.getLogger(__name__)

# WeChat pushes a component_verify_ticket every ten minutes; one is good for 12 hours.
TICKET_LIFETIME = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class AppRow:
    """One app as the page lists it (never its secret)."""

    app: App
    seeded: bool  # served because WXAUTH_APPS names it (its secret comes from there)
    users: int = 0
    live_sessions: int = 0

    @property
    def appid(self) -> str:
        return self.app.appid

    @property
    def status(self) -> str:
        """``active``, ``disabled`` or ``withdrawn`` (the merchant took it back)."""
        if self.app.status == APP_ACTIVE:
            return APP_ACTIVE
        return "withdrawn" if self.app.disabled_reason == WITHDRAWN else self.app.status

    @property
    def kind(self) -> str:
        return "platform" if self.app.mode == APP_PLATFORM else "direct"

    @property
    def has_secret(self) -> bool:
        return self.seeded or self.app.secret_enc is not None


@dataclass(frozen=True, slots=True)
class PlatformView:
    """A platform's state: its newest ticket, its component token, its merchants."""

    component_appid: str
    ticket_at: datetime | None
    ticket_age: str
    ticket_ok: bool  # there is one, younger than WeChat's 12 hours
    token_state: str  # "cached", "expired", "none" (not fetched yet), "unknown"
    token_expires_at: datetime | None
    merchants: list[AppRow]


def age_text(age: timedelta) -> str:
    minutes = max(0, int(age.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours < 48 else f"{hours // 24} d {hours % 24} h"


async def app_choices(state: ApiState) -> list[str]:
    """The appids an app picker offers: every app the registry serves."""
    return sorted(a.appid for a in await state.wiring.registry.served())


async def app_filter(state: ApiState, app: str | None) -> str | None:
    """``app`` when the registry serves it, else None (all apps)."""
    return app if app and app in await app_choices(state) else None


async def app_rows(state: ApiState) -> list[AppRow]:
    """Every app served, seeded and stored, by appid, with its users and live sessions."""
    wiring = state.wiring
    seeded = set(state.settings.apps)
    counts = {c.appid: c for c in await wiring.store.app_counts(wiring.clock())}
    rows = []
    for app in sorted(await wiring.registry.served(), key=lambda a: a.appid):
        c = counts.get(app.appid)
        rows.append(AppRow(app, app.appid in seeded, c.users if c else 0,
                           c.live_sessions if c else 0))  # fmt: skip
    return rows


async def app_row(state: ApiState, appid: str) -> AppRow | None:
    wiring = state.wiring
    wiring.registry.invalidate()  # the page shows the registry as it is now
    app = await wiring.registry.get(appid)
    if app is None or app.status == APP_REMOVED:
        return None
    users = await wiring.store.app_counts(wiring.clock())
    c = next((x for x in users if x.appid == appid), None)
    seeded = appid in state.settings.apps
    return AppRow(app, seeded, c.users if c else 0, c.live_sessions if c else 0)


async def _token_state(platform: Platform, now: float) -> tuple[str, datetime | None]:
    try:
        cached = await platform.tokens.peek(platform.appid)
    except Exception as exc:  # the shared cache may be down: say so, do not fail the page
        log.warning("console: component token state unknown (%s)", type(exc).__name__)
        return "unknown", None
    if cached is None:
        return "none", None
    expires = datetime.fromtimestamp(cached.expires_at, tz=UTC)
    return ("cached" if now < cached.expires_at else "expired"), expires


async def platform_views(state: ApiState, rows: list[AppRow]) -> list[PlatformView]:
    """The state of every configured platform (none when the deployment is not one)."""
    views = []
    now = state.wiring.clock()
    for component_appid, platform in sorted(state.wiring.platforms.items()):
        found = await state.wiring.store.get_component_ticket(component_appid)
        received = found[1] if found else None
        age = now - received if received else None
        token_state, expires = await _token_state(platform, now.timestamp())
        views.append(
            PlatformView(
                component_appid=component_appid,
                ticket_at=received,
                ticket_age=age_text(age) if age is not None else "-",
                ticket_ok=age is not None and age < TICKET_LIFETIME,
                token_state=token_state,
                token_expires_at=expires,
                merchants=[r for r in rows if r.app.component_appid == component_appid],
            )
        )
    return views
