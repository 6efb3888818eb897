"""The run's state in the shape of `argo get NAME -o json`: nodes keyed by id, phases, outputs.

Node ids, names and display names follow Argo's conventions so that tools reading `argo get`
output (jq filters, dashboards) read ours: the root node's id is the workflow name, every other
id is `<workflow name>-<fnv-1a 32 of the node name>`; DAG task nodes are `<parent>.<task>`,
step nodes `<parent>[<group>].<step>`, loop items `<task>(<i>:<item>)`, retry attempts
`<node>(<attempt>)`.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from pipeline.runs.names import fnv1a_32, log_file_stem, node_id  # noqa: F401 - re-exported: the executor uses them

SUCCEEDED, FAILED, ERROR, SKIPPED, OMITTED, RUNNING = "Succeeded", "Failed", "Error", "Skipped", "Omitted", "Running"
FULFILLED = frozenset({SUCCEEDED, FAILED, ERROR, SKIPPED, OMITTED})
COMPLETED = frozenset({SUCCEEDED, FAILED, ERROR})

# Node types, as Argo names them.
POD, DAG, STEPS, STEP_GROUP, TASK_GROUP, RETRY, SKIPPED_TYPE = "Pod", "DAG", "Steps", "StepGroup", "TaskGroup", "Retry", "Skipped"
CONTAINER, SUSPEND = "Container", "Suspend"

# Argo's display name is the node name minus its boundary's name and a leading `[i].` or `.`.
_SEPARATOR = re.compile(r"^(\[\d+\])?\.")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def rfc3339(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


@dataclass
class Node:
    id: str
    name: str
    display_name: str
    type: str
    template_name: str | None
    boundary_id: str | None
    phase: str = RUNNING
    message: str = ""
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)
    outbound_nodes: list[str] = field(default_factory=list)
    log_file: str | None = None  # not an Argo field: where this run keeps the node's log

    @property
    def fulfilled(self) -> bool:
        return self.phase in FULFILLED

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "displayName": self.display_name,
            "type": self.type,
            "phase": self.phase,
            "startedAt": rfc3339(self.started_at),
            "finishedAt": rfc3339(self.finished_at),
        }
        if self.template_name:
            doc["templateName"] = self.template_name
        if self.boundary_id:
            doc["boundaryID"] = self.boundary_id
        if self.message:
            doc["message"] = self.message
        for key, value in (("inputs", self.inputs), ("outputs", self.outputs)):
            if value:
                doc[key] = value
        if self.children:
            doc["children"] = list(self.children)
        if self.outbound_nodes:
            doc["outboundNodes"] = list(self.outbound_nodes)
        if self.type == POD and self.fulfilled:
            doc["progress"] = "1/1" if self.phase == SUCCEEDED else "0/1"
        return doc


class WorkflowStatus:
    """Thread-safe node table plus the workflow-level fields; persisted after every change that
    finishes a node, so a crash or Ctrl-C still leaves a readable status document."""

    def __init__(
        self,
        *,
        manifest: dict[str, Any],
        status_file: Path,
        logs_dir: Path,
        on_node_finished: Callable[[Node], None] | None = None,
        template_names: dict[str, str] | None = None,
    ) -> None:
        self.manifest = manifest
        # The executor's template keys (pipeline.argo.resolution) → the names Argo shows.
        self._template_names = template_names or {}
        self.name: str = manifest["metadata"]["name"]
        self.status_file = status_file
        self.logs_dir = logs_dir
        self.phase = RUNNING
        self.message = ""
        self.started_at = utcnow()
        self.finished_at: datetime | None = None
        self.outputs: dict[str, list[dict[str, Any]]] = {}
        self.nodes: dict[str, Node] = {}
        self._by_name: dict[str, Node] = {}
        self._log_names: set[str] = set()
        self._lock = threading.RLock()
        self._on_node_finished = on_node_finished

    # --- nodes -------------------------------------------------------------------------------

    def create_node(
        self,
        name: str,
        node_type: str,
        *,
        template_name: str | None,
        boundary_id: str | None,
        parents: list[str],
        phase: str = RUNNING,
        message: str = "",
    ) -> Node:
        with self._lock:
            boundary = self.nodes.get(boundary_id) if boundary_id else None
            display = name
            if boundary is not None and name.startswith(boundary.name):
                display = _SEPARATOR.sub("", name[len(boundary.name):], count=1)
            node = Node(
                id=node_id(self.name, name),
                name=name,
                display_name=display,
                type=node_type,
                template_name=self._template_names.get(template_name, template_name) if template_name else None,
                boundary_id=boundary_id,
                phase=phase,
                message=message,
            )
            self.nodes[node.id] = node
            self._by_name[name] = node
            for parent in parents:
                if node.id not in self.nodes[parent].children:
                    self.nodes[parent].children.append(node.id)
            if phase in FULFILLED:
                node.finished_at = node.started_at
        if phase in FULFILLED:
            self._finished(node)
        else:
            self.write()  # a running node is visible to readers of the status (`watch --local`)
        return node

    def finish_node(self, node: Node, phase: str, message: str = "") -> Node:
        with self._lock:
            node.phase = phase
            if message:
                node.message = message
            node.finished_at = utcnow()
        self._finished(node)
        return node

    def add_child(self, parent_id: str, child_id: str) -> None:
        with self._lock:
            children = self.nodes[parent_id].children
            if child_id not in children:
                children.append(child_id)

    def snapshot(self) -> list[Node]:
        """The nodes so far, safe to iterate while other threads add nodes."""
        with self._lock:
            return list(self.nodes.values())

    def get(self, node_id_: str) -> Node:
        with self._lock:
            return self.nodes[node_id_]

    def label(self, node: Node) -> str:
        """The display name, prefixed by its enclosing DAG/steps node's when that is not the
        root, so nested nodes with the same display name (`train(0)`) stay apart."""
        with self._lock:
            boundary = self.nodes.get(node.boundary_id) if node.boundary_id else None
            if boundary is None or boundary.boundary_id is None:
                return node.display_name
            return f"{boundary.display_name}/{node.display_name}"

    def log_path(self, node: Node) -> Path:
        """`logs/<label>.log` (`/` → `.`), or `<label>-<id>.log` when two nodes share a label."""
        with self._lock:
            stem = log_file_stem(self.label(node)) or node.id
            if stem in self._log_names:
                stem = f"{stem}-{node.id}"
            self._log_names.add(stem)
        path = self.logs_dir / f"{stem}.log"
        node.log_file = str(path)
        return path

    def outbound(self, node_id_: str) -> list[str]:
        """Argo's `getOutboundNodes`: the nodes a successor hangs off."""
        with self._lock:
            node = self.nodes[node_id_]
            if node.type in (POD, SKIPPED_TYPE) or (node.type == TASK_GROUP and not node.children):
                return [node.id]
            if node.type == RETRY:
                return [node.children[-1]] if node.children else [node.id]
            if node.type == TASK_GROUP:
                result: list[str] = []
                for child in node.children:
                    result.extend(self.outbound(child))
                return result
            return list(node.outbound_nodes) or [node.id]

    def failures(self) -> list[dict[str, Any]]:
        """`{{workflow.failures}}`: every Failed or Error node, with Argo's fields."""
        with self._lock:
            return [
                {
                    "displayName": node.display_name,
                    "message": node.message,
                    "templateName": node.template_name or "",
                    "phase": node.phase,
                    "podName": node.id,
                    "finishedAt": rfc3339(node.finished_at),
                }
                for node in self.nodes.values()
                if node.phase in (FAILED, ERROR)
            ]

    # --- workflow ----------------------------------------------------------------------------

    def set_global_output(self, kind: str, entry: dict[str, Any]) -> None:
        with self._lock:
            items = self.outputs.setdefault(kind, [])
            for index, existing in enumerate(items):
                if existing["name"] == entry["name"]:
                    items[index] = entry
                    break
            else:
                items.append(entry)

    def global_outputs(self) -> dict[str, list[dict[str, Any]]]:
        with self._lock:
            return {kind: [dict(item) for item in items] for kind, items in self.outputs.items()}

    def finish(self, phase: str, message: str = "") -> None:
        with self._lock:
            self.phase = phase
            self.message = message
            self.finished_at = utcnow()
        self.write()

    def document(self) -> dict[str, Any]:
        with self._lock:
            status: dict[str, Any] = {
                "phase": self.phase,
                "startedAt": rfc3339(self.started_at),
                "finishedAt": rfc3339(self.finished_at),
            }
            pods = [node for node in self.nodes.values() if node.type == POD]
            if pods:
                done = sum(1 for node in pods if node.phase == SUCCEEDED)
                status["progress"] = f"{done}/{len(pods)}"
            if self.message:
                status["message"] = self.message
            status["nodes"] = {node_id_: node.to_json() for node_id_, node in self.nodes.items()}
            if self.outputs:
                status["outputs"] = {kind: list(items) for kind, items in self.outputs.items()}
            doc = dict(self.manifest)
            doc["status"] = status
            return json.loads(json.dumps(doc, default=str))

    def write(self) -> None:
        doc = self.document()
        self.status_file.parent.mkdir(parents=True, exist_ok=True)
        # Atomic replace: a reader never sees half a document.
        fd, tmp = tempfile.mkstemp(dir=self.status_file.parent, prefix=".status-", suffix=".json")
        with os.fdopen(fd, "w") as handle:
            json.dump(doc, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, self.status_file)

    def _finished(self, node: Node) -> None:
        self.write()
        if self._on_node_finished is not None:
            self._on_node_finished(node)


_SYMBOLS = {SUCCEEDED: "✔", FAILED: "✖", ERROR: "⚠", SKIPPED: "○", OMITTED: "○"}


def progress_line(node: Node, label: str | None = None) -> str:
    """One compact line per finished node, in the spirit of `argo watch`."""
    duration = ""
    if node.finished_at is not None:
        seconds = (node.finished_at - node.started_at).total_seconds()
        duration = f" {seconds:.1f}s"
    template = f" {node.template_name}" if node.template_name else ""
    message = f"  {node.message}" if node.message else ""
    return f"{_SYMBOLS.get(node.phase, '●')} {label or node.display_name} ({node.type}{template}) {node.phase}{duration}{message}"
