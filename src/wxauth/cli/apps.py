"""``wxauth apps``: the registry of mini programs this deployment serves.

Secrets are read from stdin or a file, never from the command line (where ``ps`` and shell
history would show them), and stored encrypted with the at-rest keys. Every running process
sees a change within ``WXAUTH_APP_REGISTRY_TTL`` seconds, without a restart. The changes are
:class:`~wxauth.core.app_admin.AppAdmin`'s, which the console's Apps page uses too.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from wxauth.cli.common import fail
from wxauth.cli.store import table, when, with_wiring
from wxauth.core.app_admin import AppAdmin, check_secret, checked_appid
from wxauth.core.apps import APP_REMOVED
from wxauth.core.models import App
from wxauth.errors import InvalidRequest, NotFound
from wxauth.wiring import Wiring

T = TypeVar("T")

app = typer.Typer(
    help="Apps: add, list, show, disable, enable, rotate-secret, remove, authorize-link.",
    no_args_is_help=True,
)

AppId = Annotated[str, typer.Argument(help="The mini program's appid (wx + 16 hex digits).")]
SecretFile = Annotated[
    Path | None,
    typer.Option("--secret-file", help="Read the app secret from this file (default: stdin)."),
]


def _appid(value: str) -> str:
    try:
        return checked_appid(value)
    except InvalidRequest as exc:
        raise fail(exc.message) from None


def read_secret(path: Path | None) -> str:
    """The secret from ``path`` or stdin (a prompt that does not echo on a terminal)."""
    if path is not None:
        secret = path.read_text(encoding="utf-8").strip()
    elif sys.stdin.isatty():
        secret = typer.prompt("App secret", hide_input=True).strip()
    else:
        secret = sys.stdin.readline().strip()
    try:
        return check_secret(secret)
    except InvalidRequest as exc:
        raise fail(exc.message) from None


def administer(work: Callable[[AppAdmin], Awaitable[T]]) -> T:
    """Run ``work`` with the registry's admin; a refused change is one ``error:`` line."""

    async def run(wiring: Wiring) -> T:
        try:
            return await work(wiring.app_admin)
        except (InvalidRequest, NotFound) as exc:
            raise fail(exc.message) from None

    return with_wiring(run)


@app.command("add")
def apps_add(
    appid: AppId,
    secret_file: SecretFile = None,
    name: Annotated[str | None, typer.Option("--name", help="A display name.")] = None,
    idle_ttl: Annotated[
        int | None, typer.Option(min=60, help="Seconds a token may go unused (this app).")
    ] = None,
    max_ttl: Annotated[
        int | None, typer.Option(min=60, help="Seconds a token lives at most (this app).")
    ] = None,
    login_limit: Annotated[
        int | None,
        typer.Option(min=0, help="Failed logins per rate-limit window (this app; 0: none)."),
    ] = None,
    platform: Annotated[
        str | None,
        typer.Option(help="Log in through this third-party platform (component appid)."),
    ] = None,
) -> None:
    """Register a mini program (or change one): the secret comes from stdin or a file."""
    appid = _appid(appid)
    given = {"display_name": name, "session_idle_ttl": idle_ttl, "session_max_ttl": max_ttl,
             "rate_limit_login": login_limit}  # fmt: skip
    changes = {key: value for key, value in given.items() if value is not None}
    secret = None if platform else read_secret(secret_file)
    saved = administer(
        lambda admin: admin.add(appid, secret=secret, platform=platform, changes=changes)
    )
    typer.echo(f"registered app {saved.appid} ({saved.mode})")


@app.command("list")
def apps_list(
    all_: Annotated[bool, typer.Option("--all", help="Removed apps too.")] = False,
) -> None:
    """The registered apps (those of WXAUTH_APPS are shown as seeded)."""

    async def work(wiring: Wiring) -> list[tuple[App, bool]]:
        seeded = set(wiring.settings.apps)
        apps = await wiring.registry.snapshot()
        return [(a, a.appid in seeded) for a in apps.values() if all_ or a.status != APP_REMOVED]

    found = with_wiring(work)
    if not found:
        typer.echo("no apps")
        return
    rows = [
        [
            a.appid,
            a.mode,
            a.status,
            a.display_name or "-",
            "WXAUTH_APPS" if seeded else "registry",
            when(a.updated_at),
        ]
        for a, seeded in sorted(found, key=lambda pair: pair[0].appid)
    ]
    typer.echo(table(["appid", "mode", "status", "name", "from", "updated (UTC)"], rows))


@app.command("show")
def apps_show(appid: AppId) -> None:
    """One app's settings (never its secret)."""

    async def work(wiring: Wiring) -> App:
        found = await wiring.registry.get(appid)
        if found is None:
            raise fail(f"no app {appid}")
        return found

    found = with_wiring(work)
    values = {
        "appid": found.appid,
        "mode": found.mode,
        "status": found.status,
        "disabled_reason": found.disabled_reason,
        "display_name": found.display_name,
        "secret": "stored (encrypted)" if found.secret_enc else "-",
        "session_idle_ttl": found.session_idle_ttl,
        "session_max_ttl": found.session_max_ttl,
        "rate_limit_login": found.rate_limit_login,
        "component_appid": found.component_appid,
        "authorized": "yes" if found.refresh_token_enc else "-",
        "updated_at": when(found.updated_at),
    }
    for key, value in values.items():
        typer.echo(f"{key:>18}: {'-' if value is None else value}")


@app.command("disable")
def apps_disable(
    appid: AppId,
    reason: Annotated[str | None, typer.Option(help="Why (kept in the registry).")] = None,
) -> None:
    """Disable an app: its logins answer 403 app_disabled, its live sessions end, and its
    tokens stop working on every process within the registry's reload interval."""
    ended = administer(lambda admin: admin.disable(appid, reason=reason))
    typer.echo(f"disabled app {appid}: {ended} sessions ended")


@app.command("enable")
def apps_enable(appid: AppId) -> None:
    """Enable a disabled app again (the sessions that ended when it was disabled stay
    ended: its users log in again)."""
    administer(lambda admin: admin.enable(appid))
    typer.echo(f"enabled app {appid}")


@app.command("rotate-secret")
def apps_rotate_secret(appid: AppId, secret_file: SecretFile = None) -> None:
    """Store a new app secret (after resetting it in the WeChat console)."""
    secret = read_secret(secret_file)
    administer(lambda admin: admin.rotate_secret(appid, secret))
    typer.echo(f"stored a new secret for app {appid}")


@app.command("remove")
def apps_remove(
    appid: AppId,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Stop serving an app: its secret is dropped, its sessions end, its users stay."""
    if not yes:
        typer.confirm(f"Remove app {appid}? Its sessions end at once.", abort=True)
    ended = administer(lambda admin: admin.remove(appid))
    typer.echo(f"removed app {appid}: {ended} sessions ended")


@app.command("authorize-link")
def apps_authorize_link(
    component_appid: Annotated[str, typer.Argument(help="The platform (WXAUTH_PLATFORMS).")],
    redirect_uri: Annotated[
        str, typer.Option(help="Where the merchant lands afterwards (…/authorized).")
    ],
) -> None:
    """Print the page a merchant opens to authorize their mini program to the platform
    (a fresh pre_auth_code, valid 30 minutes)."""

    async def work(wiring: Wiring) -> str:
        platform = wiring.platforms.get(component_appid)
        if platform is None:
            raise fail(f"no platform {component_appid} in WXAUTH_PLATFORMS")
        return await platform.authorization_link(redirect_uri)

    typer.echo(with_wiring(work))
