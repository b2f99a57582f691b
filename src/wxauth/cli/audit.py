"""``wxauth audit``: the login events (time, appid, user, client IP, result, error code)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from wxauth.cli.store import table, when, with_store
from wxauth.config import Settings
from wxauth.core.models import LoginEvent
from wxauth.core.ports import Store

app = typer.Typer(help="The login audit trail.", no_args_is_help=True)

HEADERS = ["id", "at (UTC)", "appid", "user", "ip", "result", "error", "wechat"]


def _row(event: LoginEvent) -> list[str]:
    return [
        str(event.id),
        when(event.at),
        event.appid or "-",
        event.user_id or "-",
        event.ip or "-",
        event.result,
        event.error_code or "-",
        "-" if event.wechat_errcode is None else str(event.wechat_errcode),
    ]


@app.command("tail")
def audit_tail(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many events.")] = 20,
    user: Annotated[str | None, typer.Option(help="Only this user id.")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new ones.")] = False,
) -> None:
    """Print the newest login events, oldest first."""

    async def newest(store: Store, _settings: Settings) -> list[LoginEvent]:
        return await store.list_login_events(limit=limit, user_id=user)

    events = list(reversed(with_store(newest)))
    if not events and not follow:
        typer.echo("no login events")
        return
    typer.echo(table(HEADERS, [_row(e) for e in events]))
    last = events[-1].id if events else 0
    while follow:
        time.sleep(1.0)
        fresh = [e for e in reversed(with_store(newest)) if (e.id or 0) > (last or 0)]
        for event in fresh:
            typer.echo("  ".join(_row(event)))
            last = event.id


@app.command("purge")
def audit_purge() -> None:
    """Delete the events older than WXAUTH_AUDIT_RETENTION_DAYS (the server also does it)."""

    async def purge(store: Store, settings: Settings) -> int:
        cutoff = datetime.now(UTC) - timedelta(days=settings.audit_retention_days)
        return await store.purge_login_events(cutoff)

    typer.echo(f"purged {with_store(purge)} login events")
