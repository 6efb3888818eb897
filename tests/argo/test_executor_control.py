"""Retries with backoff, exit handlers, deadlines, parallelism and mutexes."""

from __future__ import annotations

import json
import threading
import time
import pytest
from pathlib import Path

from pipeline.argo.executor import RunOptions, run
from tests.argo.executor_support import (  # noqa: F401
    WORKFLOWS,
    intervals,
    max_overlap,
    node,
    nodes,
    run_fixture,
    venv_python_first,
)


def test_retry_with_backoff_succeeds_on_the_third_attempt(tmp_path: Path) -> None:
    result = run_fixture("retry-backoff.yaml", tmp_path, parameters={"dir": str(tmp_path)})

    assert result.phase == "Succeeded", result.message
    retry = result.status["status"]["nodes"]["retry-backoff"]
    assert retry["type"] == "Retry" and retry["phase"] == "Succeeded"
    attempts = [result.status["status"]["nodes"][child] for child in retry["children"]]
    assert [a["displayName"] for a in attempts] == ["retry-backoff(0)", "retry-backoff(1)", "retry-backoff(2)"]
    assert [a["phase"] for a in attempts] == ["Failed", "Failed", "Succeeded"]
    assert all(a["type"] == "Pod" for a in attempts)
    assert attempts[2]["outputs"]["result"] == "attempt 2 (retries=2)"
    # Backoff 200ms then 400ms (factor 2) between attempts.
    times = [float(t) for t in (tmp_path / "times").read_text().split()]
    assert times[1] - times[0] >= 0.2 and times[2] - times[1] >= 0.4


def test_retry_gives_up_after_the_limit(tmp_path: Path) -> None:
    result = run_fixture("retry-backoff.yaml", tmp_path, parameters={"dir": str(tmp_path), "fail-times": "9"})

    assert result.phase == "Failed" and result.exit_code == 1
    retry = result.status["status"]["nodes"]["retry-backoff"]
    assert len(retry["children"]) == 3  # limit 2: the first attempt and two retries
    assert retry["phase"] == "Failed" and retry["message"].startswith("No more retries left")
    assert (tmp_path / "attempts").read_text() == "3"


def test_retry_policy_decides_what_is_retried(tmp_path: Path) -> None:
    result = run_fixture("retry-on-error.yaml", tmp_path, parameters={"dir": str(tmp_path)})

    assert result.phase == "Failed"
    assert len((tmp_path / "on-error").read_text().split()) == 1  # a Failed step is not an Error
    assert len((tmp_path / "always").read_text().split()) == 3


def test_exit_handler_runs_after_failure_and_sees_it(tmp_path: Path) -> None:
    result = run_fixture("exit-handlers.yaml", tmp_path, parameters={"dir": str(tmp_path), "exit-code": "1"})

    assert result.phase == "Failed"
    record = json.loads((tmp_path / "exit.json").read_text())
    assert record["status"] == "Failed" and record["name"] == "exit-handlers"
    assert [f["displayName"] for f in record["failures"]] == ["exit-handlers"]
    assert record["failures"][0]["message"] == "Error (exit code 1)"
    assert node(result, "cry")["phase"] == "Succeeded"
    assert node(result, "celebrate")["phase"] == "Skipped"
    assert node(result, "exit-handlers.onExit")["type"] == "Steps"


def test_exit_handler_runs_after_success(tmp_path: Path) -> None:
    result = run_fixture("exit-handlers.yaml", tmp_path, parameters={"dir": str(tmp_path), "exit-code": "0"})

    assert result.phase == "Succeeded"
    record = json.loads((tmp_path / "exit.json").read_text())
    assert record == {"status": "Succeeded", "failures": [], "name": "exit-handlers"}
    assert node(result, "celebrate")["phase"] == "Succeeded"
    assert node(result, "cry")["phase"] == "Skipped"


def test_template_deadline_kills_the_process_group(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_fixture("timeouts-template.yaml", tmp_path)

    assert time.monotonic() - started < 10  # not the 30 s the command asked for
    assert result.phase == "Failed"
    pod = result.status["status"]["nodes"]["timeouts-template"]
    assert pod["phase"] == "Failed"
    assert pod["message"] == "Step exceeded its deadline (template activeDeadlineSeconds=1)"
    assert (result.run_dir / "logs" / "timeouts-template.log").read_text() == "started\n"


def test_workflow_deadline_stops_everything_and_the_exit_handler_still_runs(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_fixture("timeouts-workflow.yaml", tmp_path, parameters={"dir": str(tmp_path)})

    assert time.monotonic() - started < 10
    assert result.phase == "Failed"
    sleeps = [n for n in nodes(result) if n["displayName"].startswith("sleep-one-day(")]
    assert len(sleeps) == 3
    assert {n["message"] for n in sleeps} == {"Step exceeded its deadline (workflow activeDeadlineSeconds=1)"}
    assert not [n for n in nodes(result) if n["displayName"] == "never"]
    assert (tmp_path / "exit-status").read_text().strip() == "Failed"


def test_workflow_parallelism_bounds_concurrent_pods(tmp_path: Path) -> None:
    result = run_fixture("parallelism-limit.yaml", tmp_path, parameters={"dir": str(tmp_path)})

    assert result.phase == "Succeeded"
    spans = intervals(tmp_path / "intervals")
    assert len(spans) == 6
    assert max_overlap(spans) == 2


def test_template_parallelism_bounds_its_children(tmp_path: Path) -> None:
    result = run_fixture("parallelism-template.yaml", tmp_path, parameters={"dir": str(tmp_path)})

    assert result.phase == "Succeeded"
    assert max_overlap(intervals(tmp_path / "bounded")) == 1
    assert max_overlap(intervals(tmp_path / "unbounded")) >= 2  # the bound is what serialised them


def test_mutex_keeps_two_runs_of_one_tenant_apart(tmp_path: Path) -> None:
    state = tmp_path / "state"
    results: list = []
    lines: list[str] = []

    def one_run() -> None:
        options = RunOptions(files=[WORKFLOWS / "mutex.yaml"], state_dir=state, parameters={"dir": str(tmp_path)})
        results.append(run(options, echo=lines.append))

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert [r.phase for r in results] == ["Succeeded", "Succeeded"]
    spans = intervals(tmp_path / "intervals")
    assert len(spans) == 2 and max_overlap(spans) == 1
    assert any("waiting for mutex default/optimization-acme" in line for line in lines)
    assert (state / "locks" / "default" / "optimization-acme.lock").exists()


def test_retry_expression_retries_only_transient_exit_codes(tmp_path: Path) -> None:
    result = run_fixture("retry-expression.yaml", tmp_path, parameters={"dir": str(tmp_path), "codes": "3, 4, 0"})
    assert result.phase == "Succeeded"
    assert (tmp_path / "attempts").read_text() == "3"

    (tmp_path / "attempts").unlink()
    result = run_fixture("retry-expression.yaml", tmp_path, parameters={"dir": str(tmp_path), "codes": "3, 1, 0"})
    assert result.phase == "Failed"
    assert (tmp_path / "attempts").read_text() == "2"  # exit code 1 is not retried
    retry = result.status["status"]["nodes"]["retry-expression"]
    assert retry["type"] == "Retry" and len(retry["children"]) == 2


def test_continue_on_failed_lets_steps_and_dags_go_on(tmp_path: Path) -> None:
    result = run_fixture("continue-on-fail.yaml", tmp_path)

    assert result.phase == "Succeeded", result.message
    assert node(result, "C")["phase"] == "Failed"
    assert node(result, "E")["phase"] == "Failed" and node(result, "G")["phase"] == "Failed"
    assert node(result, "F")["phase"] == "Succeeded"  # dependencies: [E] with E continueOn.failed
    assert node(result, "D")["phase"] == "Succeeded"


def test_retry_stops_when_the_backoff_would_pass_max_duration(tmp_path: Path) -> None:
    import yaml

    doc = yaml.safe_load((WORKFLOWS / "retry-backoff.yaml").read_text())
    doc["spec"]["templates"][0]["retryStrategy"]["backoff"].update(duration="1", maxDuration="500ms")
    path = tmp_path / "retry-max-duration.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = run_fixture(str(path), tmp_path, parameters={"dir": str(tmp_path)})

    assert result.phase == "Failed"
    retry = result.status["status"]["nodes"]["retry-backoff"]
    assert len(retry["children"]) == 1
    assert retry["message"] == "Backoff would exceed max duration limit (Error (exit code 1))"


def test_retry_expression_reads_inputs_substituted_first(tmp_path: Path) -> None:
    result = run_fixture("retry-expression-inputs.yaml", tmp_path, parameters={"dir": str(tmp_path), "codes": "3, 3, 1, 0"})

    assert result.phase == "Failed"
    # 3 and 3 are retried (== inputs.parameters.retry-on), 1 is not.
    assert (tmp_path / "attempts").read_text() == "3"


def test_lifecycle_hooks(tmp_path: Path) -> None:
    result = run_fixture("lifecycle-hooks.yaml", tmp_path)

    assert result.phase == "Succeeded", result.message
    by_name = {n["name"]: n for n in nodes(result)}
    said = {name: n["outputs"]["result"] for name, n in by_name.items() if n["type"] == "Pod" and "result" in n.get("outputs", {})}
    assert said["lifecycle-hooks.onExit"] == "workflow Succeeded"
    assert said["lifecycle-hooks.hooks.running"] == "workflow running"
    assert said["lifecycle-hooks[0].step-1.onExit"] == "step-1 said hello"
    assert said["lifecycle-hooks[0].step-1.hooks.success"] == "step-1 succeeded"
    assert "lifecycle-hooks[0].step-1.hooks.failure" not in by_name
    assert said["lifecycle-hooks[1].dag.A.onExit"] == "cleanup"


def test_semaphore_admits_its_configmap_limit(tmp_path: Path) -> None:
    limits = tmp_path / "limits.yaml"
    limits.write_text("template: '2'\n")
    lines: list[str] = []
    result = run_fixture("semaphore.yaml", tmp_path, lines=lines, parameters={"dir": str(tmp_path)}, configmaps={"limits": limits})

    assert result.phase == "Succeeded", result.message
    spans = intervals(tmp_path / "intervals")
    assert len(spans) == 6 and max_overlap(spans) <= 2
    assert any("waiting for semaphore default/limits/template (limit 2)" in line for line in lines)


def test_semaphore_without_its_configmap_defaults_to_one(tmp_path: Path) -> None:
    result = run_fixture("semaphore.yaml", tmp_path, parameters={"dir": str(tmp_path)})

    assert result.phase == "Succeeded", result.message
    assert max_overlap(intervals(tmp_path / "intervals")) == 1


def test_container_set_runs_in_dependency_order_in_one_pod(tmp_path: Path) -> None:
    result = run_fixture("container-set.yaml", tmp_path)

    assert result.phase == "Succeeded", result.message
    pod = result.status["status"]["nodes"][result.name]
    assert pod["type"] == "Pod"
    order = pod["outputs"]["result"].split()
    assert order[0] == "a" and sorted(order[1:3]) == ["b", "c"] and order[3] == "d"
    assert pod["outputs"]["parameters"] == [{"name": "order", "value": "\n".join(order)}]
    assert sorted(n["displayName"] for n in nodes(result) if n["type"] == "Container") == ["a", "b", "c", "main"]


def test_container_set_ends_at_the_first_failed_container(tmp_path: Path) -> None:
    result = run_fixture("container-set.yaml", tmp_path, entrypoint="failing")

    assert result.phase == "Failed"
    assert result.status["status"]["nodes"][result.name]["message"] == "Error (exit code 3)"
    containers = {n["displayName"]: n for n in nodes(result) if n["type"] == "Container"}
    assert containers["bad"]["phase"] == "Failed" and containers["after"]["phase"] == "Failed"
    assert containers["after"]["message"] == "not started: the pod ended first"


def test_suspend_with_a_duration_sleeps_then_resumes(tmp_path: Path) -> None:
    result = run_fixture("suspend.yaml", tmp_path, resume_suspended=True)

    assert result.phase == "Succeeded", result.message
    delay, approve = node(result, "delay"), node(result, "approve")
    assert delay["type"] == approve["type"] == "Suspend"
    assert approve["message"] == "resumed at once (--resume-suspended)"
    assert node(result, "release")["outputs"]["result"] == "released"


def test_suspend_without_duration_is_refused_naming_the_field(tmp_path: Path) -> None:
    from pipeline.argo.loader import WorkflowLoadError

    with pytest.raises(WorkflowLoadError) as caught:
        run_fixture("suspend.yaml", tmp_path)
    assert "spec.templates[approve].suspend: a suspend without duration waits for `argo resume`" in str(caught.value)
    assert "--resume-suspended" in str(caught.value)


def test_init_containers_run_first_in_the_pod(tmp_path: Path) -> None:
    result = run_fixture("init-containers.yaml", tmp_path)

    assert result.phase == "Succeeded", result.message
    assert result.status["status"]["nodes"][result.name]["outputs"]["result"] == "first\nsecond"
