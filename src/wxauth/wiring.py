"""The composition root: the object graph of one wxauth process, built from ``Settings``.

The API (:func:`wxauth.api.app.create_app`), the CLI and the integrations all build their
objects here and nowhere else. Each part is made on first use and kept, so a command that
only lists users opens a database and nothing more, and a process that only checks tokens
never builds a WeChat client or needs an at-rest key::

    wiring = Wiring(settings)
    try:
        auth = await wiring.authenticator.authenticate(token)
    finally:
        await wiring.aclose()          # closes what was built, and only that

Writes made through :attr:`Wiring.store` go through the session cache, so that running
servers forget what a command changed.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from wxauth.config import Settings
from wxauth.core.access_jwt import AccessJwts
from wxauth.core.accounts import Accounts
from wxauth.core.app_admin import AppAdmin
from wxauth.core.apps import AppRegistry, RegistrySecrets
from wxauth.core.avatar import AvatarRules, Avatars, AvatarStorage
from wxauth.core.cache import CachedStore, LocalSessionCache, SessionCache
from wxauth.core.codes import WeChatWithCodeGuard
from wxauth.core.keyring import Keyring
from wxauth.core.memory_operators import MemoryOperatorStore
from wxauth.core.operators import Operators, OperatorStore
from wxauth.core.persons import Persons
from wxauth.core.phone import Phones
from wxauth.core.ports import Clock, Store, WeChatGateway, utcnow
from wxauth.core.service import WxAuth
from wxauth.core.session_keys import SessionKeys
from wxauth.core.sessions import Authenticator
from wxauth.core.tokens import SessionPolicy
from wxauth.core.webhook_worker import DeliveryWorker, RetryPolicy
from wxauth.core.webhooks import WebhookStore
from wxauth.errors import ServerMisconfigured
from wxauth.outbound import WebhookSender
from wxauth.platform import Platform, RoutedTokenSource
from wxauth.storage.avatars import LocalAvatarStorage
from wxauth.storage.avatars_sql import SqlAvatarStorage
from wxauth.storage.engine import PoolSize, create_engine
from wxauth.storage.migrate import SchemaCheck
from wxauth.storage.operators_sql import SqlOperatorStore
from wxauth.storage.redis import REDIS_TIMEOUT_S, create_redis
from wxauth.storage.redis_cache import RedisCodeGuard, RedisSessionCache
from wxauth.storage.redis_health import RedisHealth
from wxauth.storage.sql import SqlStore
from wxauth.wechat.access_token import AccessTokens, SharedTokenCache
from wxauth.wechat.breaker import CircuitBreaker, WeChatWithBreaker
from wxauth.wechat.client import WeChatClient
from wxauth.wechat.component import ComponentApi
from wxauth.wechat.component_push import MemoryReplayCache, ReplayCache
from wxauth.wechat.server_api import ServerApi
from wxauth.wechat.tokened import TokenedApi

if TYPE_CHECKING:
    from redis.asyncio import Redis


def session_policy(settings: Settings) -> SessionPolicy:
    return SessionPolicy(
        idle_ttl=timedelta(seconds=settings.session_idle_ttl),
        max_ttl=timedelta(seconds=settings.session_max_ttl),
        touch_interval=timedelta(seconds=settings.session_touch_interval),
    )


def app_secrets(settings: Settings) -> dict[str, str]:
    return {appid: secret.get_secret_value() for appid, secret in settings.apps.items()}


class Wiring:
    """Every long-lived object of a process, typed, each built once on first use.

    ``wechat_transport`` lets WeChat be reached in-process (the simulator through
    ``httpx.ASGITransport``); ``clock`` lets tests move time; ``store`` replaces the SQL store
    (a :class:`~wxauth.core.memory.MemoryStore` in unit tests).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        wechat_transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock = utcnow,
        store: Store | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._wechat_transport = wechat_transport
        self._given_store = store

    def __repr__(self) -> str:
        built = [name for name in vars(self) if not name.startswith("_") and name != "settings"]
        return f"Wiring(built={sorted(built)})"

    # -- storage ------------------------------------------------------------------------

    @cached_property
    def engine(self) -> AsyncEngine:
        settings = self.settings
        pool = PoolSize(
            settings.database_pool_size,
            settings.database_max_overflow,
            settings.database_pool_timeout,
        )
        return create_engine(settings.database_url, pool=pool)

    @cached_property
    def schema_check(self) -> SchemaCheck | None:
        """Whether the SQL schema is at the migrations' head (cached); None when the store
        was given (no SQL of ours to check)."""
        return None if self._given_store is not None else SchemaCheck(self.engine)

    @cached_property
    def redis(self) -> Redis | None:
        if not self.settings.redis_url:
            return None
        return create_redis(self.settings.redis_url, pool_size=self.settings.redis_pool_size)

    @cached_property
    def redis_health(self) -> RedisHealth:
        """Whether Redis answers, shared by everything in the process that uses it."""
        return RedisHealth(timeout=REDIS_TIMEOUT_S)

    @cached_property
    def session_cache(self) -> SessionCache | None:
        """None, in-process only, or in-process in front of Redis, as the settings ask."""
        settings = self.settings
        if settings.session_cache_ttl <= 0:
            return None
        if self.redis is None:
            return LocalSessionCache(ttl=settings.session_cache_local_ttl)
        # The invalidation channel's listener vouches for the local tier: a hot session
        # stays in memory as long as Redis would keep it, not a second at a time.
        local = LocalSessionCache(
            ttl=settings.session_cache_local_ttl,
            hold=settings.session_cache_ttl,
            touch_interval=timedelta(seconds=settings.session_touch_interval),
            wall=self.clock,
        )
        return RedisSessionCache(
            self.redis,
            local,
            prefix=settings.redis_prefix,
            ttl_s=settings.session_cache_ttl,
            health=self.redis_health,
        )

    @cached_property
    def sql_store(self) -> SqlStore:
        # Webhook subscriptions are reloaded as often as the apps registry.
        return SqlStore(self.engine, webhook_ttl=self.settings.app_registry_ttl)

    @cached_property
    def store(self) -> Store:
        """The store everything reads and writes through: behind the session cache if any."""
        store: Store = self._given_store if self._given_store is not None else self.sql_store
        cache = self.session_cache
        return store if cache is None else CachedStore(store, cache)

    @cached_property
    def keyring(self) -> Keyring:
        keys = self.settings.secret_key_bytes()
        if not keys:
            raise ServerMisconfigured(
                "no at-rest key: set WXAUTH_SECRET_KEYS (make one with `wxauth keys generate`)"
            )
        return Keyring(keys)

    @cached_property
    def avatar_storage(self) -> AvatarStorage:
        if self.settings.avatar_storage == "database":
            sqlite = self.engine.dialect.name == "sqlite"
            return SqlAvatarStorage(self.engine, writes=self.sql_store.writes if sqlite else None)
        return LocalAvatarStorage(self.settings.avatar_dir)

    # -- the core -----------------------------------------------------------------------

    @cached_property
    def registry(self) -> AppRegistry:
        """The apps served: the store's registry, reloaded every ``app_registry_ttl``
        seconds, plus those of ``WXAUTH_APPS`` (whose secrets win)."""
        return AppRegistry(
            self.store, seed=app_secrets(self.settings), ttl=self.settings.app_registry_ttl
        )

    @cached_property
    def app_admin(self) -> AppAdmin:
        """Changes to the registry (``wxauth apps``, the console): the at-rest keyring only
        when a secret is stored."""
        return AppAdmin(
            store=self.store,
            registry=self.registry,
            keyring=lambda: self.keyring,
            clock=self.clock,
            seeded=self.settings.apps,
        )

    @cached_property
    def policy(self) -> SessionPolicy:
        return session_policy(self.settings)

    @cached_property
    def authenticator(self) -> Authenticator:
        """Token checks and logout: needs the store only (no WeChat, no at-rest key)."""
        return Authenticator(
            store=self.store, policy=self.policy, clock=self.clock, registry=self.registry
        )

    @cached_property
    def accounts(self) -> Accounts:
        """Sessions as devices, the session cap, disabling and closing accounts: the store
        only (no WeChat, no at-rest key)."""
        return Accounts(
            store=self.store,
            clock=self.clock,
            session_cap=self.settings.session_cap,
            deletion_grace=timedelta(seconds=self.settings.account_deletion_grace),
        )

    @cached_property
    def session_keys(self) -> SessionKeys:
        return SessionKeys(store=self.store, keyring=self.keyring)

    @cached_property
    def login(self) -> WxAuth:
        return WxAuth(
            apps=app_secrets(self.settings),
            wechat=self.gateway,
            store=self.store,
            session_keys=self.session_keys,
            policy=self.policy,
            clock=self.clock,
            audit_retention=timedelta(days=self.settings.audit_retention_days),
            accounts=self.accounts,
            registry=self.registry,
            keyring=self.keyring,
            platforms=self.platforms,
        )

    @cached_property
    def phones(self) -> Phones:
        return Phones(
            gateway=self.tokened_api,
            store=self.store,
            session_keys=self.session_keys,
            clock=self.clock,
        )

    @cached_property
    def persons(self) -> Persons:
        """Persons across apps (by UnionID) and operators' merges: the store only."""
        return Persons(store=self.store, clock=self.clock)

    @cached_property
    def avatars(self) -> Avatars:
        return Avatars(
            storage=self.avatar_storage,
            store=self.store,
            rules=AvatarRules(max_bytes=self.settings.avatar_max_bytes),
            clock=self.clock,
        )

    @cached_property
    def access_jwts(self) -> AccessJwts:
        """Access JWTs for other services (``POST /v1/token``) and the JWKS: the store and
        the at-rest keyring (signing keys are stored encrypted)."""
        return AccessJwts(
            store=self.store, keyring=self.keyring, ttl=self.settings.jwt_ttl, clock=self.clock
        )

    # -- WeChat -------------------------------------------------------------------------

    @cached_property
    def wechat(self) -> WeChatClient:
        return WeChatClient(
            self.settings.wechat_base_url,
            timeout=self.settings.wechat_timeout,
            transport=self._wechat_transport,
        )

    @cached_property
    def breaker(self) -> CircuitBreaker:
        return CircuitBreaker(
            failures=self.settings.wechat_breaker_failures,
            cooldown=self.settings.wechat_breaker_cooldown,
            # a probe may take the whole call: two attempts (-1 is retried once)
            probe_wait=2 * self.settings.wechat_timeout + 1,
        )

    @cached_property
    def gateway(self) -> WeChatGateway:
        """code2Session behind the breaker, and behind the cross-process code guard when
        there is Redis (so a code claimed elsewhere is refused without touching WeChat or
        the breaker)."""
        gateway: WeChatGateway = WeChatWithBreaker(self.wechat, self.breaker)
        if self.redis is not None:
            guard = RedisCodeGuard(
                self.redis, prefix=self.settings.redis_prefix, health=self.redis_health
            )
            gateway = WeChatWithCodeGuard(gateway, guard)
        return gateway

    @cached_property
    def tokened_api(self) -> TokenedApi:
        """WeChat's token-needing APIs, the access_token shared through Redis if there is one."""
        shared: SharedTokenCache | None = None
        if self.redis is not None:
            from wxauth.storage.token_cache import RedisTokenCache

            shared = RedisTokenCache(
                self.redis, keyring=self.keyring, prefix=self.settings.redis_prefix
            )
        api = ServerApi(self.wechat)
        tokens = AccessTokens(
            RoutedTokenSource(api, self.registry, self.platforms),
            RegistrySecrets(self.registry, lambda: self.keyring),
            stable=self.settings.access_token_api == "stable",  # noqa: S105 - a choice
            margin=self.settings.access_token_margin,
            shared=shared,
        )
        return TokenedApi(api, tokens)

    @cached_property
    def platforms(self) -> dict[str, Platform]:
        """The third-party platforms of ``WXAUTH_PLATFORMS``, by component appid: their
        pushes, tokens (shared through Redis, as access tokens are) and logins."""
        configs = self.settings.platform_configs()
        if not configs:
            return {}
        replays: ReplayCache = MemoryReplayCache()
        shared: SharedTokenCache | None = None
        if self.redis is not None:
            from wxauth.storage.replay_cache import RedisReplayCache
            from wxauth.storage.token_cache import RedisTokenCache

            prefix = self.settings.redis_prefix
            replays = RedisReplayCache(self.redis, prefix=prefix)
            shared = RedisTokenCache(self.redis, keyring=self.keyring, prefix=f"{prefix}platform:")
        api = ComponentApi(self.wechat)
        return {
            config.component_appid: Platform(
                config,
                api=api,
                store=self.store,
                registry=self.registry,
                keyring=self.keyring,
                replays=replays,
                clock=self.clock,
                shared=shared,
                max_skew_s=self.settings.platform_push_max_skew,
            )
            for config in configs
        }

    # -- webhooks -------------------------------------------------------------------------

    @cached_property
    def webhooks(self) -> WebhookStore:
        """Subscriptions and the outbox, beside the users (the store's own)."""
        return self.store.webhooks

    @cached_property
    def webhook_sender(self) -> WebhookSender:
        return WebhookSender(
            timeout=self.settings.webhook_timeout,
            allow_private=self.settings.webhook_allow_private,
        )

    @cached_property
    def webhook_worker(self) -> DeliveryWorker:
        """The delivery worker a server process runs (signing secrets under the keyring).
        A lease outlives any attempt (each ends within ``webhook_timeout``)."""
        settings = self.settings
        return DeliveryWorker(
            self.webhooks,
            self.webhook_sender,
            self.keyring,
            clock=self.clock,
            policy=RetryPolicy(
                max_attempts=settings.webhook_max_attempts,
                base_s=settings.webhook_retry_base,
                max_s=settings.webhook_retry_max,
            ),
            lease_s=2 * settings.webhook_timeout + 5,
            poll_interval=settings.webhook_poll_interval,
            retention=timedelta(days=settings.webhook_retention_days),
        )

    # -- the operator console ------------------------------------------------------------

    @cached_property
    def operator_store(self) -> OperatorStore:
        """Operators beside the users: in memory when the store was given (unit tests)."""
        if self._given_store is not None:
            return MemoryOperatorStore()
        return SqlOperatorStore(self.engine)

    @cached_property
    def operators(self) -> Operators:
        """Operator accounts and console sign-ins (TOTP secrets under the at-rest keys)."""
        return Operators(
            store=self.operator_store,
            clock=self.clock,
            keyring=self.keyring if self.settings.secret_keys else None,
            idle_ttl=timedelta(seconds=self.settings.console_idle_ttl),
            max_ttl=timedelta(seconds=self.settings.console_max_ttl),
        )

    # -- shutting down ------------------------------------------------------------------

    def _built(self, name: str) -> bool:
        return name in vars(self)

    async def aclose(self) -> None:
        """Close what was built (decoding workers, connections, pools, listeners), newest
        first."""
        if self._built("webhook_sender"):
            await self.webhook_sender.aclose()
        if self._built("avatars"):
            await self.avatars.aclose()
        if self._built("wechat"):
            await self.wechat.aclose()
        if self._built("session_cache") and self.session_cache is not None:
            await self.session_cache.aclose()
        if self._built("registry"):
            await self.registry.aclose()
        if self._built("store"):
            await self.store.webhooks.gate.aclose()
        if self._built("redis") and self.redis is not None:
            await self.redis.aclose()
        if self._built("redis_health"):
            await self.redis_health.aclose()
        if self._built("engine"):
            await self.engine.dispose()
