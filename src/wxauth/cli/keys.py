"""``wxauth keys``: at-rest encryption keys."""

from __future__ import annotations

import typer

from wxauth.core.keyring import generate_key

app = typer.Typer(help="At-rest encryption keys.", no_args_is_help=True)


@app.command("generate")
def keys_generate() -> None:
    """Print a new at-rest key for WXAUTH_SECRET_KEYS."""
    typer.echo(generate_key())
