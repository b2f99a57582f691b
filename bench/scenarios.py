"""The HTTP scenarios: token check against /healthz, login against the bound and the baseline.

Every server runs as its own process: the WeChat simulator (with a fixed latency), ``wxauth
serve`` on a migrated temporary SQLite database, and the Flask baseline under gunicorn. Codes
are minted from the simulator before each timed run, so a run measures only the login.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.backends import ServiceCpu
from bench.load import LoadResult, build_request, cycle, once_each, run_load
from bench.procs import WXAUTH, Server, Usage, cpu_each, free_port, running, usage
from bench.report import Results, Row, median_run

APPID = "wxbe0c000000000001"
SECRET = "bench-secret-0123456789abcdef"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Plan:
    """How long and how hard each run drives its server."""

    duration_s: float = 5.0
    warmup_s: float = 1.0
    high_connections: int = 100
    low_connections: int = 10
    login_levels: tuple[int, ...] = (10, 50, 200)
    wechat_latency_ms: int = 50
    tokens: int = 200
    max_codes: int = 6000
    # Each row is the median of this many timed runs (fresh codes for each login run).
    repeats: int = 3
    baseline: bool = True
    baseline_workers: int = field(default_factory=lambda: 2 * (os.cpu_count() or 1) + 1)
    # wxauth serve --workers: one per core, as docs/deployment.md recommends.
    server_workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    # The production backends run after SQLite, each with Redis (skipped when absent).
    backends: tuple[str, ...] = ("postgresql", "mariadb")


def _json_request(
    path: str, payload: dict[str, str], headers: dict[str, str] | None = None
) -> bytes:
    body = json.dumps(payload).encode()
    return build_request("POST", path, HOST, body=body, headers=headers)


async def _collect(server: Server, requests: list[bytes], field_name: str) -> list[str]:
    """Send each request once (50 at a time) and keep ``field_name`` of each 200 answer."""
    found: list[str] = []

    def keep(status: int, body: bytes) -> None:
        if status == 200:
            found.append(json.loads(body)[field_name])

    await run_load(
        HOST, server.port, once_each(requests), connections=50, duration_s=120, on_answer=keep
    )
    if len(found) != len(requests):
        raise RuntimeError(f"{server.name}: {len(requests) - len(found)} setup calls failed")
    return found


async def mint_codes(sim: Server, count: int, prefix: str) -> list[str]:
    """What ``wx.login`` gives ``count`` distinct users (each login makes a new user)."""
    asks = [
        _json_request("/sim/login", {"appid": APPID, "user": f"{prefix}-{i}"}) for i in range(count)
    ]
    return await _collect(sim, asks, "code")


def login_requests(codes: list[str]) -> list[bytes]:
    return [_json_request("/v1/login", {"code": code, "appid": APPID}) for code in codes]


async def timed(
    server: Server, requests: list[bytes], *, connections: int, duration_s: float, repeat: bool
) -> tuple[LoadResult, tuple[Usage, Usage]]:
    processes = server.processes()
    before = usage(processes)
    source = cycle(requests) if repeat else once_each(requests)
    load = await run_load(HOST, server.port, source, connections=connections, duration_s=duration_s)
    return load, (before, usage(processes))


async def token_check(
    api: Server,
    sim: Server,
    plan: Plan,
    results: Results,
    *,
    label: str = "token check",
    services: ServiceCpu | None = None,
) -> None:
    """GET /v1/me with warm tokens against GET /healthz, on the same server in the same run
    (``services``: the database's and Redis's CPU go into each row's note)."""
    codes = await mint_codes(sim, plan.tokens, "token")
    tokens = await _collect(api, login_requests(codes), "token")
    me = [
        build_request("GET", "/v1/me", HOST, headers={"Authorization": f"Bearer {t}"})
        for t in tokens
    ]
    targets = {"/healthz": [build_request("GET", "/healthz", HOST)], "/v1/me": me}
    for requests in targets.values():
        await timed(
            api, requests, connections=plan.low_connections, duration_s=plan.warmup_s, repeat=True
        )
    levels = (plan.high_connections, plan.low_connections, 1)
    runs: dict[tuple[str, int], list[Row]] = {(t, c): [] for t in targets for c in levels}
    # The two targets take turns, run by run: what the ratio compares then saw the same
    # machine (a neighbour's load comes and goes over a minute as well as over a run).
    for connections in levels:
        for _ in range(plan.repeats):
            for target, requests in targets.items():
                spent = services.snapshot() if services else None
                load, use = await timed(
                    api, requests, connections=connections, duration_s=plan.duration_s, repeat=True
                )
                note = services.note(spent, load.elapsed_s) if services and spent else ""
                runs[target, connections].append(
                    Row.of(label, target, connections, load, use, note)
                )
    results.rows += [median_run(runs[t, c]) for t in targets for c in levels]


async def login(
    server: Server,
    sim: Server,
    plan: Plan,
    results: Results,
    *,
    label: str,
    levels: tuple[int, ...],
    services: ServiceCpu | None = None,
) -> None:
    """POST /v1/login with fresh codes at each concurrency level."""
    latency_s = plan.wechat_latency_ms / 1000
    for connections in levels:
        bound = connections / latency_s
        count = min(plan.max_codes, int(bound * plan.duration_s) + connections)
        runs = []
        for run in range(plan.repeats):
            codes = await mint_codes(sim, count, f"{label}-{connections}-{run}")
            sim_before, machine_before = usage(sim.processes()), psutil.cpu_times()
            processes = server.processes()
            each_before = cpu_each(processes)
            spent = services.snapshot() if services else None
            load, use = await timed(
                server,
                login_requests(codes),
                connections=connections,
                duration_s=plan.duration_s,
                repeat=False,
            )
            sim_cpu = 100 * (usage(sim.processes()).cpu_s - sim_before.cpu_s) / load.elapsed_s
            note = f"bound {bound:.0f}/s; simulator CPU {sim_cpu:.0f}%; "
            note += machine_note(machine_before, psutil.cpu_times())
            note += split_note(each_before, cpu_each(processes), load.elapsed_s)
            if services and spent:
                note += "; " + services.note(spent, load.elapsed_s)
            runs.append(Row.of(label, "/v1/login", connections, load, use, note))
        results.rows.append(median_run(runs))


def split_note(before: list[float], after: list[float], elapsed_s: float) -> str:
    """How the server's CPU was shared among its worker processes (a supervisor that does
    no request work is left out), when there are several: connections stay with the worker
    that accepted them, and an uneven share caps the whole."""
    shares = [100 * (a - b) / elapsed_s for a, b in zip(after, before, strict=True)]
    workers = [share for share in shares if share >= 2.0]
    if len(workers) < 2:
        return ""
    return "; workers' CPU " + "/".join(f"{share:.0f}" for share in workers) + "%"


def machine_note(before: Any, after: Any) -> str:
    """How busy all the machine's cores were between two ``psutil.cpu_times()``, and how
    much of their time the hypervisor gave to other machines (steal), in %."""
    return f"machine busy {busy_pct(before, after):.0f}% (steal {steal_pct(before, after):.0f}%)"


def busy_pct(before: Any, after: Any) -> float:
    """How busy all the machine's cores were between two ``psutil.cpu_times()``, in %."""
    idle = (after.idle + getattr(after, "iowait", 0)) - (before.idle + getattr(before, "iowait", 0))
    total = sum(after) - sum(before)
    return 100 * (1 - idle / total) if total else 0.0


def steal_pct(before: Any, after: Any) -> float:
    """The share of the cores' time that a virtual machine's host took for others, in %."""
    stolen = getattr(after, "steal", 0.0) - getattr(before, "steal", 0.0)
    total = sum(after) - sum(before)
    return 100 * stolen / total if total else 0.0


@contextmanager
def wechat_simulator(plan: Plan, workdir: Path) -> Iterator[Server]:
    port = free_port()
    argv = [*WXAUTH, "simulator", "--port", str(port), "--app", f"{APPID}:{SECRET}"]
    argv += ["--latency-ms", str(plan.wechat_latency_ms), "--log-level", "warning"]
    with running(
        "simulator", argv, port=port, env={}, workdir=workdir, ready_path="/sim/stats"
    ) as sim:
        yield sim


@contextmanager
def wxauth_server(
    sim: Server,
    workdir: Path,
    database_url: str,
    *,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
    name: str = "wxauth",
) -> Iterator[Server]:
    from wxauth.core.keyring import generate_key

    port = free_port()
    env = {
        "WXAUTH_DATABASE_URL": database_url,
        "WXAUTH_APPS": f"{APPID}:{SECRET}",
        "WXAUTH_SECRET_KEYS": generate_key(),
        "WXAUTH_WECHAT_BASE_URL": sim.base,
        # The load comes from one address and a few tokens: the rate limits (which protect a
        # real deployment) are off, so that what is measured is the work of a request.
        "WXAUTH_RATE_LIMIT_LOGIN_IP": "0",
        "WXAUTH_RATE_LIMIT_LOGIN_APPID": "0",
        "WXAUTH_RATE_LIMIT_TOKEN": "0",
        **(extra_env or {}),
    }
    argv = [*WXAUTH, "serve", "--port", str(port), "--log-level", "warning"]
    argv += ["--workers", str(workers)]
    with running(name, argv, port=port, env=env, workdir=workdir, ready_path="/healthz") as api:
        yield api


@contextmanager
def flask_baseline(sim: Server, workdir: Path, workers: int) -> Iterator[Server]:
    port = free_port()
    env = {
        "BASELINE_DB": str(workdir / "baseline.db"),
        "BASELINE_WECHAT_URL": sim.base,
        "BASELINE_APPS": f"{APPID}:{SECRET}",
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    argv = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"{HOST}:{port}"]
    argv += ["--log-level", "warning", "bench.baselines.flask_login:app"]
    with running(
        "baseline", argv, port=port, env=env, workdir=workdir, ready_path="/healthz"
    ) as app:
        yield app
