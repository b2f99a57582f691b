"""WeChat's server-to-server APIs: access tokens, phone numbers, session_key checks.

All but the token fetch itself take an access_token; a 40001 (invalid, not the latest) or
42001 (expired) answer raises :class:`AccessTokenRejected`, which the access-token manager
answers by dropping that token and retrying once. code2Session is not here: it never needs
an access_token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from wxauth.errors import (
    InvalidCode,
    InvalidRequest,
    ServerMisconfigured,
    WeChatError,
    WeChatUnavailable,
    WxAuthError,
)
from wxauth.wechat.client import WeChatClient
from wxauth.wechat.crypto import session_signature
from wxauth.wechat.errcodes import error_for

log = logging.getLogger(__name__)

TOKEN_PATH = "/cgi-bin/token"  # noqa: S105 - a path, not a secret
STABLE_TOKEN_PATH = "/cgi-bin/stable_token"  # noqa: S105
PHONE_PATH = "/wxa/business/getuserphonenumber"
CHECK_SESSION_PATH = "/wxa/checksession"
RESET_SESSION_KEY_PATH = "/wxa/resetusersessionkey"

TOKEN_INVALID = 40001
TOKEN_EXPIRED = 42001
INVALID_SIGNATURE = 87009


class AccessTokenRejected(WeChatError):
    """WeChat refused the access_token (40001 invalid / not latest, 42001 expired)."""

    default_message = "WeChat refused the server's access_token."


@dataclass(frozen=True, slots=True)
class AccessToken:
    token: str = field(repr=False)
    expires_in: int


_CALL_ERRORS: dict[int, WxAuthError] = {
    40164: ServerMisconfigured("This server's IP is not on the mini program's whitelist."),
    45009: WeChatUnavailable("WeChat's daily quota for this API is used up.", retry_after=3600),
    41001: WeChatError("WeChat saw no access_token."),
    40002: ServerMisconfigured("WeChat refused the grant type."),
}


def _error(errcode: int, what: str) -> WxAuthError:
    if errcode in (TOKEN_INVALID, TOKEN_EXPIRED):
        return AccessTokenRejected(wechat_errcode=errcode)
    known = _CALL_ERRORS.get(errcode)
    if known is not None:
        # A fresh instance each time: errors carry per-request state once raised.
        return type(known)(known.message, wechat_errcode=errcode, retry_after=known.retry_after)
    error = error_for(errcode)
    if error.status >= 500:
        log.error("WeChat %s: errcode %s", what, errcode)
    return error


def _errcode(data: dict[str, Any]) -> int:
    value = data.get("errcode", 0)
    return value if isinstance(value, int) else -1


class ServerApi:
    """WeChat's server APIs on top of a :class:`WeChatClient` (its pool, timeouts, redaction)."""

    def __init__(self, client: WeChatClient) -> None:
        self._client = client

    async def fetch_access_token(
        self, appid: str, secret: str, *, stable: bool = True, force_refresh: bool = False
    ) -> AccessToken:
        """A token from /cgi-bin/stable_token (default) or /cgi-bin/token."""
        if stable:
            body = {
                "grant_type": "client_credential",
                "appid": appid,
                "secret": secret,
                "force_refresh": force_refresh,
            }
            data = await self._client.request_json("POST", STABLE_TOKEN_PATH, json=body)
        else:
            params = {"grant_type": "client_credential", "appid": appid, "secret": secret}
            data = await self._client.request_json("GET", TOKEN_PATH, params=params)
        if errcode := _errcode(data):
            raise _error(errcode, "access_token")
        token, expires_in = data.get("access_token"), data.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int):
            raise WeChatError("WeChat's access_token answer had no token.")
        return AccessToken(token, expires_in)

    async def user_phone_number(
        self, access_token: str, code: str, openid: str | None = None
    ) -> dict[str, Any]:
        """``phone_info`` for a getPhoneNumber code; with ``openid`` WeChat checks the binding."""
        body = {"code": code, **({"openid": openid} if openid else {})}
        data = await self._client.request_json(
            "POST", PHONE_PATH, params={"access_token": access_token}, json=body
        )
        errcode = _errcode(data)
        if errcode in (40029, 40163):
            raise InvalidCode(
                "The phone number code is invalid or used; ask the user to tap the button again.",
                wechat_errcode=errcode,
            )
        if errcode == 40003:
            raise InvalidRequest(
                "The phone number code belongs to another WeChat user.", wechat_errcode=errcode
            )
        if errcode:
            raise _error(errcode, "getuserphonenumber")
        info = data.get("phone_info")
        if not isinstance(info, dict):
            raise WeChatError("WeChat's phone number answer had no phone_info.")
        return info

    async def check_session_key(self, access_token: str, openid: str, session_key: str) -> bool:
        """Whether WeChat still holds ``session_key`` as the user's current one."""
        data = await self._client.request_json(
            "GET", CHECK_SESSION_PATH, params=self._signed(access_token, openid, session_key)
        )
        errcode = _errcode(data)
        if errcode == INVALID_SIGNATURE:
            return False
        if errcode:
            raise _error(errcode, "checksession")
        return True

    async def reset_session_key(self, access_token: str, openid: str, session_key: str) -> str:
        """Have WeChat issue a new session_key (keeping the old expiry); returns it."""
        data = await self._client.request_json(
            "GET", RESET_SESSION_KEY_PATH, params=self._signed(access_token, openid, session_key)
        )
        if errcode := _errcode(data):
            raise _error(errcode, "resetusersessionkey")
        new_key = data.get("session_key")
        if not isinstance(new_key, str):
            raise WeChatError("WeChat's reset answer had no session_key.")
        return new_key

    @staticmethod
    def _signed(access_token: str, openid: str, session_key: str) -> dict[str, str]:
        return {
            "access_token": access_token,
            "openid": openid,
            "signature": session_signature(session_key),
            "sig_method": "hmac_sha256",
        }
