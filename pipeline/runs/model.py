"""What a Workflow object says, read from Argo's JSON (`argo get -o json`, or the API's object).

Pure functions over the document, shared by both backends: phase, progress, parameters, the
node table (or why it is not there), output parameters decoded, and each pod node's pod name.
"""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pipeline.runs.names import fnv1a_32

COMPLETED_PHASES = frozenset({"Succeeded", "Failed", "Error"})
POD_NAME_FORMAT_ANNOTATION = "workflows.argoproj.io/pod-name-format"
TENANT_LABEL = "tenant-id"  # set by `submit` from the tenant-id parameter; `list --tenant` reads it
TENANT_PARAMETER = "tenant-id"
# Kubernetes' name limit and the room Argo keeps for the `-<hash>` suffix (util.GeneratePodName).
_MAX_NAME = 253
_HASH_ROOM = 10


@dataclass(frozen=True)
class NodeInfo:
    id: str
    name: str
    display_name: str
    type: str
    phase: str
    template_name: str | None
    boundary_id: str | None
    children: tuple[str, ...]
    started_at: datetime | None
    finished_at: datetime | None
    message: str
    pod_name: str | None  # Pod nodes only

    def duration_s(self, now: datetime | None = None) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or now or datetime.now(timezone.utc)
        return max(0.0, (end - self.started_at).total_seconds())


@dataclass(frozen=True)
class RunInfo:
    name: str
    namespace: str
    phase: str  # "Pending" until the controller has set one
    progress: str | None
    message: str
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    labels: dict[str, str]
    parameters: dict[str, str]
    nodes: list[NodeInfo] | None  # None: not in the object (see nodes_note)
    nodes_note: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def completed(self) -> bool:
        return self.phase in COMPLETED_PHASES

    @property
    def tenant(self) -> str | None:
        return self.labels.get(TENANT_LABEL) or self.parameters.get(TENANT_PARAMETER)

    def duration_s(self, now: datetime | None = None) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or now or datetime.now(timezone.utc)
        return max(0.0, (end - self.started_at).total_seconds())

    def node(self, wanted: str) -> NodeInfo | None:
        """A node by id, name, display name or pod name (the first match, in that order)."""
        for attribute in ("id", "name", "display_name", "pod_name"):
            for node in self.nodes or []:
                if getattr(node, attribute) == wanted:
                    return node
        return None

    def pods_under(self, node: NodeInfo) -> list[NodeInfo]:
        """`node` if it is a pod, else every pod below it, in the order they started."""
        by_id = {n.id: n for n in self.nodes or []}
        found: dict[str, NodeInfo] = {}
        pending = [node.id]
        while pending:
            current = by_id.get(pending.pop())
            if current is None or current.id in found:
                continue
            found[current.id] = current
            pending.extend(current.children)
        pods = [n for n in found.values() if n.type == "Pod"]
        return sorted(pods, key=lambda n: (n.started_at or datetime.max.replace(tzinfo=timezone.utc), n.name))


def parse_time(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def pod_name(workflow: str, node: dict[str, Any], version: str = "v2") -> str:
    """Argo's pod name for a Pod node (util.GeneratePodName): v1 is the node id; v2 (the default
    since Argo 3.4, and v4's) is `<workflow>-<template>-<fnv-1a 32 of the node name>`, the prefix
    cut to leave room for the hash in Kubernetes' 253 characters. The template is the node's
    templateRef.template when it has one, else its templateName."""
    if version == "v1":
        return str(node["id"])
    name = str(node.get("name") or "")
    if name == workflow:
        return workflow
    template = (node.get("templateRef") or {}).get("template") or node.get("templateName") or ""
    prefix = f"{workflow}-{template}" if template else workflow
    prefix = prefix[: _MAX_NAME - _HASH_ROOM - 1]
    return f"{prefix}-{fnv1a_32(name)}"


def raw_nodes(status: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The node table, or None and why: `compressedNodes` (gzip + base64, older controllers) is
    decoded; an offloaded status (`offloadNodeStatusVersion` without `nodes`) lives in the Argo
    server's database, which the Kubernetes API does not serve."""
    nodes = status.get("nodes")
    if isinstance(nodes, dict):
        return nodes, None
    compressed = status.get("compressedNodes")
    if isinstance(compressed, str) and compressed:
        try:
            decoded = json.loads(gzip.decompress(base64.b64decode(compressed)))
        except (ValueError, OSError) as exc:
            return None, f"status.compressedNodes cannot be decoded ({exc})"
        if isinstance(decoded, dict):
            return decoded, None
    version = status.get("offloadNodeStatusVersion")
    if version:
        return None, (
            f"node status is offloaded to the Argo server's database (offloadNodeStatusVersion {version}): "
            "the Kubernetes API does not carry it; read the nodes with `argo get` through the Argo server, "
            "or from the workflow archive"
        )
    return {}, None  # not started yet: no nodes, honestly


def run_info(doc: dict[str, Any]) -> RunInfo:
    meta = doc.get("metadata") or {}
    status = doc.get("status") or {}
    name = str(meta.get("name") or "")
    version = (meta.get("annotations") or {}).get(POD_NAME_FORMAT_ANNOTATION) or "v2"
    nodes_doc, note = raw_nodes(status)
    nodes = None
    if nodes_doc is not None:
        nodes = []
        for node_id, node in nodes_doc.items():
            node = {"id": node_id, **node}
            nodes.append(
                NodeInfo(
                    id=str(node["id"]),
                    name=str(node.get("name") or node_id),
                    display_name=str(node.get("displayName") or node.get("name") or node_id),
                    type=str(node.get("type") or ""),
                    phase=str(node.get("phase") or "Pending"),
                    template_name=(node.get("templateRef") or {}).get("template") or node.get("templateName"),
                    boundary_id=node.get("boundaryID"),
                    children=tuple(node.get("children") or ()),
                    started_at=parse_time(node.get("startedAt")),
                    finished_at=parse_time(node.get("finishedAt")),
                    message=str(node.get("message") or ""),
                    pod_name=pod_name(name, node, version) if node.get("type") == "Pod" else None,
                )
            )
        nodes.sort(key=lambda n: (n.started_at or datetime.max.replace(tzinfo=timezone.utc), n.name))
    return RunInfo(
        name=name,
        namespace=str(meta.get("namespace") or ""),
        phase=str(status.get("phase") or "Pending"),
        progress=status.get("progress"),
        message=str(status.get("message") or ""),
        created_at=parse_time(meta.get("creationTimestamp")),
        started_at=parse_time(status.get("startedAt")),
        finished_at=parse_time(status.get("finishedAt")),
        labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
        parameters=parameters(doc),
        nodes=nodes,
        nodes_note=note,
        raw=doc,
    )


def parameters(doc: dict[str, Any]) -> dict[str, str]:
    """The workflow's parameters: what it was submitted with, over the defaults of the
    WorkflowTemplate it references when the controller stored that spec."""
    status = doc.get("status") or {}
    values: dict[str, str] = {}
    stored = (status.get("storedWorkflowTemplateSpec") or {}).get("arguments") or {}
    for source in (stored, (doc.get("spec") or {}).get("arguments") or {}):
        for param in source.get("parameters") or []:
            if isinstance(param, dict) and "name" in param and "value" in param:
                values[str(param["name"])] = str(param["value"])
    return values


def decode(value: Any) -> Any:
    """A parameter value as JSON when it is JSON (objects, lists, numbers, true/false/null),
    else the string itself: Argo parameters are strings."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def outputs(doc: dict[str, Any], *, raw: bool = False) -> dict[str, Any]:
    """The workflow's output parameters (`status.outputs.parameters`: the globalName outputs),
    name → value, JSON-decoded unless `raw`."""
    found = {}
    for param in ((doc.get("status") or {}).get("outputs") or {}).get("parameters") or []:
        if isinstance(param, dict) and "name" in param:
            value = param.get("value")
            found[str(param["name"])] = value if raw else decode(value)
    return found
