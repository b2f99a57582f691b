"""The Open Platform's third-party platform APIs: acting for merchants' mini programs.

A platform (``component_appid``, ``component_appsecret``) turns the newest pushed
``component_verify_ticket`` into a ``component_access_token``; with it, it creates pre-auth
codes for the merchant's authorization page, exchanges the authorization code for the
authorizer's tokens, refreshes them, and logs users in without the mini program's own secret
(WECHAT.md section 8). Calls go through a :class:`~wxauth.wechat.client.WeChatClient`, so
they share its pool, timeouts, transport-error translation and log redaction; errcodes go
through :mod:`wxauth.wechat.errcodes`, and 40001 / 42001 raise
:class:`~wxauth.errors.ComponentTokenRejected` so that a token cache can drop the token and
fetch another once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from wxauth.errors import ComponentTokenRejected, WeChatError, WxAuthError
from wxauth.wechat.client import WeChatClient, WeChatSession, errcode_of
from wxauth.wechat.errcodes import error_for

log = logging.getLogger(__name__)

COMPONENT_TOKEN_PATH = "/cgi-bin/component/api_component_token"  # noqa: S105 - a path
PREAUTH_CODE_PATH = "/cgi-bin/component/api_create_preauthcode"
QUERY_AUTH_PATH = "/cgi-bin/component/api_query_auth"
AUTHORIZER_TOKEN_PATH = "/cgi-bin/component/api_authorizer_token"  # noqa: S105
COMPONENT_CODE2SESSION_PATH = "/sns/component/jscode2session"
LOGIN_PAGE_URL = "https://mp.weixin.qq.com/cgi-bin/componentloginpage"
AUTH_TYPE_MINI_PROGRAMS = 2

TOKEN_INVALID = 40001
TOKEN_EXPIRED = 42001
TOKEN_MISSING = 41001


@dataclass(frozen=True, slots=True)
class ComponentToken:
    """A component_access_token and its lifetime in seconds (7200)."""

    token: str = field(repr=False)
    expires_in: int


@dataclass(frozen=True, slots=True)
class PreAuthCode:
    """What the merchant's authorization page needs; valid ``expires_in`` seconds (1800)."""

    code: str = field(repr=False)
    expires_in: int


@dataclass(frozen=True, slots=True)
class Authorization:
    """What an authorization code is exchanged for. The refresh token *is* the authorization:
    keep it (encrypted); ``func_info`` lists the permission-set ids the merchant granted."""

    authorizer_appid: str
    access_token: str = field(repr=False)
    expires_in: int
    refresh_token: str = field(repr=False)
    func_info: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class AuthorizerToken:
    """A refreshed authorizer_access_token and the refresh token to keep using."""

    access_token: str = field(repr=False)
    expires_in: int
    refresh_token: str = field(repr=False)


def login_page_url(
    component_appid: str,
    pre_auth_code: str,
    redirect_uri: str,
    *,
    auth_type: int = AUTH_TYPE_MINI_PROGRAMS,
) -> str:
    """The page where a merchant authorizes the platform; WeChat then sends the browser to
    ``redirect_uri?auth_code=…&expires_in=…`` (and pushes an ``authorized`` event)."""
    query = urlencode(
        {
            "component_appid": component_appid,
            "pre_auth_code": pre_auth_code,
            "redirect_uri": redirect_uri,
            "auth_type": auth_type,
        }
    )
    return f"{LOGIN_PAGE_URL}?{query}"


def _error(errcode: int) -> WxAuthError:
    if errcode in (TOKEN_INVALID, TOKEN_EXPIRED):
        return ComponentTokenRejected(wechat_errcode=errcode)
    if errcode == TOKEN_MISSING:
        return WeChatError("WeChat saw no component_access_token.", wechat_errcode=errcode)
    return error_for(errcode)


def _raise_for(data: dict[str, Any], what: str, component_appid: str) -> None:
    errcode = errcode_of(data)
    if not errcode:
        return
    error = _error(errcode)
    level = logging.ERROR if error.status >= 500 else logging.INFO
    errmsg = data.get("errmsg")
    log.log(level, "%s for %s: errcode %s (%s)", what, component_appid, errcode, errmsg)
    raise error


def _text(data: dict[str, Any], key: str, what: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise WeChatError(f"WeChat's {what} answer had no {key}.")
    return value


def _seconds(data: dict[str, Any], what: str) -> int:
    value = data.get("expires_in")
    if not isinstance(value, int) or isinstance(value, bool):
        raise WeChatError(f"WeChat's {what} answer had no expires_in.")
    return value


def _func_info(value: Any) -> tuple[int, ...]:
    ids = []
    for item in value if isinstance(value, list) else []:
        category = item.get("funcscope_category") if isinstance(item, dict) else None
        scope = category.get("id") if isinstance(category, dict) else None
        if isinstance(scope, int):
            ids.append(scope)
    return tuple(ids)


class ComponentApi:
    """The platform APIs on top of a :class:`WeChatClient`; every call states which platform."""

    def __init__(self, client: WeChatClient) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"ComponentApi({self._client!r})"

    async def _post(
        self, path: str, body: dict[str, Any], component_access_token: str | None = None
    ) -> dict[str, Any]:
        params = None
        if component_access_token is not None:
            params = {"component_access_token": component_access_token}
        return await self._client.request_json("POST", path, params=params, json=body)

    async def component_token(
        self, component_appid: str, component_appsecret: str, verify_ticket: str
    ) -> ComponentToken:
        """``api_component_token``: a component_access_token from the newest pushed ticket."""
        body = {
            "component_appid": component_appid,
            "component_appsecret": component_appsecret,
            "component_verify_ticket": verify_ticket,
        }
        data = await self._post(COMPONENT_TOKEN_PATH, body)
        _raise_for(data, "api_component_token", component_appid)
        what = "component token"
        return ComponentToken(_text(data, "component_access_token", what), _seconds(data, what))

    async def create_preauth_code(
        self, component_appid: str, component_access_token: str
    ) -> PreAuthCode:
        """``api_create_preauthcode``: a code for :func:`login_page_url`."""
        body = {"component_appid": component_appid}
        data = await self._post(PREAUTH_CODE_PATH, body, component_access_token)
        _raise_for(data, "api_create_preauthcode", component_appid)
        what = "pre-auth code"
        return PreAuthCode(_text(data, "pre_auth_code", what), _seconds(data, what))

    async def query_auth(
        self, component_appid: str, component_access_token: str, authorization_code: str
    ) -> Authorization:
        """``api_query_auth``: the authorizer's tokens for an authorization code (from the
        redirect or the ``authorized`` / ``updateauthorized`` push)."""
        body = {"component_appid": component_appid, "authorization_code": authorization_code}
        data = await self._post(QUERY_AUTH_PATH, body, component_access_token)
        _raise_for(data, "api_query_auth", component_appid)
        info = data.get("authorization_info")
        what = "authorization"
        if not isinstance(info, dict):
            raise WeChatError("WeChat's authorization answer had no authorization_info.")
        return Authorization(
            authorizer_appid=_text(info, "authorizer_appid", what),
            access_token=_text(info, "authorizer_access_token", what),
            expires_in=_seconds(info, what),
            refresh_token=_text(info, "authorizer_refresh_token", what),
            func_info=_func_info(info.get("func_info")),
        )

    async def authorizer_token(
        self,
        component_appid: str,
        component_access_token: str,
        authorizer_appid: str,
        refresh_token: str,
    ) -> AuthorizerToken:
        """``api_authorizer_token``: a fresh authorizer_access_token for a refresh token."""
        body = {
            "component_appid": component_appid,
            "authorizer_appid": authorizer_appid,
            "authorizer_refresh_token": refresh_token,
        }
        data = await self._post(AUTHORIZER_TOKEN_PATH, body, component_access_token)
        _raise_for(data, "api_authorizer_token", component_appid)
        what = "authorizer token"
        # WeChat answers with the refresh token to use from now on; keep the old one if not.
        returned = data.get("authorizer_refresh_token")
        return AuthorizerToken(
            access_token=_text(data, "authorizer_access_token", what),
            expires_in=_seconds(data, what),
            refresh_token=returned if isinstance(returned, str) and returned else refresh_token,
        )

    async def code2session(
        self, component_appid: str, component_access_token: str, appid: str, code: str
    ) -> WeChatSession:
        """``/sns/component/jscode2session``: log a user of the authorizer ``appid`` in with
        the platform's token instead of the mini program's secret (same retry as
        :meth:`WeChatClient.code2session`)."""
        params = {
            "appid": appid,
            "js_code": code,
            "grant_type": "authorization_code",
            "component_appid": component_appid,
            "component_access_token": component_access_token,
        }
        return await self._client.exchange_code(
            COMPONENT_CODE2SESSION_PATH, params, appid=appid, translate=_error
        )
