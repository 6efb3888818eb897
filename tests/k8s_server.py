"""A protocol-level Kubernetes API test server: the REST paths and JSON shapes the `kubernetes`
client uses for Argo's objects and pod logs, with a scripted "controller".

No API server or Argo controller can run on these machines, so the tests start this on
127.0.0.1, write a kubeconfig pointing at it, and drive the real `kubernetes` client. It serves:

- `/apis/argoproj.io/v1alpha1/namespaces/{ns}/{workflows|workflowtemplates|cronworkflows}`:
  GET (list: `labelSelector`, `fieldSelector` on metadata.name/namespace, `limit` + `continue`
  paging; watch: `watch=true`, `resourceVersion`, `timeoutSeconds` — a chunked stream of
  `{"type": ADDED|MODIFIED|DELETED|ERROR, "object": …}` lines, ERROR 410 "Expired" when the
  version asked for was compacted away), POST (create: `generateName` + 5 characters of the
  API server's alphabet, uid, resourceVersion, creationTimestamp; 409 AlreadyExists; 422
  Invalid), and `/{name}` GET.
- `/api/v1/namespaces/{ns}/pods` GET (list, `labelSelector`) and `/pods/{name}/log`
  (`container`; 400 for a container the pod does not have).
- Errors as `Status` objects (`{"kind": "Status", "status": "Failure", "reason", "message",
  "code"}`); bearer-token authentication (401); `forbid(verb, plural)` (403, with the API
  server's wording); `fail_next(n, status)` for transient 5xx.

The controller: a created Workflow gets a script of statuses (`Controller.script`); every GET of
it and every tick of a watch on it advances one step, as a controller's reconciliation would
between two looks. Pods appear (with their Argo v4 names `<wf>-<template>-<fnv-1a hash>`,
computed here independently of the code under test) when their node starts, with a log.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

GROUP_PATH = re.compile(r"^/apis/argoproj\.io/v1alpha1/namespaces/(?P<ns>[^/]+)/(?P<plural>workflows|workflowtemplates|cronworkflows)(?:/(?P<name>[^/]+))?$")
PODS_PATH = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods(?:/(?P<name>[^/]+)(?P<log>/log)?)?$")
KINDS = {"workflows": "Workflow", "workflowtemplates": "WorkflowTemplate", "cronworkflows": "CronWorkflow"}
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what the API server's generateName draws from


def fnv1a(text: str) -> int:
    value = 0x811C9DC5
    for byte in text.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def argo_pod_name(workflow: str, node_name: str, template: str) -> str:
    prefix = f"{workflow}-{template}"[:242]
    return f"{prefix}-{fnv1a(node_name)}"


def argo_node_id(workflow: str, node_name: str) -> str:
    return workflow if node_name == workflow else f"{workflow}-{fnv1a(node_name)}"


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------ label selectors (the server's own)
def _selector_matches(selector: str, labels: dict[str, str]) -> bool:
    parts, depth, current = [], 0, ""
    for char in selector:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    for part in (p.strip() for p in parts if p.strip()):
        match = re.fullmatch(r"(\S+)\s+(in|notin)\s*\(([^)]*)\)", part)
        if match:
            values = {v.strip() for v in match.group(3).split(",")}
            inside = labels.get(match.group(1)) in values
            if (match.group(2) == "in") != inside or (match.group(2) == "in" and match.group(1) not in labels):
                return False
        elif "!=" in part:
            key, value = part.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in part:
            key, value = part.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif part.startswith("!"):
            if part[1:].strip() in labels:
                return False
        elif part not in labels:
            return False
    return True


# ------------------------------------------------------------------ the controller
@dataclass
class Pod:
    name: str
    namespace: str
    labels: dict[str, str]
    annotations: dict[str, str]
    log: str
    started: datetime
    containers: tuple[str, ...] = ("wait", "main")

    def to_json(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": self.name, "namespace": self.namespace, "labels": self.labels, "annotations": self.annotations,
                         "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, self.name))},
            "spec": {"containers": [{"name": c, "image": "argoproj/argoexec:v4.0.5" if c == "wait" else "ghcr.io/cogniverse/optimization:0.1.0"}
                                    for c in self.containers]},
            "status": {"phase": "Succeeded", "startTime": _stamp(self.started)},
        }


@dataclass
class Step:
    """One observable state: the workflow's status, and the pods that exist from then on."""

    status: dict[str, Any]
    pods: list[Pod] = field(default_factory=list)


class Controller:
    """Scripts a workflow's life like Argo's controller would show it. `script(workflow, server)`
    returns the steps; the default runs a two-pod DAG (harvest → gate) that succeeds with JSON
    outputs, or fails at harvest when the workflow's `fail` parameter is "true", and offloads its
    node status when `offload` is set."""

    def __init__(self) -> None:
        self.offload = False
        self.steps_by_workflow: dict[str, list[Step]] = {}
        self.position: dict[str, int] = {}

    def script(self, wf: dict[str, Any], server: "KubeAPIServer") -> list[Step]:
        meta = wf["metadata"]
        name, ns = meta["name"], meta["namespace"]
        params = {p["name"]: p.get("value") for p in (wf.get("spec", {}).get("arguments", {}).get("parameters") or [])}
        stored = None
        ref = (wf.get("spec") or {}).get("workflowTemplateRef")
        if ref:
            template = server.objects.get(("workflowtemplates", ns, ref["name"]))
            if template is None:
                return [Step({"phase": "Error", "message": f'workflowtemplates.argoproj.io "{ref["name"]}" not found',
                              "startedAt": _stamp(server.now()), "finishedAt": _stamp(server.now())})]
            stored = json.loads(json.dumps(template["spec"]))
            for p in stored.get("arguments", {}).get("parameters") or []:
                params.setdefault(p["name"], p.get("value"))
        tenant = params.get("tenant-id") or "default"
        fail = params.get("fail") == "true"
        t0 = server.now()

        def node(node_name: str, display: str, type_: str, template: str | None, phase: str, started: datetime,
                 finished: datetime | None = None, boundary: str | None = None, children: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
            doc = {"id": argo_node_id(name, node_name), "name": node_name, "displayName": display, "type": type_, "phase": phase,
                   "startedAt": _stamp(started), "finishedAt": _stamp(finished) if finished else None}
            if template:
                doc["templateName"] = template
            if boundary:
                doc["boundaryID"] = boundary
            if children:
                doc["children"] = list(children)
            doc.update(extra)
            return doc

        root_id = argo_node_id(name, name)
        harvest_name, gate_name = f"{name}.harvest", f"{name}.gate"
        harvest_id, gate_id = argo_node_id(name, harvest_name), argo_node_id(name, gate_name)
        labels = {"workflows.argoproj.io/workflow": name}

        def pod(node_name: str, template: str, log: str, started: datetime) -> Pod:
            return Pod(argo_pod_name(name, node_name, template), ns, dict(labels),
                       {"workflows.argoproj.io/node-name": node_name, "workflows.argoproj.io/node-id": argo_node_id(name, node_name)},
                       log, started)

        base: dict[str, Any] = {"startedAt": _stamp(t0)}
        if stored is not None:
            base["storedWorkflowTemplateSpec"] = stored
        harvest_pod = pod(harvest_name, "harvest", f"harvesting {tenant}\n" + ("harvest failed on purpose\n" if fail else "read 42 spans\n"), t0)
        running = Step({**base, "phase": "Running", "progress": "0/1", "nodes": {
            root_id: node(name, name, "DAG", "main", "Running", t0, children=(harvest_id,)),
            harvest_id: node(harvest_name, "harvest", "Pod", "harvest", "Running", t0, boundary=root_id),
        }}, [harvest_pod])
        t1 = t0 + timedelta(seconds=12)
        if fail:
            done = {**base, "phase": "Failed", "progress": "0/1", "finishedAt": _stamp(t1),
                    "message": f"child '{harvest_id}' failed", "nodes": {
                        root_id: node(name, name, "DAG", "main", "Failed", t0, t1, children=(harvest_id,), message=f"child '{harvest_id}' failed"),
                        harvest_id: node(harvest_name, "harvest", "Pod", "harvest", "Failed", t0, t1, boundary=root_id,
                                         message="Error (exit code 3)", outputs={"exitCode": "3"}),
                    }}
            return [Step({}), running, Step(done)]
        gate_pod = pod(gate_name, "gate", "gating 42 experiences\npromoted routing v3\n", t1)
        harvested = Step({**base, "phase": "Running", "progress": "1/2", "nodes": {
            root_id: node(name, name, "DAG", "main", "Running", t0, children=(harvest_id,)),
            harvest_id: node(harvest_name, "harvest", "Pod", "harvest", "Succeeded", t0, t1, boundary=root_id, children=(gate_id,),
                             outputs={"parameters": [{"name": "experiences", "value": "42"}], "exitCode": "0"}),
            gate_id: node(gate_name, "gate", "Pod", "gate", "Running", t1, boundary=root_id),
        }}, [gate_pod])
        t2 = t1 + timedelta(seconds=30)
        outputs = {"parameters": [
            {"name": "improvements", "value": json.dumps({"routing": 7.5, "modality-video": None})},
            {"name": "deployed", "value": "true"},
            {"name": "report-location", "value": f"s3://cogniverse-optimization/tenants/{tenant}/runs/{name}/report/report.html"},
        ]}
        finished = {**base, "phase": "Succeeded", "progress": "2/2", "finishedAt": _stamp(t2), "outputs": outputs, "nodes": {
            root_id: node(name, name, "DAG", "main", "Succeeded", t0, t2, children=(harvest_id,), outboundNodes=[gate_id]),
            harvest_id: harvested.status["nodes"][harvest_id],
            gate_id: node(gate_name, "gate", "Pod", "gate", "Succeeded", t1, t2, boundary=root_id, outputs={"exitCode": "0"}),
        }}
        if self.offload:  # what a controller with ALWAYS_OFFLOAD_NODE_STATUS (or a huge run) writes
            for step in (running, harvested):
                step.status.pop("nodes")
                step.status["offloadNodeStatusVersion"] = f"fnv:{fnv1a(name + step.status['progress'])}"
            finished.pop("nodes")
            finished["offloadNodeStatusVersion"] = f"fnv:{fnv1a(name)}"
        return [Step({}), running, harvested, Step(finished)]


# ------------------------------------------------------------------ the server
@dataclass
class Event:
    version: int
    type: str
    plural: str
    namespace: str
    obj: dict[str, Any]


class KubeAPIServer:
    def __init__(self, *, token: str = "test-token", namespace: str = "cogniverse") -> None:
        self.token = token
        self.namespace = namespace
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.pods: dict[tuple[str, str], Pod] = {}
        self.events: list[Event] = []
        self.version = 1000
        self.compacted_below = 0  # a watch from an older resourceVersion gets 410 Expired
        self.max_events_per_watch: int | None = None  # end a watch early, to make the client resume
        self.advance_on_get = True  # a GET is one reconciliation too; off: only watching moves a workflow on
        self.tick_s = 0.05
        self.controller = Controller()
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.forbidden: set[tuple[str, str]] = set()
        self._failures: list[int] = []
        self._lock = threading.RLock()
        self._clock = datetime(2026, 12, 1, 9, 0, 0, tzinfo=timezone.utc)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- test controls -----------------------------------------------------------------------
    def now(self) -> datetime:
        self._clock += timedelta(seconds=1)
        return self._clock

    def add(self, doc: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        """Apply an object (a WorkflowTemplate, CronWorkflow or Workflow) as `kubectl apply` would."""
        plural = {v: k for k, v in KINDS.items()}[doc["kind"]]
        ns = namespace or doc.get("metadata", {}).get("namespace") or self.namespace
        with self._lock:
            stored = json.loads(json.dumps(doc))
            meta = stored.setdefault("metadata", {})
            meta.update(namespace=ns, uid=str(uuid.uuid4()), creationTimestamp=_stamp(self.now()))
            self._store(plural, ns, stored, "ADDED")
            return stored

    def forbid(self, verb: str, plural: str) -> None:
        self.forbidden.add((verb, plural))

    def fail_next(self, count: int, status: int = 503) -> None:
        self._failures.extend([status] * count)

    def calls(self, method: str, path_part: str) -> list[dict[str, str]]:
        return [query for m, path, query in self.requests if m == method and path_part in path]

    # --- state -------------------------------------------------------------------------------
    def _store(self, plural: str, ns: str, obj: dict[str, Any], event: str) -> None:
        self.version += 1
        obj["metadata"]["resourceVersion"] = str(self.version)
        self.objects[(plural, ns, obj["metadata"]["name"])] = obj
        self.events.append(Event(self.version, event, plural, ns, json.loads(json.dumps(obj))))

    def advance(self, ns: str, name: str) -> None:
        """One reconciliation of a workflow: its next scripted status, if any."""
        with self._lock:
            wf = self.objects.get(("workflows", ns, name))
            steps = self.controller.steps_by_workflow.get(name)
            if wf is None or steps is None:
                return
            position = self.controller.position.get(name, 0)
            if position + 1 >= len(steps):
                return
            position += 1
            self.controller.position[name] = position
            step = steps[position]
            if position == 1:  # the controller's first look: workflowMetadata labels join the workflow's
                ref = (wf.get("spec") or {}).get("workflowTemplateRef")
                template = self.objects.get(("workflowtemplates", ns, ref["name"])) if ref else None
                for source in (template or {}).get("spec", {}), wf.get("spec") or {}:
                    wf["metadata"].setdefault("labels", {}).update((source.get("workflowMetadata") or {}).get("labels") or {})
            wf["status"] = json.loads(json.dumps(step.status))
            for pod in step.pods:
                self.pods[(ns, pod.name)] = pod
            self._store("workflows", ns, wf, "MODIFIED")

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "KubeAPIServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server._handle(self, "GET")

            def do_POST(self) -> None:
                server._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def kubeconfig(self, path: Path, *, token: str | None = None, namespace: str | None = None) -> Path:
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "test",
            "clusters": [{"name": "test", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": token or self.token}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "tester", "namespace": namespace or self.namespace}}],
        }))
        return path

    # --- HTTP --------------------------------------------------------------------------------
    @staticmethod
    def _status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
        doc = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code}
        if details:
            doc["details"] = details
        return doc

    def _send(self, handler: BaseHTTPRequestHandler, code: int, body: Any, content_type: str = "application/json") -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        handler.send_response(code)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        self.requests.append((method, parts.path, query))
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        if handler.headers.get("Authorization") != f"Bearer {self.token}":
            return self._send(handler, 401, self._status(401, "Unauthorized", "Unauthorized"))
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            return self._send(handler, failure, self._status(failure, "ServiceUnavailable" if failure == 503 else "InternalError",
                                                             "the server is currently unable to handle the request"))
        match = GROUP_PATH.match(parts.path)
        if match:
            return self._argo(handler, method, match["ns"], match["plural"], match["name"], query, body)
        match = PODS_PATH.match(parts.path)
        if match and method == "GET":
            return self._pods(handler, match["ns"], match["name"], bool(match["log"]), query)
        return self._send(handler, 404, self._status(404, "NotFound", "the server could not find the requested resource"))

    def _forbidden(self, handler: BaseHTTPRequestHandler, verb: str, plural: str, ns: str) -> bool:
        if (verb, plural) not in self.forbidden:
            return False
        group = "" if plural == "pods" else "argoproj.io"
        resource = f"{plural}.{group}" if group else plural
        self._send(handler, 403, self._status(
            403, "Forbidden",
            f'{resource} is forbidden: User "system:serviceaccount:ci:runner" cannot {verb} resource "{plural}" '
            f'in API group "{group}" in the namespace "{ns}"',
            {"group": group, "kind": plural}))
        return True

    def _argo(self, handler: BaseHTTPRequestHandler, method: str, ns: str, plural: str, name: str | None,
              query: dict[str, str], body: bytes) -> None:
        if method == "POST":
            if name is not None:
                return self._send(handler, 405, self._status(405, "MethodNotAllowed", "the server does not allow this method"))
            if self._forbidden(handler, "create", plural, ns):
                return None
            return self._create(handler, ns, plural, body)
        if name is not None:
            if self._forbidden(handler, "get", plural, ns):
                return None
            if plural == "workflows" and self.advance_on_get:
                self.advance(ns, name)
            with self._lock:
                obj = self.objects.get((plural, ns, name))
                obj = json.loads(json.dumps(obj)) if obj else None
            if obj is None:
                return self._send(handler, 404, self._status(404, "NotFound", f'{plural}.argoproj.io "{name}" not found',
                                                             {"name": name, "group": "argoproj.io", "kind": plural}))
            return self._send(handler, 200, obj)
        watching = query.get("watch") in ("true", "1", "True")
        if self._forbidden(handler, "watch" if watching else "list", plural, ns):
            return None
        if watching:
            return self._watch(handler, ns, plural, query)
        return self._list(handler, ns, plural, query)

    def _selected(self, obj: dict[str, Any], query: dict[str, str]) -> bool:
        meta = obj.get("metadata") or {}
        for term in filter(None, (query.get("fieldSelector") or "").split(",")):
            key, _, value = term.partition("=")
            if key == "metadata.name" and meta.get("name") != value:
                return False
            if key == "metadata.namespace" and meta.get("namespace") != value:
                return False
        return _selector_matches(query.get("labelSelector") or "", meta.get("labels") or {})

    def _list(self, handler: BaseHTTPRequestHandler, ns: str, plural: str, query: dict[str, str]) -> None:
        with self._lock:
            items = [json.loads(json.dumps(obj)) for (p, n, _), obj in sorted(self.objects.items()) if p == plural and n == ns]
            version = self.version
        items = [obj for obj in items if self._selected(obj, query)]
        start = int(query.get("continue") or 0)
        limit = int(query.get("limit") or 0) or len(items) or 1
        page = items[start:start + limit]
        meta: dict[str, Any] = {"resourceVersion": str(version)}
        if start + limit < len(items):
            meta["continue"] = str(start + limit)
        self._send(handler, 200, {"apiVersion": "argoproj.io/v1alpha1", "kind": f"{KINDS[plural]}List", "metadata": meta, "items": page})

    def _create(self, handler: BaseHTTPRequestHandler, ns: str, plural: str, body: bytes) -> None:
        try:
            doc = json.loads(body)
        except ValueError:
            return self._send(handler, 400, self._status(400, "BadRequest", "the request body is not JSON"))
        meta = doc.get("metadata") or {}
        kind = KINDS[plural]
        if doc.get("kind") != kind or doc.get("apiVersion") != "argoproj.io/v1alpha1":
            return self._send(handler, 400, self._status(400, "BadRequest", f"expected {kind} argoproj.io/v1alpha1, got {doc.get('kind')} {doc.get('apiVersion')}"))
        if meta.get("namespace") not in (None, ns):
            return self._send(handler, 400, self._status(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request"))
        with self._lock:
            name = meta.get("name")
            if not name:
                if not meta.get("generateName"):
                    return self._send(handler, 422, self._status(422, "Invalid", f'{kind}.argoproj.io "" is invalid: metadata.name: Required value: name or generateName is required'))
                name = meta["generateName"] + "".join(random.choice(NAME_ALPHABET) for _ in range(5))
            if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name) or len(name) > 253:
                return self._send(handler, 422, self._status(422, "Invalid", f'{kind}.argoproj.io "{name}" is invalid: metadata.name: Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters'))
            if (plural, ns, name) in self.objects:
                return self._send(handler, 409, self._status(409, "AlreadyExists", f'{plural}.argoproj.io "{name}" already exists',
                                                             {"name": name, "group": "argoproj.io", "kind": plural}))
            meta.update(name=name, namespace=ns, uid=str(uuid.uuid4()), creationTimestamp=_stamp(self.now()), generation=1)
            doc["metadata"] = meta
            self._store(plural, ns, doc, "ADDED")
            if plural == "workflows":
                self.controller.steps_by_workflow[name] = self.controller.script(doc, self)
                self.controller.position[name] = 0
            created = json.loads(json.dumps(doc))
        self._send(handler, 201, created)

    def _watch(self, handler: BaseHTTPRequestHandler, ns: str, plural: str, query: dict[str, str]) -> None:
        since = int(query.get("resourceVersion") or 0)
        deadline = time.monotonic() + min(float(query.get("timeoutSeconds") or 30), 30)
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")
        # This server closes the connection when a watch ends; saying so keeps the client from
        # reusing it for its next request (a race that turned a resume into a reconnect).
        handler.send_header("Connection", "close")
        handler.end_headers()

        def chunk(data: bytes) -> None:
            handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            handler.wfile.flush()

        sent = 0
        try:
            if since and since < self.compacted_below:
                chunk(json.dumps({"type": "ERROR", "object": self._status(410, "Expired", f"too old resource version: {since} ({self.compacted_below})")}).encode() + b"\n")
                return
            while time.monotonic() < deadline:
                with self._lock:
                    pending = [e for e in self.events if e.version > since and e.plural == plural and e.namespace == ns and self._selected(e.obj, query)]
                for event in pending:
                    chunk(json.dumps({"type": event.type, "object": event.obj}).encode() + b"\n")
                    since = event.version
                    sent += 1
                    if self.max_events_per_watch is not None and sent >= self.max_events_per_watch:
                        return
                time.sleep(self.tick_s)
                if plural == "workflows":  # the controller works while the client watches
                    name = next((t.partition("=")[2] for t in (query.get("fieldSelector") or "").split(",") if t.startswith("metadata.name=")), None)
                    names = [name] if name else [n for (p, n_ns, n) in list(self.objects) if p == "workflows" and n_ns == ns]
                    for each in names:
                        self.advance(ns, each)
        except (BrokenPipeError, ConnectionResetError):
            return
        finally:
            try:
                handler.wfile.write(b"0\r\n\r\n")
                handler.wfile.flush()
            except OSError:
                pass
            handler.close_connection = True

    def _pods(self, handler: BaseHTTPRequestHandler, ns: str, name: str | None, log: bool, query: dict[str, str]) -> None:
        if self._forbidden(handler, "get" if name else "list", "pods", ns):
            return None
        if name is None:
            with self._lock:
                pods = [p for (n, _), p in sorted(self.pods.items()) if n == ns and _selector_matches(query.get("labelSelector") or "", p.labels)]
            return self._send(handler, 200, {"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": str(self.version)},
                                             "items": [p.to_json() for p in pods]})
        pod = self.pods.get((ns, name))
        if pod is None:
            return self._send(handler, 404, self._status(404, "NotFound", f'pods "{name}" not found', {"name": name, "kind": "pods"}))
        if not log:
            return self._send(handler, 200, pod.to_json())
        container = query.get("container")
        if container is None and len(pod.containers) > 1:
            return self._send(handler, 400, self._status(400, "BadRequest", f"a container name must be specified for pod {name}, choose one of: {list(pod.containers)}"))
        if container not in pod.containers:
            return self._send(handler, 400, self._status(400, "BadRequest", f"container {container} is not valid for pod {name}"))
        return self._send(handler, 200, pod.log if container == "main" else "time=\"…\" level=info msg=\"Starting Workflow Executor\"\n", "text/plain")


def serve(**kwargs: Any) -> KubeAPIServer:
    return KubeAPIServer(**kwargs).start()

