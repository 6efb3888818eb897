"""Every field the local executor reads, and the allow-list of fields it accepts without a local
meaning. Any other field fails loading with its path: the executor never silently ignores a
field, because a run that "passes" locally while skipping what the cluster would do proves
nothing.

`ACCEPTED_WITHOUT_LOCAL_MEANING` is the documented allow-list: scheduling, pod placement,
security, garbage collection and metadata that change how a cluster runs a pod but not what the
command computes. Their content is not inspected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

ACCEPTED_WITHOUT_LOCAL_MEANING: dict[str, str] = {
    "podGC": "node directories stay under the state dir for inspection (delete it when done)",
    "ttlStrategy": "the status document stays until you delete it",
    "serviceAccountName": "processes run as the invoking user",
    "automountServiceAccountToken": "no Kubernetes API access locally",
    "securityContext": "processes run as the invoking user",
    "podSecurityContext": "processes run as the invoking user",
    "resources": "no requests/limits are enforced on local processes",
    "imagePullPolicy": "images are not pulled: the command must exist on PATH",
    "imagePullSecrets": "images are not pulled",
    "image": "images are not pulled: the command must exist on PATH",
    "labels": "metadata only",
    "annotations": "metadata only",
    "metadata": "metadata only",
    "podMetadata": "metadata only",
    "workflowMetadata": "metadata only",
    "nodeSelector": "pod placement",
    "tolerations": "pod placement",
    "affinity": "pod placement",
    "schedulerName": "pod placement",
    "priority": "workflow priority in the controller's queue",
    "priorityClassName": "pod priority",
    "podPriorityClassName": "pod priority",
    "podDisruptionBudget": "no evictions locally",
    "archiveLogs": "node logs are always kept under the state directory",
    "artifactGC": "local artifacts are kept",
    "artifactRepositoryRef": "key-only S3 artifacts resolve against --artifact-root",
    "description": "documentation only",
    "metrics": "Prometheus metrics are the controller's: none are emitted locally",
    "memoize": "no memoization cache locally: every run is a cache miss, as a first run on a cluster is",
    "dnsConfig": "processes use this machine's DNS",
    "dnsPolicy": "processes use this machine's DNS",
    "sizeLimit": "emptyDir size is not enforced on a local directory",
    "medium": "a memory-backed emptyDir is a plain directory locally",
    "readOnly": "read-only mounts are not enforced on local directories",
    "defaultMode": "local files keep default permissions",
    # CronWorkflow scheduling: a local run is one trigger, now.
    "schedules": "a local run triggers the CronWorkflow once, now",
    "timezone": "a local run triggers the CronWorkflow once, now",
    "concurrencyPolicy": "one trigger per command: schedule ticks never overlap locally",
    "startingDeadlineSeconds": "a local run starts immediately",
    "suspend": "a local run triggers the CronWorkflow even if it is suspended on the cluster",
    "successfulJobsHistoryLimit": "no history of child workflows is kept locally",
    "failedJobsHistoryLimit": "no history of child workflows is kept locally",
    "stopStrategy": "a local run is a single trigger",
    # Identity fields of Kubernetes objects.
    "apiVersion": "object identity",
    "kind": "object identity",
}


@dataclass(frozen=True)
class Spec:
    """One field's expected shape: a scalar kind, a nested object, a list or a map."""

    kind: str  # "str" | "int" | "intstr" | "bool" | "scalar" | "any" | "opaque" | "object" | "list" | "map"
    of: Any = None  # object name, or the element Spec for list/map


STR, INT, INTSTR, BOOL, SCALAR, ANY, OPAQUE = (Spec(k) for k in ("str", "int", "intstr", "bool", "scalar", "any", "opaque"))


def obj(name: str) -> Spec:
    return Spec("object", name)


def list_of(spec: Spec) -> Spec:
    return Spec("list", spec)


def map_of(spec: Spec) -> Spec:
    return Spec("map", spec)


def _accepted(*names: str) -> dict[str, Spec]:
    missing = [name for name in names if name not in ACCEPTED_WITHOUT_LOCAL_MEANING]
    assert not missing, f"document these in ACCEPTED_WITHOUT_LOCAL_MEANING: {missing}"
    return {name: OPAQUE for name in names}


_META = {"name": STR, "generateName": STR, "namespace": STR, "labels": map_of(SCALAR), "annotations": map_of(SCALAR)}
_CONTAINER = {
    "name": STR,
    "command": list_of(STR),
    "args": list_of(STR),
    "env": list_of(obj("EnvVar")),
    "envFrom": list_of(obj("EnvFromSource")),
    "workingDir": STR,
    "volumeMounts": list_of(obj("VolumeMount")),
    **_accepted("image", "imagePullPolicy", "resources", "securityContext"),
}
_WORKFLOW_SPEC_ACCEPTED = _accepted(
    "podGC", "ttlStrategy", "serviceAccountName", "automountServiceAccountToken", "securityContext",
    "podSecurityContext", "nodeSelector", "tolerations", "affinity", "schedulerName", "priority",
    "podPriorityClassName", "podDisruptionBudget", "archiveLogs", "artifactGC", "artifactRepositoryRef",
    "imagePullSecrets", "podMetadata", "workflowMetadata", "metrics", "dnsConfig", "dnsPolicy",
)

OBJECTS: dict[str, dict[str, Spec]] = {
    "Workflow": {"apiVersion": STR, "kind": STR, "metadata": obj("ObjectMeta"), "spec": obj("WorkflowSpec")},
    "WorkflowTemplate": {"apiVersion": STR, "kind": STR, "metadata": obj("ObjectMeta"), "spec": obj("WorkflowSpec")},
    "CronWorkflow": {"apiVersion": STR, "kind": STR, "metadata": obj("ObjectMeta"), "spec": obj("CronWorkflowSpec")},
    "ObjectMeta": _META,
    "CronWorkflowSpec": {
        "workflowSpec": obj("WorkflowSpec"),
        "workflowMetadata": obj("ObjectMeta"),
        **_accepted(
            "schedules", "timezone", "concurrencyPolicy", "startingDeadlineSeconds", "suspend",
            "successfulJobsHistoryLimit", "failedJobsHistoryLimit", "stopStrategy",
        ),
    },
    "WorkflowSpec": {
        "entrypoint": STR,
        "arguments": obj("Arguments"),
        "templates": list_of(obj("Template")),
        "onExit": STR,
        "parallelism": INT,
        "activeDeadlineSeconds": INTSTR,
        "synchronization": obj("Synchronization"),
        "workflowTemplateRef": obj("WorkflowTemplateRef"),
        "retryStrategy": obj("RetryStrategy"),
        "volumes": list_of(obj("Volume")),
        "templateDefaults": obj("Template"),
        "hooks": map_of(obj("LifecycleHook")),
        **_WORKFLOW_SPEC_ACCEPTED,
    },
    "WorkflowTemplateRef": {"name": STR, "clusterScope": BOOL},
    "Arguments": {"parameters": list_of(obj("ArgumentParameter")), "artifacts": list_of(obj("ArgumentArtifact"))},
    "ArgumentParameter": {
        "name": STR, "value": SCALAR, "default": SCALAR, "enum": list_of(SCALAR),
        "valueFrom": obj("InputValueFrom"), **_accepted("description"),
    },
    "ArgumentArtifact": {
        "name": STR, "from": STR, "s3": obj("S3KeyOnly"), "raw": obj("RawArtifact"), "optional": BOOL, "subPath": STR,
    },
    "Template": {
        "name": STR,
        "inputs": obj("Inputs"),
        "outputs": obj("Outputs"),
        "container": obj("Container"),
        "script": obj("Script"),
        "containerSet": obj("ContainerSet"),
        "initContainers": list_of(obj("InitContainer")),
        "suspend": obj("Suspend"),
        "dag": obj("DAG"),
        "steps": list_of(list_of(obj("Step"))),
        "retryStrategy": obj("RetryStrategy"),
        "activeDeadlineSeconds": INTSTR,
        # Argo applies `timeout` to pods only ("may not be applied to Step or DAG templates").
        "timeout": STR,
        "parallelism": INT,
        "synchronization": obj("Synchronization"),
        "archiveLocation": obj("ArchiveLocation"),
        "volumes": list_of(obj("Volume")),
        **_accepted(
            "metadata", "securityContext", "serviceAccountName", "automountServiceAccountToken",
            "nodeSelector", "tolerations", "affinity", "schedulerName", "priorityClassName", "metrics", "memoize",
        ),
        "failFast": BOOL,
    },
    "ArchiveLocation": _accepted("archiveLogs"),
    "Container": _CONTAINER,
    "ContainerSet": {"containers": list_of(obj("ContainerNode")), "volumeMounts": list_of(obj("VolumeMount"))},
    "ContainerNode": {**_CONTAINER, "dependencies": list_of(STR)},
    # A local pod has one filesystem: every container sees every mount, mirrored or not.
    "InitContainer": {**_CONTAINER, "mirrorVolumeMounts": BOOL},
    "Suspend": {"duration": INTSTR},
    "Script": {**_CONTAINER, "source": STR},
    "EnvVar": {"name": STR, "value": STR, "valueFrom": obj("EnvVarSource")},
    "VolumeMount": {"name": STR, "mountPath": STR, "subPath": STR, **_accepted("readOnly")},
    "Volume": {
        "name": STR, "emptyDir": obj("EmptyDirVolume"), "configMap": obj("ConfigMapVolume"), "secret": obj("SecretVolume"),
    },
    "EmptyDirVolume": _accepted("medium", "sizeLimit"),
    "ConfigMapVolume": {"name": STR, "items": list_of(obj("KeyToPath")), "optional": BOOL, **_accepted("defaultMode")},
    "SecretVolume": {"secretName": STR, "items": list_of(obj("KeyToPath")), "optional": BOOL, **_accepted("defaultMode")},
    "KeyToPath": {"key": STR, "path": STR, "mode": INT},
    "EnvVarSource": {"configMapKeyRef": obj("KeyRef"), "secretKeyRef": obj("KeyRef")},
    "KeyRef": {"name": STR, "key": STR, "optional": BOOL},
    "EnvFromSource": {"prefix": STR, "configMapRef": obj("NameRef"), "secretRef": obj("NameRef")},
    "NameRef": {"name": STR, "optional": BOOL},
    "Inputs": {"parameters": list_of(obj("InputParameter")), "artifacts": list_of(obj("InputArtifact"))},
    "InputParameter": {
        "name": STR, "value": SCALAR, "default": SCALAR, "enum": list_of(SCALAR),
        "valueFrom": obj("InputValueFrom"), **_accepted("description"),
    },
    "InputValueFrom": {"configMapKeyRef": obj("KeyRef")},
    "InputArtifact": {
        "name": STR, "path": STR, "s3": obj("S3KeyOnly"), "raw": obj("RawArtifact"), "optional": BOOL,
        "mode": INT, **_accepted("description"),
    },
    "Outputs": {"parameters": list_of(obj("OutputParameter")), "artifacts": list_of(obj("OutputArtifact"))},
    "OutputParameter": {
        "name": STR, "value": SCALAR, "valueFrom": obj("OutputValueFrom"), "globalName": STR,
        **_accepted("description"),
    },
    "OutputValueFrom": {"path": STR, "parameter": STR, "default": SCALAR, "expression": STR},
    "OutputArtifact": {
        "name": STR, "path": STR, "s3": obj("S3KeyOnly"), "archive": obj("ArchiveStrategy"), "optional": BOOL,
        "globalName": STR, "from": STR, "fromExpression": STR, **_accepted("archiveLogs", "artifactGC", "description"),
    },
    "S3KeyOnly": {"key": STR},
    "RawArtifact": {"data": STR},
    "ArchiveStrategy": {"none": obj("Empty"), "tar": obj("TarStrategy")},
    "TarStrategy": {"compressionLevel": INT},
    "Empty": {},
    "DAG": {"tasks": list_of(obj("DAGTask")), "failFast": BOOL, "target": STR},
    "DAGTask": {
        "name": STR, "template": STR, "arguments": obj("Arguments"), "dependencies": list_of(STR),
        "depends": STR, "when": STR, "withItems": list_of(ANY), "withParam": STR,
        "continueOn": obj("ContinueOn"), "templateRef": obj("TemplateRef"), "inline": obj("Template"),
        "withSequence": obj("Sequence"), "hooks": map_of(obj("LifecycleHook")), "onExit": STR,
        **_accepted("description"),
    },
    "Step": {
        "name": STR, "template": STR, "arguments": obj("Arguments"), "when": STR,
        "withItems": list_of(ANY), "withParam": STR, "continueOn": obj("ContinueOn"),
        "templateRef": obj("TemplateRef"), "inline": obj("Template"), "withSequence": obj("Sequence"),
        "hooks": map_of(obj("LifecycleHook")), "onExit": STR, **_accepted("description"),
    },
    "LifecycleHook": {"template": STR, "templateRef": obj("TemplateRef"), "arguments": obj("Arguments"), "expression": STR},
    "Sequence": {"count": INTSTR, "start": INTSTR, "end": INTSTR, "format": STR},
    "TemplateRef": {"name": STR, "template": STR, "clusterScope": BOOL},
    "ContinueOn": {"failed": BOOL, "error": BOOL},
    "RetryStrategy": {
        "limit": INTSTR, "retryPolicy": STR, "backoff": obj("Backoff"), "expression": STR, **_accepted("affinity"),
    },
    "Backoff": {"duration": INTSTR, "factor": INTSTR, "maxDuration": INTSTR, "cap": INTSTR},
    "Synchronization": {"mutexes": list_of(obj("Mutex")), "semaphores": list_of(obj("Semaphore"))},
    "Semaphore": {"configMapKeyRef": obj("KeyRef"), "namespace": STR, "database": BOOL},
    "Mutex": {"name": STR, "namespace": STR, "database": BOOL},
}

# Why a known Argo field is refused: said in the error, so the author knows it is deliberate.
_REFUSAL_REASONS: dict[str, str] = {
    "volumeClaimTemplates": "only emptyDir, configMap and secret volumes are supported",
    "persistentVolumeClaim": "only emptyDir, configMap and secret volumes are supported",
    "hostPath": "only emptyDir, configMap and secret volumes are supported",
    "sidecars": "sidecars are not run locally",
    "podSpecPatch": "a pod spec patch cannot be applied to a local process",
    "expression": "expr-lang is only evaluated in retryStrategy.expression",
    "resource": "resource templates need a Kubernetes API",
    "http": "http templates are not supported",
    "plugin": "plugin templates are not supported",
    "retryStrategy": "a containerSet's container-level retries are not supported locally (use the template's retryStrategy)",
    "supplied": "a supplied output is set by `argo node set` on a suspended node: no operator does that here",
    "data": "data templates are not supported",
    "daemon": "daemon templates are not supported",
    "bucket": "only key-only S3 artifacts are supported: they resolve against --artifact-root",
    "endpoint": "only key-only S3 artifacts are supported: they resolve against --artifact-root",
    "zip": "only tar (the default) and none archives are supported",
}


class FieldError(ValueError):
    """A field the executor does not support, or a value of the wrong type; names the path."""


def check(document: Mapping[str, Any], kind: str, root: str = "") -> None:
    """Walk `document` against OBJECTS[kind]; raise FieldError at the first unknown field."""
    _check_object(document, kind, root)


def _check_object(value: Any, name: str, path: str) -> None:
    if not isinstance(value, Mapping):
        raise FieldError(f"{path or '<document>'}: expected an object, got {_show(value)}")
    fields = OBJECTS[name]
    for key, item in value.items():
        child = f"{path}.{key}" if path else str(key)
        spec = fields.get(key)
        if spec is None:
            reason = _REFUSAL_REASONS.get(str(key), "the local executor does not know this field")
            known = ", ".join(sorted(fields)) or "(none)"
            raise FieldError(f"unsupported field '{key}' at {child}: {reason} (supported here: {known})")
        _check_value(item, spec, child)


def _check_value(value: Any, spec: Spec, path: str) -> None:
    kind = spec.kind
    if kind in ("opaque", "any"):
        return
    if kind == "object":
        _check_object(value, spec.of, path)
    elif kind == "list":
        if not isinstance(value, list):
            raise FieldError(f"{path}: expected a list, got {_show(value)}")
        for index, item in enumerate(value):
            label = item.get("name") if isinstance(item, Mapping) and isinstance(item.get("name"), str) else index
            _check_value(item, spec.of, f"{path}[{label}]")
    elif kind == "map":
        if not isinstance(value, Mapping):
            raise FieldError(f"{path}: expected a mapping, got {_show(value)}")
        for key, item in value.items():
            _check_value(item, spec.of, f"{path}.{key}")
    elif kind == "str":
        if not isinstance(value, str):
            raise FieldError(f"{path}: expected a string, got {_show(value)}")
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise FieldError(f"{path}: expected an integer, got {_show(value)}")
    elif kind == "intstr":
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise FieldError(f"{path}: expected an integer or a string, got {_show(value)}")
    elif kind == "bool":
        if not isinstance(value, bool):
            raise FieldError(f"{path}: expected true or false, got {_show(value)}")
    elif kind == "scalar":
        if isinstance(value, (dict, list)):
            raise FieldError(f"{path}: expected a string, number or boolean, got {_show(value)}")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
