"""The console's plumbing: its session cookie, CSRF tokens, the operator behind a request,
and pages rendered from the templates shipped beside this module."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from wxauth.api.console.labels import pick_language, translator
from wxauth.api.state import ApiState, api_state
from wxauth.core.operators import Operator, OperatorSession, csrf_ok, csrf_token

COOKIE = "wxauth_console"
PRE_COOKIE = "wxauth_console_pre"  # the sign-in form's CSRF token, before there is a session
LANG_COOKIE = "wxauth_console_lang"
PATH = "/console"

# Nothing is loaded from anywhere but this server; no script runs; no one may frame it.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

templates = Environment(
    loader=PackageLoader("wxauth.api.console", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


class ConsoleRefused(Exception):
    """A console request refused: rendered as a page (not the API's JSON), with a status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Signed:
    """The operator behind a console request, with what the pages need to act for them."""

    operator: Operator
    session: OperatorSession
    token: str
    csrf: str


def csrf_key(state: ApiState) -> bytes:
    keys = state.settings.secret_key_bytes()
    return hashlib.sha256(b"wxauth-console-csrf\0" + keys[0]).digest()


def secure(request: Request, state: ApiState) -> bool:
    public = state.settings.public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


def set_cookie(
    response: Response, request: Request, name: str, value: str, *, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=secure(request, api_state(request)),
    )


def client_ip(request: Request) -> str | None:
    return api_state(request).client_ip(request)


def language(request: Request) -> str:
    return pick_language(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


def page(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
    signed: Signed | None = None,
) -> HTMLResponse:
    lang = language(request)
    body = templates.get_template(template).render(
        t=translator(lang), lang=lang, signed=signed, path=request.url.path, **context
    )
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)


async def current(request: Request) -> Signed | None:
    state = api_state(request)
    token = request.cookies.get(COOKIE, "")
    found = await state.wiring.operators.authenticate(token)
    if found is None:
        return None
    operator, session = found
    return Signed(operator, session, token, csrf_token(token, csrf_key(state)))


async def signed_in(request: Request) -> Signed:
    signed = await current(request)
    if signed is None:
        # Pages send the browser to the sign-in form; a form posted without a session is
        # refused outright.
        if request.method == "GET":
            raise ConsoleRefused(303, f"{PATH}/signin")
        raise ConsoleRefused(401, "Sign in first.")
    return signed


SignedDep = Annotated[Signed, Depends(signed_in)]


async def checked_form(request: Request, signed: SignedDep) -> dict[str, str]:
    """The posted form, once its CSRF token is this session's."""
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    if not csrf_ok(signed.token, csrf_key(api_state(request)), values.get("csrf", "")):
        raise ConsoleRefused(403, "The form's CSRF token is missing or wrong: reload the page.")
    return values


FormDep = Annotated[dict[str, str], Depends(checked_form)]


async def admin(signed: SignedDep, _form: FormDep) -> Signed:
    """A write: the operator must be an admin (and the form's CSRF token right)."""
    if not signed.operator.can_write:
        raise ConsoleRefused(403, "A viewer cannot change anything.")
    return signed


AdminDep = Annotated[Signed, Depends(admin)]


def new_pre_token() -> str:
    return secrets.token_urlsafe(32)


def pre_token_ok(request: Request, given: str) -> bool:
    expected = request.cookies.get(PRE_COOKIE, "")
    return bool(expected) and bool(given) and hmac.compare_digest(expected, given)
