"""Request and response bodies of the v1 API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field, StrictStr

from wxauth.api.proof_schemas import ProofFields
from wxauth.core.models import DEVICE_LIMITS, DeviceInfo, ProfileUpdate, Session
from wxauth.core.profile import NICKNAME_MAX, bad_nickname_reason, bad_text_reason
from wxauth.wire import ErrorBody, UserPublic

__all__ = [
    "DeleteAccountRequest",
    "DeleteAccountResponse",
    "DeviceRequest",
    "ErrorBody",
    "Health",
    "LoginRequest",
    "LoginResponse",
    "LogoutRequest",
    "ProfileRequest",
    "Readiness",
    "SessionList",
    "SessionOut",
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


def _device_text(name: str) -> Any:
    limit = DEVICE_LIMITS[name]
    return Field(None, min_length=1, max_length=limit, description=f"At most {limit} characters.")


DeviceText = Annotated[StrictStr, AfterValidator(_plain_text)]


class DeviceRequest(Strict):
    """What ``wx.getDeviceInfo`` / ``wx.getSystemInfo`` say about the phone (as the phone
    says it: shown to the user to tell their sessions apart, never trusted for anything)."""

    brand: DeviceText | None = _device_text("brand")
    model: DeviceText | None = _device_text("model")
    platform: DeviceText | None = _device_text("platform")
    system: DeviceText | None = _device_text("system")
    wechat_version: DeviceText | None = Field(
        None,
        min_length=1,
        max_length=DEVICE_LIMITS["wechat_version"],
        validation_alias=AliasChoices("version", "wechat_version"),
        description="WeChat's version (``version`` in getSystemInfo / getAppBaseInfo).",
    )

    def to_core(self) -> DeviceInfo:
        return DeviceInfo(
            brand=self.brand,
            model=self.model,
            platform=self.platform,
            system=self.system,
            wechat_version=self.wechat_version,
        )


class LoginRequest(ProofFields, Strict):
    code: LoginCode = Field(
        description="The code from wx.login (valid 5 minutes, single use).",
        examples=["0c3Gkll2Odbsy54yxVl26EKnVv4Gkllz"],
    )
    appid: AppId | None = Field(
        None,
        description="Which mini program; optional with one app.",
        examples=["wxd0e0000000000001"],
    )
    device: DeviceRequest | None = Field(None, description="The phone's own description.")


class LogoutRequest(Strict):
    scope: Literal["current", "all", "others"] = Field(
        "current", description="This session, all of the user's, or all but this one."
    )


class DeviceOut(BaseModel):
    brand: str | None
    model: str | None
    platform: str | None
    system: str | None
    wechat_version: str | None


class SessionOut(BaseModel):
    """One of the user's live sessions: ``id`` names it for revoking; it is not a token."""

    id: str
    current: bool
    created_at: datetime = Field(description="First use: the login.")
    last_seen_at: datetime = Field(description="Last use (updated at most every few minutes).")
    expires_at: datetime
    ip: str | None
    user_agent: str | None
    device: DeviceOut

    @classmethod
    def of(cls, session: Session, *, current: bool) -> SessionOut:
        return cls(
            id=session.public_id,
            current=current,
            created_at=session.created_at,
            last_seen_at=session.last_seen_at,
            expires_at=session.expires_at,
            ip=session.ip,
            user_agent=session.user_agent,
            device=DeviceOut(
                brand=session.device_brand,
                model=session.device_model,
                platform=session.device_platform,
                system=session.device_system,
                wechat_version=session.device_wechat_version,
            ),
        )


class SessionList(BaseModel):
    sessions: list[SessionOut]


class DeleteAccountRequest(Strict):
    confirm: Literal["DELETE"] = Field(description='Exactly "DELETE": the user confirmed.')


class DeleteAccountResponse(BaseModel):
    deleted: bool = Field(description="True: erased now; false: erased at ``due_at``.")
    due_at: datetime | None = Field(
        None, description="When the account is erased, unless the user logs in before."
    )


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


class Readiness(BaseModel):
    status: str
    reason: str | None = Field(None, description="why the server is not ready")
    redis: str | None = Field(None, description='"ok" or "degraded", when Redis is configured')
