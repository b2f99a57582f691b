"""What the command groups share: settings loading, errors, logging."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from pydantic import ValidationError

from wxauth.config import Settings

AppOption = Annotated[
    list[str] | None,
    typer.Option("--app", help="A mini program as APPID:SECRET (repeatable)."),
]
LogLevel = Annotated[
    str | None,
    typer.Option("--log-level", help="debug, info, warning or error [default: WXAUTH_LOG_LEVEL]"),
]


def fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(2)


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = [f"  {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise fail("invalid configuration:\n" + "\n".join(lines)) from None


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
