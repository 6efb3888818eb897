"""Argo's naming rules that the run commands and the local executor share: node ids (FNV-1a of
the node name) and the executor's per-node log file names. Here, in the installed package, so
that `pipeline.runs` reads what `pipeline.argo` (a repository tool, not installed in the step
images) writes without importing it."""

from __future__ import annotations

import re

_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9._()\-\[\]:,]+")


def log_file_stem(label: str) -> str:
    """A node's log file name without `.log`: its label (`WorkflowStatus.label`) made safe;
    a second node with the same label gets `<stem>-<node id>`."""
    return _UNSAFE_FILE_CHARS.sub("_", label.replace("/", "."))


def fnv1a_32(text: str) -> int:
    value = 0x811C9DC5
    for byte in text.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def node_id(workflow_name: str, node_name: str) -> str:
    """Argo's `Workflow.NodeID`: the workflow name for the root node, else name + FNV hash."""
    return workflow_name if node_name == workflow_name else f"{workflow_name}-{fnv1a_32(node_name)}"
