"""``wxauth operators add | list``: the accounts of the operator console."""

from __future__ import annotations

import sys
from typing import Annotated

import pyotp
import typer

from wxauth.cli.store import table, when, with_wiring
from wxauth.core.operators import ROLES, Operator, Role
from wxauth.wiring import Wiring

app = typer.Typer(help="Operator accounts of the console (/console).", no_args_is_help=True)


def read_password() -> str:
    """From a prompt (asked twice) on a terminal, else the first line of stdin."""
    if sys.stdin.isatty():
        password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return password
    return sys.stdin.readline().rstrip("\r\n")


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The operator's sign-in name.")],
    role: Annotated[str, typer.Option(help="admin (may change things) or viewer.")] = "viewer",
    totp: Annotated[
        bool, typer.Option(help="Also ask for a one-time code; prints the secret to enrol.")
    ] = False,
) -> None:
    """Add an operator, or give one a new password and role (their sessions end). The
    password comes from a prompt, or from stdin when it is not a terminal."""
    if role not in ROLES:
        raise typer.BadParameter(f"one of {', '.join(ROLES)}", param_hint="--role")
    password = read_password()
    secret = pyotp.random_base32() if totp else None
    chosen: Role = "admin" if role == "admin" else "viewer"

    async def work(wiring: Wiring) -> Operator:
        return await wiring.operators.add(name, password, role=chosen, totp_secret=secret)

    operator = with_wiring(work)
    typer.echo(f"operator {operator.name} ({operator.role}) saved")
    if secret is not None:
        uri = pyotp.TOTP(secret).provisioning_uri(name=operator.name, issuer_name="wxauth")
        typer.echo(f"TOTP secret: {secret}\nenrolment URI: {uri}")


@app.command("list")
def list_operators() -> None:
    """The operators: name, role, TOTP, created."""

    async def work(wiring: Wiring) -> list[Operator]:
        return await wiring.operators.store.list_operators()

    found = with_wiring(work)
    if not found:
        typer.echo("no operators: add one with `wxauth operators add NAME --role admin`")
        return
    rows = [[o.name, o.role, "yes" if o.has_totp else "no", when(o.created_at)] for o in found]
    typer.echo(table(["name", "role", "totp", "created"], rows))
