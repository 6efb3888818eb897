"""The variables templates see: the workflow's own (`GlobalScope`: `workflow.*`), and what DAG
tasks and steps see of each other (`tasks.<name>.…` / `steps.<name>.…`, loops aggregated as
Argo aggregates them), `depends` results, and loop items."""

from __future__ import annotations

import json
import string
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pipeline.argo.expressions import ExpressionError, evaluate_when, first_unresolved, param_string, substitute
from pipeline.argo.runtime import NodeFailure, Outcome
from pipeline.argo.status import ERROR, FAILED, OMITTED, RUNNING, SKIPPED, SUCCEEDED, TASK_GROUP, WorkflowStatus, rfc3339

if TYPE_CHECKING:
    from pipeline.argo.loader import LoadedWorkflow


def outcome_scope(prefix: str, outcomes: dict[str, Outcome]) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """`tasks.<name>.…` / `steps.<name>.…` variables, loops aggregated as Argo does."""
    scope: dict[str, str] = {}
    arts: dict[str, dict[str, Any]] = {}
    for name, outcome in outcomes.items():
        key = f"{prefix}.{name}"
        node = outcome.node
        if outcome.units is not None:
            maps: list[dict[str, str]] = []
            per_name: dict[str, list[str]] = {}
            results: list[Any] = []
            for unit in outcome.units:
                if unit.phase != SUCCEEDED:
                    continue
                unit_params = unit.outputs.get("parameters") or []
                if unit_params:
                    maps.append({p["name"]: p["value"] for p in unit_params})
                    for p in unit_params:
                        per_name.setdefault(p["name"], []).append(p["value"])
                if "result" in unit.outputs:
                    results.append(result_item(unit.outputs["result"]))
            scope[f"{key}.outputs.parameters"] = compact(maps)
            scope[f"{key}.outputs.result"] = compact(results)
            for param_name, values in per_name.items():
                scope[f"{key}.outputs.parameters.{param_name}"] = aggregate(values)
            if node.type == TASK_GROUP:
                scope[f"{key}.status"] = node.phase
                scope[f"{key}.id"] = node.id
            continue
        scope[f"{key}.id"] = node.id
        scope[f"{key}.status"] = node.phase
        scope[f"{key}.startedAt"] = rfc3339(node.started_at) or ""
        scope[f"{key}.finishedAt"] = rfc3339(node.finished_at) or ""
        outputs = node.outputs
        if "exitCode" in outputs:
            scope[f"{key}.exitCode"] = outputs["exitCode"]
        if "result" in outputs:
            scope[f"{key}.outputs.result"] = outputs["result"]
        for p in outputs.get("parameters") or []:
            scope[f"{key}.outputs.parameters.{p['name']}"] = p["value"]
        for a in outputs.get("artifacts") or []:
            arts[f"{key}.outputs.artifacts.{a['name']}"] = {"s3": dict(a["s3"])}
    return scope, arts


def ancestors(name: str, deps: dict[str, list[str]]) -> list[str]:
    found: list[str] = []
    stack = list(deps[name])
    while stack:
        dep = stack.pop()
        if dep not in found:
            found.append(dep)
            stack.extend(deps[dep])
    return found


def task_result(outcome: Outcome, result: str) -> bool:
    node = outcome.node
    if result == "AnySucceeded":
        return node.type == TASK_GROUP and any(unit.phase == SUCCEEDED for unit in outcome.units or [])
    if result == "AllFailed":
        units = outcome.units or []
        return node.type == TASK_GROUP and bool(units) and all(unit.phase == FAILED for unit in units)
    if result == "Daemoned":
        return False  # daemon templates are refused at load time
    return node.phase == {"Succeeded": SUCCEEDED, "Failed": FAILED, "Errored": ERROR, "Skipped": SKIPPED, "Omitted": OMITTED}[result]


LOOP_FIELDS = ("withItems", "withParam", "withSequence")


def loop_items(task: dict[str, Any], path: str) -> list[Any] | None:
    """The items of a (substituted) task or step with withItems/withParam/withSequence; None
    without a loop. As in Argo, a withParam that is not a JSON list is only an error if `when`
    would not skip the task anyway."""
    if "withItems" in task:
        return list(task["withItems"])
    if "withSequence" in task:
        return sequence_items(task["withSequence"], f"{path}.withSequence")
    if "withParam" not in task:
        return None
    raw = task["withParam"]
    if isinstance(raw, list):
        return raw
    text = str(raw)
    try:
        leftover = first_unresolved(text)
        if leftover:
            raise ValueError(f"unresolved variable {leftover}")
        items = json.loads(text)
        if not isinstance(items, list):
            raise ValueError("not a JSON list")
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        if _skipped_anyway(task):
            return []
        raise NodeFailure(f"withParam value could not be parsed as a JSON list: {text.strip()[:200]} ({path}.withParam): {exc}") from exc
    return items


def sequence_items(sequence: dict[str, Any], path: str) -> list[str]:
    """Argo's expandSequence: start (default 0) to end inclusive, counting down when end <
    start, or `count` items from start; each formatted with `format` (printf, default %d)."""
    def number(key: str) -> int:
        text = param_string(sequence.get(key, "")).strip()
        leftover = first_unresolved(text)
        if leftover:
            raise NodeFailure(f"unresolved variable {leftover} in {path}.{key}")
        try:
            return int(text)
        except ValueError:
            raise NodeFailure(f"{path}.{key}: {text!r} is not an integer") from None

    start = number("start") if "start" in sequence else 0
    if "end" in sequence:
        end = number("end")
    else:
        count = number("count")
        if count <= 0:
            return []
        end = start + count - 1
    step = 1 if start <= end else -1
    fmt = param_string(sequence.get("format") or "%d")
    try:
        return [fmt % value for value in range(start, end + step, step)]
    except (TypeError, ValueError) as exc:
        raise NodeFailure(f"{path}.format: {fmt!r} is not a printf format for one integer ({exc})") from None


def _skipped_anyway(task: dict[str, Any]) -> bool:
    if "when" not in task:
        return False
    try:
        return not evaluate_when(param_string(task["when"]))
    except ExpressionError:
        return False


def result_item(text: str) -> Any:
    """One loop item's stdout in an aggregated `outputs.result`: a JSON object stays an object
    (Argo unmarshals it as a map item), anything else is the string itself."""
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return text
    return value if isinstance(value, dict) else text


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def aggregate(values: list[str]) -> str:
    """`<node>.outputs.parameters.<name>` over a loop: Argo marshals the list of the values as
    written, strings all (`["1","2"]`, never `[1,2]`)."""
    return compact(values)


class GlobalScope:
    """`workflow.*` for one run: from the loaded workflow, the status table (global outputs,
    failures) and the main template's phase once it is known (for exit handlers)."""

    def __init__(self, wf: LoadedWorkflow, status: WorkflowStatus) -> None:
        self.wf = wf
        self.status = status
        self.started = time.monotonic()
        self.main_phase: str | None = None

    def values(self, exit_handler: bool) -> dict[str, str]:
        """`workflow.*` variables; `workflow.status` and `failures` exist for exit handlers."""
        wf = self.wf
        created: datetime = wf.created_at
        scope = {
            "workflow.name": wf.name,
            "workflow.namespace": wf.namespace,
            "workflow.uid": wf.uid,
            "workflow.mainEntrypoint": str(wf.spec.get("entrypoint", "")),
            "workflow.creationTimestamp": rfc3339(created) or "",
            "workflow.creationTimestamp.RFC3339": rfc3339(created) or "",
            # Both are json.Marshal(spec.arguments.parameters) in Argo: a list of {name, value, ...}.
            "workflow.parameters": self.parameters_json(),
            "workflow.parameters.json": self.parameters_json(),
            "workflow.labels.json": json.dumps(wf.labels, separators=(",", ":")),
            "workflow.annotations.json": json.dumps(wf.annotations, separators=(",", ":")),
            "workflow.duration": f"{time.monotonic() - self.started:.3f}",
        }
        for letter in string.ascii_letters:  # `workflow.creationTimestamp.<strftime char>`
            try:
                scope[f"workflow.creationTimestamp.{letter}"] = created.strftime(f"%{letter}")
            except ValueError:
                continue
        if "serviceAccountName" in wf.spec:
            scope["workflow.serviceAccountName"] = str(wf.spec["serviceAccountName"])
        if "priority" in wf.spec:
            scope["workflow.priority"] = str(wf.spec["priority"])
        if wf.scheduled_time is not None:
            scope["workflow.scheduledTime"] = rfc3339(wf.scheduled_time) or ""
        scope.update({f"workflow.parameters.{k}": v for k, v in wf.parameters.items()})
        scope.update({f"workflow.labels.{k}": v for k, v in wf.labels.items()})
        scope.update({f"workflow.annotations.{k}": v for k, v in wf.annotations.items()})
        outputs = self.status.global_outputs()
        for entry in outputs.get("parameters", []):
            scope[f"workflow.outputs.parameters.{entry['name']}"] = entry["value"]
        if exit_handler:
            scope["workflow.status"] = self.main_phase or RUNNING
            scope["workflow.failures"] = json.dumps(self.status.failures(), separators=(",", ":"))
        return scope

    def parameters_json(self) -> str:
        declared = {p.get("name"): p for p in (self.wf.spec.get("arguments") or {}).get("parameters") or []}
        entries = []
        for name, value in self.wf.parameters.items():
            entry = {key: item for key, item in declared.get(name, {}).items() if key not in ("value", "valueFrom")}
            entries.append({**entry, "name": name, "value": value})
        return json.dumps(entries, separators=(",", ":"))

    def workflow_artifacts(self) -> dict[str, dict[str, Any]]:
        """spec.arguments.artifacts, handed to the entrypoint (and exit handler) by name."""
        scope = self.values(False)
        located: dict[str, dict[str, Any]] = {}
        for artifact in (self.wf.spec.get("arguments") or {}).get("artifacts") or []:
            if "s3" in artifact:
                located[artifact["name"]] = {"s3": {"key": substitute(str(artifact["s3"].get("key", "")), scope)}}
            else:
                located[artifact["name"]] = {"raw": {"data": substitute(str(artifact["raw"].get("data", "")), scope)}}
        return located

    def artifacts(self) -> dict[str, dict[str, Any]]:
        """`workflow.outputs.artifacts.<globalName>` locations."""
        return {
            f"workflow.outputs.artifacts.{entry['name']}": {"s3": entry["s3"]}
            for entry in self.status.global_outputs().get("artifacts", [])
        }
