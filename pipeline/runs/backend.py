"""The `Backend` protocol both run backends implement, and what is built on it alone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable, Protocol

from pipeline.errors import ConfigError, NotFoundError, WorkflowFailedError
from pipeline.runs import display, labels
from pipeline.runs.manifest import SubmitRequest
from pipeline.runs.model import NodeInfo, RunInfo, run_info

LATEST = "@latest"  # as `argo get @latest`: the most recently created workflow


class Backend(Protocol):
    """Where workflows run. Every method returns or yields Argo Workflow objects (dicts in the
    API's JSON shape) and raises pipeline.errors classes only."""

    where: str  # for messages: "namespace cogniverse at https://…", "local state dir .local/argo"

    def submit(self, request: SubmitRequest) -> dict[str, Any]:
        """Create the workflow; the created object (with its generated name)."""

    def get(self, name: str) -> dict[str, Any]:
        """The workflow object; NotFoundError when there is none."""

    def list(self, selector: str | None = None) -> list[dict[str, Any]]:
        """Workflows matching a label selector, newest first."""

    def follow(self, name: str) -> Iterator[dict[str, Any]]:
        """The workflow now, then each time it changes, until it completes."""

    def pod_logs(self, info: RunInfo, node: NodeInfo) -> str:
        """The main container's log of a Pod node."""

    def pods_without_status(self, info: RunInfo) -> list[tuple[str, str]]:
        """(label, pod name) of the workflow's pods when its node status is not readable."""


def resolve_name(backend: Backend, name: str) -> str:
    if name != LATEST:
        return name
    found = backend.list()
    if not found:
        raise NotFoundError(f"no workflows in {backend.where}: nothing is {LATEST}")
    return str(found[0]["metadata"]["name"])


def get(backend: Backend, name: str) -> RunInfo:
    return run_info(backend.get(resolve_name(backend, name)))


def list_runs(backend: Backend, selector: str | None = None, *, tenant: str | None = None,
              phases: set[str] | None = None) -> list[RunInfo]:
    labels.parse_selector(selector)  # a malformed selector is exit 2 here, not a server's 400
    infos = [run_info(doc) for doc in backend.list(selector)]
    if tenant is not None:
        infos = [i for i in infos if i.tenant == tenant]
    if phases:
        infos = [i for i in infos if i.phase in phases]
    return infos


def watch(backend: Backend, name: str, say: Callable[[str], None]) -> RunInfo:
    """Follow a workflow to its end, a line per change; WorkflowFailedError (exit 10) when it
    ends Failed or Error, so the exit code says how the run went."""
    before: RunInfo | None = None
    info: RunInfo | None = None
    for doc in backend.follow(resolve_name(backend, name)):
        info = run_info(doc)
        for line in display.change_lines(before, info):
            say(line)
        before = info
    if info is None:  # follow() always yields at least once; be explicit anyway
        raise NotFoundError(f"workflow {name} in {backend.where} gave no state")
    if info.phase != "Succeeded":
        raise WorkflowFailedError(f"workflow {info.name} {info.phase}{': ' + info.message if info.message else ''}")
    return info


def logs(backend: Backend, name: str, node_name: str | None = None) -> list[tuple[str, str]]:
    """(header, log text) per pod: the node's pods (a DAG or steps node: every pod below it),
    or every pod of the workflow."""
    info = get(backend, name)
    if info.nodes is None:  # offloaded: no node table, but the pods may still be there
        pods = backend.pods_without_status(info)
        if node_name is not None:
            pods = [p for p in pods if node_name in (p[0], p[1])]
            if not pods:
                raise NotFoundError(f"workflow {info.name}: no pod for node {node_name!r} ({info.nodes_note})")
        return [(f"{label} ({pod})", backend.pod_logs(info, _pod_only(pod))) for label, pod in pods]
    if node_name is None:
        pods = display.pod_order(info)
    else:
        node = info.node(node_name)
        if node is None:
            known = ", ".join(sorted({n.display_name for n in info.nodes if n.type == "Pod"})) or "none"
            raise NotFoundError(f"workflow {info.name} has no node {node_name!r} (pod nodes: {known})")
        below = {n.id for n in info.pods_under(node)}
        pods = [n for n in display.pod_order(info) if n.id in below]
    if not pods:
        raise NotFoundError(f"workflow {info.name}: no pod has started{' under ' + node_name if node_name else ''} yet")
    return [(f"{pod.display_name} ({pod.pod_name})", backend.pod_logs(info, pod)) for pod in pods]


def _pod_only(pod: str) -> NodeInfo:
    return NodeInfo(id=pod, name=pod, display_name=pod, type="Pod", phase="", template_name=None, boundary_id=None,
                    children=(), started_at=None, finished_at=None, message="", pod_name=pod)


def check_name(name: str) -> str:
    if name != LATEST and not name.strip():
        raise ConfigError("a workflow name is required (or @latest)")
    return name
