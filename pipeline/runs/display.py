"""Text views of runs, in the spirit of `argo get`, `argo list` and `argo watch`."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from pipeline.runs.model import NodeInfo, RunInfo

SYMBOLS = {"Succeeded": "✔", "Failed": "✖", "Error": "⚠", "Skipped": "○", "Omitted": "○", "Running": "●", "Pending": "◷"}
# Node types a person follows; the rest (TaskGroup, StepGroup, Container) only structure the tree.
SHOWN_TYPES = frozenset({"Pod", "DAG", "Steps", "Retry", "Suspend", "Skipped"})


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _time(moment: datetime | None) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


def _start(node: NodeInfo) -> tuple[datetime, str]:
    return (node.started_at or datetime.max.replace(tzinfo=timezone.utc), node.id)


def _dependency_order(group: list[NodeInfo]) -> list[NodeInfo]:
    """The nodes of one DAG or steps node, each after those it depends on (a node's `children`
    are its successors there), ties by start time: timestamps have whole seconds only."""
    ids = {n.id for n in group}
    waiting = {n.id: 0 for n in group}
    for node in group:
        for child in node.children:
            if child in ids:
                waiting[child] += 1
    by_id = {n.id: n for n in group}
    ready = sorted((n for n in group if waiting[n.id] == 0), key=_start)
    ordered: list[NodeInfo] = []
    while ready:
        node = ready.pop(0)
        ordered.append(node)
        for child in node.children:
            if child in ids:
                waiting[child] -= 1
                if waiting[child] == 0:
                    ready.append(by_id[child])
                    ready.sort(key=_start)
    seen = {n.id for n in ordered}
    return ordered + sorted((n for n in group if n.id not in seen), key=_start)  # a cycle cannot happen; be safe


def node_tree(info: RunInfo) -> list[tuple[int, NodeInfo]]:
    """(depth, node) in tree order, as a person reads a run: the root, then the nodes inside each
    DAG or steps node (by its boundary), a Retry's attempts under it; structural types
    (TaskGroup, StepGroup, Container) folded away; nodes outside the root (the exit handler's) after."""
    nodes = info.nodes or []
    by_id = {n.id: n for n in nodes}
    inside: dict[str | None, list[NodeInfo]] = {}
    attempts: set[str] = set()
    for node in nodes:
        if node.type == "Retry":
            attempts.update(node.children)
    for node in nodes:
        if node.id not in attempts:
            inside.setdefault(node.boundary_id if node.boundary_id in by_id else None, []).append(node)
    rows: list[tuple[int, NodeInfo]] = []
    seen: set[str] = set()

    def visit(node: NodeInfo, depth: int) -> None:
        if node.id in seen:
            return
        seen.add(node.id)
        shown = node.type in SHOWN_TYPES
        if shown:
            rows.append((depth, node))
        below = depth + 1 if shown else depth
        if node.type == "Retry":
            for child in sorted((by_id[c] for c in node.children if c in by_id), key=_start):
                visit(child, below)
        for child in _dependency_order(inside.get(node.id, [])):
            visit(child, below)

    tops = sorted(inside.get(None, []), key=lambda n: (n.name != info.name, *_start(n)))
    for top in tops:
        visit(top, 0)
    for node in sorted(nodes, key=_start):
        visit(node, 0)
    return rows


def pod_order(info: RunInfo) -> list[NodeInfo]:
    """The pods in tree order (dependencies first): how their logs read best."""
    return [node for _, node in node_tree(info) if node.type == "Pod"]


def get_view(info: RunInfo, outputs: dict[str, Any] | None = None) -> str:
    lines = [
        f"Name:        {info.name}",
        f"Namespace:   {info.namespace or '-'}",
        f"Status:      {info.phase}",
    ]
    if info.message:
        lines.append(f"Message:     {info.message}")
    if info.progress:
        lines.append(f"Progress:    {info.progress}")
    lines += [
        f"Created:     {_time(info.created_at)}",
        f"Started:     {_time(info.started_at)}",
        f"Finished:    {_time(info.finished_at)}",
        f"Duration:    {duration(info.duration_s())}",
    ]
    if info.parameters:
        lines.append("Parameters:")
        lines += [f"  {name}: {value}" for name, value in info.parameters.items()]
    if outputs:
        lines.append("Outputs:")
        lines += [f"  {name}: {json.dumps(value) if not isinstance(value, str) else value}" for name, value in outputs.items()]
    lines.append("")
    if info.nodes is None:
        lines.append(f"Nodes: unavailable: {info.nodes_note}")
        return "\n".join(lines)
    if not info.nodes:
        lines.append("Nodes: none yet (the controller has not started the workflow)")
        return "\n".join(lines)
    rows = node_tree(info)
    width = max(len("STEP"), *(2 * depth + 2 + len(node.display_name) for depth, node in rows))
    template_width = max(len("TEMPLATE"), *(len(node.template_name or "") for _, node in rows))
    pod_width = max(len("PODNAME"), *(len(node.pod_name or "") for _, node in rows))
    lines.append(f"{'STEP':<{width}}  {'TEMPLATE':<{template_width}}  {'PODNAME':<{pod_width}}  DURATION  MESSAGE")
    for depth, node in rows:
        step = f"{'  ' * depth}{SYMBOLS.get(node.phase, '?')} {node.display_name}"
        lines.append(f"{step:<{width}}  {node.template_name or '':<{template_width}}  {node.pod_name or '':<{pod_width}}  "
                     f"{duration(node.duration_s()):<8}  {node.message}".rstrip())
    return "\n".join(lines)


def list_view(infos: list[RunInfo]) -> str:
    if not infos:
        return "No workflows found."
    now = datetime.now(timezone.utc)
    name_width = max(len("NAME"), *(len(i.name) for i in infos))
    lines = [f"{'NAME':<{name_width}}  {'STATUS':<9}  {'AGE':<7}  {'DURATION':<8}  {'PROGRESS':<8}  TENANT"]
    for info in infos:
        age = duration((now - info.created_at).total_seconds()) if info.created_at else "-"
        lines.append(f"{info.name:<{name_width}}  {info.phase:<9}  {age:<7}  {duration(info.duration_s(now)):<8}  "
                     f"{info.progress or '-':<8}  {info.tenant or '-'}")
    return "\n".join(lines)


def change_lines(before: RunInfo | None, after: RunInfo) -> list[str]:
    """What changed between two observations: a line per node whose phase changed (nodes that
    started, in tree order, then nodes that finished, innermost first), then the workflow's own
    line when its phase or progress did."""
    stamp = datetime.now(timezone.utc).strftime("%H:%M:%S")
    old = {n.id: n.phase for n in (before.nodes or [])} if before else {}
    tree = node_tree(after) if after.nodes else []
    changed = [node for _, node in tree if old.get(node.id) != node.phase]
    started = [node for node in changed if node.finished_at is None]
    depth = {node.id: d for d, node in tree}
    finished = sorted((node for node in changed if node.finished_at is not None),
                      key=lambda n: (n.finished_at, -depth[n.id]))
    lines = []
    for node in started + finished:
        took = f" {duration(node.duration_s())}" if node.finished_at else ""
        message = f"  {node.message}" if node.message else ""
        pod = f" pod {node.pod_name}" if node.pod_name and node.finished_at is None else ""
        lines.append(f"[{stamp}]   {SYMBOLS.get(node.phase, '?')} {node.display_name} ({node.type}"
                     f"{' ' + node.template_name if node.template_name else ''}) {node.phase}{took}{pod}{message}")
    if before is None or (before.phase, before.progress) != (after.phase, after.progress) or (
        before.nodes is None) != (after.nodes is None):
        progress = f" {after.progress}" if after.progress else ""
        message = f": {after.message}" if after.message and after.completed else ""
        lines.append(f"[{stamp}] {SYMBOLS.get(after.phase, '?')} {after.name} {after.phase}{progress}{message}")
        if after.nodes is None and (before is None or before.nodes is not None):
            lines.append(f"[{stamp}]   nodes unavailable: {after.nodes_note}")
    return lines
