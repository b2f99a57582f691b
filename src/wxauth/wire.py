"""The JSON shapes of the v1 contract that the API and the integrations share: the public
user, the introspection answer and the error body. Pydantic models only, no framework."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from wxauth.core.models import User
from wxauth.core.sessions import Authenticated


class UserPublic(BaseModel):
    """What a client sees of a user: never the openid, never the session_key."""

    id: str
    appid: str
    nickname: str | None
    avatar_url: str | None
    gender: int | None
    country: str | None
    province: str | None
    city: str | None
    language: str | None
    has_phone: bool
    created_at: datetime | None
    updated_at: datetime | None
    # The person across the owner's apps (one per UnionID): the same for the users of one.
    person_id: str

    @classmethod
    def of(cls, user: User) -> UserPublic:
        return cls(
            id=user.id,
            appid=user.appid,
            nickname=user.nickname,
            avatar_url=user.avatar_url,
            gender=user.gender,
            country=user.country,
            province=user.province,
            city=user.city,
            language=user.language,
            has_phone=user.has_phone,
            created_at=user.created_at,
            updated_at=user.updated_at,
            person_id=user.person,
        )


class Introspection(BaseModel):
    """The answer of ``POST /v1/introspect`` (RFC 7662); an inactive token has ``active``
    and nothing else."""

    active: bool
    token_type: Literal["Bearer"] | None = None
    sub: str | None = None
    client_id: str | None = None
    exp: int | None = None
    iat: int | None = None
    openid: str | None = None
    unionid: str | None = None
    user: UserPublic | None = None
    person_id: str | None = None

    @classmethod
    def of(cls, auth: Authenticated) -> Introspection:
        """``exp`` is the absolute expiry; a token left unused for the idle TTL ends sooner."""
        user, session = auth.user, auth.session
        return cls(
            active=True,
            token_type="Bearer",  # noqa: S106 - a token type, not a secret
            sub=user.id,
            client_id=session.appid,
            exp=int(session.expires_at.timestamp()),
            iat=int(session.created_at.timestamp()),
            openid=user.openid,
            unionid=user.unionid,
            user=UserPublic.of(user),
            person_id=user.person,
        )


class ErrorBody(BaseModel):
    """Every error the API answers: ``{"error", "message", "request_id"}``, plus
    ``wechat_errcode`` when WeChat's answer caused it."""

    error: str
    message: str
    request_id: str | None = None
    wechat_errcode: int | None = None
    reason: str | None = None  # account_disabled: the public reason
    until: str | None = None  # account_disabled: when it ends (ISO 8601), if it does


def error_body(
    code: str,
    message: str,
    request_id: str | None,
    wechat_errcode: int | None = None,
    details: dict[str, str] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"error": code, "message": message, "request_id": request_id}
    if wechat_errcode is not None:
        body["wechat_errcode"] = wechat_errcode
    if details:
        body.update(details)
    return body
