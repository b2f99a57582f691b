"""What the command groups share: settings loading, errors, logging."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import SecretStr, ValidationError

from wxauth.config import Settings, unknown_env_names
from wxauth.demo import DEMO_APPID, DEMO_SECRET

AppOption = Annotated[
    list[str] | None,
    typer.Option("--app", help="A mini program as APPID:SECRET (repeatable)."),
]
LogLevel = Annotated[
    str | None,
    typer.Option("--log-level", help="debug, info, warning or error [default: WXAUTH_LOG_LEVEL]"),
]

DEV_DATABASE = Path("wxauth-dev.db")  # what `wxauth dev` (and `make dev`) uses by default
DEV_SERVER = "http://127.0.0.1:8000"  # where its embedded simulator answers by default


def fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(2)


def note(message: str) -> None:
    typer.secho(message, fg=typer.colors.YELLOW, err=True)


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = [f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()]
        raise fail("invalid configuration: " + "; ".join(lines)) from None


def warn_unknown_env() -> None:
    unknown = unknown_env_names()
    if unknown:
        note(f"warning: ignoring {', '.join(unknown)}: not a wxauth setting (a typo?)")


def dev_key_file(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".key")


def operator_settings() -> Settings:
    """Settings for the operator commands (users, sessions, audit, keys, avatars).

    When no database is configured and the folder holds ``wxauth-dev.db``, they use it: its
    key (``wxauth-dev.db.key``), the demo mini program and the dev server's simulator, unless
    those are configured, saying so on stderr in one line.
    """
    warn_unknown_env()
    settings = load_settings()
    if "database_url" in settings.model_fields_set or not DEV_DATABASE.is_file():
        return settings
    path = DEV_DATABASE.resolve()
    dev: dict[str, object] = {"database_url": f"sqlite+aiosqlite:///{path}"}
    key_file = dev_key_file(path)
    if not settings.secret_keys and key_file.is_file():
        dev["secret_keys"] = [SecretStr(key_file.read_text().strip())]
    if not settings.apps:
        dev["apps"] = {DEMO_APPID: SecretStr(DEMO_SECRET)}
    if "wechat_base_url" not in settings.model_fields_set:
        dev["wechat_base_url"] = DEV_SERVER
    note(
        f"note: WXAUTH_DATABASE_URL is not set: using the dev database {DEV_DATABASE} "
        "(its key, the demo app, WeChat at " + DEV_SERVER + "); set WXAUTH_DATABASE_URL "
        "to use another"
    )
    return load_settings(**dev)


def setup_logging(level: str) -> None:
    from wxauth.cli.logs import setup_logging as configure

    configure(level)
