"""Settings, read once from ``WXAUTH_*`` environment variables (or a TOML file named by
``WXAUTH_CONFIG``) and passed down; nothing imports a global settings object.

Secrets are ``SecretStr`` (or hidden from the repr) so that printing or logging a
``Settings`` never shows them.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import itertools
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from wxauth.core.apps import APPID as APPID  # re-exported: the appid's form is the core's
from wxauth.core.apps import check_appid as check_appid
from wxauth.errors import InvalidEncodingAESKey, ServerMisconfigured
from wxauth.platform import PlatformConfig
from wxauth.wechat.component_crypto import aes_key

DAY = 86_400
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./wxauth.db"
WECHAT_BASE_URL = "https://api.weixin.qq.com"

# WXAUTH_* variables that are not Settings fields but are read by something else: the config
# file's name, and the integrations' VerifierSettings (another backend's process).
OTHER_ENV_NAMES = frozenset(
    {"WXAUTH_CONFIG", "WXAUTH_VERIFIER", "WXAUTH_SERVER_URL", "WXAUTH_SERVICE_KEY"}
    | {
        f"WXAUTH_VERIFY_{name}"
        for name in ("CACHE_TTL", "NEGATIVE_TTL", "CACHE_SIZE", "TIMEOUT", "APPID")
    }
)


class ConfigFileError(ServerMisconfigured):
    """The TOML file named by WXAUTH_CONFIG is missing, not TOML, or names unknown keys."""


def parse_app(spec: str) -> tuple[str, str]:
    """Split ``APPID:SECRET`` (the form of ``--app`` and ``WXAUTH_APPS``)."""
    appid, sep, secret = spec.strip().partition(":")
    if not sep or not appid or not secret:
        raise ValueError("an app is given as APPID:SECRET")
    return appid, secret


def parse_platform(spec: str) -> PlatformConfig:
    """Split ``COMPONENT_APPID:SECRET:TOKEN:ENCODINGAESKEY`` (``WXAUTH_PLATFORMS``); the
    message never shows the secret parts."""
    parts = spec.strip().split(":")
    if len(parts) != 4 or not all(parts):
        raise ValueError(
            "WXAUTH_PLATFORMS: a platform is COMPONENT_APPID:SECRET:TOKEN:ENCODINGAESKEY"
        )
    try:
        aes_key(parts[3])
    except InvalidEncodingAESKey:
        raise ValueError(
            f"WXAUTH_PLATFORMS: the EncodingAESKey of {parts[0]} is not the 43 characters "
            "the Open Platform console shows"
        ) from None
    return PlatformConfig(*parts)


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def check_secret_key(key: str) -> bytes:
    """Decode one at-rest key: 32 random bytes, URL-safe base64 with padding."""
    try:
        raw = base64.urlsafe_b64decode(key.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise ValueError("a secret key must be URL-safe base64 (wxauth keys generate)") from exc
    if len(raw) != 32 or len(key) != 44:
        raise ValueError("a secret key must be 32 bytes in URL-safe base64 (44 characters)")
    if len(set(raw)) < 8:  # all zeros, a repeated byte, a typed-in pattern: not random
        raise ValueError("a secret key must be random: make one with `wxauth keys generate`")
    return raw


SERVICE_KEY_MIN_LENGTH = 32
WEAK_WORDS = ("password", "changeme", "secret", "example", "xxxx")


def check_service_key(key: str) -> None:
    """Refuse a service key that is short or obviously not random (the message never shows it)."""
    rest = key.lower()
    for word in WEAK_WORDS:  # what is left once the placeholder words are taken out
        rest = rest.replace(word, "")
    weak = (
        len(rest) < SERVICE_KEY_MIN_LENGTH
        or len(set(key)) < 12  # "aaaa…", "abab…", "0000…1111"
        or _mostly_sequential(key)  # "0123456789abcdef…"
    )
    if weak:
        raise ValueError(
            f"WXAUTH_SERVICE_KEYS: each service key must be at least {SERVICE_KEY_MIN_LENGTH}"
            " random characters (not a word, a pattern or a repeated character); make one"
            ' with `python -c "import secrets; print(secrets.token_urlsafe(32))"`'
        )


# Service key scopes: a WXAUTH_SERVICE_KEYS entry is a bare KEY (every scope, every app: the
# original form) or NAME:KEY:SCOPES:APPS, SCOPES joined by "+" and APPS by "|", "*" for all.
SCOPE_INTROSPECT = "introspect"
SCOPE_ACCESS_TOKEN = "access_token"  # noqa: S105 - a scope's name
SERVICE_SCOPES = frozenset({SCOPE_INTROSPECT, SCOPE_ACCESS_TOKEN})


@dataclass(frozen=True, slots=True)
class ServiceKey:
    """One service key and what it may do: ``appids`` None means every app."""

    name: str
    key: SecretStr
    scopes: frozenset[str]
    appids: frozenset[str] | None

    def allows(self, scope: str, appid: str | None = None) -> bool:
        if scope not in self.scopes:
            return False
        return appid is None or self.appids is None or appid in self.appids


def parse_service_key(entry: str) -> ServiceKey:
    """``KEY`` or ``NAME:KEY:SCOPES:APPS`` (see above); the key's strength is checked."""
    parts = entry.split(":")
    if len(parts) != 4:
        check_service_key(entry)
        return ServiceKey("default", SecretStr(entry), SERVICE_SCOPES, None)
    name, key, scopes, apps = (part.strip() for part in parts)
    check_service_key(key)
    wanted = SERVICE_SCOPES if scopes == "*" else frozenset(filter(None, scopes.split("+")))
    unknown = sorted(wanted - SERVICE_SCOPES)
    if not name or not wanted or unknown:
        refused = f"; not {', '.join(unknown)}" if unknown else ""
        raise ValueError(
            f"WXAUTH_SERVICE_KEYS: the key named {name!r} needs a name and scopes from "
            f"{' + '.join(sorted(SERVICE_SCOPES))} (or *){refused}"
        )
    appids = None if apps == "*" else frozenset(check_appid(a) for a in apps.split("|") if a)
    if appids is not None and not appids:
        raise ValueError(f"WXAUTH_SERVICE_KEYS: the key named {name!r} names no app (or *)")
    return ServiceKey(name, SecretStr(key), wanted, appids)


def _mostly_sequential(key: str) -> bool:
    steps = sum(abs(ord(b) - ord(a)) <= 1 for a, b in itertools.pairwise(key))
    return steps * 2 > len(key)


class StrictTomlSource(TomlConfigSettingsSource):
    """The TOML file, refused in one line when it cannot be read or is not TOML, and when it
    names a key that is not a setting (a typo would otherwise be ignored silently)."""

    def __init__(self, settings_cls: type[BaseSettings], toml_file: str) -> None:
        if not Path(toml_file).is_file():
            raise ConfigFileError(f"WXAUTH_CONFIG names {toml_file}, which is not a file")
        try:
            super().__init__(settings_cls, toml_file=toml_file)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigFileError(f"{toml_file} is not valid TOML: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigFileError(f"cannot read {toml_file}: {exc}") from None
        unknown = sorted(set(self.toml_data) - set(settings_cls.model_fields))
        if unknown:
            hint = " (keys are written without the WXAUTH_ prefix, in lower case)"
            raise ConfigFileError(
                f"{toml_file}: unknown setting{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(unknown)}{hint if any(k.upper() == k for k in unknown) else ''}"
            )


def unknown_env_names(environ: dict[str, str] | None = None) -> list[str]:
    """WXAUTH_* variables that nothing reads: most likely typos (warned about, not refused,
    since one environment may also serve other programs)."""
    known = {f"WXAUTH_{name.upper()}" for name in Settings.model_fields} | OTHER_ENV_NAMES
    env = os.environ if environ is None else environ
    return sorted(n for n in env if n.upper().startswith("WXAUTH_") and n.upper() not in known)


class Settings(BaseSettings):
    # hide_input_in_errors: a refused key or secret must not be printed back in the error.
    model_config = SettingsConfigDict(
        env_prefix="WXAUTH_", extra="ignore", hide_input_in_errors=True
    )

    database_url: str = Field(default=DEFAULT_DATABASE_URL, repr=False)
    apps: Annotated[dict[str, SecretStr], NoDecode] = Field(default_factory=dict)
    wechat_base_url: str = WECHAT_BASE_URL
    wechat_timeout: float = Field(default=5.0, gt=0, le=60)
    redis_url: str | None = Field(default=None, repr=False)
    # Connections per process; callers wait for a free one rather than fail. Size it so that
    # processes x this stays within Redis's maxclients (10,000 by default).
    redis_pool_size: int = Field(default=64, ge=1, le=10_000)
    session_cache_ttl: int = Field(default=60, ge=0)  # seconds in Redis; 0: no session cache
    session_cache_local_ttl: float = Field(default=1.0, ge=0, le=1.0)  # the staleness bound

    session_idle_ttl: int = Field(default=7 * DAY, gt=0)
    session_max_ttl: int = Field(default=30 * DAY, gt=0)
    session_touch_interval: int = Field(default=300, ge=0)

    secret_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    service_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)

    max_body_bytes: int = Field(default=64 * 1024, gt=0)
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"

    # WeChat circuit breaker, per appid: open after this many failures in a row, for this long.
    wechat_breaker_failures: int = Field(default=5, ge=1)
    wechat_breaker_cooldown: float = Field(default=10.0, gt=0, le=600)

    # Rate limits: per window; 0 turns a limit off. The login ones are budgets of failures
    # (what a client got wrong), never of successes: any number of people behind one address
    # (NAT, campus Wi-Fi, a proxy), and any surge of an app's users, get in.
    redis_prefix: str = Field(default="wxauth:", max_length=64)
    rate_limit_window: int = Field(default=60, ge=1, le=3600)
    rate_limit_login_ip: int = Field(default=30, ge=0)  # failed logins per address
    rate_limit_login_appid: int = Field(default=0, ge=0)  # failed logins per appid (0: none)
    rate_limit_token: int = Field(default=600, ge=0)  # requests per (real) token
    rate_limit_token_failures_ip: int = Field(default=120, ge=0)  # failed token checks
    rate_limit_service_key_failures_ip: int = Field(default=10, ge=0)  # wrong service keys
    # Peers (IPs or CIDR networks) whose forwarded-for header names the client; none: the
    # connection's address is the client's.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    client_ip_header: str = "x-forwarded-for"

    audit_retention_days: int = Field(default=90, ge=1)
    access_token_api: Literal["stable", "token"] = "stable"  # noqa: S105 - a choice
    access_token_margin: int = Field(default=300, ge=0)
    # Where uploaded avatars live: "directory" (WXAUTH_AVATAR_DIR, one machine) or
    # "database" (the avatar_images table: every server of a deployment serves every avatar).
    avatar_storage: Literal["directory", "database"] = "directory"
    avatar_dir: Path = Path("avatars")
    avatar_max_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    public_url: str | None = None
    # Accounts: live sessions per user and app (0: no cap; 1: a single device), how long a
    # requested account deletion waits (seconds; a login meanwhile cancels it; 0: at once),
    # and data exports per user per rate-limit window.
    session_cap: int = Field(default=0, ge=0)
    account_deletion_grace: int = Field(default=0, ge=0)
    rate_limit_export: int = Field(default=1, ge=0)
    # Apps registry (multi-tenancy): seconds between a process's reloads of the registry,
    # the bound on how long another process still serves an app after it is disabled.
    app_registry_ttl: float = Field(default=0.5, gt=0, le=60)
    # Third-party platforms (Open Platform component mode), comma-separated, each
    # COMPONENT_APPID:SECRET:TOKEN:ENCODINGAESKEY (the key: 43 characters, from the console).
    platforms: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    # How far a platform push's timestamp may be from now (seconds, either way).
    platform_push_max_skew: int = Field(default=300, ge=10, le=3600)
    # Signed access tokens (POST /v1/token, /.well-known/jwks.json): a JWT's life in seconds
    # (its revocation bound) and its issuer (default: public_url, else the server's URL).
    jwt_ttl: int = Field(default=300, ge=1, le=86_400)
    jwt_issuer: str | None = None
    # WeChat's access_token relayed to service keys (GET /v1/wechat/access-token): refreshes
    # of a token a caller says WeChat refused, per app per rate-limit window (0: no limit).
    rate_limit_access_token_refresh: int = Field(default=3, ge=0)
    # The operator console under /console: off unless asked for. Operator sessions end when
    # unused for console_idle_ttl seconds and console_max_ttl after sign-in; failed sign-ins
    # are counted per operator name and per address in each rate-limit window.
    console: bool = False
    console_idle_ttl: int = Field(default=30 * 60, gt=0)
    console_max_ttl: int = Field(default=12 * 3600, gt=0)
    rate_limit_console_signin_name: int = Field(default=5, ge=0)
    rate_limit_console_signin_ip: int = Field(default=20, ge=0)

    # Database connections per process (PostgreSQL, MySQL/MariaDB): a pool of this many, this
    # many more when all are busy, and how long a request waits for one before it answers
    # 503 storage_unavailable. Rule: workers x (pool size + overflow), summed over every
    # server and command on the database, stays below what it allows (PostgreSQL's
    # max_connections, 100 by default, less its superuser_reserved_connections; MySQL's
    # max_connections, 151). See docs/deployment.md.
    database_pool_size: int = Field(default=20, ge=1, le=1000)
    database_max_overflow: int = Field(default=0, ge=0, le=1000)
    database_pool_timeout: float = Field(default=5.0, gt=0, le=120)
    # FastAPI's own OpenTelemetry (spans and metrics through the global providers): off by
    # default, since /metrics already counts requests and, off, it costs nothing; on, every
    # request first asks whether a provider is configured.
    opentelemetry: bool = False
    # Webhooks (wxauth webhooks): the delivery worker of each server process, how long one
    # attempt may take, how many are made, the backoff between them, whether private and
    # loopback receivers are allowed, how often the outbox is polled, and how many days
    # delivered rows are kept.
    webhook_worker: bool = True
    webhook_timeout: float = Field(default=10.0, gt=0, le=60)
    webhook_max_attempts: int = Field(default=12, ge=1, le=100)
    webhook_retry_base: float = Field(default=10.0, gt=0, le=3600)
    webhook_retry_max: float = Field(default=3600.0, gt=0, le=86_400)
    webhook_allow_private: bool = False
    webhook_poll_interval: float = Field(default=1.0, gt=0, le=60)
    webhook_retention_days: int = Field(default=7, ge=1)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("WXAUTH_CONFIG")
        if config_file:
            sources.append(StrictTomlSource(settings_cls, config_file))
        return tuple(sources)

    @field_validator("apps", mode="before")
    @classmethod
    def _parse_apps(cls, value: Any) -> Any:
        if isinstance(value, str):
            return dict(parse_app(spec) for spec in _split(value))
        if isinstance(value, list | tuple):
            return dict(parse_app(str(spec)) for spec in value)
        return value

    @field_validator("apps")
    @classmethod
    def _check_appids(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for appid in value:
            check_appid(appid)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_log_level(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("platforms", mode="before")
    @classmethod
    def _parse_platforms(cls, value: Any) -> Any:
        return _split(value) if isinstance(value, str) else value

    @field_validator("platforms")
    @classmethod
    def _check_platforms(cls, value: list[SecretStr]) -> list[SecretStr]:
        for spec in value:
            parse_platform(spec.get_secret_value())
        return value

    def platform_configs(self) -> list[PlatformConfig]:
        return [parse_platform(spec.get_secret_value()) for spec in self.platforms]

    @field_validator("secret_keys", "service_keys", "trusted_proxies", mode="before")
    @classmethod
    def _parse_key_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _split(value)
        return value

    @field_validator("secret_keys")
    @classmethod
    def _check_secret_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        for key in value:
            check_secret_key(key.get_secret_value())
        return value

    @field_validator("service_keys")
    @classmethod
    def _check_service_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        for key in value:
            parse_service_key(key.get_secret_value())
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for network in value:
            ipaddress.ip_network(network, strict=False)  # ValueError names the bad one
        return value

    @model_validator(mode="after")
    def _check_ttls(self) -> Settings:
        if self.session_idle_ttl > self.session_max_ttl:
            raise ValueError("session_idle_ttl must not exceed session_max_ttl")
        if self.session_touch_interval >= self.session_idle_ttl:
            raise ValueError(
                "session_touch_interval must be shorter than session_idle_ttl: a token in use "
                "is only renewed every touch interval, so it would expire while in use"
            )
        if self.webhook_retry_base > self.webhook_retry_max:
            raise ValueError("webhook_retry_base must not exceed webhook_retry_max")
        return self

    @property
    def default_appid(self) -> str | None:
        """The appid to use when a login names none: only when exactly one app is configured."""
        return next(iter(self.apps)) if len(self.apps) == 1 else None

    def service_key_grants(self) -> list[ServiceKey]:
        """The service keys with their scopes and apps (a bare key may do everything)."""
        return [parse_service_key(key.get_secret_value()) for key in self.service_keys]

    def secret_key_bytes(self) -> list[bytes]:
        return [check_secret_key(key.get_secret_value()) for key in self.secret_keys]
