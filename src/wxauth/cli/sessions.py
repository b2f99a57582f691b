"""``wxauth sessions``: list, revoke and clean up sessions; check a user's session_key."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from wxauth.cli.common import fail, load_settings
from wxauth.cli.store import forget_cached, table, when, with_store
from wxauth.config import Settings
from wxauth.core.models import Session
from wxauth.core.session_check import SessionKeyStatus
from wxauth.core.tokens import hash_token
from wxauth.storage.sql import SqlStore

app = typer.Typer(help="Sessions: list, revoke, clean up, check.", no_args_is_help=True)


def state_of(session: Session, now: datetime) -> str:
    if session.revoked_at is not None:
        return "revoked"
    return "active" if session.is_active(now) else "expired"


@app.command("list")
def sessions_list(user_id: Annotated[str, typer.Argument(help="The user's id.")]) -> None:
    """A user's sessions, newest first (tokens are not stored: ids are hash prefixes)."""

    async def work(store: SqlStore, _settings: Settings) -> list[Session]:
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


@app.command("revoke")
def sessions_revoke(
    token: Annotated[
        str | None, typer.Option(help="The token to revoke; '-' reads it from stdin.")
    ] = None,
    user: Annotated[str | None, typer.Option(help="Revoke every session of this user id.")] = None,
) -> None:
    """Revoke one token, or all of a user's sessions: they stop working at once."""
    if (token is None) == (user is None):
        raise fail("give exactly one of --token or --user")
    if token == "-":  # noqa: S105 - "read it from stdin", not a password
        token = sys.stdin.readline().strip()
    now = datetime.now(UTC)

    async def work(store: SqlStore, settings: Settings) -> int:
        if token is not None:
            token_hash = hash_token(token)
            revoked = await store.revoke_session(token_hash, now)
            await forget_cached(settings, token_hash=token_hash)
            return int(revoked)
        assert user is not None
        if await store.get_user(user) is None:
            raise fail(f"no user with id {user}")
        count = await store.revoke_user_sessions(user, now)
        await forget_cached(settings, user_id=user)
        return count

    count = with_store(work)
    if token is not None and not count:
        raise fail("no live session has this token (unknown, or already revoked)")
    typer.echo(f"revoked {count} session{'s' if count != 1 else ''}")


@app.command("check")
def sessions_check(
    user: Annotated[str, typer.Argument(help="The wxauth user id.")],
) -> None:
    """Ask WeChat (/wxa/checksession) whether USER's stored session_key is still valid.

    Prints valid, stale (the phone logged in again, or WeChat let it expire) or missing;
    exits 0 only for valid.
    """
    settings = load_settings()
    if not settings.secret_keys:
        raise fail("no at-rest key: set WXAUTH_SECRET_KEYS")
    status = asyncio.run(check(settings, user))
    typer.echo(status.value)
    if status is not SessionKeyStatus.VALID:
        raise typer.Exit(1)


async def check(settings: Settings, user_id: str) -> SessionKeyStatus:
    from wxauth.api.app import session_policy
    from wxauth.api.verified import tokened_api
    from wxauth.core.keyring import Keyring
    from wxauth.core.service import WxAuth
    from wxauth.core.session_check import session_key_status
    from wxauth.storage.engine import create_engine
    from wxauth.storage.redis import create_redis
    from wxauth.storage.sql import SqlStore
    from wxauth.wechat.client import WeChatClient

    engine = create_engine(settings.database_url)
    wechat = WeChatClient(settings.wechat_base_url, timeout=settings.wechat_timeout)
    redis = create_redis(settings.redis_url) if settings.redis_url else None
    try:
        store = SqlStore(engine)
        user = await store.get_user(user_id)
        if user is None:
            raise fail(f"no user {user_id!r}")
        service = WxAuth(
            apps={a: s.get_secret_value() for a, s in settings.apps.items()},
            wechat=wechat,
            store=store,
            keyring=Keyring(settings.secret_key_bytes()),
            policy=session_policy(settings),
        )
        return await session_key_status(user, service, tokened_api(settings, wechat, redis))
    finally:
        await wechat.aclose()
        await engine.dispose()
        if redis is not None:
            await redis.aclose()


DAY = 86_400


@app.command("cleanup")
def sessions_cleanup(
    grace: Annotated[
        int, typer.Option(min=0, help="Keep expired sessions this many seconds past expiry.")
    ] = DAY,
    batch_size: Annotated[int, typer.Option(min=1, help="Rows deleted per transaction.")] = 1000,
) -> None:
    """Delete expired sessions from WXAUTH_DATABASE_URL (run it daily, e.g. from cron)."""
    settings = load_settings()
    deleted = asyncio.run(_cleanup(settings.database_url, timedelta(seconds=grace), batch_size))
    typer.echo(f"deleted {deleted} expired sessions")


async def _cleanup(database_url: str, grace: timedelta, batch_size: int) -> int:
    from wxauth.core.service import utcnow
    from wxauth.storage.engine import create_engine
    from wxauth.storage.sql import SqlStore

    engine = create_engine(database_url)
    try:
        store = SqlStore(engine)
        return await store.delete_expired_sessions(utcnow() - grace, batch_size=batch_size)
    finally:
        await engine.dispose()
