"""Request and response bodies of the v1 API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field

from wxauth.api.proof_schemas import ProofFields
from wxauth.core.models import ProfileUpdate
from wxauth.core.profile import NICKNAME_MAX, bad_nickname_reason, bad_text_reason
from wxauth.wire import ErrorBody, UserPublic

__all__ = [
    "ErrorBody",
    "Health",
    "LoginRequest",
    "LoginResponse",
    "ProfileRequest",
    "UserPublic",
]


def _plain_text(value: str) -> str:
    reason = bad_text_reason(value)
    if reason:
        raise ValueError(reason)
    return value


def _http_url(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError("must be an http(s) URL")
    return _plain_text(value)


def _nickname(value: str) -> str:
    reason = bad_nickname_reason(value)
    if reason:
        raise ValueError(reason)
    return value


PlainText = Annotated[str, AfterValidator(_plain_text)]
AppId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
LoginCode = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class LoginRequest(ProofFields, Strict):
    code: LoginCode = Field(description="The code from wx.login (valid 5 minutes, single use).")
    appid: AppId | None = Field(None, description="Which mini program; optional with one app.")


class ProfileRequest(ProofFields, Strict):
    """WeChat's field names (``nickName``) or snake_case (``nickname``) are both accepted;
    or a proof (``rawData``+``signature`` / ``encryptedData``+``iv``) instead of the fields."""

    nickname: (
        Annotated[
            PlainText, AfterValidator(_nickname), Field(min_length=1, max_length=NICKNAME_MAX)
        ]
        | None
    ) = Field(None, validation_alias=AliasChoices("nickName", "nickname"))
    avatar_url: Annotated[str, AfterValidator(_http_url), Field(max_length=1024)] | None = Field(
        None, validation_alias=AliasChoices("avatarUrl", "avatar_url")
    )
    gender: Annotated[int, Field(ge=0, le=2)] | None = None
    country: Annotated[PlainText, Field(max_length=64)] | None = None
    province: Annotated[PlainText, Field(max_length=64)] | None = None
    city: Annotated[PlainText, Field(max_length=64)] | None = None
    language: Annotated[PlainText, Field(max_length=16)] | None = None

    def to_core(self) -> ProfileUpdate:
        return ProfileUpdate(
            nickname=self.nickname,
            avatar_url=self.avatar_url,
            gender=self.gender,
            country=self.country,
            province=self.province,
            city=self.city,
            language=self.language,
        )


class LoginResponse(BaseModel):
    token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105
    expires_in: int = Field(description="Seconds until the token's absolute expiry.")
    user: UserPublic
    new_user: bool


class Health(BaseModel):
    status: str
    reason: str | None = None
