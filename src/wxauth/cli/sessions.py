"""``wxauth sessions``: list, revoke and clean up sessions; check a user's session_key."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from wxauth.cli.common import fail, operator_settings
from wxauth.cli.store import table, when, with_store, with_wiring
from wxauth.config import Settings
from wxauth.core.models import Session
from wxauth.core.ports import Store
from wxauth.core.session_check import SessionKeyStatus, session_key_status
from wxauth.core.tokens import hash_token
from wxauth.errors import WeChatUnavailable
from wxauth.storage.lookup import HEX_PREFIX, session_hashes_with_prefix
from wxauth.wiring import Wiring

app = typer.Typer(help="Sessions: list, revoke, clean up, check.", no_args_is_help=True)


def state_of(session: Session, now: datetime) -> str:
    if session.revoked_at is not None:
        return "revoked"
    return "active" if session.is_active(now) else "expired"


@app.command("list")
def sessions_list(user_id: Annotated[str, typer.Argument(help="The user's id.")]) -> None:
    """A user's sessions, newest first (tokens are not stored: ids are hash prefixes)."""

    async def work(store: Store, _settings: Settings) -> list[Session]:
        if await store.get_user(user_id) is None:
            raise fail(f"no user with id {user_id}")
        return await store.list_sessions(user_id)

    sessions = with_store(work)
    if not sessions:
        typer.echo("no sessions")
        return
    now = datetime.now(UTC)
    rows = [
        [
            s.token_hash[:12],
            state_of(s, now),
            when(s.created_at),
            when(s.last_seen_at),
            when(min(s.idle_expires_at, s.expires_at)),
            s.ip or "-",
            (s.user_agent or "-")[:40],
        ]
        for s in sessions
    ]
    headers = ["id", "state", "created", "last seen", "expires", "ip", "user agent"]
    typer.echo(table(headers, rows))


MIN_ID_LENGTH = 8


@app.command("revoke")
def sessions_revoke(
    token: Annotated[
        str | None, typer.Option(help="The token to revoke; '-' reads it from stdin.")
    ] = None,
    session_id: Annotated[
        str | None,
        typer.Option("--id", help="The session id `sessions list` shows (a unique prefix)."),
    ] = None,
    user: Annotated[str | None, typer.Option(help="Revoke every session of this user id.")] = None,
) -> None:
    """Revoke one token or session id, or all of a user's sessions: they stop working at once."""
    if sum(x is not None for x in (token, session_id, user)) != 1:
        raise fail("give exactly one of --token, --id or --user")
    if token == "-":  # noqa: S105 - "read it from stdin", not a password
        token = sys.stdin.readline().strip()
    prefix = None if session_id is None else session_id.strip().lower()
    if prefix is not None and (len(prefix) < MIN_ID_LENGTH or not HEX_PREFIX.fullmatch(prefix)):
        raise fail(
            f"--id takes a session id as `sessions list` shows it ({MIN_ID_LENGTH} to 64 "
            "hexadecimal characters)"
        )
    now = datetime.now(UTC)

    async def work(wiring: Wiring) -> int:
        store = wiring.store
        if token is not None:
            return int(await store.revoke_session(hash_token(token), now))
        if prefix is not None:
            found = await session_hashes_with_prefix(wiring.engine, prefix)
            if not found:
                raise fail(f"no session with id {prefix}")
            if len(found) > 1:
                raise fail(f"the id {prefix} is ambiguous: give more of it")
            return int(await store.revoke_session(found[0], now))
        assert user is not None
        if await store.get_user(user) is None:
            raise fail(f"no user with id {user}")
        return await store.revoke_user_sessions(user, now)

    count = with_wiring(work)
    if token is not None and not count:
        raise fail("no live session has this token (unknown, or already revoked)")
    if prefix is not None and not count:
        raise fail(f"the session {prefix} is already revoked")
    typer.echo(f"revoked {count} session{'s' if count != 1 else ''}")


@app.command("check")
def sessions_check(
    user: Annotated[str, typer.Argument(help="The wxauth user id.")],
) -> None:
    """Ask WeChat (/wxa/checksession) whether USER's stored session_key is still valid.

    Prints valid, stale (the phone logged in again, or WeChat let it expire) or missing;
    exits 0 only for valid.
    """
    settings = operator_settings()
    if not settings.secret_keys:
        raise fail("no at-rest key: set WXAUTH_SECRET_KEYS")
    if not settings.apps:
        raise fail("no mini program configured: set WXAUTH_APPS=APPID:SECRET")
    try:
        status = with_wiring(lambda wiring: check(wiring, user), settings)
    except WeChatUnavailable:
        raise fail(
            f"WeChat at {settings.wechat_base_url} did not answer: check WXAUTH_WECHAT_BASE_URL "
            "and the network, then try again"
        ) from None
    typer.echo(status.value)
    if status is not SessionKeyStatus.VALID:
        raise typer.Exit(1)


async def check(wiring: Wiring, user_id: str) -> SessionKeyStatus:
    user = await wiring.store.get_user(user_id)
    if user is None:
        raise fail(f"no user {user_id!r}")
    return await session_key_status(user, wiring.session_keys, wiring.tokened_api)


DAY = 86_400


@app.command("cleanup")
def sessions_cleanup(
    grace: Annotated[
        int, typer.Option(min=0, help="Keep expired sessions this many seconds past expiry.")
    ] = DAY,
    batch_size: Annotated[int, typer.Option(min=1, help="Rows deleted per transaction.")] = 1000,
) -> None:
    """Delete expired sessions from WXAUTH_DATABASE_URL (run it daily, e.g. from cron)."""
    cutoff = datetime.now(UTC) - timedelta(seconds=grace)

    async def work(store: Store, _settings: Settings) -> int:
        return await store.delete_expired_sessions(cutoff, batch_size=batch_size)

    typer.echo(f"deleted {with_store(work)} expired sessions")
