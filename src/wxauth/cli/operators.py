"""``wxauth operators add | list | disable | enable | remove``: the accounts of the operator
console."""

from __future__ import annotations

import sys
from typing import Annotated

import pyotp
import typer

from wxauth.cli.common import fail
from wxauth.cli.store import table, when, with_wiring
from wxauth.core.operators import ROLES, Operator, Role
from wxauth.errors import NotFound
from wxauth.wiring import Wiring

app = typer.Typer(help="Operator accounts of the console (/console).", no_args_is_help=True)

Name = Annotated[str, typer.Argument(help="The operator's sign-in name.")]


def read_password() -> str:
    """From a prompt (asked twice) on a terminal, else the first line of stdin."""
    if sys.stdin.isatty():
        password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return password
    return sys.stdin.readline().rstrip("\r\n")


@app.command("add")
def add(
    name: Name,
    role: Annotated[str, typer.Option(help="admin (may change things) or viewer.")] = "viewer",
    totp: Annotated[
        bool, typer.Option(help="Also ask for a one-time code; prints the secret to enrol.")
    ] = False,
) -> None:
    """Add an operator, or give one a new password and role (their sessions end; a
    disabled one is enabled). The password comes from a prompt, or from stdin when it is
    not a terminal."""
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
    rows = [
        [o.name, o.role, "yes" if o.has_totp else "no", when(o.created_at),
         f"disabled {when(o.disabled_at)}" if o.disabled_at else "active"]
        for o in found
    ]  # fmt: skip
    typer.echo(table(["name", "role", "totp", "created", "status"], rows))


def _set_disabled(name: str, disabled: bool) -> Operator:
    async def work(wiring: Wiring) -> Operator:
        try:
            return await wiring.operators.set_disabled(name, disabled)
        except NotFound as exc:
            raise fail(exc.message) from None

    return with_wiring(work)


@app.command("disable")
def disable(name: Name) -> None:
    """Disable an operator: their console sessions end at once and they cannot sign in
    (their account and what they did stay)."""
    _set_disabled(name, True)
    typer.echo(f"operator {name} disabled: their console sessions ended")


@app.command("enable")
def enable(name: Name) -> None:
    """Let a disabled operator sign in again (with the password they had)."""
    _set_disabled(name, False)
    typer.echo(f"operator {name} enabled")


@app.command("remove")
def remove(
    name: Name,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete an operator and end their sessions; the audit trail keeps their actions."""
    if not yes:
        typer.confirm(f"Remove operator {name}? Their sessions end at once.", abort=True)

    async def work(wiring: Wiring) -> None:
        try:
            await wiring.operators.remove(name)
        except NotFound as exc:
            raise fail(exc.message) from None

    with_wiring(work)
    typer.echo(f"operator {name} removed")
