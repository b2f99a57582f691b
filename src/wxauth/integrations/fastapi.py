"""FastAPI: ``CurrentUser`` for routes, :func:`install` to give an app its verifier, and
:func:`mount_wxauth` to serve the wxauth API inside an existing app.

::

    app = FastAPI()
    install(app, RemoteVerifier.from_settings(VerifierSettings()))

    @app.get("/orders")
    async def orders(user: CurrentUser) -> list[Order]:
        return shop.orders_of(user.user_id)

A missing, unknown, expired or revoked token answers 401 ``invalid_token`` exactly as the
wxauth API does, so the mini program's client handles both alike.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from wxauth.api.app import create_app
from wxauth.api.deps import Credentials, TokenDep
from wxauth.api.errors import render, request_id_of
from wxauth.config import Settings
from wxauth.core.ports import Clock
from wxauth.core.service import WxAuth, utcnow
from wxauth.errors import WxAuthError
from wxauth.integrations.identity import Identity, TokenVerifier
from wxauth.integrations.local import LocalVerifier

STATE_KEY = "wxauth_verifier"


def install(app: FastAPI, verifier: TokenVerifier, *, close_on_shutdown: bool = True) -> None:
    """Let ``CurrentUser`` work in ``app``: keep ``verifier``, render wxauth's errors, and
    (unless told otherwise) close the verifier when the app shuts down."""
    setattr(app.state, STATE_KEY, verifier)
    app.add_exception_handler(WxAuthError, _on_wxauth_error)
    if close_on_shutdown:
        _chain_lifespan(app, lambda: _closing(verifier))


def mount_wxauth(
    app: FastAPI,
    settings: Settings,
    *,
    path: str = "/auth",
    wechat_transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock = utcnow,
) -> FastAPI:
    """Serve the whole wxauth API under ``path`` of ``app`` and check tokens in-process.

    The mini program then logs in at ``{path}/v1/login``; ``CurrentUser`` in ``app`` uses
    the mounted service directly (no HTTP, no cache: a revoked token is refused at once).
    The mounted API's startup and shutdown run inside ``app``'s. Returns the mounted API.
    """
    api = create_app(settings, wechat_transport=wechat_transport, clock=clock)
    app.mount(path, api)
    _chain_lifespan(app, lambda: api.router.lifespan_context(api))
    service: WxAuth = api.state.wxauth
    install(app, LocalVerifier(service), close_on_shutdown=False)
    return api


def verifier_of(request: Request) -> TokenVerifier:
    verifier: TokenVerifier | None = getattr(request.app.state, STATE_KEY, None)
    if verifier is None:
        raise RuntimeError("no wxauth verifier: call wxauth.integrations.fastapi.install(app, ...)")
    return verifier


async def current_identity(request: Request, token: TokenDep) -> Identity:
    return await verifier_of(request).verify(token)


async def optional_identity(request: Request, credentials: Credentials) -> Identity | None:
    """``None`` without a token; a token that is sent must be valid."""
    if credentials is None:
        return None
    return await verifier_of(request).verify(credentials.credentials)


CurrentUser = Annotated[Identity, Depends(current_identity)]
OptionalUser = Annotated[Identity | None, Depends(optional_identity)]


async def _on_wxauth_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, WxAuthError)
    return render(exc, request_id_of(request))


@asynccontextmanager
async def _closing(verifier: TokenVerifier) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await verifier.aclose()


def _chain_lifespan(app: FastAPI, extra: Callable[[], AbstractAsyncContextManager[Any]]) -> None:
    """Run ``extra`` around the app's own lifespan (Starlette skips mounted apps' own)."""
    original = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(outer: Any) -> AsyncIterator[Any]:
        async with extra(), original(outer) as state:
            yield state

    app.router.lifespan_context = lifespan
