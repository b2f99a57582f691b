"""Running things: ``wxauth dev | serve | simulator | demo``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
import uvicorn
from pydantic import SecretStr

from wxauth import collector
from wxauth.cli.common import (
    AppOption,
    LogLevel,
    dev_key_file,
    fail,
    load_settings,
    setup_logging,
    warn_unknown_env,
)
from wxauth.cli.logs import logging_config
from wxauth.cli.workers import Supervisor, balanced, port_in_use
from wxauth.config import Settings
from wxauth.core.keyring import generate_key
from wxauth.demo import DEMO_APPID, DEMO_SECRET, DemoFailed, run_demo
from wxauth.simulator.state import FaultRule, SimApp, SimulatorState

app = typer.Typer()
APP_FACTORY = "wxauth.api.factory:app_from_environment"


def sim_apps(specs: list[str] | None) -> list[SimApp]:
    try:
        return [SimApp.parse(spec) for spec in specs] if specs else []
    except ValueError as exc:
        raise fail(str(exc)) from None


def dev_key(db_path: Path) -> str:
    """The dev server's at-rest key, kept beside its database (made on first use)."""
    key_file = dev_key_file(db_path)
    if not key_file.exists():
        key_file.write_text(generate_key() + "\n")
        key_file.chmod(0o600)
    return key_file.read_text().strip()


@app.command()
def dev(
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    db: Annotated[Path, typer.Option(help="SQLite database file.")] = Path("wxauth-dev.db"),
    apps: AppOption = None,
    log_level: LogLevel = None,
) -> None:
    """API + embedded WeChat simulator + SQLite, in one process."""
    from wxauth.api.app import create_app
    from wxauth.simulator.app import beside, create_simulator_app
    from wxauth.storage.migrate import upgrade
    from wxauth.storage.preflight import explained

    simulated = sim_apps(apps) or [SimApp(DEMO_APPID, DEMO_SECRET)]
    if not db.resolve().parent.is_dir():
        raise fail(f"the folder of --db {db.resolve()} does not exist: create it or pick another")
    database_url = f"sqlite+aiosqlite:///{db.resolve()}"
    settings = load_settings(
        database_url=database_url,
        apps={a.appid: SecretStr(a.secret) for a in simulated},
        wechat_base_url="http://simulator",
        secret_keys=[SecretStr(dev_key(db.resolve()))],
        **({"log_level": log_level} if log_level else {}),
    )
    log_level = settings.log_level
    setup_logging(log_level)
    with explained(database_url):
        upgrade(database_url)
    simulator = create_simulator_app(SimulatorState(simulated))
    api = create_app(settings, wechat_transport=httpx.ASGITransport(app=simulator))
    _print_dev_banner(host, port, simulated[0], db)
    # proxy_headers off: WXAUTH_TRUSTED_PROXIES alone decides whom to believe about client IPs.
    uvicorn.run(
        beside(api, simulator),
        host=host,
        port=port,
        log_level=log_level,
        log_config=logging_config(log_level),
        proxy_headers=False,
    )


def _print_dev_banner(host: str, port: int, app: SimApp, db: Path) -> None:
    base = f"http://{host}:{port}"
    appid = app.appid
    secret = app.secret if appid == DEMO_APPID else "<the secret given to --app>"
    path = db.resolve()
    # What the operator commands need to reach this database from another shell.
    here = db.name == "wxauth-dev.db" and path.parent == Path.cwd() and appid == DEMO_APPID
    here &= port == 8000 and host in ("127.0.0.1", "localhost")
    operator = (
        "in this folder they find it themselves, or set:"
        if here
        else "point them at this database with:"
    )
    typer.echo(
        f"""wxauth dev: API and WeChat simulator on {base}, database {db}
mini program (simulated): appid {appid}

try it:
  curl -s -X POST {base}/sim/login -H 'content-type: application/json' \\
       -d '{{"appid": "{appid}", "user": "alice"}}'               # → {{"code": ...}}
  curl -s -X POST {base}/v1/login -H 'content-type: application/json' \\
       -d '{{"code": "<code>"}}'                                     # → {{"token": ...}}
  curl -s {base}/v1/me -H "Authorization: Bearer <token>"
  or: wxauth demo --server {base} --appid {appid}
API docs: {base}/docs

operator commands (wxauth users list, sessions, audit, keys rotate): {operator}
  export WXAUTH_DATABASE_URL='sqlite+aiosqlite:///{path}'
  export WXAUTH_SECRET_KEYS=$(cat '{dev_key_file(path)}')
  export WXAUTH_APPS='{appid}:{secret}' WXAUTH_WECHAT_BASE_URL={base}
"""
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    log_level: LogLevel = None,
) -> None:
    """Production server: WeChat at WXAUTH_WECHAT_BASE_URL, settings from WXAUTH_*."""
    from wxauth.storage.preflight import check_redis_installed, require_migrated

    warn_unknown_env()
    settings = load_settings(**({"log_level": log_level} if log_level else {}))
    log_level = settings.log_level
    if not settings.apps and not settings.secret_keys:
        # No app in the environment, and no key to open a registered app's secret with.
        raise fail(
            "no mini program configured: set WXAUTH_APPS=APPID:SECRET[,APPID:SECRET...] "
            "or register one with `wxauth apps add APPID`"
        )
    if not settings.secret_keys:
        raise fail("no at-rest key: set WXAUTH_SECRET_KEYS (make one with `wxauth keys generate`)")
    if workers > 1 and not settings.redis_url:
        typer.secho(
            "warning: several workers without WXAUTH_REDIS_URL: each keeps its own session "
            "cache (a logout reaches the others within a second) and login codes are "
            "guarded per process only",
            fg=typer.colors.YELLOW,
            err=True,
        )
    # Checked here, once, rather than by each worker (which uvicorn would restart forever).
    check_redis_installed(settings.redis_url)
    asyncio.run(require_migrated(settings.database_url))
    if not settings.apps and not asyncio.run(registered_apps(settings)):
        raise fail(
            "no mini program configured: set WXAUTH_APPS=APPID:SECRET[,APPID:SECRET...] "
            "or register one with `wxauth apps add APPID`"
        )
    setup_logging(log_level)
    options: dict[str, Any] = {
        "factory": True,
        "host": host,
        "port": port,
        "log_level": log_level,
        "log_config": logging_config(log_level),  # applied in every worker, too
        "proxy_headers": False,  # WXAUTH_TRUSTED_PROXIES alone decides whom to believe
    }
    if workers > 1 and balanced():  # each worker its own socket (cli/workers.py)
        if (reason := port_in_use(host, port)) is not None:
            raise fail(
                f"cannot listen on {host}:{port} ({reason.strerror or reason}): "
                "stop what holds the port or choose another --port"
            )
        config = uvicorn.Config(APP_FACTORY, **options)
        raise typer.Exit(Supervisor(config, host, port, workers).run())
    uvicorn.run(APP_FACTORY, workers=workers, **options)


@app.command()
def simulator(
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8001,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    apps: AppOption = None,
    latency_ms: Annotated[int, typer.Option(min=0, help="Delay every WeChat answer.")] = 0,
    faults: Annotated[
        list[str] | None, typer.Option("--fault", help="A fault rule as JSON (repeatable).")
    ] = None,
    log_level: LogLevel = "info",
) -> None:
    """A fake WeChat: server APIs at the root, the phone under /sim/."""
    from wxauth.simulator.app import create_simulator_app

    simulated = sim_apps(apps) or [SimApp(DEMO_APPID, DEMO_SECRET)]
    try:
        rules = [FaultRule.from_json(json.loads(f)) for f in faults or []]
    except (ValueError, TypeError, AttributeError) as exc:
        raise fail(f"bad --fault: {exc}") from None
    if latency_ms:
        rules.append(FaultRule(rate=1.0, latency_ms=latency_ms))
    state = SimulatorState(simulated, faults=rules)
    typer.echo(f"WeChat simulator on http://{host}:{port}, apps: {', '.join(state.apps)}")
    simulator_app = create_simulator_app(state)
    collector.settle()
    uvicorn.run(simulator_app, host=host, port=port, log_level=log_level or "info")


@app.command()
def demo(
    server: Annotated[str, typer.Option(help="wxauth base URL.")] = "http://127.0.0.1:8000",
    appid: Annotated[str, typer.Option(help="The simulated mini program.")] = DEMO_APPID,
    user: Annotated[str, typer.Option(help="The simulated WeChat user.")] = "demo-user",
    simulator_url: Annotated[
        str | None, typer.Option("--simulator", help="Simulator base URL (default: --server).")
    ] = None,
) -> None:
    """Play the mini program against a running server, printing each step."""
    try:
        run_demo(server, appid=appid, user=user, simulator=simulator_url, say=typer.echo)
    except (DemoFailed, httpx.HTTPError) as exc:
        raise fail(str(exc)) from None
    typer.echo("done: the profile round-tripped")


async def registered_apps(settings: Settings) -> int:
    """How many apps the database's registry serves (the ones not removed)."""
    from wxauth.wiring import Wiring

    wiring = Wiring(settings.model_copy(update={"session_cache_ttl": 0}))
    try:
        return len(await wiring.registry.served())
    finally:
        await wiring.aclose()
