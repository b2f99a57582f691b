"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import httpx
from fastapi import FastAPI

from wxauth import __version__
from wxauth.api import errors, openapi
from wxauth.api.clientip import ClientIp
from wxauth.api.docs import install_docs
from wxauth.api.metrics import Metrics, MetricsMiddleware
from wxauth.api.middleware import RequestContext
from wxauth.api.ratelimit import RateLimiter
from wxauth.api.routes import (
    account,
    auth,
    avatar,
    health,
    introspect,
    me,
    phone,
    platform,
    tokens,
    wechat_token,
)
from wxauth.api.schemas import ErrorBody
from wxauth.api.state import ApiState
from wxauth.config import Settings
from wxauth.core.ports import Clock, utcnow
from wxauth.errors import ServerMisconfigured
from wxauth.wiring import Wiring

if TYPE_CHECKING:
    from fastapi.telemetry import TelemetryConfig


def body_limits(settings: Settings) -> dict[str, int]:
    """Paths whose body may exceed ``max_body_bytes``: the avatar upload."""
    return {"/v1/me/avatar": settings.avatar_max_bytes + avatar.MULTIPART_OVERHEAD}


def telemetry(settings: Settings) -> TelemetryConfig:
    """FastAPI's own OpenTelemetry: spans and request metrics through the global providers
    with ``WXAUTH_OPENTELEMETRY``; never its logs, which would carry exceptions' messages
    out of the process. Off, a request does not even ask whether a provider is set (that
    question cost 3 % of a token check)."""
    on = settings.opentelemetry
    return {"tracing": on, "metrics": on, "operation_spans": on, "logs": False}


def create_app(
    settings: Settings,
    *,
    wechat_transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock = utcnow,
) -> FastAPI:
    """Build the API for ``settings``.

    ``wechat_transport`` lets WeChat be reached in-process (the simulator through
    ``httpx.ASGITransport``); ``clock`` lets tests move time.
    """
    if not settings.secret_keys:
        raise ServerMisconfigured(
            "no at-rest key: set WXAUTH_SECRET_KEYS (make one with `wxauth keys generate`)"
        )
    wiring = Wiring(settings, wechat_transport=wechat_transport, clock=clock)
    # Built now, not on the first request: a bad setting shows at start, not under load.
    wiring.login, wiring.authenticator, wiring.accounts, wiring.phones, wiring.avatars  # noqa: B018

    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Each server process delivers webhooks; their leases make that safe (see
        # wxauth.core.webhook_worker). It waits while there are no subscriptions.
        worker: asyncio.Task[None] | None = None
        if settings.webhook_worker:
            wiring.webhook_worker.observer = metrics
            worker = asyncio.create_task(wiring.webhook_worker.run(), name="webhooks")
        try:
            yield
        finally:
            if worker is not None:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            await wiring.aclose()

    app = FastAPI(
        title="wxauth",
        version=__version__,
        summary="Login and session service for WeChat Mini Programs.",
        lifespan=lifespan,
        docs_url=None,  # served by install_docs, from local assets
        redoc_url=None,  # likewise
        telemetry=telemetry(settings),
        responses={
            413: {"model": ErrorBody, "description": "payload_too_large"},
            500: {"model": ErrorBody, "description": "internal_error or server_misconfigured"},
            503: {
                "model": ErrorBody,
                "description": "storage_unavailable: the database cannot serve right now",
            },
        },
    )
    app.state.wxauth = ApiState(
        settings=settings,
        wiring=wiring,
        limiter=RateLimiter(
            window=settings.rate_limit_window,
            redis=wiring.redis,
            prefix=settings.redis_prefix,
            health=wiring.redis_health,
            clock=lambda: wiring.clock().timestamp(),
        ),
        client_ip=ClientIp(settings.trusted_proxies, settings.client_ip_header),
    )
    errors.install(app)
    openapi.install(app)
    for module in (
        auth,
        me,
        account,
        health,
        phone,
        avatar,
        introspect,
        tokens,
        wechat_token,
        platform,
    ):
        app.include_router(module.router)
    install_docs(app)
    if settings.console:
        from wxauth.api.console import install_console

        install_console(app)
    app.include_router(metrics.router())
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(
        RequestContext, max_body_bytes=settings.max_body_bytes, path_limits=body_limits(settings)
    )
    return app
