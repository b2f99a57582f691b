"""The benchmark's machinery, end to end on a tiny load: real server, simulator and baseline
processes, the load generator, the library check, and a well-formed results table.

Nothing here asserts a speed: the machine is shared and the load is a few requests.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("psutil", reason="the bench needs psutil: pip install -e '.[dev]'")

from bench.run import QUICK, run_all
from bench.scenarios import Plan

from tests.services import POSTGRES_PORT, REDIS_PORT, answers

HAS_BASELINE = all(importlib.util.find_spec(m) for m in ("flask", "requests", "gunicorn"))
TINY: Plan = dataclasses.replace(
    QUICK,
    duration_s=0.3,
    warmup_s=0.1,
    high_connections=4,
    low_connections=2,
    login_levels=(3,),
    tokens=4,
    max_codes=12,
    baseline=HAS_BASELINE,
    baseline_workers=2,
    server_workers=2,
    repeats=2,
    backends=("postgresql",),
)
PRODUCTION = "PostgreSQL + Redis"


async def test_quick_machinery_writes_a_well_formed_table(tmp_path: Path) -> None:
    json_path, md_path = await run_all(TINY, tmp_path, tmp_path / "out", quick=True)

    data = json.loads(json_path.read_text())
    rows = {(r["scenario"], r["target"], r["connections"]): r for r in data["rows"]}
    expected = {
        ("token check", "/healthz", 4),
        ("token check", "/healthz", 2),
        ("token check", "/healthz", 1),
        ("token check", "/v1/me", 1),
        ("token check", "/v1/me", 4),
        ("token check", "/v1/me", 2),
        ("login", "/v1/login", 3),
        ("login, 1 process", "/v1/login", 3),  # beside the two workers
    }
    if HAS_BASELINE:
        expected.add(("baseline", "/v1/login", 3))
    if answers(POSTGRES_PORT) and answers(REDIS_PORT):
        for target in ("/healthz", "/v1/me"):
            expected |= {(f"token check, {PRODUCTION}", target, n) for n in (1, 2, 4)}
        expected.add((f"login, {PRODUCTION}", "/v1/login", 3))
        assert data["skipped"] == []
        login = rows[(f"login, {PRODUCTION}", "/v1/login", 3)]
        assert "PostgreSQL CPU " in login["note"] and "Redis CPU " in login["note"]
        assert "server log: 0 warning or error lines" in login["note"], data["server_log"]
    else:  # skipped, saying why
        assert len(data["skipped"]) == 1 and "PostgreSQL" in data["skipped"][0]
    assert set(rows) == expected
    for row in rows.values():
        assert row["requests"] > 0 and row["errors"] == 0, row
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]
        assert row["server_rss_mb"] > 0 and row["client_cpu_pct"] >= 0
    assert rows[("login", "/v1/login", 3)]["note"].startswith("2 workers; ")
    for row in rows.values():  # each row is the slower of its two runs, and says so
        assert len(row["runs_rps"]) == 2 and row["rps"] == min(row["runs_rps"]), row
        assert "median of 2 runs (" in row["note"]
    assert data["library"]["checks"] > 0 and data["library"]["checks_per_s"] > 0
    names = {check["name"] for check in data["checks"]}
    assert "token check / healthz throughput" in names
    assert all(isinstance(check["met"], bool) for check in data["checks"])

    table = md_path.read_text()
    assert "| scenario | target | conns |" in table
    assert table.count("\n| token check |") == 6
    assert "## Targets" in table


def test_median_run_keeps_the_middle_run_whole() -> None:
    from bench.load import LoadResult
    from bench.procs import Usage
    from bench.report import Row, median_run

    def row(rps: float, p99: float) -> Row:
        load = LoadResult(requests=int(rps), elapsed_s=1.0, latencies_ms=[1.0, p99])
        return Row.of("login", "/v1/login", 2, load, (Usage(0, 1), Usage(0.5, 1)), "bound 40/s")

    middle = median_run([row(300, 9.0), row(100, 30.0), row(200, 12.0)])
    assert (middle.rps, middle.p99_ms) == (200.0, 12.0)  # not mixed across runs
    assert middle.runs_rps == (300.0, 100.0, 200.0)
    assert middle.note == "bound 40/s; median of 3 runs (100 to 300 req/s)"
    alone = row(50, 5.0)
    assert median_run([alone]) is alone
