"""FastAPI: ``CurrentUser`` for routes and :func:`install` to give an app its verifier.
(To serve the wxauth API itself inside an existing app: :func:`wxauth.api.mount.mount_wxauth`.)

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

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from wxauth.errors import InvalidToken, WxAuthError
from wxauth.integrations.identity import Identity, Refusal, TokenVerifier

STATE_KEY = "wxauth_verifier"


def install(app: FastAPI, verifier: TokenVerifier, *, close_on_shutdown: bool = True) -> None:
    """Let ``CurrentUser`` work in ``app``: keep ``verifier``, render wxauth's errors, and
    (unless told otherwise) close the verifier when the app shuts down."""
    setattr(app.state, STATE_KEY, verifier)
    app.add_exception_handler(WxAuthError, _on_wxauth_error)
    if close_on_shutdown:
        chain_lifespan(app, lambda: _closing(verifier))


def verifier_of(request: Request) -> TokenVerifier:
    verifier: TokenVerifier | None = getattr(request.app.state, STATE_KEY, None)
    if verifier is None:
        raise RuntimeError("no wxauth verifier: call wxauth.integrations.fastapi.install(app, ...)")
    return verifier


bearer = HTTPBearer(auto_error=False, description="The wxauth session token from /v1/login.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def current_identity(request: Request, credentials: Credentials) -> Identity:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise InvalidToken()
    return await verifier_of(request).verify(credentials.credentials)


async def optional_identity(request: Request, credentials: Credentials) -> Identity | None:
    """``None`` without a token; a token that is sent must be valid."""
    if credentials is None:
        return None
    return await verifier_of(request).verify(credentials.credentials)


CurrentUser = Annotated[Identity, Depends(current_identity)]
OptionalUser = Annotated[Identity | None, Depends(optional_identity)]


async def _on_wxauth_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, WxAuthError)
    request_id = request.scope.get("state", {}).get("request_id")
    refusal = Refusal.of(exc, request_id if isinstance(request_id, str) else None)
    return JSONResponse(refusal.body, status_code=refusal.status, headers=refusal.headers)


@asynccontextmanager
async def _closing(verifier: TokenVerifier) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await verifier.aclose()


def chain_lifespan(app: FastAPI, extra: Callable[[], AbstractAsyncContextManager[Any]]) -> None:
    """Run ``extra`` around the app's own lifespan (Starlette skips mounted apps' own)."""
    original = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(outer: Any) -> AsyncIterator[Any]:
        async with extra(), original(outer) as state:
            yield state

    app.router.lifespan_context = lifespan
