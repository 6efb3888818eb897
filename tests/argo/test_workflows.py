"""The workflow definitions: committed YAML equals what Hera renders, it lints clean, and it
calls the pipeline CLI the way the CLI parses it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pipeline.argo.lint import lint, lint_documents
from pipeline.argo.references import Document
from workflows import common, render

WORKFLOWS = Path(render.__file__).resolve().parent
FILES = list(render.builders(common.DEFAULT_IMAGE))


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return render.render()


@pytest.fixture(scope="module")
def docs(rendered: dict[str, str]) -> dict[str, dict]:
    return {name: yaml.safe_load(text) for name, text in rendered.items()}


def templates(doc: dict) -> dict[str, dict]:
    spec = doc["spec"]["workflowSpec"] if doc["kind"] == "CronWorkflow" else doc["spec"]
    return {t["name"]: t for t in spec.get("templates", [])}


# ------------------------------------------------------------------------ drift
def test_committed_yaml_is_what_hera_renders(rendered: dict[str, str]) -> None:
    assert render.stale(rendered) == [], "workflows/*.yaml are out of date: run `python -m workflows.render`"


def test_drift_check_catches_an_edited_file(rendered: dict[str, str], tmp_path: Path) -> None:
    for name, text in rendered.items():
        (tmp_path / name).write_text(text)
    assert render.stale(rendered, tmp_path) == []
    edited = tmp_path / "weekly-optimization.yaml"
    edited.write_text(edited.read_text().replace("0 3 * * 0", "0 5 * * 0"))
    (tmp_path / "daily-optimization-check.yaml").unlink()
    assert render.stale(rendered, tmp_path) == ["weekly-optimization.yaml", "daily-optimization-check.yaml"]
    assert render.main(["--check", "--output-dir", str(tmp_path)]) == 1


def test_image_is_pinned_and_overridable() -> None:
    assert not common.DEFAULT_IMAGE.endswith(":latest") and ":" in common.DEFAULT_IMAGE
    images = set(re.findall(r"image: (\S+)", render.render("registry.example/opt:1.2.3")["module-optimization.yaml"]))
    assert images == {"registry.example/opt:1.2.3"}


# ------------------------------------------------------------------------ lint
def test_every_rendered_document_lints_clean(rendered: dict[str, str]) -> None:
    documents = [Document(name, 0, yaml.safe_load(text)) for name, text in rendered.items()]
    assert [str(f) for f in lint_documents(documents) if f.severity == "error"] == []


def test_committed_files_lint_clean() -> None:
    # No errors and no warnings: every parameter a `when` reads is enum-constrained (issue 8, defect 10).
    assert [str(f) for f in lint(sorted(WORKFLOWS.glob("*.yaml")))] == []


# ------------------------------------------------------------------------ what the objects promise
def test_template_parameters_are_the_seeds(docs: dict[str, dict]) -> None:
    parameters = {p["name"]: p["value"] for p in docs["module-optimization.yaml"]["spec"]["arguments"]["parameters"]}
    assert parameters == {
        "tenant-id": "default", "optimizer-category": "routing", "optimizer-type": "all", "max-iterations": "100",
        "use-synthetic-data": "false", "lookback-hours": "24", "min-confidence": "0.7", "force-training": "false",
        "improvement-threshold": "5", "annotation-threshold": "0",
    }


def test_crons(docs: dict[str, dict]) -> None:
    expected = {
        "weekly-optimization.yaml": ("0 3 * * 0", {"optimizer-type": "all", "annotation-threshold": "50"}),
        "daily-optimization-check.yaml": ("0 4 * * *", {"optimizer-type": "routing", "annotation-threshold": "20"}),
        "scheduled-maintenance.yaml": ("0 2 * * 6", {}),
    }
    for name, (schedule, overrides) in expected.items():
        spec = docs[name]["spec"]
        assert spec["schedules"] == [schedule] and spec["timezone"] == "UTC"
        assert spec["concurrencyPolicy"] == "Forbid" and spec["startingDeadlineSeconds"] > 0
        arguments = {p["name"]: p["value"] for p in spec["workflowSpec"]["arguments"]["parameters"]}
        assert overrides.items() <= arguments.items()
    # Maintenance ends (deadline) before the daily check starts at 04:00 on the same day.
    assert docs["scheduled-maintenance.yaml"]["spec"]["workflowSpec"]["activeDeadlineSeconds"] <= 2 * 3600


def test_labels_identity_and_no_secret_values(docs: dict[str, dict], rendered: dict[str, str]) -> None:
    for name, doc in docs.items():
        assert doc["metadata"]["labels"]["workflow-type"] == "optimization", name
    for name in ("module-optimization.yaml", "scheduled-maintenance.yaml"):
        spec = docs[name]["spec"].get("workflowSpec", docs[name]["spec"])
        assert spec["serviceAccountName"] == common.SERVICE_ACCOUNT
        assert spec["securityContext"]["runAsNonRoot"] and spec["securityContext"]["runAsUser"] == 10001
        assert spec["synchronization"]["mutexes"] == [{"name": "cogniverse-{{workflow.parameters.tenant-id}}"}]
        assert spec["podGC"]["strategy"] and spec["ttlStrategy"] and spec["activeDeadlineSeconds"] > 0
        for template in templates(docs[name]).values():
            if "container" not in template:
                continue
            container = template["container"]
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
                "capabilities": {"drop": ["ALL"]},
            }
            assert {"requests", "limits"} <= container["resources"].keys()
            assert template["activeDeadlineSeconds"] > 0 and template["retryStrategy"]["backoff"]
            secret_env = [e for e in container["env"] if e["name"].startswith("AWS_")]
            assert secret_env and all("value" not in e and e["valueFrom"]["secretKeyRef"] for e in secret_env)
    for text in rendered.values():
        assert "accessKeySecret" not in text and "bucket:" not in text


def test_outputs_artifacts_and_exit_handler(docs: dict[str, dict]) -> None:
    spec = docs["module-optimization.yaml"]["spec"]
    assert spec["artifactRepositoryRef"] == {"configMap": "artifact-repositories", "key": "cogniverse"}
    by_name = templates(docs["module-optimization.yaml"])
    report = by_name["report"]["outputs"]
    globals_ = {p["globalName"]: p["valueFrom"] for p in report["parameters"] if "globalName" in p}
    assert set(globals_) == {"improvements", "deployed", "report-location"}
    assert all("default" in value_from for value_from in globals_.values())
    for artifact in report["artifacts"]:  # key-only: the repository supplies bucket and credentials
        assert set(artifact["s3"]) == {"key"} and artifact["archive"] == {"none": {}}
    assert spec["onExit"] == "record"
    assert by_name["record"]["container"]["args"][-4:] == ["--status", "{{workflow.status}}", "--failures", "{{workflow.failures}}"]
    # Training is the heaviest stage.
    assert by_name["train"]["container"]["resources"]["limits"]["memory"] == common.TRAIN.memory_limit


# ------------------------------------------------------------------------ the CLI contract
SAMPLE = {
    "workflow.name": "batch-optimization-x7k2p", "workflow.status": "Failed",
    "workflow.failures": '[{"displayName": "train", "message": "exit 4"}]',
    "item.target": "modality-video", "item.use_synthetic": "true", "item.strategy": "HYBRID",
    "inputs.parameters.target": "routing", "inputs.parameters.use-synthetic": "false",
    "inputs.parameters.strategy": "PURE_REAL", "inputs.parameters.optimizer": "GEPA",
    "inputs.parameters.targets": "routing,modality", "inputs.parameters.tenant-id": "acme",
    "workflow.parameters.retention-days": "30",
    "workflow.parameters.target": "routing", "workflow.parameters.to": "",
}


def substitute(arg: str, defaults: dict[str, str]) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1)
        if name in SAMPLE:
            return SAMPLE[name]
        for prefix in ("workflow.parameters.", "inputs.parameters."):
            if name.startswith(prefix) and name[len(prefix):] in defaults:
                return defaults[name[len(prefix):]]
        raise AssertionError(f"no sample value for {{{{{name}}}}}")

    return re.sub(r"\{\{([^{}]+)\}\}", value, arg)


def parse_stage(template: dict) -> object:
    from pipeline.cli import build_parser

    defaults = {p.name: p.default for p in common.PARAMETERS}
    container = template["container"]
    assert container["command"] == [common.CLI]
    argv = [substitute(a, defaults) for a in container["args"]]
    try:
        return build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse's way of rejecting arguments
        raise AssertionError(f"cogniverse-optimize rejects {argv}") from exc


def test_stage_args_parse_with_the_pipeline_cli(docs: dict[str, dict]) -> None:
    for name, template in templates(docs["module-optimization.yaml"]).items():
        if "container" in template:
            args = parse_stage(template)
            assert args.command == name.removesuffix("-with-optimizer")
            assert args.run_id == SAMPLE["workflow.name"] and args.outputs_dir == common.OUTPUTS_DIR


def test_maintenance_args_parse_with_the_pipeline_cli(docs: dict[str, dict]) -> None:
    parse_stage(templates(docs["scheduled-maintenance.yaml"])["maintenance"])


def test_rollback_template(docs: dict[str, dict]) -> None:
    """module-rollback: rollback (never retried: a second attempt could undo two versions), then
    history; the tenant's mutex; `to` empty = the previous version, as the CLI parses it."""
    doc = docs["module-rollback.yaml"]
    assert doc["kind"] == "WorkflowTemplate" and doc["metadata"]["name"] == "module-rollback"
    spec = doc["spec"]
    assert spec["synchronization"] == common.TENANT_MUTEX.dict(exclude_none=True)
    parameters = {p["name"]: p for p in spec["arguments"]["parameters"]}
    assert "value" not in parameters["tenant-id"] and "value" not in parameters["target"]  # required
    assert parameters["to"]["value"] == ""
    by_name = templates(doc)
    assert [s["name"] for group in by_name["main"]["steps"] for s in group] == ["rollback", "history"]
    assert "retryStrategy" not in by_name["rollback"] and by_name["history"]["retryStrategy"]
    rollback = parse_stage(by_name["rollback"])
    assert (rollback.command, rollback.target, rollback.to) == ("rollback", "routing", None)
    assert parse_stage(by_name["history"]).command == "history"


def test_outputs_and_items_are_result_fields(docs: dict[str, dict]) -> None:
    """Each output parameter reads a file that --outputs-dir writes (result field, `_` → `-`),
    and the fan-out reads fields the plan's `train` items have."""
    from pipeline.stages import annotate, evaluate, gate, harvest, plan, report, synthesize, train

    results = {
        "harvest": harvest.HarvestResult, "annotate": annotate.AnnotateResult, "plan": plan.PlanResult,
        "synthesize": synthesize.SynthesizeResult, "train": train.TrainResult,
        "train-with-optimizer": train.TrainResult, "evaluate": evaluate.EvaluateResult,
        "gate": gate.GateResult, "report": report.ReportResult,
    }
    by_name = templates(docs["module-optimization.yaml"])
    for name, model in results.items():
        for parameter in by_name[name]["outputs"]["parameters"]:
            path = parameter["valueFrom"]["path"]
            assert path.startswith(common.OUTPUTS_DIR + "/")
            assert path.rsplit("/", 1)[1].replace("-", "_") in model.model_fields, (name, path)
    fan_out = next(t for t in by_name["optimize"]["dag"]["tasks"] if "withParam" in t)
    items = set(re.findall(r"\{\{item\.([^}]+)\}\}", str(fan_out["arguments"])))
    assert items and items <= plan.TrainItem.model_fields.keys()


def test_the_template_runs_the_stages_in_the_contract_order(docs: dict[str, dict]) -> None:
    """pipeline.contract.STAGE_ORDER is the one declaration of the order: every stage template
    the DAGs call runs after the stages before it (transitively, through the nested DAGs)."""
    from pipeline import contract

    templates = {t["name"]: t for t in docs["module-optimization.yaml"]["spec"]["templates"]}

    def stages_in(name: str) -> list[list[str]]:
        """The stages a template runs, as groups in dependency order (one group per task)."""
        template = templates[name]
        if "container" in template:
            return [[name.removesuffix("-with-optimizer")]]
        tasks = template["dag"]["tasks"]
        done: list[str] = []
        groups: list[list[str]] = []
        while len(done) < len(tasks):
            ready = [t for t in tasks if t["name"] not in done
                     and all(d in done for d in re.findall(r"[a-z][a-z-]*", t.get("depends", "")) if d in {x["name"] for x in tasks})]
            assert ready, f"{name}: dependency cycle"
            stage_groups = [s for t in ready for g in stages_in(t["template"]) for s in g]
            groups.append(sorted(set(stage_groups), key=stage_groups.index))
            done += [t["name"] for t in ready]
        return groups

    order = [stage for group in stages_in("main") for stage in group]
    assert list(dict.fromkeys(order)) == list(contract.STAGE_ORDER)
    assert docs["module-optimization.yaml"]["spec"]["onExit"] == contract.EXIT_HANDLER
