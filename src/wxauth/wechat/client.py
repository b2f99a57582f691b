"""Async client for WeChat's server APIs.

Requests go out through :mod:`wxauth.wechat.http` (aiohttp over the network, an httpx
transport in-process), each sender bounding the whole call by one deadline. Transport failures
and WeChat's errcodes are translated here, at one boundary, into :mod:`wxauth.errors`; the app
secret and the login code never appear in a log line or an exception message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from wxauth import redact
from wxauth.errors import WeChatError, WeChatUnavailable, WxAuthError
from wxauth.wechat.errcodes import CODE_USED, SYSTEM_BUSY, error_for
from wxauth.wechat.http import TRANSPORT_ERRORS, sender_for

log = logging.getLogger(__name__)

CODE2SESSION_PATH = "/sns/jscode2session"


@dataclass(frozen=True, slots=True)
class WeChatSession:
    """What code2Session returns: the user's openid, their session_key and maybe a unionid."""

    openid: str
    session_key: str = field(repr=False)
    unionid: str | None = None


class WeChatClient:
    """Calls WeChat (or the simulator: only ``base_url`` differs)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        redact.install()
        self._timeout = timeout
        self._http = sender_for(base_url, timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return f"WeChatClient({self._http!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def code2session(self, appid: str, secret: str, code: str) -> WeChatSession:
        """Exchange a ``wx.login`` code for the user's openid and session_key.

        WeChat's ``-1`` (system busy) is retried once with the same code; a code that WeChat
        consumed before failing then answers 40163, which still means WeChat was at fault.
        """
        params = {
            "appid": appid,
            "secret": secret,
            "js_code": code,
            "grant_type": "authorization_code",
        }
        return await self.exchange_code(CODE2SESSION_PATH, params, appid=appid)

    async def exchange_code(
        self,
        path: str,
        params: dict[str, str],
        *,
        appid: str,
        translate: Callable[[int], WxAuthError] = error_for,
    ) -> WeChatSession:
        """GET a code2Session-shaped ``path`` (the plain one, or the Open Platform's
        ``/sns/component/jscode2session``) with code2session's retry; ``translate`` turns
        errcodes into errors."""
        data = await self._get_json(path, params)
        errcode = errcode_of(data)
        if errcode == SYSTEM_BUSY:
            log.warning("code2Session for %s answered -1 (%s); retrying once", appid, _rid(data))
            data = await self._get_json(path, params)
            errcode = errcode_of(data)
            if errcode == CODE_USED:
                raise WeChatUnavailable(
                    "WeChat failed while using the login code; call wx.login again and retry.",
                    wechat_errcode=SYSTEM_BUSY,
                )
        if errcode:
            raise _logged(translate(errcode), appid, data)
        openid, session_key = data.get("openid"), data.get("session_key")
        if not isinstance(openid, str) or not isinstance(session_key, str):
            raise WeChatError("WeChat's code2Session answer had no openid or session_key.")
        unionid = data.get("unionid")
        return WeChatSession(openid, session_key, unionid if isinstance(unionid, str) else None)

    async def _get_json(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        return await self.request_json("GET", path, params=params)

    async def request_json(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Call a WeChat path and return its JSON object; transport failures are translated.

        WeChat's errcodes are left to the caller (they mean different things per path).
        """
        try:
            started = time.perf_counter()
            answer = await self._http.send(method, path, params=params, json=json)
        except (httpx.TimeoutException, TimeoutError):
            log.warning("WeChat %s: no answer within %ss", path, self._timeout)
            raise WeChatUnavailable("WeChat did not answer in time; retry later.") from None
        except TRANSPORT_ERRORS as exc:
            log.warning("WeChat %s: transport error %s", path, type(exc).__name__)
            raise WeChatUnavailable("WeChat could not be reached; retry later.") from None
        if log.isEnabledFor(logging.DEBUG):  # the path only: the query carries secrets
            ms = 1000 * (time.perf_counter() - started)
            log.debug("WeChat %s %s: HTTP %s in %.0f ms", method, path, answer.status, ms)
        if answer.status >= 500:
            raise WeChatUnavailable(f"WeChat answered HTTP {answer.status}.")
        try:
            data = orjson.loads(answer.body)
        except orjson.JSONDecodeError:
            raise WeChatError(f"WeChat answered {path} with non-JSON.") from None
        if answer.status != 200 or not isinstance(data, dict):
            raise WeChatError(f"WeChat answered {path} with HTTP {answer.status}.")
        return data


def errcode_of(data: dict[str, Any]) -> int:
    """WeChat's errcode in an answer: 0 when absent, -1 when unreadable."""
    value = data.get("errcode", 0)
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)  # the Open Platform's docs show "errcode": "40029"
    return value if isinstance(value, int) else -1


def _rid(data: dict[str, Any]) -> str:
    errmsg = data.get("errmsg")
    return errmsg if isinstance(errmsg, str) else ""


def _logged(error: WxAuthError, appid: str, data: dict[str, Any]) -> WxAuthError:
    level = logging.ERROR if error.status >= 500 else logging.INFO
    log.log(level, "code2Session for %s: errcode %s (%s)", appid, error.wechat_errcode, _rid(data))
    return error
