"""One whole run: every scenario in order, then the targets checked, then the tables written."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from bench import backends, scenarios
from bench.library import library_check
from bench.procs import Server
from bench.report import Check, Results, Row, write
from bench.scenarios import Plan
from wxauth.storage.migrate import upgrade

ONE_PROCESS = "login, 1 process"

QUICK = Plan(
    duration_s=2.0,
    warmup_s=0.5,
    login_levels=(200,),
    tokens=50,
    max_codes=1500,
    repeats=1,
)


def plan_for(
    *,
    quick: bool,
    duration_s: float | None,
    baseline: bool,
    latency_ms: int,
    backends: tuple[str, ...] = ("postgresql", "mariadb"),
) -> Plan:
    plan = QUICK if quick else Plan()
    changes: dict[str, object] = {
        "baseline": baseline,
        "wechat_latency_ms": latency_ms,
        "backends": backends,
    }
    if duration_s is not None:
        changes["duration_s"] = duration_s
    return dataclasses.replace(plan, **changes)  # type: ignore[arg-type]


async def run_all(plan: Plan, workdir: Path, out: Path, *, quick: bool) -> tuple[Path, Path]:
    results = Results(mode="quick" if quick else "full", settings=dataclasses.asdict(plan))
    database_url = f"sqlite+aiosqlite:///{workdir / 'wxauth.db'}"
    await asyncio.to_thread(upgrade, database_url)  # alembic runs its own event loop
    top = max(plan.login_levels)
    workers = plan.server_workers
    with scenarios.wechat_simulator(plan, workdir) as sim:
        with scenarios.wxauth_server(sim, workdir, database_url, workers=workers) as api:
            await scenarios.token_check(api, sim, plan, results)
            await scenarios.login(api, sim, plan, results, label="login", levels=plan.login_levels)
            results.rows = [_with_workers(row, workers) for row in results.rows]
        if workers > 1:  # what one process does alone, for the cost per login
            with scenarios.wxauth_server(sim, workdir, database_url, workers=1) as api:
                await scenarios.login(api, sim, plan, results, label=ONE_PROCESS, levels=(top,))
        if plan.baseline:
            with scenarios.flask_baseline(sim, workdir, plan.baseline_workers) as flask:
                await scenarios.login(flask, sim, plan, results, label="baseline", levels=(top,))
                gunicorn = plan.baseline_workers
                bound = gunicorn / (plan.wechat_latency_ms / 1000)
                usage_note = results.rows[-1].note.split("; ", 1)[-1]
                note = f"gunicorn -w {gunicorn}: bound {bound:.0f}/s; {usage_note}"
                results.rows[-1] = dataclasses.replace(results.rows[-1], note=note)
    if plan.backends:
        with scenarios.wechat_simulator(plan, workdir) as sim:
            for kind in plan.backends:
                await production_rows(kind, sim, plan, workdir, results)
    results.library = await library_check(workdir, duration_s=plan.duration_s)
    results.checks = checks(results, plan)
    return write(results, out)


async def production_rows(
    kind: str, sim: Server, plan: Plan, workdir: Path, results: Results
) -> None:
    """The token check and login rows on ``kind`` + Redis, or a note saying why not."""
    top, workers = max(plan.login_levels), plan.server_workers
    try:
        async with backends.scratch(kind) as backend:
            await asyncio.to_thread(upgrade, backend.url)
            env = {
                "WXAUTH_REDIS_URL": backends.REDIS_URL,
                "WXAUTH_REDIS_PREFIX": f"{Path(workdir).name}-{kind}:",
            }
            first = len(results.rows)
            services = backends.ServiceCpu(kind)
            with scenarios.wxauth_server(
                sim, workdir, backend.url, workers=workers, extra_env=env, name=f"wxauth-{kind}"
            ) as api:
                await scenarios.token_check(
                    api, sim, plan, results, label=f"token check, {backend.name}",
                    services=services,
                )  # fmt: skip
                await scenarios.login(
                    api, sim, plan, results, label=f"login, {backend.name}", levels=(top,),
                    services=services,
                )  # fmt: skip
            complaints = log_complaints(api.log)
            results.server_log += [f"{backend.name}: {line}" for line in complaints[:20]]
            note = f"{workers} workers; server log: {len(complaints)} warning or error lines"
            results.rows[first:] = [row.with_note(note) for row in results.rows[first:]]
    except RuntimeError as exc:
        print(str(exc), flush=True)
        results.skipped.append(str(exc))


def log_complaints(log: Path) -> list[str]:
    """Lines of the server's log (at level warning) that warn, fail or trace back: fail-open
    lines ("code guard ... passing"), a Redis outage, a database unavailable, a 500."""
    words = ("WARNING", "ERROR", "CRITICAL", "Traceback", "unavailable", "passing")
    text = log.read_text("utf-8", "replace") if log.exists() else ""
    return [line for line in text.splitlines() if any(word in line for word in words)]


def _with_workers(row: Row, workers: int) -> Row:
    return dataclasses.replace(row, note="; ".join(filter(None, [f"{workers} workers", row.note])))


def checks(results: Results, plan: Plan) -> list[Check]:
    """The issue's targets, each as measured in this run."""
    found: list[Check] = []
    high, low, top = plan.high_connections, plan.low_connections, max(plan.login_levels)
    health, me = (
        results.find("token check", "/healthz", high),
        results.find("token check", "/v1/me", high),
    )
    if health and me:
        ratio = me.rps / health.rps if health.rps else 0.0
        per_cpu = _per_cpu(me) / _per_cpu(health) if _per_cpu(health) else 0.0
        detail = (
            f"{me.rps} vs {health.rps} req/s at {high} connections; "
            f"per server CPU-second {per_cpu:.3f}"
        )
        found.append(
            Check("token check / healthz throughput", round(ratio, 3), 0.7, ratio >= 0.7, detail)
        )
    me_low = results.find("token check", "/v1/me", low)
    if me_low:
        found.append(
            Check(
                f"token check p99 at {low} connections (ms)",
                me_low.p99_ms,
                10.0,
                me_low.p99_ms < 10.0,
                f"p50 {me_low.p50_ms} ms",
            )
        )
    login, base = (
        results.find("login", "/v1/login", top),
        results.find("baseline", "/v1/login", top),
    )
    if login and base:
        ratio = login.rps / base.rps if base.rps else 0.0
        found.append(
            Check(
                f"login / baseline throughput at {top}",
                round(ratio, 2),
                10.0,
                ratio >= 10.0,
                f"{login.rps} vs {base.rps} logins/s",
            )
        )
    if login:
        bound = top / (plan.wechat_latency_ms / 1000)
        ratio = login.rps / bound
        # CPU-bound: one server process keeps its core busy (the 1-process run when there
        # is one), or the server's processes use (nearly) all the cores they were given.
        alone = results.find(ONE_PROCESS, "/v1/login", top)
        cpu_bound = login.server_cpu_pct >= 90.0 * plan.server_workers or (
            alone is not None and alone.server_cpu_pct >= 90.0
        )
        cpu = f"server CPU {login.server_cpu_pct}% ({plan.server_workers} workers)"
        if alone is not None:
            cpu += f"; 1 process: {alone.rps} logins/s at {alone.server_cpu_pct}% CPU"
        if cpu_bound:
            cpu += "; CPU-bound"
        found.append(
            Check(
                f"login / bound at {top}",
                round(ratio, 3),
                0.5,
                ratio >= 0.5,
                f"{login.rps} of {bound:.0f} logins/s; {cpu}",
            )
        )
    found += production_checks(results, plan)
    if results.library:
        rate = results.library["checks_per_s"]
        found.append(
            Check(
                "library token checks per second",
                rate,
                100_000,
                rate >= 100_000,
                f"{results.library['us_per_check']} us each",
            )
        )
    return found


def production_checks(results: Results, plan: Plan) -> list[Check]:
    """Issue 14's targets on PostgreSQL + Redis and MariaDB + Redis, as measured."""
    found: list[Check] = []
    top, high = max(plan.login_levels), plan.high_connections
    bound = top / (plan.wechat_latency_ms / 1000)
    sqlite = results.find("login", "/v1/login", top)
    for name in ("PostgreSQL + Redis", "MariaDB + Redis"):
        login = results.find(f"login, {name}", "/v1/login", top)
        if login is not None:
            ratio = login.rps / bound
            versus = f"; SQLite {sqlite.rps}/s in this run" if sqlite else ""
            met = ratio >= 0.25 and (sqlite is None or login.rps >= sqlite.rps)
            detail = f"{login.rps} of {bound:.0f} logins/s{versus}"
            found.append(
                Check(f"login / bound at {top}, {name}", round(ratio, 3), 0.25, met, detail)
            )
        me = results.find(f"token check, {name}", "/v1/me", high)
        health = results.find(f"token check, {name}", "/healthz", high)
        if me is not None and health is not None:
            ratio = me.rps / health.rps if health.rps else 0.0
            detail = f"{me.rps} vs {health.rps} req/s at {high} connections"
            found.append(
                Check(f"token check / healthz, {name}", round(ratio, 3), 0.9, ratio >= 0.9, detail)
            )
            tail = me.p99_ms / me.p50_ms if me.p50_ms else 0.0
            detail = f"p50 {me.p50_ms} ms, p99 {me.p99_ms} ms at {high} connections"
            if health.p50_ms:  # the same server's floor: what the machine's scheduling gives
                detail += f"; /healthz {health.p99_ms / health.p50_ms:.2f}"
            found.append(
                Check(f"token check p99 / p50, {name}", round(tail, 2), 3.0, tail <= 3.0, detail)
            )
    errors = sum(row.errors for row in results.rows)
    found.append(Check("errors and non-2xx, every row", errors, 0, errors == 0, "all rows"))
    lines = len(results.server_log)
    found.append(Check("server warning lines, production rows", lines, 0, lines == 0, "see below"))
    return found


def _per_cpu(row: Row) -> float:
    """Requests per second of server CPU: steadier than req/s when the machine is shared."""
    return row.rps / (row.server_cpu_pct / 100) if row.server_cpu_pct else 0.0
