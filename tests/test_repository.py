"""The repository itself: no merge leftovers in what is tracked."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKERS = ("<<<<<<< ", ">>>>>>> ")


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    suffixes = {".py", ".md", ".toml", ".js", ".ts", ".json", ".html", ".css", ".wxml", ".cfg"}
    return [ROOT / name for name in listed if Path(name).suffix in suffixes]


def test_no_conflict_markers_are_committed() -> None:
    files = tracked_text_files()
    assert files
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in files
        if path.is_file()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if line.startswith(MARKERS) or line == "======="
    ]
    assert found == []
