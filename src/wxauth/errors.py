"""One exception tree for wxauth.

Every error a request can meet knows its HTTP status and its stable error code, so the API
layer renders all of them with one handler::

    WxAuthError                     500 internal_error
    ├── InvalidRequest              400 invalid_request
    │   ├── CryptoError             400 invalid_request: encrypted data that cannot be read
    │   │   ├── InvalidSessionKey       the session_key is not 16 bytes in base64
    │   │   ├── InvalidIV               the iv is not 16 bytes in base64
    │   │   ├── InvalidBase64           encryptedData is not base64
    │   │   ├── WatermarkMismatch       the data was issued for another appid
    │   │   └── DecryptionFailed    400 session_key_stale (also a SessionKeyStale)
    │   └── ComponentMessageError       a platform push (Open Platform) that is refused:
    │       ├── MalformedMessage            not the XML, base64 or layout WeChat sends
    │       ├── InvalidMessageSignature     msg_signature does not sign the message
    │       ├── StaleMessage                its timestamp is too far from now
    │       ├── ReplayedMessage             its timestamp and nonce were seen before
    │       ├── MessageDecryptionFailed     wrong EncodingAESKey or broken padding
    │       └── MessageAppidMismatch        encrypted for another appid
    ├── InvalidCode                 400 invalid_code
    ├── SessionKeyStale             400 session_key_stale
    ├── InvalidSignature            400 invalid_signature
    ├── InvalidToken                401 invalid_token (WWW-Authenticate)
    │   └── SessionReplaced         401 session_replaced (WWW-Authenticate): a newer login
    │                                   beyond the per-user session cap ended this session
    ├── LoginBlocked                403 login_blocked
    ├── AccountDisabled             403 account_disabled: the account is disabled (with the
    │                                   public reason and until when)
    ├── Forbidden                   403 forbidden
    ├── AppDisabled                 403 app_disabled
    │   └── AuthorizationWithdrawn      the merchant withdrew the app from the platform
    ├── NotFound                    404 not_found
    ├── PayloadTooLarge             413 payload_too_large
    ├── RateLimited                 429 rate_limited (Retry-After)
    ├── ServerMisconfigured         500 server_misconfigured
    │   ├── KeyringError            500 server_misconfigured: stored data the at-rest keys
    │   │                               (WXAUTH_SECRET_KEYS) cannot open
    │   ├── InvalidEncodingAESKey       the platform's EncodingAESKey is not 43 base64 characters
    │   └── VerifyTicketRejected        WeChat refused the component_verify_ticket (61005, 61006)
    ├── WeChatError                 502 wechat_error
    │   └── ComponentTokenRejected      WeChat refused the component_access_token (40001, 42001)
    ├── WeChatUnavailable           503 wechat_unavailable (Retry-After)
    ├── StorageUnavailable          503 storage_unavailable (Retry-After): the database cannot
    │                                   be reached, is busy, or has no free connection
    ├── AuthUnavailable             503 auth_unavailable (Retry-After; raised by integrations)
    └── InvalidWebhook              400 invalid_webhook: a webhook whose signature or timestamp
                                        does not verify (raised by integrations, in a receiver)

Outside errors are translated at one boundary each, with ``raise ... from exc``: WeChat's
errcodes in :mod:`wxauth.wechat.errcodes`, the database drivers' in
:mod:`wxauth.storage.boundary`.

Messages are written for the API's users and never carry secrets, session_keys or tokens.
"""

from __future__ import annotations

from typing import ClassVar


class WxAuthError(Exception):
    """Base of every wxauth error; renders as 500 ``internal_error`` unless a subclass says more."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    default_message: ClassVar[str] = "Internal error."
    default_retry_after: ClassVar[int | None] = None  # seconds, sent as Retry-After

    def __init__(
        self,
        message: str | None = None,
        *,
        wechat_errcode: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.wechat_errcode = wechat_errcode
        self.retry_after = self.default_retry_after if retry_after is None else retry_after
        super().__init__(self.message)

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(self.retry_after)}

    def details(self) -> dict[str, str]:
        """Fields the error body carries besides ``error``, ``message`` and ``request_id``."""
        return {}


class InvalidRequest(WxAuthError):
    status = 400
    code = "invalid_request"
    default_message = "The request is malformed."


class CryptoError(InvalidRequest):
    """Encrypted data from the phone that cannot be read (see :mod:`wxauth.wechat.crypto`)."""

    default_message = "The encrypted data could not be read."


class InvalidSessionKey(CryptoError):
    default_message = "The session_key is not 16 bytes in base64."


class InvalidIV(CryptoError):
    default_message = "The iv is not 16 bytes in base64."


class InvalidBase64(CryptoError):
    default_message = "encryptedData is not valid base64."


class WatermarkMismatch(CryptoError):
    default_message = "The encrypted data was issued for another mini program."


class ComponentMessageError(InvalidRequest):
    """A push to the platform's event URL that must not be acted on (answer it with no
    ``success``). The subclass says why, for the logs; callers need not tell them apart."""

    default_message = "The pushed message was refused."


class MalformedMessage(ComponentMessageError):
    default_message = "The pushed message is not in WeChat's format."


class InvalidMessageSignature(ComponentMessageError):
    default_message = "The pushed message's msg_signature does not match."


class StaleMessage(ComponentMessageError):
    default_message = "The pushed message's timestamp is too far from now."


class ReplayedMessage(ComponentMessageError):
    default_message = "The pushed message was received before."


class MessageDecryptionFailed(ComponentMessageError):
    default_message = "The pushed message could not be decrypted with the EncodingAESKey."


class MessageAppidMismatch(ComponentMessageError):
    default_message = "The pushed message was encrypted for another appid."


class InvalidCode(WxAuthError):
    status = 400
    code = "invalid_code"
    default_message = "The login code is invalid or already used; call wx.login again."


class SessionKeyStale(WxAuthError):
    status = 400
    code = "session_key_stale"
    default_message = (
        "The data could not be decrypted with the current session_key; "
        "call wx.login, log in again, then retry."
    )


class DecryptionFailed(SessionKeyStale, CryptoError):
    """Wrong key, broken padding or no JSON inside: almost always a rotated session_key."""


class InvalidSignature(WxAuthError):
    status = 400
    code = "invalid_signature"
    default_message = "The signature does not match the data."


class InvalidToken(WxAuthError):
    status = 401
    code = "invalid_token"
    default_message = "The session token is missing, unknown, expired or revoked; log in again."

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer error="invalid_token"'}


class SessionReplaced(InvalidToken):
    """The session was ended by a newer login of the same user beyond the session cap
    (``WXAUTH_SESSION_CAP``). Logging in again works, and ends another session in turn."""

    code = "session_replaced"
    default_message = (
        "This session was ended because the account logged in on another device; "
        "log in again to use it here."
    )


class AccountDisabled(WxAuthError):
    """The account is disabled: no login, and none of its tokens work. ``reason`` is the
    public reason given when it was disabled, ``until`` when it ends (None: until enabled)."""

    status = 403
    code = "account_disabled"
    default_message = "This account is disabled."

    def __init__(
        self,
        message: str | None = None,
        *,
        reason: str | None = None,
        until: str | None = None,
        wechat_errcode: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        if message is None:
            message = f"This account is disabled: {reason}" if reason else self.default_message
            if until:
                message += f" (until {until})"
        super().__init__(message, wechat_errcode=wechat_errcode, retry_after=retry_after)
        self.reason = reason
        self.until = until

    def details(self) -> dict[str, str]:
        found = {"reason": self.reason, "until": self.until}
        return {name: value for name, value in found.items() if value}


class LoginBlocked(WxAuthError):
    status = 403
    code = "login_blocked"
    default_message = "WeChat refused this login (high-risk user)."


class Forbidden(WxAuthError):
    status = 403
    code = "forbidden"
    default_message = "Not allowed."


class AppDisabled(WxAuthError):
    status = 403
    code = "app_disabled"
    default_message = "This mini program is disabled."


class AuthorizationWithdrawn(AppDisabled):
    """WeChat says the mini program is not (or no longer) authorized to the platform."""

    default_message = "This mini program's authorization to the platform was withdrawn."


class NotFound(WxAuthError):
    status = 404
    code = "not_found"
    default_message = "Not found."


class PayloadTooLarge(WxAuthError):
    status = 413
    code = "payload_too_large"
    default_message = "The request body is too large."


class RateLimited(WxAuthError):
    status = 429
    code = "rate_limited"
    default_message = "Too many requests; retry later."

    default_retry_after = 60


class ServerMisconfigured(WxAuthError):
    status = 500
    code = "server_misconfigured"
    default_message = "The server is misconfigured; the operator has been told."


class KeyringError(ServerMisconfigured):
    """A stored ciphertext that none of the at-rest keys opens: ``WXAUTH_SECRET_KEYS`` lost
    the key it was written under (keep old keys after the new one until ``wxauth keys
    rotate`` has run)."""

    default_message = (
        "Stored data cannot be decrypted with the server's at-rest keys; the operator must "
        "restore the key it was written under."
    )


class InvalidEncodingAESKey(ServerMisconfigured):
    default_message = "The platform's EncodingAESKey is not 43 base64 characters."


class VerifyTicketRejected(ServerMisconfigured):
    """The stored component_verify_ticket is expired or invalid: WeChat's pushes (every ten
    minutes) are not reaching the server, or are not being kept."""

    default_message = "WeChat refused the platform's component_verify_ticket."


class WeChatError(WxAuthError):
    status = 502
    code = "wechat_error"
    default_message = "WeChat answered with an unexpected error."


class ComponentTokenRejected(WeChatError):
    """WeChat refused the component_access_token (40001 invalid / not latest, 42001 expired)."""

    default_message = "WeChat refused the platform's component_access_token."


class WeChatUnavailable(WxAuthError):
    status = 503
    code = "wechat_unavailable"
    default_message = "WeChat is unavailable; retry later."

    default_retry_after = 5


class StorageUnavailable(WxAuthError):
    """The database cannot be reached, is busy, or has no free connection right now."""

    status = 503
    code = "storage_unavailable"
    default_message = "The service's database is unavailable; retry later."

    default_retry_after = 2


class AuthUnavailable(WxAuthError):
    """A backend could not reach wxauth to check a token (and had no fresh cached answer)."""

    status = 503
    code = "auth_unavailable"
    default_message = "The login service cannot be reached to check the token; retry later."

    default_retry_after = 5


class InvalidWebhook(WxAuthError):
    """A webhook that does not verify: no or a wrong signature, a malformed or stale
    timestamp (``wxauth.integrations.webhooks.verify``, in a receiver)."""

    status = 400
    code = "invalid_webhook"
    default_message = "The webhook's signature does not verify."
