"""What every integration shares: the :class:`Identity` a valid token stands for, the
:class:`TokenVerifier` contract, reading a bearer token, and rendering a refusal exactly as
the wxauth API does (``{"error", "message", "request_id"}`` plus ``WWW-Authenticate``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from wxauth.core.sessions import Authenticated
from wxauth.errors import WxAuthError
from wxauth.wire import UserPublic, error_body


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a valid session token belongs to.

    ``user_id`` is wxauth's opaque user id (introspection's ``sub``), the key a business
    backend stores its own rows under; ``user`` is the public profile as ``GET /v1/me``
    shows it. ``expires_at`` is the token's absolute expiry.
    """

    user_id: str
    appid: str
    openid: str = field(repr=False)
    unionid: str | None = field(repr=False)
    issued_at: datetime
    expires_at: datetime
    user: UserPublic = field(repr=False)
    # The person across the owner's apps (one per UnionID).
    person_id: str | None = None

    @classmethod
    def of(cls, auth: Authenticated) -> Identity:
        return cls(
            user_id=auth.user.id,
            appid=auth.session.appid,
            openid=auth.user.openid,
            unionid=auth.user.unionid,
            issued_at=auth.session.created_at,
            expires_at=auth.session.expires_at,
            user=UserPublic.of(auth.user),
            person_id=auth.user.person,
        )


class TokenVerifier(Protocol):
    """Checks a session token.

    ``verify`` returns the :class:`Identity` or raises :class:`wxauth.errors.InvalidToken`
    (unknown, expired, revoked or garbage: one answer for all), or another
    :class:`wxauth.errors.WxAuthError` when it cannot tell (``AuthUnavailable``, 503).
    """

    async def verify(self, token: str) -> Identity: ...

    async def aclose(self) -> None: ...


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; ``None`` without one."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


@dataclass(frozen=True, slots=True)
class Refusal:
    """An error as the wxauth API renders it, ready for any framework's response type."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str]

    @classmethod
    def of(cls, error: WxAuthError, request_id: str | None = None) -> Refusal:
        body = error_body(
            error.code, error.message, request_id, error.wechat_errcode, error.details()
        )
        return cls(status=error.status, body=body, headers=error.headers())


def utc_from_timestamp(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
