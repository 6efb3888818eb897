"""Bad input fails loudly: at load time (exit code 2) or on the node, naming node and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipeline.argo.loader import WorkflowLoadError
from tests.argo.executor_support import node, run_fixture, venv_python_first  # noqa: F401

HELLO = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"name": "inline"},
    "spec": {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "busybox", "command": ["echo", "hi"]}}]},
}


def _write(tmp_path: Path, doc: dict) -> Path:
    path = tmp_path / "workflow.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _load_error(tmp_path: Path, name_or_doc: str | dict, **options) -> tuple[str, dict]:
    if isinstance(name_or_doc, dict):
        path = _write(tmp_path, name_or_doc)
        target = str(path)
    else:
        target = name_or_doc
    with pytest.raises(WorkflowLoadError) as caught:
        run_fixture(target, tmp_path, **options)
    assert caught.value.exit_code == 2
    statuses = list((tmp_path / "state").glob("*/status.json"))
    assert len(statuses) == 1
    return str(caught.value), json.loads(statuses[0].read_text())


def test_malformed_yaml(tmp_path: Path) -> None:
    message, status = _load_error(tmp_path, "malformed.yaml")
    assert "malformed YAML in" in message and "malformed.yaml" in message
    assert "while scanning a quoted scalar (line 10, column 23)" in message
    assert status["status"]["phase"] == "Error" and status["status"]["message"] == message
    assert status["metadata"]["name"] == "malformed"


def test_unsupported_field_names_its_path(tmp_path: Path) -> None:
    message, _ = _load_error(tmp_path, "unsupported-field.yaml")
    assert "unsupported field 'sidecars' at spec.templates[main].sidecars: sidecars are not run locally" in message


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        (lambda d: d["spec"].update(hooks={"later": {"template": "main"}}), "spec.hooks.later.expression is required"),
        (lambda d: d["spec"]["templates"][0].update(podSpecPatch="{}"), "spec.templates[main].podSpecPatch"),
        (lambda d: d["spec"]["templates"][0]["container"].update(ports=[]), "spec.templates[main].container.ports"),
        (lambda d: d["spec"].update(parallelism="two"), "spec.parallelism: expected an integer"),
        (
            lambda d: d["spec"]["templates"].insert(0, {"name": "loop", "steps": [[{"name": "s", "template": "main", "withSequence": {"count": "x"}}]]}),
            "spec.templates[loop].steps[0][s].withSequence.count: 'x' is not an integer",
        ),
        (
            lambda d: d["spec"].update(workflowTemplateRef={"name": "missing"}) or d["spec"].pop("templates"),
            "spec.workflowTemplateRef: WorkflowTemplate 'missing' not found: pass its file with --templates",
        ),
        (lambda d: d["spec"]["templates"][0]["container"].update(args=["{{=xs | map(#)}}"]), "spec.templates[main].container.args[0]: pipes"),
        (lambda d: d["spec"]["templates"][0]["container"].update(args=["{{=now()}}"]), "function 'now' is not supported locally"),
        (lambda d: d["spec"]["templates"][0].pop("container"), "exactly one of container, script, containerSet, dag, steps, suspend"),
        (lambda d: d["spec"]["templates"][0]["container"].pop("command"), "command is required locally"),
        (lambda d: d["spec"].update(entrypoint="nope"), "spec.entrypoint: unknown template 'nope'"),
        (lambda d: d["spec"].update(onExit="nope"), "spec.onExit: unknown template 'nope'"),
        (
            lambda d: d["spec"]["templates"][0]["container"].update(
                env=[{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
            ),
            "unsupported field 'fieldRef' at spec.templates[main].container.env[X].valueFrom.fieldRef",
        ),
        (
            lambda d: d["spec"]["templates"][0]["container"].update(
                env=[{"name": "X", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k"}}}]
            ),
            "secret 'creds' not given: pass --secret creds=FILE",
        ),
        (
            lambda d: d["spec"]["templates"][0].update(retryStrategy={"limit": 2, "retryPolicy": "Sometimes"}),
            "retryPolicy: 'Sometimes' is not one of",
        ),
        (
            lambda d: d["spec"]["templates"][0].update(retryStrategy={"expression": "sprig.randInt(1, 2) == 1"}),
            "spec.templates[main].retryStrategy.expression: sprig.randInt is not supported locally",
        ),
        (lambda d: d["spec"]["templates"][0].update(parallelism=2), "spec.templates[main].parallelism: only dag and steps templates use it"),
        (
            lambda d: d["spec"]["templates"].append({"name": "d", "activeDeadlineSeconds": 5, "dag": {"tasks": [{"name": "t", "template": "main"}]}}),
            "spec.templates[d].activeDeadlineSeconds: only container and script templates use it",
        ),
        (
            lambda d: d["spec"]["templates"][0]["container"].update(volumeMounts=[{"name": "data", "mountPath": "/data"}]),
            "spec.templates[main].container.volumeMounts[data].name: no volume named 'data'",
        ),
        (
            lambda d: d["spec"].update(volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "x"}}]),
            "unsupported field 'persistentVolumeClaim' at spec.volumes[data].persistentVolumeClaim",
        ),
    ],
)
def test_unsupported_or_inconsistent_specs(tmp_path: Path, patch, expected: str) -> None:
    doc = json.loads(json.dumps(HELLO))
    patch(doc)
    message, _ = _load_error(tmp_path, doc)
    assert expected in message


def test_unknown_template_in_a_dag(tmp_path: Path) -> None:
    doc = json.loads(json.dumps(HELLO))
    doc["spec"]["templates"].append({"name": "dag", "dag": {"tasks": [{"name": "t", "template": "missing"}]}})
    message, _ = _load_error(tmp_path, doc)
    assert "spec.templates[dag].dag.tasks[t].template: unknown template 'missing'" in message


def test_depends_on_unknown_task_or_result(tmp_path: Path) -> None:
    doc = json.loads(json.dumps(HELLO))
    doc["spec"]["templates"].append({"name": "dag", "dag": {"tasks": [
        {"name": "a", "template": "main"},
        {"name": "b", "template": "main", "depends": "a.Completed"},
    ]}})
    message, _ = _load_error(tmp_path, doc)
    assert "spec.templates[dag].dag.tasks[b].depends: unknown task result '.Completed'" in message
    doc["spec"]["templates"][1]["dag"]["tasks"][1]["depends"] = "a && c"
    (tmp_path / "state").rename(tmp_path / "state-1")
    message, _ = _load_error(tmp_path, doc)
    assert "dag.tasks[b].depends: unknown task 'c'" in message


def test_missing_workflow_parameter(tmp_path: Path) -> None:
    message, _ = _load_error(tmp_path, "steps-failure.yaml")
    assert "spec.arguments.parameters[dir]: no value: pass -p dir=VALUE" in message


def test_unknown_workflow_parameter(tmp_path: Path) -> None:
    message, _ = _load_error(tmp_path, "dag-diamond.yaml", parameters={"tenant_id": "acme"})
    assert "-p tenant_id is not a declared parameter" in message


def test_parameter_outside_its_enum(tmp_path: Path) -> None:
    message, _ = _load_error(tmp_path, "workflow-template.yaml", parameters={"dir": "/tmp", "category": "other"})
    assert "spec.arguments.parameters[category]: value 'other' is not one of ['routing', 'dspy']" in message


def test_missing_template_input_at_the_call_site(tmp_path: Path) -> None:
    doc = json.loads(json.dumps(HELLO))
    doc["spec"]["templates"][0]["inputs"] = {"parameters": [{"name": "message"}]}
    doc["spec"]["templates"].append({"name": "steps", "steps": [[{"name": "say", "template": "main"}]]})
    doc["spec"]["entrypoint"] = "steps"
    message, _ = _load_error(tmp_path, doc)
    assert "spec.templates[steps].steps[0][say].arguments.parameters: missing 'message'" in message


def test_workflow_template_ref_without_the_template(tmp_path: Path) -> None:
    message, _ = _load_error(tmp_path, "workflow-template-ref.yaml", parameters={"dir": "/tmp"})
    assert "workflowTemplateRef: WorkflowTemplate 'greeting-template' not found: pass its file with --templates" in message


def test_bad_when_errors_the_node(tmp_path: Path) -> None:
    result = run_fixture("bad-when.yaml", tmp_path)

    assert result.phase == "Error" and result.exit_code == 1
    train = node(result, "train")
    assert train["phase"] == "Error" and train["type"] == "Skipped"
    assert train["message"].startswith("invalid 'when' expression 'skip-all == skip-all' (templates[main].dag.tasks[train].when)")
    assert json.loads(result.status_file.read_text())["status"]["nodes"][train["id"]]["phase"] == "Error"


def test_command_not_found_fails_the_node(tmp_path: Path) -> None:
    lines: list[str] = []
    result = run_fixture("command-not-found.yaml", tmp_path, lines=lines)

    assert result.phase == "Failed" and result.exit_code == 1
    pod = node(result, "run-cli")
    assert pod["phase"] == "Failed"
    assert pod["message"].startswith(
        "command 'cogniverse-no-such-command-xyz' not found on PATH (templates[cli].container.command[0])"
    )
    assert any("node command-not-found[0].run-cli: command 'cogniverse-no-such-command-xyz'" in line for line in lines)


def test_missing_output_file_errors_the_node(tmp_path: Path) -> None:
    doc = json.loads(json.dumps(HELLO))
    doc["spec"]["templates"][0]["outputs"] = {"parameters": [{"name": "x", "valueFrom": {"path": "/tmp/out/x"}}]}
    result = run_fixture(str(_write(tmp_path, doc)), tmp_path)

    assert result.phase == "Error"
    assert result.status["status"]["nodes"]["inline"]["message"] == (
        "output parameter 'x': /tmp/out/x was not written (templates[main].outputs.parameters[x].valueFrom.path)"
    )
