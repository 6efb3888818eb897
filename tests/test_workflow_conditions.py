"""`when` conditions cannot be rewritten by a parameter value: every parameter a condition reads
is enum-constrained, or an output our own CLI wrote from validated input (a string output
quoted, a numeric one an int field). A free-text value such as `x" == "x" || "y` would close
its quotes and make both branches of an either/or run."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path

import pytest
import yaml

from pipeline.cli import main
from pipeline.stages import annotate, plan
from workflows import render

WORKFLOWS = Path(render.__file__).resolve().parent
TAG = re.compile(r'("?)\{\{\s*([^{}]+?)\s*\}\}("?)')
INJECTION = 'x" == "x" || "y'


def _spec(doc: dict) -> dict:
    return doc["spec"]["workflowSpec"] if doc["kind"] == "CronWorkflow" else doc["spec"]


def _conditions(doc: dict) -> list[tuple[dict, dict, str]]:
    """(template, task or step, its when) for every DAG task and step with a `when`."""
    found = []
    for template in _spec(doc).get("templates", []):
        tasks = (template.get("dag") or {}).get("tasks") or []
        steps = [step for group in template.get("steps") or [] for step in group]
        found += [(template, task, task["when"]) for task in [*tasks, *steps] if "when" in task]
    return found


def _stage_results() -> dict[str, type]:
    # The container templates whose outputs a condition may read, and the result they print.
    return {"plan": plan.PlanResult, "annotate": annotate.AnnotateResult}


def _problems(doc: dict) -> list[str]:
    spec = _spec(doc)
    workflow_params = {p["name"]: p for p in (spec.get("arguments") or {}).get("parameters") or []}
    problems = []
    for template, task, when in _conditions(doc):
        inputs = {p["name"]: p for p in (template.get("inputs") or {}).get("parameters") or []}
        tasks = {t["name"]: t for t in (template.get("dag") or {}).get("tasks") or []}
        where = f"{template['name']}.{task['name']}"
        for open_quote, ref, close_quote in TAG.findall(when):
            quoted = bool(open_quote and close_quote)
            scope, _, name = ref.rpartition(".")
            if scope in ("workflow.parameters", "inputs.parameters"):
                declared = (workflow_params if scope == "workflow.parameters" else inputs).get(name)
                if declared is None or not declared.get("enum"):
                    problems.append(f"{where}: {{{{{ref}}}}} is a free-text parameter")
                elif not quoted:
                    problems.append(f"{where}: {{{{{ref}}}}} is compared unquoted")
                continue
            match = re.fullmatch(r"tasks\.([^.]+)\.outputs\.parameters\.([^.]+)", ref)
            producer = tasks.get(match.group(1)) if match else None
            result = _stage_results().get(producer["template"]) if producer else None
            field = (result.model_fields.get(match.group(2).replace("-", "_")) if result else None) if match else None
            if field is None:
                problems.append(f"{where}: {{{{{ref}}}}} is neither an enum parameter nor a validated stage output")
            elif not quoted and typing.get_origin(field.annotation) is None and field.annotation not in (int, float):
                problems.append(f"{where}: {{{{{ref}}}}} is a string output compared unquoted")
    return problems


@pytest.mark.parametrize("name", sorted(p.name for p in WORKFLOWS.glob("*.yaml")))
def test_conditions_read_only_enum_parameters_and_validated_outputs(name: str) -> None:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    assert _problems(doc) == []


def test_the_checker_catches_a_free_text_parameter_in_a_condition() -> None:
    doc = yaml.safe_load((WORKFLOWS / "module-optimization.yaml").read_text())
    main_dag = next(t for t in doc["spec"]["templates"] if t["name"] == "main")
    main_dag["dag"]["tasks"][0]["when"] = '"{{workflow.parameters.optimizer-type}}" == "all"'
    main_dag["dag"]["tasks"][1]["when"] = "{{workflow.parameters.annotation-threshold}} > 0"
    assert len(_problems(doc)) == 2


def test_the_optimizer_reaches_the_per_target_condition_only_through_enums() -> None:
    doc = yaml.safe_load((WORKFLOWS / "module-optimization.yaml").read_text())
    templates = {t["name"]: t for t in doc["spec"]["templates"]}
    for name in ("optimize", "optimize-target", "plan"):
        optimizer = next(p for p in templates[name]["inputs"]["parameters"] if p["name"] == "optimizer")
        assert INJECTION not in optimizer["enum"] and "auto" in optimizer["enum"]
    fan_out = next(t for t in templates["optimize"]["dag"]["tasks"] if t["name"] == "train-targets")
    assert {"name": "optimizer", "value": "{{item.optimizer}}"} in fan_out["arguments"]["parameters"]


@pytest.fixture
def plan_config(tmp_path: Path) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"storage": {"url": f"file://{tmp_path / 'store'}"}}))
    return str(path)


@pytest.mark.parametrize(("flag", "value"), [("--annotation-threshold", "0 || true"), ("--annotation-threshold", "-1"),
                                             ("--optimizer", INJECTION), ("--optimizer", "SIMBAA")])
def test_plan_refuses_what_a_condition_would_have_interpolated(plan_config: str, flag: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["plan", "--config", plan_config, "--tenant", "acme", "--run-id", "r1"]
    assert main([*args, flag, value]) == 2
    assert flag in capsys.readouterr().err
    # Valid values get past parsing (to "harvest has not run": 7).
    assert main([*args, "--annotation-threshold", "3", "--optimizer", "simba"]) == 7


def test_plan_decides_enough_annotations_from_what_annotate_committed(tmp_path: Path) -> None:
    from pipeline.config import PipelineConfig, StorageConfig
    from pipeline.run.context import StageContext
    from pipeline.storage import open_store
    from tests.test_stages import QUERIES, commit_harvest

    config = PipelineConfig(storage=StorageConfig(url=f"file://{tmp_path / 'store'}"))
    store = open_store(config.storage)

    def planned(run_id: str, annotated: int, **inputs: object) -> plan.PlanResult:
        ctx = StageContext(config=config, store=store, tenant="acme", run_id=run_id)
        commit_harvest(ctx, QUERIES[:30])
        ctx.output(annotate.STAGE).commit(annotate.AnnotateResult(
            status="ok", candidates=annotated, annotated=annotated, failed=0, written_to_phoenix=annotated, deferred=0,
            labelled=30, experiences_key=None, annotator_model="m",
        ))
        return plan.run(ctx, plan.PlanInputs(targets=["routing"], **inputs))

    few = planned("r1", 3, annotation_threshold=5, optimizer="SIMBA")
    assert few.annotated == 3 and not few.enough_annotations
    assert [(i.target, i.optimizer) for i in few.train] == [("routing", "SIMBA")]
    assert planned("r2", 3, annotation_threshold=5, force_training=True).enough_annotations
    enough = planned("r3", 5, annotation_threshold=5)
    assert enough.enough_annotations and [i.optimizer for i in enough.train] == ["auto"]
