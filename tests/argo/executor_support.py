"""Helpers for the local executor tests: run a fixture workflow into a temporary state dir."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from pipeline.argo.executor import RunOptions, RunResult, run

WORKFLOWS = Path(__file__).parent / "workflows"


@pytest.fixture(autouse=True)
def venv_python_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fixture workflows call `python3`: make it this interpreter, not a slow pyenv shim."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


def run_fixture(fixture: str, tmp_path: Path, *, lines: list[str] | None = None, **options: Any) -> RunResult:
    state = tmp_path / "state"
    echo = lines.append if lines is not None else None
    return run(
        RunOptions(files=[WORKFLOWS / fixture], state_dir=state, kill_grace_s=0.5, **options),
        echo=echo,
    )


def nodes(result: RunResult) -> list[dict[str, Any]]:
    return list(result.status["status"]["nodes"].values())


def node(result: RunResult, display_name: str) -> dict[str, Any]:
    matches = [n for n in nodes(result) if n["displayName"] == display_name]
    assert len(matches) == 1, f"{len(matches)} nodes named {display_name!r}: {[n['displayName'] for n in nodes(result)]}"
    return matches[0]


def output(node_doc: dict[str, Any], name: str) -> str:
    for param in node_doc.get("outputs", {}).get("parameters", []):
        if param["name"] == name:
            return param["value"]
    raise AssertionError(f"node {node_doc['name']} has no output {name!r}: {node_doc.get('outputs')}")


def intervals(path: Path) -> list[tuple[float, float]]:
    return [tuple(map(float, line.split())) for line in path.read_text().splitlines() if line.strip()]  # type: ignore[misc]


def max_overlap(spans: list[tuple[float, float]]) -> int:
    """Most intervals open at one instant."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans], key=lambda e: (e[0], e[1]))
    current = best = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best
