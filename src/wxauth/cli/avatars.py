"""``wxauth avatars prune``: delete stored avatars that no user points at any more."""

from __future__ import annotations

from typing import Annotated

import typer

from wxauth.cli.store import with_wiring
from wxauth.core.avatar import referenced_avatars
from wxauth.wiring import Wiring

app = typer.Typer(help="Uploaded avatars (WXAUTH_AVATAR_STORAGE).", no_args_is_help=True)


@app.command("prune")
def avatars_prune(
    grace_hours: Annotated[
        float, typer.Option(min=0.0, help="Keep unreferenced files younger than this.")
    ] = 24.0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list what would be deleted.")
    ] = False,
) -> None:
    """Delete the stored avatars no user's avatar_url points at (replaced or deleted users')."""

    async def prune(wiring: Wiring) -> list[str]:
        keep = await referenced_avatars(wiring.store)
        storage = wiring.avatar_storage  # WXAUTH_AVATAR_STORAGE: the directory or the database
        return await storage.prune(keep, grace_s=grace_hours * 3600, dry_run=dry_run)

    names = with_wiring(prune)
    for name in names:
        typer.echo(name)
    verb = "would delete" if dry_run else "deleted"
    typer.echo(f"{verb} {len(names)} unreferenced avatars")
