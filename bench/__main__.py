"""``python -m bench``: start the servers, run every scenario, write the results table.

    python -m bench            # the full run (about four minutes)
    python -m bench --quick    # the same machinery, shorter and lighter (under a minute)

Results go to ``bench/results/results.{md,json}`` (``--out`` to change). The bench's own
dependencies (the ``bench`` extra: Flask, requests, gunicorn, psutil) are installed on first use.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_MODULES = ("psutil", "flask", "requests", "gunicorn")


def ensure_dependencies() -> None:
    missing = [name for name in BENCH_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        print(f"installing the bench extra (missing: {', '.join(missing)})", flush=True)
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[bench]"]
        subprocess.run(pip, check=True)


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when it is there (it comes with uvicorn[standard]): a leaner load generator."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs, fewer levels")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--duration", type=float, help="seconds per timed run")
    parser.add_argument("--no-baseline", action="store_true", help="skip the Flask baseline")
    parser.add_argument("--latency-ms", type=int, default=50, help="WeChat latency to simulate")
    parser.add_argument(
        "--backends",
        default="postgresql,mariadb",
        help="production backends to run with Redis after SQLite (comma-separated; '' for none)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ensure_dependencies()
    from bench.run import plan_for, run_all

    plan = plan_for(
        quick=args.quick,
        duration_s=args.duration,
        baseline=not args.no_baseline,
        latency_ms=args.latency_ms,
        backends=tuple(filter(None, args.backends.split(","))),
    )
    with (
        tempfile.TemporaryDirectory(prefix="wxauth-bench-") as workdir,
        asyncio.Runner(loop_factory=event_loop_factory()) as runner,
    ):
        paths = runner.run(run_all(plan, Path(workdir), args.out, quick=args.quick))
    print("\n".join(["", *(f"wrote {p}" for p in paths)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
