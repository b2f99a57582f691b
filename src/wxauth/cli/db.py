"""``wxauth db``: the database schema."""

from __future__ import annotations

from typing import Annotated

import typer

from wxauth.cli.common import load_settings

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply the migrations to WXAUTH_DATABASE_URL."""
    from wxauth.storage.migrate import upgrade

    settings = load_settings()
    upgrade(settings.database_url, revision)
    typer.echo(f"database at revision {revision}")
