"""Settings of a backend that checks wxauth tokens remotely, from ``WXAUTH_*`` variables.

They sit beside the service's own settings without clashing, so one environment can hold
both. Built once by the backend and passed to :meth:`RemoteVerifier.from_settings`.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

MAX_CACHE_TTL = 60.0  # seconds: the longest a revoked token may still pass a remote check


class VerifierSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WXAUTH_", extra="ignore")

    server_url: str = Field(description="wxauth's base URL, e.g. https://auth.example.com")
    service_key: SecretStr = Field(description="One of the service's WXAUTH_SERVICE_KEYS.")
    verify_cache_ttl: float = Field(default=10.0, ge=0, le=MAX_CACHE_TTL)
    verify_negative_ttl: float = Field(default=30.0, ge=0, le=MAX_CACHE_TTL)
    verify_cache_size: int = Field(default=10_000, ge=1)
    verify_timeout: float = Field(default=2.0, gt=0, le=30)
    # Only tokens of this app are accepted (a backend of one mini program).
    verify_appid: str | None = None
