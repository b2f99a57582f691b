"""The console's pages: sign-in, dashboard, users and the audit trail (the Apps page is
:mod:`wxauth.api.console.apps`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from wxauth.api.console import dashboard
from wxauth.api.console.apps_view import app_choices, app_filter
from wxauth.api.console.labels import LABELS, LANGUAGES, translator
from wxauth.api.console.web import (
    COOKIE,
    LANG_COOKIE,
    PATH,
    PRE_COOKIE,
    SECURITY_HEADERS,
    AdminDep,
    ConsoleRefused,
    FormDep,
    Signed,
    SignedDep,
    client_ip,
    current,
    language,
    new_pre_token,
    page,
    pre_token_ok,
    set_cookie,
)
from wxauth.api.state import ApiState, api_state
from wxauth.core.insights import EventQuery
from wxauth.core.models import User
from wxauth.core.operators import SignInRefused
from wxauth.errors import RateLimited

router = APIRouter(prefix=PATH, include_in_schema=False)

SIGNIN_NAME = "console-signin-name"
SIGNIN_IP = "console-signin-ip"


def _mask(phone: str | None) -> str:
    if not phone:
        return "-"
    return phone[:3] + "*" * max(len(phone) - 7, 0) + phone[-4:]


def _instant(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise ConsoleRefused(400, f"Not a time: {value!r} (use ISO 8601).") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)  # times shown are UTC


# -- signing in ---------------------------------------------------------------------------


@router.get("")
async def home(request: Request) -> Response:
    target = "dashboard" if await current(request) else "signin"
    return RedirectResponse(f"{PATH}/{target}", status_code=303)


def _signin_page(request: Request, *, error: str | None = None, status: int = 200) -> Response:
    pre = new_pre_token()
    response = page(request, "signin.html", {"pre": pre, "error": error}, status=status)
    set_cookie(response, request, PRE_COOKIE, pre, max_age=3600)
    return response


@router.get("/signin")
async def signin_form(request: Request) -> Response:
    return _signin_page(request)


@router.post("/signin")
async def signin(request: Request) -> Response:
    state = api_state(request)
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    if not pre_token_ok(request, values.get("csrf", "")):
        raise ConsoleRefused(403, "The form's CSRF token is missing or wrong: reload the page.")
    name = values.get("name", "")[:64]
    ip = client_ip(request) or "unknown"
    t = translator(language(request))
    settings = state.settings
    try:
        await state.limiter.check(SIGNIN_NAME, name, settings.rate_limit_console_signin_name)
        await state.limiter.check(SIGNIN_IP, ip, settings.rate_limit_console_signin_ip)
    except RateLimited as exc:
        await state.wiring.operators.record(name, "sign_in_throttled", ip=ip)
        return _signin_page(request, error=t("throttled", seconds=exc.retry_after), status=429)
    try:
        done = await state.wiring.operators.sign_in(
            name, values.get("password", ""), totp=values.get("totp") or None, ip=ip
        )
    except SignInRefused:
        await state.limiter.failed(SIGNIN_NAME, name, settings.rate_limit_console_signin_name)
        await state.limiter.failed(SIGNIN_IP, ip, settings.rate_limit_console_signin_ip)
        return _signin_page(request, error=t("wrong"), status=401)
    response = RedirectResponse(f"{PATH}/dashboard", status_code=303)
    set_cookie(response, request, COOKIE, done.token, max_age=settings.console_max_ttl)
    response.delete_cookie(PRE_COOKIE, path=PATH)
    return response


@router.post("/signout")
async def signout(request: Request, signed: SignedDep, _form: FormDep) -> Response:
    await api_state(request).wiring.operators.sign_out(signed.token, ip=client_ip(request))
    response = RedirectResponse(f"{PATH}/signin", status_code=303)
    response.delete_cookie(COOKIE, path=PATH)
    return response


@router.get("/lang/{lang}")
async def choose_language(request: Request, lang: str, next: str = PATH) -> Response:
    target = next if next.startswith(PATH) and "//" not in next else PATH
    response = RedirectResponse(target, status_code=303)
    if lang in LANGUAGES:
        set_cookie(response, request, LANG_COOKIE, lang, max_age=365 * 86400)
    return response


# -- dashboard ----------------------------------------------------------------------------


@router.get("/dashboard")
async def dashboard_page(
    request: Request, signed: SignedDep, app: Annotated[str | None, Query()] = None
) -> Response:
    state = api_state(request)
    appid = await app_filter(state, app)
    lang = language(request)
    titles = {key: LABELS[key].get(lang, LABELS[key]["en"]) for key in LABELS}
    board = await dashboard.build(state.wiring.store, state.wiring.clock(), appid, titles)
    context = {"board": board, "apps": await app_choices(state), "appid": appid}
    return page(request, "dashboard.html", context, signed=signed)


# -- users --------------------------------------------------------------------------------


@router.get("/users")
async def users_page(
    request: Request,
    signed: SignedDep,
    q: Annotated[str, Query(max_length=128)] = "",
    app: Annotated[str | None, Query()] = None,
) -> Response:
    state = api_state(request)
    appid = await app_filter(state, app)
    query = q.strip()
    found: list[User] = []
    if query:
        found = await state.wiring.store.search_users(query, appid=appid, limit=100)
        await state.wiring.operators.record(
            signed.operator.name, "users_searched", ip=client_ip(request), detail=query[:200]
        )
    else:
        found = list(reversed(await state.wiring.store.list_users(appid=appid, limit=100)))
    context = {"q": query, "found": found, "apps": await app_choices(state), "appid": appid,
               "mask": _mask}  # fmt: skip
    return page(request, "users.html", context, signed=signed)


async def _user_or_404(state: ApiState, user_id: str) -> User:
    user = await state.wiring.store.get_user(user_id)
    if user is None:
        raise ConsoleRefused(404, "No such user.")
    return user


async def _user_page(
    request: Request, signed: Signed, user: User, *, phone: str | None = None,
    notice: str | None = None,
) -> Response:  # fmt: skip
    store = api_state(request).wiring.store
    now = api_state(request).wiring.clock()
    context = {
        "user": user,
        "phone": phone or _mask(user.phone),
        "revealed": phone is not None,
        "sessions": await store.list_sessions(user.id),
        "logins": await store.list_login_events(limit=50, user_id=user.id),
        "events": await store.list_account_events(limit=50, user_id=user.id),
        "now": now,
        "notice": notice,
        "disabled": user.is_disabled(now),
    }
    return page(request, "user.html", context, signed=signed)


@router.get("/users/{user_id}")
async def user_page(request: Request, user_id: str, signed: SignedDep) -> Response:
    user = await _user_or_404(api_state(request), user_id)
    return await _user_page(request, signed, user)


@router.post("/users/{user_id}/phone")
async def reveal_phone(request: Request, user_id: str, signed: SignedDep, _f: FormDep) -> Response:
    """Reading is allowed to viewers, but the full number is shown only on request, and
    that request is recorded."""
    state = api_state(request)
    user = await _user_or_404(state, user_id)
    await state.wiring.operators.record(
        signed.operator.name, "phone_revealed", target=user.id, ip=client_ip(request)
    )
    return await _user_page(request, signed, user, phone=user.phone or "-")


def _done(request: Request, user_id: str) -> Response:
    return RedirectResponse(f"{PATH}/users/{user_id}?done=1", status_code=303)


@router.post("/users/{user_id}/disable")
async def disable_user(request: Request, user_id: str, signed: AdminDep, form: FormDep) -> Response:
    state = api_state(request)
    user = await _user_or_404(state, user_id)
    reason = form.get("reason", "").strip()[:200] or "disabled by an operator"
    until = _instant(form.get("until"))
    await state.wiring.accounts.disable(user.id, reason=reason, until=until)
    await state.wiring.operators.record(
        signed.operator.name, "user_disabled", target=user.id, ip=client_ip(request),
        detail=reason,
    )  # fmt: skip
    return _done(request, user.id)


@router.post("/users/{user_id}/enable")
async def enable_user(request: Request, user_id: str, signed: AdminDep) -> Response:
    state = api_state(request)
    user = await _user_or_404(state, user_id)
    await state.wiring.accounts.enable(user.id)
    await state.wiring.operators.record(
        signed.operator.name, "user_enabled", target=user.id, ip=client_ip(request)
    )
    return _done(request, user.id)


@router.post("/users/{user_id}/revoke")
async def revoke_sessions(request: Request, user_id: str, signed: AdminDep) -> Response:
    state = api_state(request)
    user = await _user_or_404(state, user_id)
    count = await state.wiring.store.revoke_user_sessions(user.id, state.wiring.clock())
    await state.wiring.operators.record(
        signed.operator.name, "sessions_revoked", target=user.id, ip=client_ip(request),
        detail=f"{count} sessions",
    )  # fmt: skip
    return _done(request, user.id)


@router.post("/users/{user_id}/export")
async def export_user(request: Request, user_id: str, signed: AdminDep) -> Response:
    state = api_state(request)
    user = await _user_or_404(state, user_id)
    data = await state.wiring.accounts.export(user, client_ip(request))
    await state.wiring.operators.record(
        signed.operator.name, "user_exported", target=user.id, ip=client_ip(request)
    )
    disposition = f'attachment; filename="wxauth-user-{user.id}.json"'
    headers = {**SECURITY_HEADERS, "Content-Disposition": disposition}
    body = json.dumps(data, ensure_ascii=False, indent=2)
    return Response(body, media_type="application/json", headers=headers)


@router.post("/users/{user_id}/delete")
async def delete_user(request: Request, user_id: str, signed: AdminDep, form: FormDep) -> Response:
    state = api_state(request)
    user = await _user_or_404(state, user_id)
    if form.get("confirm") != "DELETE":
        raise ConsoleRefused(400, "Type DELETE to confirm the deletion.")
    await state.wiring.accounts.erase(user.id, actor="operator")
    await state.wiring.operators.record(
        signed.operator.name, "user_deleted", target=user.id, ip=client_ip(request)
    )
    return RedirectResponse(f"{PATH}/users", status_code=303)


# -- the audit trail ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditFilter:
    since: str = ""
    until: str = ""
    app: str = ""
    user: str = ""
    result: str = ""
    operator: str = ""


async def audit_filter(
    since: str = "", until: str = "", app: str = "", user: str = "", result: str = "",
    operator: str = "",
) -> AuditFilter:  # fmt: skip
    return AuditFilter(since, until, app, user, result, operator)


@router.get("/audit")
async def audit_page(
    request: Request, signed: SignedDep, f: Annotated[AuditFilter, Depends(audit_filter)]
) -> Response:
    state = api_state(request)
    since, until = _instant(f.since), _instant(f.until)
    logins = []
    if not f.operator:
        logins = await state.wiring.store.search_login_events(
            EventQuery(
                since=since, until=until, appid=f.app or None, user_id=f.user or None,
                result=f.result or None, limit=200,
            )
        )  # fmt: skip
    actions = await state.wiring.operators.store.list_operator_events(
        limit=200, operator=f.operator or None, since=since, until=until
    )
    if f.user:
        actions = [a for a in actions if a.target == f.user]
    context = {"f": f, "logins": logins, "actions": actions, "apps": await app_choices(state)}
    return page(request, "audit.html", context, signed=signed)
