"""WeChat reports failures inside HTTP-200 JSON; this table turns errcodes into wxauth errors."""

from __future__ import annotations

from collections.abc import Callable

from wxauth.errors import (
    AppDisabled,
    AuthorizationWithdrawn,
    InvalidCode,
    LoginBlocked,
    RateLimited,
    ServerMisconfigured,
    VerifyTicketRejected,
    WeChatError,
    WeChatUnavailable,
    WxAuthError,
)

SYSTEM_BUSY = -1
CODE_INVALID = 40029
CODE_USED = 40163
NOT_AUTHORIZED = 61003  # the mini program is not authorized to the platform
REFRESH_TOKEN_INVALID = 61023

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
    # The Open Platform (third-party platform) family, WECHAT.md section 8.
    41018: lambda c: ServerMisconfigured("WeChat saw no component_appid.", wechat_errcode=c),
    NOT_AUTHORIZED: lambda c: AuthorizationWithdrawn(wechat_errcode=c),
    61004: lambda c: ServerMisconfigured(
        "This server's IP is not on the third-party platform's allow list.", wechat_errcode=c
    ),
    61005: lambda c: VerifyTicketRejected(
        "WeChat says the component_verify_ticket expired; are its pushes arriving?",
        wechat_errcode=c,
    ),
    61006: lambda c: VerifyTicketRejected(
        "WeChat says the component_verify_ticket is invalid; keep the newest pushed one.",
        wechat_errcode=c,
    ),
    61007: lambda c: AppDisabled(
        "The mini program has not granted this API to the third-party platform.",
        wechat_errcode=c,
    ),
    61009: lambda c: InvalidCode(
        "The authorization code is invalid or used; authorize the platform again.",
        wechat_errcode=c,
    ),
    61010: lambda c: InvalidCode(
        "The authorization code expired; authorize the platform again.", wechat_errcode=c
    ),
    REFRESH_TOKEN_INVALID: lambda c: AuthorizationWithdrawn(
        "WeChat refused the authorizer_refresh_token: the authorization was withdrawn or "
        "replaced; the merchant must authorize again.",
        wechat_errcode=c,
    ),
}


def error_for(errcode: int) -> WxAuthError:
    """The wxauth error for a non-zero WeChat errcode (``wechat_error`` when unknown)."""
    factory = _TABLE.get(errcode)
    if factory is None:
        return WeChatError(f"WeChat answered errcode {errcode}.", wechat_errcode=errcode)
    return factory(errcode)
