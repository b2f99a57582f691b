"""``wxauth db``: the database schema."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from wxauth.cli.common import load_settings, warn_unknown_env

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply the migrations to WXAUTH_DATABASE_URL."""
    from wxauth.storage.migrate import upgrade
    from wxauth.storage.preflight import check_database, explained

    warn_unknown_env()
    settings = load_settings()
    url = settings.database_url
    asyncio.run(check_database(url, must_exist=False))  # the URL, driver, folder, reachability
    with explained(url):
        upgrade(url, revision)
    status = asyncio.run(check_database(url))
    typer.echo(f"database at revision {status.current}")
