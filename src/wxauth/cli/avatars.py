"""``wxauth avatars prune``: delete stored avatars that no user points at any more."""

from __future__ import annotations

from typing import Annotated

import typer

from wxauth.cli.store import with_store
from wxauth.config import Settings
from wxauth.core.avatar import referenced_avatars
from wxauth.core.ports import Store
from wxauth.storage.avatars import LocalAvatarStorage

app = typer.Typer(help="Uploaded avatars (WXAUTH_AVATAR_DIR).", no_args_is_help=True)


@app.command("prune")
def avatars_prune(
    grace_hours: Annotated[
        float, typer.Option(min=0.0, help="Keep unreferenced files younger than this.")
    ] = 24.0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list what would be deleted.")
    ] = False,
) -> None:
    """Delete the avatar files no user's avatar_url points at (replaced or deleted users')."""

    async def prune(store: Store, settings: Settings) -> list[str]:
        keep = await referenced_avatars(store)
        storage = LocalAvatarStorage(settings.avatar_dir)
        return await storage.prune(keep, grace_s=grace_hours * 3600, dry_run=dry_run)

    names = with_store(prune)
    for name in names:
        typer.echo(name)
    verb = "would delete" if dry_run else "deleted"
    typer.echo(f"{verb} {len(names)} unreferenced avatars")
