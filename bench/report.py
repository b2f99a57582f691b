"""Result rows, target checks, and the Markdown and JSON tables."""

from __future__ import annotations

import dataclasses
import json
import platform
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.load import LoadResult
from bench.procs import Usage


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values)) - 1))
    return sorted_values[rank]


@dataclass(frozen=True)
class Row:
    """One timed run: what was driven, how fast it went, and what it cost."""

    scenario: str
    target: str
    connections: int
    requests: int
    errors: int
    elapsed_s: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    server_cpu_pct: float
    server_rss_mb: float
    client_cpu_pct: float
    note: str = ""
    runs_rps: tuple[float, ...] = ()  # every repeat's req/s, when the row is their median

    def with_note(self, note: str) -> Row:
        return dataclasses.replace(self, note="; ".join(filter(None, [self.note, note])))

    @classmethod
    def of(
        cls,
        scenario: str,
        target: str,
        connections: int,
        load: LoadResult,
        server: tuple[Usage, Usage],
        note: str = "",
    ) -> Row:
        latencies = sorted(load.latencies_ms)
        elapsed = load.elapsed_s or 1e-9
        before, after = server
        return cls(
            scenario=scenario,
            target=target,
            connections=connections,
            requests=load.requests,
            errors=load.errors,
            elapsed_s=round(elapsed, 3),
            rps=round(load.requests / elapsed, 1),
            p50_ms=round(percentile(latencies, 0.50), 2),
            p95_ms=round(percentile(latencies, 0.95), 2),
            p99_ms=round(percentile(latencies, 0.99), 2),
            server_cpu_pct=round(100 * (after.cpu_s - before.cpu_s) / elapsed, 1),
            server_rss_mb=round(after.rss_mb, 1),
            client_cpu_pct=round(100 * load.client_cpu_s / elapsed, 1),
            note=note,
        )


def median_run(rows: list[Row]) -> Row:
    """The repeat with the median throughput, whole (its latencies and CPU with it), noting
    the spread: one slow or fast stretch of a shared machine does not make the figure."""
    if len(rows) == 1:
        return rows[0]
    ranked = sorted(rows, key=lambda row: row.rps)
    middle = ranked[(len(ranked) - 1) // 2]
    spread = f"median of {len(rows)} runs ({ranked[0].rps:g} to {ranked[-1].rps:g} req/s)"
    runs = tuple(row.rps for row in rows)
    return dataclasses.replace(middle.with_note(spread), runs_rps=runs)


@dataclass(frozen=True)
class Check:
    """One target of the issue: the measured value against what it must reach."""

    name: str
    value: float
    goal: float
    met: bool
    detail: str


@dataclass
class Results:
    mode: str
    rows: list[Row] = field(default_factory=list)
    library: dict[str, float] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # backends not run, and why
    server_log: list[str] = field(default_factory=list)  # what the servers complained of

    def find(self, scenario: str, target: str, connections: int) -> Row | None:
        for row in self.rows:
            if (row.scenario, row.target, row.connections) == (scenario, target, connections):
                return row
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "settings": self.settings,
            "rows": [asdict(row) for row in self.rows],
            "library": self.library,
            "checks": [asdict(check) for check in self.checks],
            "skipped": self.skipped,
            "server_log": self.server_log,
        }


def machine() -> dict[str, Any]:
    import os

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }


COLUMNS = [
    "scenario",
    "target",
    "conns",
    "requests",
    "errors",
    "req/s",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "server_cpu%",
    "server_rss_MB",
    "client_cpu%",
    "note",
]


def markdown(results: Results) -> str:
    data = results.to_json()
    lines = [
        f"# wxauth benchmark ({results.mode})",
        "",
        f"{data['when']}; Python {data['machine']['python']}; {data['machine']['cpus']} CPUs; "
        f"load average at the end {data['machine']['load_avg']}",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for row in results.rows:
        cells = [
            row.scenario,
            row.target,
            row.connections,
            row.requests,
            row.errors,
            row.rps,
            row.p50_ms,
            row.p95_ms,
            row.p99_ms,
            row.server_cpu_pct,
            row.server_rss_mb,
            row.client_cpu_pct,
            row.note,
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    if results.skipped:
        lines += ["", *(f"- {reason}" for reason in results.skipped)]
    if results.server_log:
        lines += ["", "Server log lines (warnings and errors):", ""]
        lines += [f"- `{line}`" for line in results.server_log]
    if results.library:
        lines += ["", "## Library check (in-process, one core)", ""]
        lines += [f"- {name}: {value}" for name, value in results.library.items()]
    if results.checks:
        lines += ["", "## Targets", "", "| target | measured | goal | met | detail |"]
        lines.append("|---|---|---|---|---|")
        for c in results.checks:
            lines.append(
                f"| {c.name} | {c.value} | {c.goal} | {'yes' if c.met else 'NO'} | {c.detail} |"
            )
    return "\n".join(lines) + "\n"


def write(results: Results, out: Path) -> tuple[Path, Path]:
    """Write ``results.json`` and ``results.md`` under ``out``; returns both paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "results.json", out / "results.md"
    json_path.write_text(json.dumps(results.to_json(), indent=2, ensure_ascii=False) + "\n")
    md_path.write_text(markdown(results))
    return json_path, md_path
