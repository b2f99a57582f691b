"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from fastapi import FastAPI

from wxauth import __version__
from wxauth.api import errors, verified
from wxauth.api.clientip import ClientIp
from wxauth.api.metrics import Metrics, MetricsMiddleware
from wxauth.api.middleware import RequestContext
from wxauth.api.ratelimit import RateLimiter
from wxauth.api.routes import auth, health, introspect, me
from wxauth.api.schemas import ErrorBody
from wxauth.config import Settings
from wxauth.core.cache import CachedStore
from wxauth.core.codes import WeChatWithCodeGuard
from wxauth.core.keyring import Keyring
from wxauth.core.ports import Clock, Store, WeChatGateway
from wxauth.core.service import WxAuth, utcnow
from wxauth.core.tokens import SessionPolicy
from wxauth.storage.engine import create_engine
from wxauth.storage.redis import create_redis
from wxauth.storage.redis_cache import RedisCodeGuard, build_session_cache
from wxauth.storage.sql import SqlStore
from wxauth.wechat.breaker import CircuitBreaker, WeChatWithBreaker
from wxauth.wechat.client import WeChatClient

log = logging.getLogger(__name__)


def session_policy(settings: Settings) -> SessionPolicy:
    return SessionPolicy(
        idle_ttl=timedelta(seconds=settings.session_idle_ttl),
        max_ttl=timedelta(seconds=settings.session_max_ttl),
        touch_interval=timedelta(seconds=settings.session_touch_interval),
    )


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
        raise ValueError("no at-rest secret key: set WXAUTH_SECRET_KEYS (wxauth keys generate)")
    engine = create_engine(settings.database_url)
    redis = create_redis(settings.redis_url) if settings.redis_url else None
    wechat = WeChatClient(
        settings.wechat_base_url, timeout=settings.wechat_timeout, transport=wechat_transport
    )
    breaker = CircuitBreaker(
        failures=settings.wechat_breaker_failures, cooldown=settings.wechat_breaker_cooldown
    )
    cache = build_session_cache(settings, redis)
    store: Store = SqlStore(engine) if cache is None else CachedStore(SqlStore(engine), cache)
    # The breaker sits next to WeChat; the code guard in front, so that a code claimed by
    # another process is refused without touching WeChat or the breaker.
    gateway: WeChatGateway = WeChatWithBreaker(wechat, breaker)
    if redis is not None:
        guard = RedisCodeGuard(redis, prefix=settings.redis_prefix)
        gateway = WeChatWithCodeGuard(gateway, guard)
    service = WxAuth(
        apps={appid: secret.get_secret_value() for appid, secret in settings.apps.items()},
        wechat=gateway,
        store=store,
        keyring=Keyring(settings.secret_key_bytes()),
        policy=session_policy(settings),
        clock=clock,
        audit_retention=timedelta(days=settings.audit_retention_days),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await wechat.aclose()
        if cache is not None:
            await cache.aclose()
        if redis is not None:
            await redis.aclose()
        await engine.dispose()

    app = FastAPI(
        title="wxauth",
        version=__version__,
        summary="Login and session service for WeChat Mini Programs.",
        lifespan=lifespan,
        responses={
            413: {"model": ErrorBody, "description": "payload_too_large"},
            500: {"model": ErrorBody, "description": "internal_error or server_misconfigured"},
        },
    )
    app.state.wxauth = service
    app.state.settings = settings
    app.state.redis = redis
    app.state.breaker = breaker
    app.state.limiter = RateLimiter(
        window=settings.rate_limit_window, redis=redis, prefix=settings.redis_prefix
    )
    app.state.client_ip = ClientIp(settings.trusted_proxies, settings.client_ip_header)
    errors.install(app)
    for module in (auth, me, health):
        app.include_router(module.router)
    verified.install(app, settings, service=service, wechat=wechat, redis=redis, clock=clock)
    app.include_router(introspect.router)
    metrics = Metrics()
    app.include_router(metrics.router())
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(
        RequestContext,
        max_body_bytes=settings.max_body_bytes,
        path_limits=verified.body_limits(settings),
    )
    return app
