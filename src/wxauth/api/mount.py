"""Serving the whole wxauth API inside an existing FastAPI app, with in-process token checks."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from wxauth.api.app import create_app
from wxauth.api.state import ApiState
from wxauth.config import Settings
from wxauth.core.ports import Clock, utcnow
from wxauth.integrations.fastapi import chain_lifespan, install
from wxauth.integrations.local import LocalVerifier


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
    chain_lifespan(app, lambda: api.router.lifespan_context(api))
    state: ApiState = api.state.wxauth
    install(app, LocalVerifier(state.wiring.authenticator), close_on_shutdown=False)
    return api
