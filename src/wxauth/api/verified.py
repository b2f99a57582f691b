"""Wiring for verified user data: access tokens, phone numbers, avatars."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

from wxauth.api.routes import avatar, phone
from wxauth.config import Settings
from wxauth.core.avatar import AvatarRules, Avatars
from wxauth.core.keyring import Keyring
from wxauth.core.phone import Phones
from wxauth.core.ports import Clock
from wxauth.core.service import WxAuth
from wxauth.storage.avatars import LocalAvatarStorage
from wxauth.wechat.access_token import AccessTokens
from wxauth.wechat.client import WeChatClient
from wxauth.wechat.server_api import ServerApi
from wxauth.wechat.tokened import TokenedApi

if TYPE_CHECKING:
    from redis.asyncio import Redis


def body_limits(settings: Settings) -> dict[str, int]:
    """Paths whose body may exceed ``max_body_bytes``: the avatar upload."""
    return {"/v1/me/avatar": settings.avatar_max_bytes + avatar.MULTIPART_OVERHEAD}


def tokened_api(settings: Settings, wechat: WeChatClient, redis: Redis | None) -> TokenedApi:
    """WeChat's token-needing APIs, the token shared through Redis when there is one."""
    shared = None
    if redis is not None:
        from wxauth.storage.token_cache import RedisTokenCache

        keyring = Keyring(settings.secret_key_bytes())  # encrypts the token in Redis
        shared = RedisTokenCache(redis, keyring=keyring, prefix=settings.redis_prefix)
    api = ServerApi(wechat)
    tokens = AccessTokens(
        api,
        {appid: secret.get_secret_value() for appid, secret in settings.apps.items()},
        stable=settings.access_token_api == "stable",  # noqa: S105 - a choice, not a secret
        margin=settings.access_token_margin,
        shared=shared,
    )
    return TokenedApi(api, tokens)


def install(
    app: FastAPI,
    settings: Settings,
    *,
    service: WxAuth,
    wechat: WeChatClient,
    redis: Redis | None,
    clock: Clock,
) -> None:
    tokened = tokened_api(settings, wechat, redis)
    app.state.tokened_api = tokened
    app.state.phones = Phones(
        gateway=tokened, store=service.store, session_keys=service, clock=clock
    )
    app.state.avatars = Avatars(
        storage=LocalAvatarStorage(settings.avatar_dir),
        store=service.store,
        rules=AvatarRules(max_bytes=settings.avatar_max_bytes),
        clock=clock,
    )
    app.include_router(phone.router)
    app.include_router(avatar.router)
