"""`lint` catches what it claims to: each test takes our real rendered workflows, breaks one
thing, and expects exactly the finding for it (the unbroken set lints clean: test_workflows)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
import yaml

from pipeline.argo import lint as argo_lint
from pipeline.argo.lint import Finding, check_output_sizes, lint_documents
from pipeline.argo.references import Document
from workflows import render

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pristine() -> dict[str, dict]:
    return {name: yaml.safe_load(text) for name, text in render.render().items()}


def broken(pristine: dict[str, dict], change: Callable[[dict[str, dict]], None]) -> list[Finding]:
    docs = copy.deepcopy(pristine)
    change(docs)
    # Errors only: our workflows carry `when` warnings of their own (test_workflows lists them).
    return [f for f in lint_documents([Document(name, 0, body) for name, body in docs.items()]) if f.severity == "error"]


def template(docs: dict[str, dict], name: str) -> dict:
    return next(t for t in docs["module-optimization.yaml"]["spec"]["templates"] if t["name"] == name)


def task(docs: dict[str, dict], dag: str, name: str) -> dict:
    return next(t for t in template(docs, dag)["dag"]["tasks"] if t["name"] == name)


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, [str(f) for f in findings]
    return findings[0]


def test_misspelled_field(pristine: dict[str, dict]) -> None:
    finding = only(broken(pristine, lambda d: template(d, "harvest")["container"].update(imagePullPolcy="Always")))
    assert finding.file == "module-optimization.yaml" and finding.path.endswith(".container.imagePullPolcy")
    assert "unknown field 'imagePullPolcy'" in finding.message and "imagePullPolicy" in finding.message


def test_misspelled_field_in_a_cron(pristine: dict[str, dict]) -> None:
    def change(docs: dict[str, dict]) -> None:
        docs["weekly-optimization.yaml"]["spec"]["concurrencyPolcy"] = docs["weekly-optimization.yaml"]["spec"].pop("concurrencyPolicy")

    finding = only(broken(pristine, change))
    assert finding.path == "$.spec.concurrencyPolcy" and "concurrencyPolicy" in finding.message


def test_wrong_type(pristine: dict[str, dict]) -> None:
    finding = only(broken(pristine, lambda d: template(d, "gate").update(activeDeadlineSeconds=[600])))
    assert finding.path.endswith(".activeDeadlineSeconds")


def test_dangling_template_reference(pristine: dict[str, dict]) -> None:
    finding = only(broken(pristine, lambda d: task(d, "main", "report").update(template="reprot")))
    assert finding.path.endswith(".dag.tasks[4].template") and "'reprot' does not exist" in finding.message


def test_dangling_workflow_template_ref(pristine: dict[str, dict]) -> None:
    finding = only(broken(pristine, lambda d: d["batch-optimization.yaml"]["spec"]["workflowTemplateRef"].update(name="module-optimisation")))
    assert finding.file == "batch-optimization.yaml" and "'module-optimisation' is not among the linted documents" in finding.message


def test_dangling_input_parameter(pristine: dict[str, dict]) -> None:
    finding = only(broken(pristine, lambda d: template(d, "plan")["container"]["args"].append("{{inputs.parameters.targetz}}")))
    assert "template 'plan' declares no input parameter 'targetz'" in finding.message


def test_dangling_workflow_parameter(pristine: dict[str, dict]) -> None:
    finding = only(broken(pristine, lambda d: task(d, "main", "harvest")["arguments"]["parameters"][1].update(
        value="{{workflow.parameters.lookback}}")))
    assert "workflow parameter 'lookback' is declared neither here nor by the Workflows that refer to this template" in finding.message


def test_cron_argument_the_template_does_not_declare(pristine: dict[str, dict]) -> None:
    docs = copy.deepcopy(pristine)
    docs["daily-optimization-check.yaml"]["spec"]["workflowSpec"]["arguments"]["parameters"][-1]["name"] = "annotation-treshold"
    findings = [f for f in lint_documents([Document(n, 0, b) for n, b in docs.items()]) if f.file == "daily-optimization-check.yaml"]
    # Argo ignores an argument nothing declares: a warning (lint --strict fails on it).
    finding = only(findings)
    assert finding.severity == "warning" and "'annotation-treshold' is not declared" in finding.message


def test_missing_required_input(pristine: dict[str, dict]) -> None:
    finding = only(broken(pristine, lambda d: task(d, "optimize-target", "gate")["arguments"]["parameters"].pop()))
    assert "template 'gate' needs input parameter 'improvement-threshold'" in finding.message


def test_with_param_source_task_missing(pristine: dict[str, dict]) -> None:
    finding = only(broken(pristine, lambda d: task(d, "optimize", "train-targets").update(
        withParam="{{tasks.planning.outputs.parameters.train}}")))
    assert finding.path.endswith(".withParam") and "'planning' is not a task of this DAG" in finding.message


def test_with_param_source_output_missing(pristine: dict[str, dict]) -> None:
    finding = only(broken(pristine, lambda d: template(d, "plan")["outputs"]["parameters"].pop(0)))
    assert finding.path.endswith(".withParam") and "declares no output parameter 'train'" in finding.message


def test_task_output_read_without_depending_on_it(pristine: dict[str, dict]) -> None:
    finding = only(broken(pristine, lambda d: task(d, "main", "routing").update(depends="harvest")))
    assert "task 'annotate' is not upstream of this task" in finding.message


def test_depends_names_a_missing_task(pristine: dict[str, dict]) -> None:
    finding = only(broken(pristine, lambda d: task(d, "optimize-target", "gate").update(depends="evaluate && evaluation.Succeeded")))
    assert finding.path.endswith(".depends") and "'evaluation'" in finding.message


def test_item_outside_a_loop(pristine: dict[str, dict]) -> None:
    finding = only(broken(pristine, lambda d: task(d, "optimize", "plan")["arguments"]["parameters"][1].update(value="{{item.target}}")))
    assert "only defined in a task or step with withItems, withParam or withSequence" in finding.message


def test_workflow_failures_outside_the_exit_handler(pristine: dict[str, dict]) -> None:
    finding = only(broken(pristine, lambda d: template(d, "report")["container"]["args"].append("{{workflow.failures}}")))
    assert "only defined in exit handlers" in finding.message


def test_over_large_parameter_value(pristine: dict[str, dict]) -> None:
    big = json.dumps({f"modality-{i}": i for i in range(4000)})  # ~70 KB: fine for JSON, not for Argo
    finding = only(broken(pristine, lambda d: template(d, "report")["outputs"]["parameters"][0]["valueFrom"].update(default=big)))
    assert finding.path.endswith(".outputs.parameters[0].valueFrom.default") and "pass large data as an artifact" in finding.message


def test_bad_schedule(pristine: dict[str, dict]) -> None:
    finding = only(broken(pristine, lambda d: d["weekly-optimization.yaml"]["spec"].update(schedules=["0 3 * * SUN *"])))
    assert finding.path == "$.spec.schedules[0]"


def test_output_sizes_in_a_status_document() -> None:
    status = {"metadata": {"name": "batch-optimization-x"}, "status": {
        "phase": "Succeeded",
        "nodes": {"batch-optimization-x-1": {"outputs": {"parameters": [{"name": "train", "value": "[]"},
                                                                        {"name": "train-count", "value": "x" * 40_000}]}}},
        "outputs": {"parameters": [{"name": "improvements", "value": "{}"}]},
    }}
    finding = only(check_output_sizes(status, source="status.json"))
    assert finding.path == "$.status.nodes.batch-optimization-x-1.outputs.parameters[1].value" and "'train-count'" in finding.message
    assert check_output_sizes(status, budget_bytes=50_000) == []


def test_an_argo_documentation_example_lints_clean(tmp_path: Path) -> None:
    """A false-positive guard: Argo's exit-handler example (status, failures, steps, when)."""
    example = tmp_path / "exit-handlers.yaml"
    example.write_text("""\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: exit-handlers-}
spec:
  entrypoint: intentional-fail
  onExit: exit-handler
  templates:
  - name: intentional-fail
    container: {image: alpine:3.20, command: [sh, -c], args: ["echo intentional failure; exit 1"]}
  - name: exit-handler
    steps:
    - - {name: notify, template: send-email}
      - {name: celebrate, template: celebrate, when: "{{workflow.status}} == Succeeded"}
      - {name: cry, template: cry, when: "{{workflow.status}} != Succeeded"}
  - name: send-email
    container:
      image: alpine:3.20
      command: [sh, -c]
      args: ["echo send e-mail: {{workflow.name}} {{workflow.status}} {{workflow.duration}}. Failed steps {{workflow.failures}}"]
  - name: celebrate
    container: {image: alpine:3.20, command: [sh, -c], args: ["echo hooray!"]}
  - name: cry
    container: {image: alpine:3.20, command: [sh, -c], args: ["echo boohoo!"]}
""")
    assert argo_lint.lint([example]) == []


def test_the_executor_suite_workflows_lint_clean() -> None:
    """A wider false-positive guard: the executor tests' workflows, written from Argo's
    documentation (those that are not YAML at all on purpose are left out)."""
    files = []
    for path in sorted((ROOT / "tests" / "argo" / "workflows").glob("**/*.yaml")):
        try:
            argo_lint.load_documents([path])
        except argo_lint.LintInputError:
            continue
        files.append(path)
    assert len(files) > 10
    findings = argo_lint.lint(files)
    assert [str(f) for f in findings if f.severity == "error"] == []
    # extra-arguments.yaml passes what its template does not declare, on purpose: Argo ignores it.
    extra = [f for f in findings if "extra-arguments.yaml" in f.file]
    assert [f.severity for f in extra] == ["warning", "warning"] and "Argo ignores the argument" in extra[0].message


# ------------------------------------------------------------------------ the command
def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ours = sorted(str(p) for p in (ROOT / "workflows").glob("*.yaml"))
    assert argo_lint.main(ours) == 0
    assert all(": warning: " in line for line in capsys.readouterr().out.splitlines())

    batch = yaml.safe_load((ROOT / "workflows" / "batch-optimization.yaml").read_text())
    batch["spec"]["arguments"]["parameters"][0]["valeu"] = "acme"
    bad = tmp_path / "batch.yaml"
    bad.write_text(yaml.safe_dump(batch))
    template = str(ROOT / "workflows" / "module-optimization.yaml")
    assert argo_lint.main([str(bad), template]) == 1
    lines = [line for line in capsys.readouterr().out.splitlines() if ": warning: " not in line]
    assert lines == [f"{bad}:0:$.spec.arguments.parameters[0].valeu: unknown field 'valeu' (did you mean 'value'?)"]

    malformed = tmp_path / "malformed.yaml"
    malformed.write_text("kind: Workflow\nspec: [unclosed\n")
    assert argo_lint.main([str(malformed)]) == 2
    assert argo_lint.main([str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err

    not_argo = tmp_path / "configmap.yaml"
    not_argo.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    assert argo_lint.main([str(not_argo)]) == 0  # other kinds are skipped, with a note
    assert f"{not_argo}:0: note: skipped ConfigMap" in capsys.readouterr().err


def test_schema_override_must_exist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COGNIVERSE_ARGO_SCHEMA", str(tmp_path / "nope.json"))
    assert argo_lint.main([str(ROOT / "workflows" / "module-optimization.yaml")]) == 2
    assert "COGNIVERSE_ARGO_SCHEMA" in capsys.readouterr().err


def test_module_entry_point() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.argo.lint", "workflows/module-optimization.yaml", "workflows/batch-optimization.yaml"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert all(": warning: " in line for line in done.stdout.splitlines())


def test_lint_subcommand_of_the_argo_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline.argo.cli import main as argo_cli

    ours = sorted(str(p) for p in (ROOT / "workflows").glob("*.yaml"))
    assert argo_cli(["lint", *ours]) == 0
    malformed = tmp_path / "malformed.yaml"
    malformed.write_text("spec: {templates: [\n")
    assert argo_cli(["lint", str(malformed)]) == 2
    assert "not valid YAML" in capsys.readouterr().err


def test_a_steps_templates_outputs_may_read_its_steps(tmp_path):
    """Argo's own output-parameter example: a steps template exports a step's output."""
    from pipeline.argo.lint import lint

    path = tmp_path / "steps-outputs.yaml"
    path.write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {generateName: steps-outputs-}\n"
        "spec:\n  entrypoint: main\n  templates:\n"
        "  - name: main\n    steps:\n    - - {name: produce, template: produce}\n"
        "    outputs:\n      parameters:\n      - name: result\n        valueFrom: {parameter: '{{steps.produce.outputs.parameters.value}}'}\n"
        "  - name: produce\n    container: {image: busybox, command: [sh, -c, 'echo 1 > /tmp/v']}\n"
        "    outputs:\n      parameters:\n      - name: value\n        valueFrom: {path: /tmp/v}\n"
    )
    assert lint([path]) == []
    path.write_text(path.read_text().replace("steps.produce.outputs", "steps.nobody.outputs"))
    assert len(lint([path])) == 1


def test_warnings_fail_only_with_strict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = ROOT / "tests" / "argo" / "workflows" / "extra-arguments.yaml"
    assert argo_lint.run([str(path)]) == 0
    assert "warning: template 'hello' has no input parameter 'unused'" in capsys.readouterr().out
    assert argo_lint.run([str(path)], strict=True) == 1


def _lint_text(tmp_path: Path, text: str) -> list[Finding]:
    path = tmp_path / "wf.yaml"
    path.write_text(text)
    return argo_lint.lint([path])


def test_raw_parameter_in_when_is_a_warning_unless_enum_constrained(tmp_path: Path) -> None:
    findings = _lint_text(tmp_path, """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: when-}
spec:
  entrypoint: main
  arguments:
    parameters:
    - {name: category, value: routing}
    - {name: mode, value: fast, enum: [fast, slow]}
  templates:
  - name: main
    steps:
    - - name: raw
        template: echo
        when: '"{{workflow.parameters.category}}" == "routing"'
      - name: constrained
        template: echo
        when: '"{{workflow.parameters.mode}}" == "fast"'
  - name: echo
    container: {image: alpine, command: [echo]}
""")
    assert [(f.severity, f.path) for f in findings] == [("warning", "$.spec.templates[0].steps[0][0].when")]
    assert "{{workflow.parameters.category}} is pasted raw into `when`" in findings[0].message
    assert argo_lint.run([str(tmp_path / "wf.yaml")]) == 0
    assert argo_lint.run([str(tmp_path / "wf.yaml")], strict=True) == 1


def test_argo_example_shapes_lint_clean(tmp_path: Path) -> None:
    """Shapes of Argo's own examples that lint used to refuse: {{item}} under withSequence, an
    exit hook reading its step's outputs, {{workflow.status}} in spec.metrics, an expression
    with a closure in withParam, and a WorkflowTemplate linted alone using workflow parameters
    it does not declare (only a warning: the Workflow referring to it may)."""
    findings = _lint_text(tmp_path, """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: shapes-}
spec:
  entrypoint: main
  metrics:
    prometheus:
    - name: result
      help: result
      labels: [{key: status, value: "{{workflow.status}}"}]
      counter: {value: "1"}
  templates:
  - name: main
    steps:
    - - name: produce
        template: produce
        hooks:
          exit:
            template: echo
            arguments:
              parameters: [{name: text, value: "{{steps.produce.outputs.parameters.out}}"}]
    - - name: sequence
        template: echo
        arguments:
          parameters: [{name: text, value: "{{item}}"}]
        withSequence: {count: "2"}
      - name: filtered
        template: echo
        arguments:
          parameters: [{name: text, value: "{{item}}"}]
        withParam: "{{=toJson(filter(['a', 'b'], {# != 'b'}))}}"
  - name: produce
    container: {image: alpine, command: [sh, -c, "echo x > /tmp/out"]}
    outputs:
      parameters: [{name: out, valueFrom: {path: /tmp/out}}]
  - name: echo
    inputs:
      parameters: [{name: text}]
    container: {image: alpine, command: [echo, "{{inputs.parameters.text}}"]}
---
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: alone}
spec:
  templates:
  - name: say
    container: {image: alpine, command: [echo, "{{workflow.parameters.message}}"]}
""")
    assert [f for f in findings if f.severity == "error"] == []
    assert [f.severity for f in findings] == ["warning"] and "'message' is not declared here" in findings[0].message
