"""The local runner says which pods are running, and for how long, while they run: a line every
`heartbeat_s` (15 s by default), not only when a node ends."""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.argo.executor import RunOptions, run
from tests.argo.executor_support import venv_python_first  # noqa: F401  (fixture)

SLOW = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  name: slow-pods
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: train, template: sleep, arguments: {parameters: [{name: seconds, value: "1.6"}]}}
      - {name: evaluate, template: sleep, arguments: {parameters: [{name: seconds, value: "0.8"}]}}
      - {name: report, template: sleep, depends: train && evaluate, arguments: {parameters: [{name: seconds, value: "0"}]}}
  - name: sleep
    inputs:
      parameters:
      - name: seconds
    container:
      image: alpine
      command: [sleep, "{{inputs.parameters.seconds}}"]
"""


def test_running_pods_are_reported_while_they_run(tmp_path: Path) -> None:
    path = tmp_path / "slow.yaml"
    path.write_text(SLOW)
    lines: list[str] = []
    result = run(RunOptions(files=[path], state_dir=tmp_path / "state", heartbeat_s=0.5), echo=lines.append)
    assert result.phase == "Succeeded"
    beats = [line for line in lines if line.startswith("◷ running: ")]
    assert beats, lines
    # Both pods while both run, longest-running first, each with its time so far.
    assert any(re.fullmatch(r"◷ running: (train|evaluate) \ds, (train|evaluate) \ds", b) and "train" in b and "evaluate" in b
               for b in beats), beats
    assert "report" not in beats[0]  # report had not started at the first beat
    assert lines.index(beats[0]) < next(i for i, line in enumerate(lines) if line.startswith("✔ train "))


def test_no_heartbeat_when_switched_off_or_nothing_runs(tmp_path: Path) -> None:
    path = tmp_path / "slow.yaml"
    path.write_text(SLOW)
    lines: list[str] = []
    run(RunOptions(files=[path], state_dir=tmp_path / "state", heartbeat_s=0), echo=lines.append)
    assert not [line for line in lines if line.startswith("◷ running")]
