"""`KubernetesBackend`: Argo workflows through the Kubernetes API with the `kubernetes` client.

Argo's objects are custom resources (group argoproj.io, version v1alpha1): CustomObjectsApi
creates, reads, lists and watches `workflows` and reads `workflowtemplates` and
`cronworkflows`; CoreV1Api reads pod logs (container `main`, where Argo runs the template).
This needs no Argo server: what the Kubernetes API does not carry — an offloaded node status —
is said plainly instead.

Credentials: `--kubeconfig FILE`, else $KUBECONFIG or ~/.kube/config, else the pod's service
account (in-cluster). Errors map to pipeline.errors: 404 → NotFoundError (7); 401/403 →
ConfigError (2) with what to check; 409 → AlreadyExistsError (6); 400/422 → ConfigError with
the API server's message; unreachable, timeouts, 429 and 5xx, after retries →
ClusterUnavailableError (9).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, TypeVar

from pipeline.errors import AlreadyExistsError, ClusterUnavailableError, ConfigError, NotFoundError
from pipeline.runs.manifest import SubmitRequest, build
from pipeline.runs.model import COMPLETED_PHASES, NodeInfo, RunInfo

T = TypeVar("T")
GROUP, VERSION = "argoproj.io", "v1alpha1"
PLURALS = {"Workflow": "workflows", "WorkflowTemplate": "workflowtemplates", "CronWorkflow": "cronworkflows"}
MAIN_CONTAINER = "main"  # Argo runs a template's container as `main` beside its `wait` sidecar
WORKFLOW_LABEL = "workflows.argoproj.io/workflow"  # on every pod of a workflow
NODE_NAME_ANNOTATION = "workflows.argoproj.io/node-name"
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
LIST_PAGE = 500
WATCH_SECONDS = 60  # one watch request; the server ends it, we resume from the last resourceVersion


class KubernetesBackend:
    def __init__(
        self,
        *,
        namespace: str | None = None,
        kubeconfig: str | None = None,
        context: str | None = None,
        attempts: int = 3,
        backoff_s: float = 0.5,
        timeout_s: float = 30.0,
        watch_seconds: int = WATCH_SECONDS,
    ) -> None:
        from kubernetes import client  # lazy: only the runs commands against a cluster need it

        configuration, default_namespace, server = _configuration(kubeconfig, context)
        configuration.retries = 0  # our retries, with backoff and a clear final message
        self.namespace = namespace or default_namespace
        self.server = server
        self.where = f"namespace {self.namespace} at {server}"
        self._attempts = max(1, attempts)
        self._backoff_s = backoff_s
        self._timeout = timeout_s
        self._watch_seconds = watch_seconds
        self._api = client.ApiClient(configuration)
        self._custom = client.CustomObjectsApi(self._api)
        self._core = client.CoreV1Api(self._api)

    # ------------------------------------------------------------------ objects
    def read(self, kind: str, name: str) -> dict[str, Any]:
        plural = PLURALS[kind]
        return self._call(
            f"reading {kind} {name}",
            lambda: self._custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, name,
                                                              _request_timeout=self._timeout),
        )

    def submit(self, request: SubmitRequest) -> dict[str, Any]:
        workflow = build(request, self.read)
        workflow["metadata"].pop("namespace", None)  # the request's namespace decides
        # A create is retried only when the request cannot have reached the server (connection
        # refused): a retried create after a lost answer could start the workflow twice.
        return self._call(
            "creating the workflow",
            lambda: self._custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, "workflows", workflow,
                                                                 _request_timeout=self._timeout),
            idempotent=False,
        )

    def get(self, name: str) -> dict[str, Any]:
        return self.read("Workflow", name)

    def list(self, selector: str | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": LIST_PAGE, "_request_timeout": self._timeout}
            if selector:
                kwargs["label_selector"] = selector
            if token:
                kwargs["_continue"] = token
            page = self._call(
                "listing workflows",
                lambda kwargs=kwargs: self._custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace, "workflows", **kwargs),
            )
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                break
        items.sort(key=lambda doc: str((doc.get("metadata") or {}).get("creationTimestamp") or ""), reverse=True)
        return items

    def follow(self, name: str) -> Iterator[dict[str, Any]]:
        """The workflow, then every change the API's watch reports, until it completes. A watch
        request ends after `watch_seconds`; the next resumes from the last resourceVersion seen
        (nothing is missed). A 410 Gone (that version expired) or a dropped connection re-reads
        the object (with retries) and watches on from there."""
        from kubernetes import watch

        doc = self.get(name)
        yield doc
        while _phase(doc) not in COMPLETED_PHASES:
            version = str((doc.get("metadata") or {}).get("resourceVersion") or "")
            stream = watch.Watch()
            events = stream.stream(
                self._custom.list_namespaced_custom_object, GROUP, VERSION, self.namespace, "workflows",
                field_selector=f"metadata.name={name}", resource_version=version,
                timeout_seconds=self._watch_seconds, _request_timeout=self._watch_seconds + self._timeout,
            )
            began, seen = time.monotonic(), 0
            try:
                for event in self._guard(f"watching workflow {name}", events):
                    seen += 1
                    if event.get("type") == "DELETED":
                        raise NotFoundError(f"workflow {name} was deleted from {self.where} while being watched")
                    changed = event.get("raw_object")
                    if event.get("type") in ("ADDED", "MODIFIED") and isinstance(changed, dict):
                        doc = changed
                        yield doc
                        if _phase(doc) in COMPLETED_PHASES:
                            return
            except _Resume:
                doc = self.get(name)
                yield doc
                seen += 1  # progress: the object was read again
            finally:
                stream.stop()
            if not seen and time.monotonic() - began < 1.0:
                time.sleep(1.0)  # a server that ends watches at once must not be asked in a tight loop

    def _guard(self, what: str, events: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Events of a watch stream, with errors raised while streaming mapped like a call's; a
        410 or a broken connection becomes _Resume for follow() to recover from."""
        from kubernetes.client.exceptions import ApiException

        try:
            yield from events
        except ApiException as exc:
            if exc.status == 410:
                raise _Resume() from exc
            raise self._mapped(what, exc) from exc
        except Exception as exc:  # noqa: BLE001 - urllib3's errors while reading the stream
            if _is_transport_error(exc):
                raise _Resume() from exc
            raise

    # ------------------------------------------------------------------ pods
    def pod_logs(self, info: RunInfo, node: NodeInfo) -> str:
        pod = node.pod_name or node.id
        try:
            return str(self._call(
                f"reading the log of pod {pod}",
                lambda: self._core.read_namespaced_pod_log(pod, self.namespace, container=MAIN_CONTAINER,
                                                           _request_timeout=self._timeout),
            ))
        except NotFoundError as exc:
            raise NotFoundError(
                f"pod {pod} (node {node.display_name} of workflow {info.name}) is not in {self.where}: not started yet, "
                "or deleted by the workflow's podGC (logs outlive pods only when the artifact repository archives them)"
            ) from exc

    def pods_without_status(self, info: RunInfo) -> list[tuple[str, str]]:
        """The workflow's pods by their label, when the node table is offloaded: Argo labels every
        pod with its workflow and annotates it with the node name."""
        found = self._call(
            f"listing the pods of workflow {info.name}",
            lambda: self._core.list_namespaced_pod(self.namespace, label_selector=f"{WORKFLOW_LABEL}={info.name}",
                                                   _request_timeout=self._timeout),
        )
        pods = []
        for pod in found.items or []:
            annotations = pod.metadata.annotations or {}
            node_name = annotations.get(NODE_NAME_ANNOTATION) or pod.metadata.name
            started = pod.status.start_time if pod.status is not None else None
            pods.append((started is None, started, node_name, pod.metadata.name))
        pods.sort(key=lambda p: (p[0], p[1] or 0, p[2]))
        return [(node_name.rpartition(".")[2] or node_name, pod) for _, _, node_name, pod in pods]

    # ------------------------------------------------------------------ errors and retries
    def _call(self, what: str, fn: Callable[[], T], *, idempotent: bool = True) -> T:
        from kubernetes.client.exceptions import ApiException

        delay = self._backoff_s
        for attempt in range(1, self._attempts + 1):
            try:
                return fn()
            except ApiException as exc:
                retryable = exc.status in (429, 503) or (idempotent and (exc.status or 0) >= 500)
                if not retryable or attempt == self._attempts:
                    raise self._mapped(what, exc) from exc
            except Exception as exc:  # noqa: BLE001 - urllib3's connection errors have no common base we can import lazily
                if not _is_transport_error(exc):
                    raise
                if attempt == self._attempts or not (idempotent or _never_sent(exc)):
                    raise ClusterUnavailableError(
                        f"the Kubernetes API at {self.server} is unreachable for {what}"
                        f"{f' after {attempt} attempts' if attempt > 1 else ''}: {_first_line(exc)}"
                    ) from exc
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def _mapped(self, what: str, exc: Any) -> Exception:
        status = int(exc.status or 0)
        message = _status_message(exc)
        if status == 404:
            return NotFoundError(f"{what}: not found in {self.where} ({message})")
        if status == 401:
            return ConfigError(
                f"the Kubernetes API at {self.server} refused the credentials for {what} (401 Unauthorized): "
                "check the kubeconfig user's token or certificate (or the service account's token in a pod)"
            )
        if status == 403:
            return ConfigError(
                f"{what} is forbidden in {self.where} (403): {message}; the account needs RBAC for Argo's "
                f"argoproj.io objects there (`kubectl auth can-i create workflows.argoproj.io -n {self.namespace}`)"
            )
        if status == 409:
            return AlreadyExistsError(f"{what}: {message} (choose another --name, or use --generate-name)")
        if status in (400, 422):
            return ConfigError(f"the Kubernetes API rejected {what} ({status}): {message}")
        if status == 429 or status >= 500:
            return ClusterUnavailableError(f"the Kubernetes API at {self.server} failed {what} ({status}): {message}")
        return ConfigError(f"the Kubernetes API answered {status} to {what}: {message}")


class _Resume(Exception):
    """A watch ended early: its resourceVersion expired (410 Gone), or the connection broke."""


def _phase(doc: dict[str, Any]) -> str | None:
    return (doc.get("status") or {}).get("phase")


def _configuration(kubeconfig: str | None, context: str | None) -> tuple[Any, str, str]:
    """(client Configuration, default namespace, server URL): a kubeconfig when one is given or
    exists, else the pod's service account."""
    import yaml
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    configuration = client.Configuration()
    path = kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or os.path.expanduser("~/.kube/config")
    if kubeconfig or os.path.exists(path):
        if not os.path.isfile(path):
            raise ConfigError(f"kubeconfig {path}: no such file")
        try:
            config.load_kube_config(config_file=path, context=context, client_configuration=configuration, persist_config=False)
            contexts, current = config.list_kube_config_contexts(path)
        except ConfigException as exc:
            raise ConfigError(f"kubeconfig {path}: {exc}") from exc
        except (OSError, ValueError, TypeError, KeyError, yaml.YAMLError) as exc:  # unreadable or malformed YAML
            raise ConfigError(f"kubeconfig {path} cannot be used: {exc}") from exc
        chosen = next((c for c in contexts if c.get("name") == context), None) if context else current
        namespace = ((chosen or {}).get("context") or {}).get("namespace") or "default"
        return configuration, namespace, configuration.host
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            config.load_incluster_config(client_configuration=configuration)
        except ConfigException as exc:
            raise ConfigError(f"in-cluster Kubernetes configuration: {exc}") from exc
        try:
            namespace = SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
        except OSError:
            namespace = "default"
        return configuration, namespace, configuration.host
    raise ConfigError(
        "no Kubernetes configuration: no kubeconfig (--kubeconfig, $KUBECONFIG, ~/.kube/config) and not in a pod; "
        "use --local to work with the local executor instead"
    )


def _is_transport_error(exc: BaseException) -> bool:
    import urllib3.exceptions

    return isinstance(exc, (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError, OSError))


def _never_sent(exc: BaseException) -> bool:
    """The request cannot have reached the server: the connection itself failed."""
    import urllib3.exceptions

    reason = getattr(exc, "reason", None)
    return isinstance(exc, urllib3.exceptions.NewConnectionError) or isinstance(reason, urllib3.exceptions.NewConnectionError) or isinstance(exc, ConnectionRefusedError)


def _status_message(exc: Any) -> str:
    """The API server's Status message, else the HTTP reason."""
    import json

    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(exc.reason or exc.body or "no message").strip()


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "reason", None) or exc)
    return text.splitlines()[0][:300] if text else type(exc).__name__
