"""Third-party platform mode: the service side of a provider's Open Platform account.

One :class:`Platform` per component appid:

- :meth:`Platform.receive` opens WeChat's pushes (signature, freshness, replay, appid: see
  :mod:`wxauth.wechat.component_push`) and acts on them: a ``component_verify_ticket`` is
  kept (encrypted, the newest wins), ``authorized`` / ``updateauthorized`` register the
  merchant's app with its refresh token (encrypted), ``unauthorized`` disables the app and
  ends its sessions. A refused push changes nothing.
- the component_access_token and the authorizers' access tokens are handed out by the same
  manager as the mini programs' access tokens (:class:`~wxauth.wechat.access_token.AccessTokens`):
  cached with a margin, one fetch at a time, shared through Redis across processes.
- :meth:`Platform.authorization_link` and :meth:`Platform.complete` run the merchant's
  authorization; :meth:`Platform.code2session` logs a user of an authorized app in.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from wxauth.core.apps import WITHDRAWN, AppRegistry, disabled
from wxauth.core.keyring import Keyring
from wxauth.core.models import APP_ACTIVE, APP_PLATFORM, ENDED_APP_DISABLED, App
from wxauth.core.ports import Clock, Store
from wxauth.errors import AuthorizationWithdrawn, ComponentTokenRejected, VerifyTicketRejected
from wxauth.wechat.access_token import AccessTokens, SharedTokenCache
from wxauth.wechat.client import WeChatSession
from wxauth.wechat.component import ComponentApi, login_page_url
from wxauth.wechat.component_crypto import MessageCrypto
from wxauth.wechat.component_push import (
    AUTHORIZED,
    SUCCESS,
    UNAUTHORIZED,
    UPDATE_AUTHORIZED,
    VERIFY_TICKET,
    ComponentEvent,
    PushVerifier,
    ReplayCache,
)
from wxauth.wechat.server_api import AccessToken, ServerApi

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PlatformConfig:
    """A third-party platform's credentials (``WXAUTH_PLATFORMS``)."""

    component_appid: str
    secret: str = field(repr=False)
    token: str = field(repr=False)
    encoding_aes_key: str = field(repr=False)


class Platform:
    """One third-party platform (see the module docstring)."""

    def __init__(
        self,
        config: PlatformConfig,
        *,
        api: ComponentApi,
        store: Store,
        registry: AppRegistry,
        keyring: Keyring,
        replays: ReplayCache,
        clock: Clock,
        wall_clock: Callable[[], float] = time.time,
        shared: SharedTokenCache | None = None,
        max_skew_s: float = 300.0,
    ) -> None:
        self.config = config
        self.appid = config.component_appid
        self._api = api
        self._store = store
        self._registry = registry
        self._keyring = keyring
        self._clock = clock
        self._wall_clock = wall_clock
        crypto = MessageCrypto(config.token, config.encoding_aes_key, config.component_appid)
        self._verifier = PushVerifier(crypto, replays, max_skew_s=max_skew_s)
        self.tokens = AccessTokens(
            _ComponentTokenSource(self),
            {self.appid: config.secret},
            stable=False,
            shared=shared,
            clock=wall_clock,
        )

    def __repr__(self) -> str:
        return f"Platform({self.appid})"

    # -- pushes ---------------------------------------------------------------------------

    async def receive(self, body: bytes, *, msg_signature: str, timestamp: str, nonce: str) -> str:
        """Open a push and act on it; ``success`` (what WeChat expects) once it is done.
        Raises a :class:`~wxauth.errors.ComponentMessageError` for a refused push."""
        event = await self._verifier.open(
            body,
            msg_signature=msg_signature,
            timestamp=timestamp,
            nonce=nonce,
            now=self._wall_clock(),
        )
        await self.handle(event)
        return SUCCESS

    async def handle(self, event: ComponentEvent) -> None:
        if event.info_type == VERIFY_TICKET and event.verify_ticket:
            ticket = self._keyring.encrypt(event.verify_ticket)
            await self._store.save_component_ticket(self.appid, ticket, self._clock())
        elif event.info_type in (AUTHORIZED, UPDATE_AUTHORIZED) and event.authorization_code:
            await self.complete(event.authorization_code)
        elif event.info_type == UNAUTHORIZED and event.authorizer_appid:
            await self.withdraw(event.authorizer_appid)
        else:
            log.info("platform %s: ignored a %s push", self.appid, event.info_type)

    # -- authorization --------------------------------------------------------------------

    async def authorization_link(self, redirect_uri: str) -> str:
        """The page a merchant opens to authorize their mini program to this platform."""
        code = await self._component_call(
            lambda token: self._api.create_preauth_code(self.appid, token)
        )
        return login_page_url(self.appid, code.code, redirect_uri)

    async def complete(self, auth_code: str) -> App:
        """``api_query_auth`` for an authorization code (from the redirect or a push): the
        app is registered (or updated) in platform mode, its refresh token kept encrypted."""
        authorization = await self._component_call(
            lambda token: self._api.query_auth(self.appid, token, auth_code)
        )
        appid = authorization.authorizer_appid
        now = self._clock()
        old = await self._store.get_app(appid)
        base = old if old is not None else App(appid=appid, created_at=now)
        app = dataclasses.replace(
            base,
            mode=APP_PLATFORM,
            component_appid=self.appid,
            refresh_token_enc=self._keyring.encrypt(authorization.refresh_token),
            status=APP_ACTIVE,
            disabled_reason=None,
            updated_at=now,
        )
        saved = await self._store.save_app(app)
        self._registry.invalidate()
        log.info("platform %s: %s authorized", self.appid, appid)
        return saved

    async def withdraw(self, appid: str) -> None:
        """The merchant withdrew the app: disabled at once, its sessions ended."""
        app = await self._store.get_app(appid)
        if app is None or app.component_appid != self.appid:
            log.info("platform %s: unauthorized for %s, which it does not serve", self.appid, appid)
            return
        now = self._clock()
        gone = dataclasses.replace(disabled(app, WITHDRAWN, now), refresh_token_enc=None)
        await self._store.save_app(gone)
        self._registry.invalidate()
        ended = await self._store.revoke_app_sessions(appid, now, reason=ENDED_APP_DISABLED)
        log.info("platform %s: %s withdrawn, %d sessions ended", self.appid, appid, ended)

    # -- tokens and login -----------------------------------------------------------------

    async def ticket(self) -> str:
        found = await self._store.get_component_ticket(self.appid)
        if found is None:
            raise VerifyTicketRejected(
                "No component_verify_ticket yet: WeChat pushes one every ten minutes to the "
                f"platform's event URL (/v1/platform/{self.appid}/events)."
            )
        return self._keyring.decrypt(found[0])

    async def component_token(self) -> str:
        return await self.tokens.get(self.appid)

    async def _component_call(self, request: Callable[[str], Awaitable[T]]) -> T:
        """Run ``request(component_access_token)``; on a refused token, drop it, get
        another, retry once (as :meth:`AccessTokens.call` does for access tokens)."""
        token = await self.tokens.get(self.appid)
        try:
            return await request(token)
        except ComponentTokenRejected as exc:
            log.warning("component token of %s refused (%s)", self.appid, exc.wechat_errcode)
            await self.tokens.discard(self.appid, token)
        return await request(await self.tokens.get(self.appid))

    async def fetch_component_token(self) -> AccessToken:
        ticket = await self.ticket()
        got = await self._api.component_token(self.appid, self.config.secret, ticket)
        return AccessToken(got.token, got.expires_in)

    async def authorizer_token(self, app: App) -> AccessToken:
        """A fresh authorizer_access_token from the app's refresh token (kept up to date)."""
        if app.refresh_token_enc is None or app.component_appid != self.appid:
            raise AuthorizationWithdrawn()
        refresh = self._keyring.decrypt(app.refresh_token_enc)
        fresh = await self._component_call(
            lambda token: self._api.authorizer_token(self.appid, token, app.appid, refresh)
        )
        if fresh.refresh_token != refresh:
            renewed = dataclasses.replace(
                app, refresh_token_enc=self._keyring.encrypt(fresh.refresh_token)
            )
            await self._store.save_app(renewed)
        return AccessToken(fresh.access_token, fresh.expires_in)

    async def code2session(self, app: App, code: str) -> WeChatSession:
        """``/sns/component/jscode2session`` for a user of the authorized ``app``."""
        return await self._component_call(
            lambda token: self._api.code2session(self.appid, token, app.appid, code)
        )


class _ComponentTokenSource:
    """component_access_tokens, from the newest pushed ticket, for the token manager."""

    def __init__(self, platform: Platform) -> None:
        self._platform = platform

    async def fetch_access_token(
        self, appid: str, secret: str, *, stable: bool = True, force_refresh: bool = False
    ) -> AccessToken:
        return await self._platform.fetch_component_token()


class RoutedTokenSource:
    """Access tokens for the mini programs: from ``/cgi-bin`` for direct apps, and the
    authorizer_access_token of their platform for platform apps (phone numbers and
    checksession then work the same for both)."""

    def __init__(
        self, direct: ServerApi, registry: AppRegistry, platforms: Mapping[str, Platform]
    ) -> None:
        self._direct = direct
        self._registry = registry
        self._platforms = platforms

    async def fetch_access_token(
        self, appid: str, secret: str, *, stable: bool = True, force_refresh: bool = False
    ) -> AccessToken:
        app = self._registry.latest().get(appid)
        if app is not None and app.mode == APP_PLATFORM:
            platform = self._platforms.get(app.component_appid or "")
            if platform is None:
                raise AuthorizationWithdrawn()
            return await platform.authorizer_token(app)
        return await self._direct.fetch_access_token(
            appid, secret, stable=stable, force_refresh=force_refresh
        )
