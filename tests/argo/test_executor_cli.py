"""`python -m pipeline.argo.cli run`: exit codes, default paths, parameters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pipeline.argo.cli import main
from tests.argo.executor_support import WORKFLOWS, venv_python_first  # noqa: F401


def test_run_succeeds_with_exit_code_0_and_default_status_file(tmp_path: Path, capsys) -> None:
    code = main(["run", str(WORKFLOWS / "dag-enhanced-depends.yaml"), "--state-dir", str(tmp_path)])

    assert code == 0
    status = json.loads((tmp_path / "dag-enhanced-depends" / "status.json").read_text())
    assert status["status"]["phase"] == "Succeeded"
    assert (tmp_path / "dag-enhanced-depends" / "logs" / "A.log").exists()
    out = capsys.readouterr().out
    assert "✖ C (Pod fail) Failed" in out and "✔ dag-enhanced-depends Succeeded" in out


def test_failed_workflow_exits_1_and_writes_the_status_file_asked_for(tmp_path: Path, capsys) -> None:
    status_file = tmp_path / "out" / "status.json"
    code = main([
        "run", str(WORKFLOWS / "exit-handlers.yaml"), "--state-dir", str(tmp_path / "state"),
        "--status-file", str(status_file), "-p", f"dir={tmp_path}", "--quiet",
    ])

    assert code == 1
    assert json.loads(status_file.read_text())["status"]["phase"] == "Failed"
    assert capsys.readouterr().out == ""


def test_load_errors_exit_2(tmp_path: Path, capsys) -> None:
    code = main(["run", str(WORKFLOWS / "unsupported-field.yaml"), "--state-dir", str(tmp_path)])

    assert code == 2
    assert "sidecars" in capsys.readouterr().err
    assert json.loads((tmp_path / "unsupported-field" / "status.json").read_text())["status"]["phase"] == "Error"
    assert main(["run", str(WORKFLOWS / "dag-diamond.yaml"), "-p", "no-equals-sign"]) == 2


def test_parameter_file_and_templates_flag(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(f"dir: {tmp_path}\ntenant-id: from-file\n")
    code = main([
        "run", str(WORKFLOWS / "workflow-template-ref.yaml"),
        "--templates", str(WORKFLOWS / "workflow-template.yaml"),
        "-f", str(params), "-p", "category=dspy",
        "--state-dir", str(tmp_path / "state"), "--quiet",
    ])

    assert code == 0
    assert (tmp_path / "greeting").read_text().startswith("from-file dspy greeting-")


def test_module_entry_point(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.argo.cli", "run", str(WORKFLOWS / "dag-diamond.yaml"), "--state-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "✔ D (Pod echo) Succeeded" in proc.stdout


def test_sigterm_stops_the_run_kills_its_processes_and_runs_the_exit_handler(tmp_path: Path) -> None:
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.argo.cli", "run", str(WORKFLOWS / "stop.yaml"), "--state-dir", str(tmp_path / "state"),
         "-p", f"dir={tmp_path}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2],
    )
    children = [tmp_path / "child-1", tmp_path / "child-2"]
    deadline = time.monotonic() + 30
    while not all(c.exists() and c.read_text().strip() for c in children):
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)

    assert proc.returncode == 1, out + err
    status = json.loads((tmp_path / "state" / "stop-me" / "status.json").read_text())["status"]
    assert status["phase"] == "Failed" and status["message"] == "Stopped with strategy 'Stop'", out + err
    assert (tmp_path / "bye").read_text().strip() == "Failed"
    for child in children:  # the background `sleep 60` of each pod went with its process group
        pid = int(child.read_text())
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
