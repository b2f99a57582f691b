"""Settings: parsing, validation, and no secrets in reprs."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from pydantic import ValidationError

from wxauth.config import Settings
from wxauth.core.keyring import generate_key


def test_apps_and_keys_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    key = generate_key()
    monkeypatch.setenv("WXAUTH_APPS", "wx0000000000000a01:secret-a, wx0000000000000b02:secret:b")
    monkeypatch.setenv("WXAUTH_SECRET_KEYS", key)
    monkeypatch.setenv("WXAUTH_DATABASE_URL", "postgresql+asyncpg://u:dbpassword@h/db")
    settings = Settings()
    assert {k: v.get_secret_value() for k, v in settings.apps.items()} == {
        "wx0000000000000a01": "secret-a",
        "wx0000000000000b02": "secret:b",
    }
    assert settings.default_appid is None
    text = repr(settings) + str(settings)
    for secret in ("secret-a", "secret:b", key, "dbpassword"):
        assert secret not in text


def test_single_app_is_the_default() -> None:
    assert Settings(apps="wx0000000000000a01:s").default_appid == "wx0000000000000a01"


@pytest.mark.parametrize("keys", ["short", "not base64 at all!!", generate_key()[:-4]])
def test_bad_secret_keys_are_refused(keys: str) -> None:
    with pytest.raises(ValidationError):
        Settings(secret_keys=keys)


@pytest.mark.parametrize(
    "key",
    [
        "shop-key",  # short
        "a" * 40,  # one character
        "ab" * 20,  # a pattern
        "0123456789abcdefghijklmnopqrstuvwxyz",  # a sequence
        "changeme-changeme-changeme-changeme-1234",  # a placeholder
        "our-secret-password-for-the-shop-backend",
    ],
)
def test_weak_service_keys_are_refused(key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    strong = secrets.token_urlsafe(32)
    monkeypatch.setenv("WXAUTH_SERVICE_KEYS", f"{strong},{key}")
    with pytest.raises(ValidationError) as caught:
        Settings()
    message = str(caught.value)
    assert "WXAUTH_SERVICE_KEYS" in message
    assert "secrets.token_urlsafe(32)" in message  # how to make a good one
    assert key not in message and strong not in message  # never printed back
    assert message.count("Value error") == 1  # one message


def test_generated_service_keys_are_accepted() -> None:
    keys = [secrets.token_urlsafe(32) for _ in range(200)]
    settings = Settings(service_keys=",".join(keys))
    assert [k.get_secret_value() for k in settings.service_keys] == keys


def test_bad_app_spec_is_refused() -> None:
    with pytest.raises(ValidationError, match="APPID:SECRET"):
        Settings(apps="nocolon")


def test_idle_ttl_cannot_exceed_max() -> None:
    with pytest.raises(ValidationError):
        Settings(session_idle_ttl=100, session_max_ttl=10)


def test_toml_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "wxauth.toml"
    config.write_text('database_url = "sqlite+aiosqlite:///x.db"\nsession_idle_ttl = 600\n')
    monkeypatch.setenv("WXAUTH_CONFIG", str(config))
    monkeypatch.setenv("WXAUTH_SESSION_MAX_TTL", "1200")
    settings = Settings()
    assert settings.session_idle_ttl == 600
    assert settings.session_max_ttl == 1200
    assert settings.database_url == "sqlite+aiosqlite:///x.db"


def test_an_idle_ttl_within_the_touch_interval_is_refused() -> None:
    """Sliding expiry renews a session at most once per touch interval: an idle TTL no
    longer than it would end sessions that are in use."""
    with pytest.raises(ValidationError, match="session_touch_interval"):
        Settings(session_idle_ttl=300, session_touch_interval=300)
    assert Settings(session_idle_ttl=301, session_touch_interval=300).session_idle_ttl == 301
