"""``wxauth audit``: the login events (time, appid, user, client IP, result, error code)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from wxauth.cli.store import table, when, with_store, with_wiring
from wxauth.config import Settings
from wxauth.core.models import LoginEvent
from wxauth.core.ports import Store
from wxauth.wiring import Wiring

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


async def events_after(
    store: Store, last_id: int, user: str | None, page: int = 100
) -> list[LoginEvent]:
    """Every event newer than ``last_id``, oldest first: the newest ``page`` events are
    fetched, and more (doubling) until the fetch reaches back to ``last_id`` or the start."""
    while True:
        newest = await store.list_login_events(limit=page, user_id=user)
        fresh = [e for e in newest if (e.id or 0) > last_id]
        if len(fresh) < len(newest) or len(newest) < page:
            return list(reversed(fresh))
        page *= 2


@app.command("tail")
def audit_tail(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many events.")] = 20,
    user: Annotated[str | None, typer.Option(help="Only this user id.")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new ones.")] = False,
    interval: Annotated[
        float, typer.Option(min=0.05, hidden=True, help="Seconds between polls.")
    ] = 1.0,
) -> None:
    """Print the newest login events, oldest first (with --follow, then every new one)."""

    async def work(wiring: Wiring) -> None:
        store = wiring.store
        events = list(reversed(await store.list_login_events(limit=limit, user_id=user)))
        if not events and not follow:
            typer.echo("no login events")
            return
        typer.echo(table(HEADERS, [_row(e) for e in events]))
        last = max((e.id or 0 for e in events), default=0)
        while follow:
            await asyncio.sleep(interval)
            for event in await events_after(store, last, user):
                typer.echo("  ".join(_row(event)))
                last = max(last, event.id or 0)

    with_wiring(work)


@app.command("purge")
def audit_purge() -> None:
    """Delete the events older than WXAUTH_AUDIT_RETENTION_DAYS (the server also does it)."""

    async def purge(store: Store, settings: Settings) -> int:
        cutoff = datetime.now(UTC) - timedelta(days=settings.audit_retention_days)
        return await store.purge_login_events(cutoff)

    typer.echo(f"purged {with_store(purge)} login events")
