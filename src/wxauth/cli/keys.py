"""``wxauth keys``: at-rest encryption keys."""

from __future__ import annotations

import typer

from wxauth.cli.common import fail, operator_settings
from wxauth.cli.store import with_wiring
from wxauth.core.keyring import Keyring, generate_key
from wxauth.storage.rekey import remedies, rotate_stored_secrets
from wxauth.wiring import Wiring

app = typer.Typer(help="At-rest encryption keys.", no_args_is_help=True)


@app.command("generate")
def keys_generate() -> None:
    """Print a new at-rest key for WXAUTH_SECRET_KEYS."""
    typer.echo(generate_key())


@app.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt what is stored under the at-rest keys (session_keys, app secrets and
    refresh tokens, component tickets, signing keys, TOTP and webhook secrets) under the
    newest key (the first of WXAUTH_SECRET_KEYS).

    Put the new key first and keep the old ones after it until this has run everywhere.
    """
    settings = operator_settings()
    keys = settings.secret_key_bytes()
    if not keys:
        raise fail("no at-rest key: set WXAUTH_SECRET_KEYS, newest first")

    async def run(wiring: Wiring) -> None:
        newest = Keyring(keys[:1])
        report = await rotate_stored_secrets(wiring.engine, wiring.keyring, newest)
        typer.echo(
            f"{report.rotated} re-encrypted, {report.current} already under the newest key, "
            f"{report.unreadable} unreadable with the configured keys"
        )
        if report.unreadable:
            kinds = report.unreadable_by_kind
            if len(kinds) == 1:
                ((what, count),) = kinds.items()
                rows = f"{count} stored {what}" + ("s were" if count != 1 else " was")
            else:
                rows = f"{report.unreadable} stored values were"
            fail(  # exit 1, as for "not done": the rest was rotated
                f"{rows} written under a key that is not in WXAUTH_SECRET_KEYS (it changed "
                "or was lost): put that key back after the new one and run again; or "
                "replace them (" + "; ".join(remedies(report)) + ")"
            )
            raise typer.Exit(1)

    with_wiring(run, settings)


@app.command("rotate-signing")
def keys_rotate_signing() -> None:
    """Start signing access JWTs with a new key.

    The old public keys stay in /.well-known/jwks.json until the last token they signed has
    expired (WXAUTH_JWT_TTL, plus the 30 s within which every server picks up the new key).
    """

    async def run(wiring: Wiring) -> None:
        jwts = wiring.access_jwts
        key = await jwts.rotate()
        kept = int(jwts.retention.total_seconds())
        typer.echo(f"signing with {key.kid}; the previous keys stay published for {kept} s")

    with_wiring(run)
