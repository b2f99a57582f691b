"""The console's Apps page: the registry's apps and the platforms' state for everyone, and
for admins the changes :class:`~wxauth.core.app_admin.AppAdmin` makes (the ones
``wxauth apps`` makes), each recorded under the operator's name. A secret typed here is
stored encrypted and never shown back, logged or recorded."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import TypeVar
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from wxauth.api.console.apps_view import app_row, app_rows, platform_views
from wxauth.api.console.web import (
    PATH,
    AdminDep,
    ConsoleRefused,
    FormDep,
    Signed,
    SignedDep,
    client_ip,
    page,
)
from wxauth.api.state import api_state
from wxauth.core.app_admin import SETTINGS, Changes
from wxauth.errors import InvalidRequest, NotFound, WxAuthError

router = APIRouter(prefix=PATH, include_in_schema=False)

T = TypeVar("T")
NUMBER_MAX_DIGITS = 9
URL_MAX = 512


async def refused_as_page(work: Awaitable[T]) -> T:
    """A change the core refuses is answered with its message, and nothing changed."""
    try:
        return await work
    except NotFound as exc:
        raise ConsoleRefused(404, exc.message) from None
    except InvalidRequest as exc:
        raise ConsoleRefused(400, exc.message) from None


async def _record(
    request: Request, signed: Signed, action: str, target: str, detail: str | None = None
) -> None:
    await api_state(request).wiring.operators.record(
        signed.operator.name, action, target=target, ip=client_ip(request), detail=detail
    )


def _done(appid: str, what: str) -> Response:
    return RedirectResponse(f"{PATH}/apps/{appid}?done={what}", status_code=303)


def settings_changes(form: Mapping[str, str]) -> Changes:
    """The settings form as changes: every field given, an empty one meaning the
    deployment's default; a number that is not one is refused here, its bounds in the core."""
    changes: dict[str, int | str | None] = {}
    for key, bounds in SETTINGS.items():
        text = form.get(key, "").strip()
        if bounds is None:
            changes[key] = text or None
        elif not text:
            changes[key] = None
        elif text.isascii() and text.isdigit() and len(text) <= NUMBER_MAX_DIGITS:
            changes[key] = int(text)
        else:
            raise ConsoleRefused(400, f"{key}: {text[:20]!r} is not a whole number of seconds "
                                      "or logins (leave it empty for the default).")  # fmt: skip
    return changes


@router.get("/apps")
async def apps_page(request: Request, signed: SignedDep) -> Response:
    state = api_state(request)
    rows = await app_rows(state)
    context = {"apps": rows, "platforms": await platform_views(state, rows), "link": None}
    return page(request, "apps.html", context, signed=signed)


@router.post("/apps")
async def add_app(request: Request, signed: AdminDep, form: FormDep) -> Response:
    appid = form.get("appid", "").strip()[:64]
    admin = api_state(request).wiring.app_admin
    saved = await refused_as_page(
        admin.add(appid, secret=form.get("secret", "").strip(), exists_ok=False)
    )
    await _record(request, signed, "app_added", saved.appid)
    return _done(saved.appid, "added")


@router.get("/apps/{appid}")
async def app_page(request: Request, appid: str, signed: SignedDep) -> Response:
    state = api_state(request)
    row = await app_row(state, appid)
    if row is None:
        raise ConsoleRefused(404, f"No app {appid[:64]} is served.")
    context = {"row": row, "app": row.app, "done": request.query_params.get("done"),
               "defaults": state.settings}  # fmt: skip
    return page(request, "app.html", context, signed=signed)


@router.post("/apps/{appid}/disable")
async def disable_app(request: Request, appid: str, signed: AdminDep, form: FormDep) -> Response:
    if form.get("confirm", "").strip() != appid:
        raise ConsoleRefused(400, "Type the appid to confirm: its sessions end at once.")
    reason = form.get("reason", "").strip() or None
    admin = api_state(request).wiring.app_admin
    ended = await refused_as_page(admin.disable(appid, reason=reason))
    await _record(request, signed, "app_disabled", appid,
                  f"{reason or 'no reason given'}; {ended} sessions ended")  # fmt: skip
    return _done(appid, "disabled")


@router.post("/apps/{appid}/enable")
async def enable_app(request: Request, appid: str, signed: AdminDep) -> Response:
    await refused_as_page(api_state(request).wiring.app_admin.enable(appid))
    await _record(request, signed, "app_enabled", appid)
    return _done(appid, "enabled")


@router.post("/apps/{appid}/secret")
async def rotate_secret(request: Request, appid: str, signed: AdminDep, form: FormDep) -> Response:
    secret = form.get("secret", "").strip()
    if secret != form.get("secret_again", "").strip():
        raise ConsoleRefused(400, "The two secrets differ: nothing was changed.")
    await refused_as_page(api_state(request).wiring.app_admin.rotate_secret(appid, secret))
    await _record(request, signed, "app_secret_rotated", appid)
    return _done(appid, "secret")


@router.post("/apps/{appid}/settings")
async def change_settings(
    request: Request, appid: str, signed: AdminDep, form: FormDep
) -> Response:
    changes = settings_changes(form)
    await refused_as_page(api_state(request).wiring.app_admin.update(appid, changes))
    detail = ", ".join(f"{k}={'default' if v is None else v}" for k, v in changes.items())
    await _record(request, signed, "app_settings_changed", appid, detail)
    return _done(appid, "settings")


@router.post("/platforms/{component_appid}/authorize-link")
async def authorize_link(
    request: Request, component_appid: str, signed: AdminDep, form: FormDep
) -> Response:
    """A fresh authorization page for a merchant (``wxauth apps authorize-link``): asks
    WeChat for a pre_auth_code, so it may fail as WeChat does."""
    state = api_state(request)
    platform = state.wiring.platforms.get(component_appid)
    if platform is None:
        raise ConsoleRefused(404, f"No platform {component_appid[:64]} is configured.")
    redirect_uri = form.get("redirect_uri", "").strip()
    parts = urlsplit(redirect_uri)
    if len(redirect_uri) > URL_MAX or parts.scheme not in ("https", "http") or not parts.netloc:
        raise ConsoleRefused(400, "The redirect URI is an http(s) URL of at most 512 characters.")
    try:
        link = await platform.authorization_link(redirect_uri)
    except WxAuthError as exc:
        raise ConsoleRefused(502, f"WeChat did not give a link: {exc.message}") from None
    await _record(request, signed, "authorize_link_created", component_appid, redirect_uri)
    rows = await app_rows(state)
    context = {"apps": rows, "platforms": await platform_views(state, rows),
               "link": (component_appid, link)}  # fmt: skip
    return page(request, "apps.html", context, signed=signed)
