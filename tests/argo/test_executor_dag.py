"""DAG and steps semantics: ordering, failure propagation, depends logic, when."""

from __future__ import annotations

import json
from pathlib import Path

from tests.argo.executor_support import node, nodes, output, run_fixture, venv_python_first  # noqa: F401


def test_dag_diamond_runs_in_dependency_order(tmp_path: Path) -> None:
    lines: list[str] = []
    result = run_fixture("dag-diamond.yaml", tmp_path, lines=lines)

    assert result.phase == "Succeeded" and result.exit_code == 0
    assert result.name.startswith("dag-diamond-") and len(result.name) == len("dag-diamond-") + 5
    root = result.status["status"]["nodes"][result.name]
    assert root["type"] == "DAG" and root["phase"] == "Succeeded"
    a, b, c, d = (node(result, x) for x in "ABCD")
    assert {n["type"] for n in (a, b, c, d)} == {"Pod"}
    # Argo's graph: A → B, C → D, each task under the DAG's boundary.
    assert root["children"] == [a["id"]]
    assert set(a["children"]) == {b["id"], c["id"]}
    assert b["children"] == [d["id"]] and c["children"] == [d["id"]]
    assert all(n["boundaryID"] == result.name for n in (a, b, c, d))
    assert a["name"] == f"{result.name}.A" and a["inputs"]["parameters"] == [{"name": "message", "value": "A"}]
    # Each node's stdout+stderr is its log; finished order is printed as progress lines.
    assert (result.run_dir / "logs" / "D.log").read_text() == "D\n"
    order = [line.split()[1] for line in lines if "(Pod" in line]
    assert order[0] == "A" and order[-1] == "D" and set(order[1:3]) == {"B", "C"}
    # The status file on disk is the same document.
    assert json.loads(result.status_file.read_text())["status"]["phase"] == "Succeeded"


def test_dag_failure_omits_dependents_and_fails_the_workflow(tmp_path: Path) -> None:
    result = run_fixture("dag-failure.yaml", tmp_path)

    assert result.phase == "Failed" and result.exit_code == 1
    b, c, d = node(result, "B"), node(result, "C"), node(result, "D")
    assert b["phase"] == "Failed" and b["message"] == "Error (exit code 3)" and b["outputs"]["exitCode"] == "3"
    assert c["phase"] == "Succeeded"
    assert d["type"] == "Skipped" and d["phase"] == "Omitted"
    assert result.message == "child 'dag-failure.B' failed"
    assert "about to fail" in (result.run_dir / "logs" / "B.log").read_text()


def test_enhanced_depends_handles_a_failure(tmp_path: Path) -> None:
    result = run_fixture("dag-enhanced-depends.yaml", tmp_path)

    phases = {n["displayName"]: n["phase"] for n in nodes(result)}
    assert phases["C"] == "Failed"
    assert phases["should-execute-1"] == phases["should-execute-2"] == phases["should-execute-3"] == "Succeeded"
    assert phases["should-not-execute"] == "Omitted"
    # Every leaf's branch ended well, so the DAG (and the workflow) succeeded, as in Argo.
    assert result.phase == "Succeeded"


def test_when_skips_and_default_fills_the_skipped_output(tmp_path: Path) -> None:
    result = run_fixture("dag-conditional.yaml", tmp_path)

    assert result.phase == "Succeeded"
    heads, tails = node(result, "heads"), node(result, "tails")
    assert heads["phase"] == "Succeeded" and heads["outputs"]["result"] == "it was heads"
    assert tails["type"] == "Skipped" and tails["phase"] == "Skipped"
    assert tails["message"] == "when 'heads == tails' evaluated false"
    assert node(result, "after-tails")["phase"] == "Succeeded"  # depends: tails.Skipped
    root = result.status["status"]["nodes"]["dag-conditional"]
    assert output(root, "tails-said") == "tails did not run"
    assert output(root, "heads-said") == "it was heads"
    assert result.status["status"]["outputs"]["parameters"] == [{"name": "coin", "value": "it was heads"}]


def test_steps_run_groups_in_sequence_and_steps_in_parallel(tmp_path: Path) -> None:
    result = run_fixture("steps.yaml", tmp_path)

    assert result.phase == "Succeeded"
    root = result.status["status"]["nodes"][result.name]
    assert root["type"] == "Steps"
    group0, group1 = node(result, "[0]"), node(result, "[1]")
    assert group0["type"] == group1["type"] == "StepGroup"
    hello1, hello2a, hello2b = node(result, "hello1"), node(result, "hello2a"), node(result, "hello2b")
    assert hello1["name"] == f"{result.name}[0].hello1" and hello2a["name"] == f"{result.name}[1].hello2a"
    assert root["children"] == [group0["id"]] and group0["children"] == [hello1["id"]]
    assert hello1["children"] == [group1["id"]]  # the next group hangs off the previous steps
    assert set(group1["children"]) == {hello2a["id"], hello2b["id"]}
    assert (result.run_dir / "logs" / "hello2b.log").read_text() == "hello2b\n"


def test_a_failed_step_stops_later_groups(tmp_path: Path) -> None:
    result = run_fixture("steps-failure.yaml", tmp_path, parameters={"dir": str(tmp_path)})

    assert result.phase == "Failed"
    assert (tmp_path / "first").exists() and (tmp_path / "sibling").exists()
    assert not (tmp_path / "never").exists()
    assert node(result, "[1]")["phase"] == "Failed"
    assert not [n for n in nodes(result) if n["displayName"] in ("never", "[2]")]
    assert result.message == "child 'steps-failure[1].breaks' failed"


def test_dag_fail_fast_starts_nothing_after_a_certain_failure(tmp_path: Path) -> None:
    result = run_fixture("fail-fast.yaml", tmp_path)

    assert result.phase == "Failed"
    assert node(result, "A")["phase"] == "Failed"
    assert node(result, "B")["phase"] == "Succeeded"  # already running: it runs to completion
    assert not [n for n in nodes(result) if n["displayName"] == "C"]
    assert result.status["status"]["nodes"][result.name]["message"] == "child 'fail-fast.A' failed"


def test_dag_fail_fast_false_runs_every_branch(tmp_path: Path) -> None:
    result = run_fixture("fail-fast.yaml", tmp_path, entrypoint="all-branches")

    assert result.phase == "Failed"
    assert node(result, "C")["phase"] == "Succeeded"


def test_dag_fail_fast_lets_a_handled_failure_go_on(tmp_path: Path) -> None:
    result = run_fixture("fail-fast.yaml", tmp_path, entrypoint="handled")

    assert result.phase == "Succeeded", result.message
    assert [node(result, name)["phase"] for name in "DEF"] == ["Failed", "Succeeded", "Succeeded"]


def test_template_fail_fast_stops_a_loop_at_the_failing_item(tmp_path: Path) -> None:
    result = run_fixture("fail-fast.yaml", tmp_path, entrypoint="steps-fail-fast")

    assert result.phase == "Failed"
    items = sorted(n["displayName"] for n in nodes(result) if n["displayName"].startswith("item("))
    assert items == ["item(0:0)", "item(1:2)"]  # the third item never started
    assert result.status["status"]["nodes"][result.name]["message"] == "template has failed or errored children and failFast enabled"


def test_dag_target_runs_only_what_the_targets_need(tmp_path: Path) -> None:
    result = run_fixture("dag-target-timeout.yaml", tmp_path)

    assert result.phase == "Succeeded", result.message
    assert sorted(n["displayName"] for n in nodes(result) if n["type"] == "Pod") == ["A", "C", "E"]
    result = run_fixture("dag-target-timeout.yaml", tmp_path, parameters={"target": "B E"})
    assert sorted(n["displayName"] for n in nodes(result) if n["type"] == "Pod") == ["A", "B", "C", "E"]


def test_template_timeout_kills_the_pod(tmp_path: Path) -> None:
    result = run_fixture("dag-target-timeout.yaml", tmp_path, entrypoint="timeouts")

    assert result.phase == "Failed"
    assert node(result, "quick")["phase"] == "Succeeded"
    assert node(result, "slow")["phase"] == "Failed"
    assert node(result, "slow")["message"] == "Step exceeded its deadline (template timeout=0.2s)"
