"""WeChat reports failures inside HTTP-200 JSON; this table turns errcodes into wxauth errors."""

from __future__ import annotations

from collections.abc import Callable

from wxauth.errors import (
    InvalidCode,
    LoginBlocked,
    RateLimited,
    ServerMisconfigured,
    WeChatError,
    WeChatUnavailable,
    WxAuthError,
)

SYSTEM_BUSY = -1
CODE_INVALID = 40029
CODE_USED = 40163

_TABLE: dict[int, Callable[[int], WxAuthError]] = {
    SYSTEM_BUSY: lambda c: WeChatUnavailable("WeChat is busy; retry later.", wechat_errcode=c),
    CODE_INVALID: lambda c: InvalidCode(wechat_errcode=c),
    CODE_USED: lambda c: InvalidCode(wechat_errcode=c),
    40226: lambda c: LoginBlocked(wechat_errcode=c),
    45011: lambda c: RateLimited(
        "WeChat's login frequency limit was reached for this user; retry in a minute.",
        wechat_errcode=c,
        retry_after=60,
    ),
    40013: lambda c: ServerMisconfigured(wechat_errcode=c),
    40125: lambda c: ServerMisconfigured(wechat_errcode=c),
}


def error_for(errcode: int) -> WxAuthError:
    """The wxauth error for a non-zero WeChat errcode (``wechat_error`` when unknown)."""
    factory = _TABLE.get(errcode)
    if factory is None:
        return WeChatError(f"WeChat answered errcode {errcode}.", wechat_errcode=errcode)
    return factory(errcode)
