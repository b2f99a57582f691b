"""``wxauth users``: look up, export and delete users (data-subject requests under PIPL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from wxauth.cli.common import fail
from wxauth.cli.store import table, when, with_store, with_wiring
from wxauth.config import Settings
from wxauth.core.accounts import (
    account_event_record,
    login_event_record,
    session_record,
    user_record,
)
from wxauth.core.models import Session, User
from wxauth.core.persons import MergePlan
from wxauth.core.ports import Store
from wxauth.wiring import Wiring

app = typer.Typer(
    help="Users: list, show, export, delete, disable, enable, purge-deleted, merge, unmerge.",
    no_args_is_help=True,
)

UserId = Annotated[str, typer.Argument(help="The user's id (as in GET /v1/me).")]


async def _require(store: Store, user_id: str) -> User:
    user = await store.get_user(user_id)
    if user is None:
        raise fail(f"no user with id {user_id}")
    return user


@app.command("list")
def users_list(
    appid: Annotated[str | None, typer.Option(help="Only this mini program.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
) -> None:
    """Users, oldest first."""

    async def work(store: Store, _settings: Settings) -> list[User]:
        return await store.list_users(appid=appid, limit=limit, offset=offset)

    users = with_store(work)
    if not users:
        typer.echo("no users")
        return
    rows = [
        [u.id, u.appid, u.nickname or "-", when(u.created_at), when(u.last_login_at)] for u in users
    ]
    typer.echo(table(["id", "appid", "nickname", "created (UTC)", "last login (UTC)"], rows))


@app.command("show")
def users_show(user_id: UserId) -> None:
    """One user's profile and sessions."""

    async def work(store: Store, _settings: Settings) -> tuple[User, list[Session]]:
        user = await _require(store, user_id)
        return user, await store.list_sessions(user_id)

    user, sessions = with_store(work)
    for name, value in user_record(user).items():
        typer.echo(f"{name:>20}: {'-' if value is None else value}")
    typer.echo(
        f"{'sessions':>20}: {len(sessions)} ({sum(not s.revoked_at for s in sessions)} not revoked)"
    )


@app.command("export")
def users_export(
    user_id: UserId,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File (default: stdout).")
    ] = None,
) -> None:
    """Everything stored about a user, as JSON (a data-subject access request).

    The same records as the user's own GET /v1/me/export: the profile with the account's
    status (disabled, pending deletion), every session with its device and why it ended,
    the login events and the account events. The session_key itself is a credential and is
    not exported: the export says whether one is stored. Session tokens are not stored at
    all; sessions appear by their public id (a short prefix of the token's hash).
    """

    async def work(store: Store, _settings: Settings) -> dict[str, Any]:
        user = await _require(store, user_id)
        sessions = await store.list_sessions(user_id)
        logins = await store.list_login_events(limit=100_000, user_id=user_id)
        actions = await store.list_account_events(limit=100_000, user_id=user_id)
        has_key = await store.get_session_key(user.appid, user.openid) is not None
        return {
            "user": user_record(user),
            "wechat_session_key_stored": has_key,
            "sessions": [session_record(s) for s in sessions],
            "login_events": [login_event_record(e) for e in logins],
            "account_events": [account_event_record(e) for e in actions],
        }

    text = json.dumps(with_store(work), ensure_ascii=False, indent=2)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"exported user {user_id} to {output}")


@app.command("delete")
def users_delete(
    user_id: UserId,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a user, their sessions, their session_key and their login events, at once.

    Like an erasure the user asked for, it leaves a pseudonymous account event ("deleted",
    by the operator) and drops the addresses from the user's earlier account events.
    """
    if not yes:
        typer.confirm(f"Delete user {user_id} and everything stored about them?", abort=True)

    async def work(wiring: Wiring) -> int:
        await _require(wiring.store, user_id)
        sessions = len(await wiring.store.list_sessions(user_id))
        if not await wiring.accounts.erase(user_id, actor="operator"):
            raise fail(f"no user with id {user_id}")
        return sessions

    sessions = with_wiring(work)
    typer.echo(f"deleted user {user_id}: profile, {sessions} sessions, session_key, login events")


def _until(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter("an ISO 8601 time, e.g. 2026-12-31T00:00:00+08:00") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@app.command("disable")
def users_disable(
    user_id: UserId,
    reason: Annotated[str, typer.Option(help="The public reason the user is shown.")],
    until: Annotated[
        str | None, typer.Option(help="When the ban ends by itself (ISO 8601; UTC if no zone).")
    ] = None,
) -> None:
    """Disable an account: its tokens stop working at once, its logins answer 403."""
    ends = _until(until)
    if not reason.strip() or len(reason) > 200:
        raise fail("--reason must be 1 to 200 characters")

    async def work(wiring: Wiring) -> None:
        await _require(wiring.store, user_id)
        await wiring.accounts.disable(user_id, reason=reason.strip(), until=ends)

    with_wiring(work)
    typer.echo(f"disabled user {user_id}" + (f" until {ends.isoformat()}" if ends else ""))


@app.command("enable")
def users_enable(user_id: UserId) -> None:
    """Enable a disabled account again (its old sessions stay ended)."""

    async def work(wiring: Wiring) -> None:
        await _require(wiring.store, user_id)
        await wiring.accounts.enable(user_id)

    with_wiring(work)
    typer.echo(f"enabled user {user_id}")


@app.command("purge-deleted")
def users_purge_deleted() -> None:
    """Erase the accounts whose requested deletion is due."""

    async def work(wiring: Wiring) -> int:
        return await wiring.accounts.purge_due()

    typer.echo(f"erased {with_wiring(work)} accounts")


@app.command("merge")
def users_merge(
    into: Annotated[str, typer.Argument(help="A user of the person that stays.")],
    other: Annotated[str, typer.Argument(help="A user of the person merged into it.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would change; change nothing.")
    ] = False,
) -> None:
    """Make two persons one: every user of OTHER's person joins INTO's person (audited;
    `wxauth users unmerge` undoes it from the audit record)."""

    async def work(wiring: Wiring) -> MergePlan:
        if dry_run:
            return await wiring.persons.plan(into, other)
        return await wiring.persons.merge(into, other)

    plan = with_wiring(work)
    verb = "would move" if dry_run else "moved"
    typer.echo(f"person {plan.source} into person {plan.target}: {verb} {len(plan.moving)} users")
    for user in plan.moving:
        typer.echo(f"  {user.id}  {user.appid}  {user.nickname or '-'}")
    for conflict in plan.conflicts:
        typer.echo(f"conflict: {conflict}")
    if plan.merge_id is not None:
        typer.echo(
            f"merge {plan.merge_id}: undo with `wxauth users unmerge {plan.merge_id} {into}`"
        )


@app.command("unmerge")
def users_unmerge(
    merge_id: Annotated[str, typer.Argument(help="The merge id `wxauth users merge` printed.")],
    user_id: UserId,
) -> None:
    """Undo a merge, from its audit record: its users go back to their own person."""

    async def work(wiring: Wiring) -> list[str]:
        return await wiring.persons.undo(merge_id, person_of=user_id)

    moved = with_wiring(work)
    typer.echo(f"undid merge {merge_id}: moved {len(moved)} users back")
