"""What one run shares (`RunContext`) and what one template invocation carries while it runs:
its call, bound inputs, deadlines, the way it fails, and what a finished task or step leaves
for its successors. `Invoker` is the interface the graph and hook parts call back into."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from pipeline.argo.status import ERROR, FAILED, Node, WorkflowStatus

if TYPE_CHECKING:
    from pipeline.argo.loader import LoadedWorkflow
    from pipeline.argo.scopes import GlobalScope

SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")  # for file names made of node or mutex names


class NodeFailure(Exception):
    """Ends one node with a phase and message (Error unless said otherwise)."""

    def __init__(self, message: str, phase: str = ERROR) -> None:
        super().__init__(message)
        self.phase = phase


@dataclass(frozen=True)
class Deadline:
    at: float  # time.monotonic()
    message: str


@dataclass(frozen=True)
class Call:
    """One invocation of a template: what Argo's executeTemplate receives."""

    template: str
    node_name: str
    params: dict[str, str]
    artifacts: dict[str, dict[str, Any]]
    boundary_id: str | None
    parents: list[str]
    deadlines: tuple[Deadline, ...]
    stop: threading.Event
    exit_handler: bool = False


@dataclass
class Bound:
    """A template's inputs after binding arguments, values and defaults."""

    params: list[tuple[str, str]]
    artifacts: dict[str, dict[str, Any] | None]

    def scope(self) -> dict[str, str]:
        scope = {f"inputs.parameters.{name}": value for name, value in self.params}
        scope["inputs.parameters"] = json.dumps([{"name": n, "value": v} for n, v in self.params], separators=(",", ":"))
        return scope

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        if self.params:
            doc["parameters"] = [{"name": name, "value": value} for name, value in self.params]
        arts = [{"name": name, **location} for name, location in self.artifacts.items() if location]
        if arts:
            doc["artifacts"] = arts
        return doc


@dataclass
class Outcome:
    """A finished DAG task or step as `tasks.<name>` / `steps.<name>` sees it."""

    node: Node
    units: list[Node] | None = None  # the loop's nodes when the task used withItems/withParam


TEMPLATE_KINDS = ("container", "script", "containerSet", "dag", "steps", "suspend")
POD_KINDS = ("container", "script", "containerSet")  # what runs as a pod (processes)


def template_kind(template: dict[str, Any]) -> str:
    return next(key for key in TEMPLATE_KINDS if key in template)


def continues(continue_on: dict[str, Any], phase: str) -> bool:
    """`continueOn: {failed: true}` / `{error: true}` lets that outcome pass as handled."""
    return bool(continue_on.get("failed") if phase == FAILED else continue_on.get("error") if phase == ERROR else False)


def halted(call: Call) -> str | None:
    """Why this invocation must stop now (a stop request, an expired deadline), or None."""
    if call.stop.is_set():
        return "Stopped"
    now = time.monotonic()
    expired = [d for d in call.deadlines if d.at <= now]
    return expired[0].message if expired else None


def sleep(seconds: float, call: Call) -> bool:
    """Wait (a backoff, a suspend); True when a stop or deadline interrupted it."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if halted(call) is not None:
            return True
        call.stop.wait(min(0.05, max(0.0, end - time.monotonic())))
    return halted(call) is not None


@dataclass
class RunContext:
    """What every part of one run shares: the workflow, its status table and variables, where
    its files go, and the workflow-wide pod slots (`spec.parallelism`)."""

    wf: LoadedWorkflow
    status: WorkflowStatus
    globals: GlobalScope
    run_dir: Path
    artifact_root: Path
    lock_dir: Path
    kill_grace_s: float
    echo: Callable[[str], None]
    pod_slots: threading.BoundedSemaphore | None


class Invoker(Protocol):
    """What DAGs, steps and hooks need from the template-invocation core (the Executor)."""

    def execute(self, call: Call) -> Node: ...

    def arguments(
        self, site: dict[str, Any], art_scope: dict[str, dict[str, Any]], path: str
    ) -> tuple[dict[str, str], dict[str, dict[str, Any]]]: ...

    def unit(
        self, call: Call, boundary_id: str, path: str, task: dict[str, Any], node_name: str, parents: list[str],
        art_scope: dict[str, dict[str, Any]],
    ) -> Node: ...

    def template_outputs(
        self, call: Call, template: dict[str, Any], scope: dict[str, str], node: Node,
        art_scope: dict[str, dict[str, Any]] | None = None,
    ) -> None: ...
