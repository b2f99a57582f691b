"""The ``wxauth`` command. Each command group lives in its own module and is added here."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from wxauth.cli import (
    apps,
    audit,
    avatars,
    db,
    keys,
    operators,
    run,
    sessions,
    users,
    webhooks,
)
from wxauth.errors import WxAuthError

app = typer.Typer(help="Login and session service for WeChat Mini Programs.", no_args_is_help=True)
app.registered_commands.extend(run.app.registered_commands)
app.add_typer(db.app, name="db")
app.add_typer(keys.app, name="keys")
app.add_typer(audit.app, name="audit")
app.add_typer(users.app, name="users")
app.add_typer(sessions.app, name="sessions")
app.add_typer(avatars.app, name="avatars")
app.add_typer(apps.app, name="apps")
app.add_typer(operators.app, name="operators")
app.add_typer(webhooks.app, name="webhooks")


def main() -> None:
    config = os.environ.get("WXAUTH_CONFIG")
    if config and not Path(config).exists():
        typer.secho("error: WXAUTH_CONFIG names a missing file", fg=typer.colors.RED, err=True)
        sys.exit(2)
    try:
        app()
    except WxAuthError as exc:  # a configuration or service error: one line, no traceback
        typer.secho(f"error: {exc.message}", fg=typer.colors.RED, err=True)
        sys.exit(2)
