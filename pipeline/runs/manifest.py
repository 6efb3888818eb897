"""The Workflow object `argo submit` would create, built the same way for a cluster and locally.

`--from workflowtemplate/NAME` (Argo's common.NewWorkflowFromWorkflowTemplate): generateName
`NAME-`, `spec.workflowTemplateRef.name`, label `workflows.argoproj.io/workflow-template`.
`--from cronwf/NAME` (common.ConvertCronWorkflowToWorkflow): generateName `NAME-`, the cron's
`spec.workflowSpec`, its `workflowMetadata` labels/annotations, label
`workflows.argoproj.io/cron-workflow`, annotation `workflows.argoproj.io/scheduled-time`, and the
CronWorkflow as controlling owner when it has a uid. A FILE is a Workflow manifest as is. Then the
submit options, as util.ApplySubmitOpts applies them: labels, `-p` parameters (passed ones
first, replacing same-named ones), generateName, name, entrypoint.

Unlike `argo submit`, parameters are checked here against what the workflow declares (its own
`spec.arguments.parameters`, or the referenced WorkflowTemplate's): an unknown name, a value
outside an `enum`, or a required parameter left out is refused before anything is created — a
typo such as `-p tenant=acme` would otherwise run for the default tenant.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import yaml

from pipeline.errors import ConfigError
from pipeline.runs import labels as labelling
from pipeline.runs.model import TENANT_LABEL, TENANT_PARAMETER

API_VERSION = "argoproj.io/v1alpha1"
WORKFLOW_TEMPLATE_LABEL = "workflows.argoproj.io/workflow-template"
CRON_WORKFLOW_LABEL = "workflows.argoproj.io/cron-workflow"
SCHEDULED_TIME_ANNOTATION = "workflows.argoproj.io/scheduled-time"

# `--from KIND/NAME`: the kinds `argo submit --from` accepts, by every spelling it takes.
KINDS = {
    "workflowtemplate": "WorkflowTemplate", "wftmpl": "WorkflowTemplate", "workflowtemplates": "WorkflowTemplate",
    "cronwf": "CronWorkflow", "cronworkflow": "CronWorkflow", "cronworkflows": "CronWorkflow",
}

Fetch = Callable[[str, str], dict[str, Any]]  # (kind, name) → the object; NotFoundError when absent


@dataclass
class SubmitRequest:
    source: str | None = None  # "workflowtemplate/NAME" or "cronwf/NAME"
    file: Path | None = None  # or a Workflow manifest
    parameters: list[tuple[str, str]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    generate_name: str | None = None
    name: str | None = None
    entrypoint: str | None = None


def parse_source(source: str) -> tuple[str, str]:
    kind, slash, name = source.partition("/")
    resolved = KINDS.get(kind.strip().lower())
    if not slash or not name.strip() or resolved is None:
        raise ConfigError(f"--from expects workflowtemplate/NAME or cronwf/NAME, got {source!r}")
    return resolved, name.strip()


def parse_parameters(values: list[str] | None) -> list[tuple[str, str]]:
    pairs = []
    for value in values or []:
        name, sep, rest = value.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"-p expects NAME=VALUE, got {value!r}")
        pairs.append((name.strip(), rest))
    return pairs


def read_workflow_file(path: Path) -> dict[str, Any]:
    """The one Workflow document of a YAML/JSON file."""
    try:
        docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    workflows = [doc for doc in docs if isinstance(doc, dict) and doc.get("kind") == "Workflow"]
    if len(workflows) != 1:
        kinds = ", ".join(str(doc.get("kind")) if isinstance(doc, dict) else type(doc).__name__ for doc in docs) or "nothing"
        raise ConfigError(
            f"{path}: expected exactly one Workflow document, found {kinds}; "
            "a WorkflowTemplate or CronWorkflow is submitted with --from workflowtemplate/NAME or --from cronwf/NAME"
        )
    return workflows[0]


def build(request: SubmitRequest, fetch: Fetch, *, now: datetime | None = None) -> dict[str, Any]:
    """The Workflow to create. `fetch` reads the WorkflowTemplate or CronWorkflow named by
    `--from` (and the template a file's workflowTemplateRef names, to check parameters)."""
    if (request.source is None) == (request.file is None):
        raise ConfigError("submit needs exactly one of FILE or --from workflowtemplate/NAME | cronwf/NAME")
    if request.source is not None:
        kind, name = parse_source(request.source)
        source = fetch(kind, name)
        workflow = from_template(source) if kind == "WorkflowTemplate" else from_cron(source, now=now)
        declared = declared_parameters(source, kind)
    else:
        assert request.file is not None
        workflow = copy.deepcopy(read_workflow_file(request.file))
        workflow.setdefault("apiVersion", API_VERSION)
        workflow.setdefault("metadata", {})
        workflow.setdefault("spec", {})
        declared = declared_parameters(workflow, "Workflow")
    ref = workflow["spec"].get("workflowTemplateRef") or {}
    if kind_of(request) != "WorkflowTemplate" and ref.get("name") and not ref.get("clusterScope"):
        # The referenced template's declarations under the workflow's own (the controller merges them so).
        declared = {**declared_parameters(fetch("WorkflowTemplate", str(ref["name"])), "WorkflowTemplate"), **declared}
    apply_options(workflow, request, declared)
    return workflow


def kind_of(request: SubmitRequest) -> str:
    return parse_source(request.source)[0] if request.source else "Workflow"


def from_template(template: dict[str, Any]) -> dict[str, Any]:
    name = str((template.get("metadata") or {}).get("name") or "")
    return {
        "apiVersion": API_VERSION,
        "kind": "Workflow",
        "metadata": {"generateName": f"{name}-", "labels": {WORKFLOW_TEMPLATE_LABEL: name}, "annotations": {}},
        "spec": {"workflowTemplateRef": {"name": name}},
    }


def from_cron(cron: dict[str, Any], *, now: datetime | None = None) -> dict[str, Any]:
    meta = cron.get("metadata") or {}
    spec = cron.get("spec") or {}
    name = str(meta.get("name") or "")
    if not isinstance(spec.get("workflowSpec"), dict):
        raise ConfigError(f"CronWorkflow {name} has no spec.workflowSpec to submit")
    when = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    cron_meta = spec.get("workflowMetadata") or {}
    metadata: dict[str, Any] = {
        "generateName": f"{name}-",
        "labels": {CRON_WORKFLOW_LABEL: name, **{str(k): str(v) for k, v in (cron_meta.get("labels") or {}).items()}},
        "annotations": {SCHEDULED_TIME_ANNOTATION: when, **{str(k): str(v) for k, v in (cron_meta.get("annotations") or {}).items()}},
    }
    if meta.get("uid"):  # only a CronWorkflow read from a cluster has one
        metadata["ownerReferences"] = [{
            "apiVersion": str(cron.get("apiVersion") or API_VERSION), "kind": "CronWorkflow", "name": name,
            "uid": str(meta["uid"]), "controller": True, "blockOwnerDeletion": True,
        }]
    return {"apiVersion": API_VERSION, "kind": "Workflow", "metadata": metadata, "spec": copy.deepcopy(spec["workflowSpec"])}


def declared_parameters(doc: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    spec = doc.get("spec") or {}
    if kind == "CronWorkflow":
        spec = spec.get("workflowSpec") or {}
    params = (spec.get("arguments") or {}).get("parameters") or []
    return {str(p["name"]): p for p in params if isinstance(p, dict) and "name" in p}


def _string(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _tenant(passed: dict[str, str], existing: list[dict[str, Any]], declared: dict[str, dict[str, Any]]) -> str | None:
    """The run's tenant: passed, else the workflow's own value, else the declared default —
    when it is a valid tenant id (a passed one was checked already)."""
    from pipeline.errors import InvalidTenantError
    from pipeline.tenant import validate_tenant_id

    if TENANT_PARAMETER in passed:
        return passed[TENANT_PARAMETER]
    own = next((p.get("value") for p in existing if p.get("name") == TENANT_PARAMETER), None)
    value = own if own is not None else (declared.get(TENANT_PARAMETER) or {}).get("value")
    if value is None:
        return None
    try:
        return validate_tenant_id(str(value))
    except InvalidTenantError:
        return None


def apply_options(workflow: dict[str, Any], request: SubmitRequest, declared: dict[str, dict[str, Any]]) -> None:
    meta = workflow.setdefault("metadata", {})
    spec = workflow.setdefault("spec", {})
    passed: dict[str, str] = {}
    for name, value in request.parameters:
        if declared and name not in declared:
            raise ConfigError(f"unknown workflow parameter {name!r} (-p); declared: {', '.join(sorted(declared))}")
        enum = (declared.get(name) or {}).get("enum")
        if enum and value not in [_string(v) for v in enum]:
            raise ConfigError(f"-p {name}={value}: must be one of {', '.join(_string(v) for v in enum)}")
        passed[name] = value
    if TENANT_PARAMETER in passed:
        from pipeline.tenant import validate_tenant_id

        validate_tenant_id(passed[TENANT_PARAMETER])  # before it names a run, a label or a path
    existing = [p for p in (spec.get("arguments") or {}).get("parameters") or [] if isinstance(p, dict)]
    for name, param in declared.items():
        has_value = "value" in param or "valueFrom" in param
        if not has_value and name not in passed and not any(p.get("name") == name and "value" in p for p in existing):
            raise ConfigError(f"workflow parameter {name!r} has no default: pass -p {name}=VALUE")
    if passed:
        merged = [{"name": n, "value": v} for n, v in passed.items()]
        merged += [p for p in existing if p.get("name") not in passed]
        spec.setdefault("arguments", {})["parameters"] = merged
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    tenant = _tenant(passed, existing, declared)
    if tenant is not None:  # `list --tenant` selects on it; a parameter cannot be selected on
        labels.setdefault(TENANT_LABEL, tenant)
    for key, value in request.labels.items():
        labels[labelling.check_key(key)] = labelling.check_value(key, value)
    meta["labels"] = labels
    if not meta.get("annotations"):
        meta.pop("annotations", None)
    if request.generate_name:
        meta["generateName"] = request.generate_name
    if request.name:
        meta["name"] = request.name
    if request.entrypoint:
        spec["entrypoint"] = request.entrypoint
    if not meta.get("name") and not meta.get("generateName"):
        raise ConfigError("the workflow has neither metadata.name nor metadata.generateName: pass --name or --generate-name")


def controller_labels(workflow: dict[str, Any], fetch: Fetch) -> dict[str, str]:
    """The labels Argo's controller adds when it first reconciles the workflow: its spec's
    `workflowMetadata.labels`, under its own, and those of the WorkflowTemplate it references
    under both. The local executor has no controller to add them, so `submit --local` does."""
    spec = workflow.get("spec") or {}
    ref = spec.get("workflowTemplateRef") or {}
    found: dict[str, str] = {}
    if ref.get("name") and not ref.get("clusterScope"):
        template_spec = fetch("WorkflowTemplate", str(ref["name"])).get("spec") or {}
        found.update(((template_spec.get("workflowMetadata") or {}).get("labels")) or {})
    found.update(((spec.get("workflowMetadata") or {}).get("labels")) or {})
    return {str(k): str(v) for k, v in found.items()}
