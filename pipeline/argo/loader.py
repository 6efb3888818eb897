"""Load what `argo submit` would submit: read the YAML, pick the document to run, resolve its
`workflowTemplateRef`, bind `-p` parameters, read ConfigMaps and Secrets from local files, and
check everything that can be checked before a process starts. Every problem raises
`WorkflowLoadError` (exit code 2) naming the file, the document and the field.
"""

from __future__ import annotations

import base64
import copy
import re
import secrets as random_source
import string
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

import yaml

from pipeline.argo import exprlang, fields, resolution
from pipeline.argo.expressions import (
    TAG,
    DependsExpr,
    ExpressionError,
    dependencies_expr,
    param_string,
    parse_depends,
)
from pipeline.argo.runtime import POD_KINDS, TEMPLATE_KINDS
from pipeline.argo.status import utcnow
from pipeline.errors import ConfigError

RUNNABLE_KINDS = ("Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow")
RETRY_POLICIES = ("Always", "OnFailure", "OnError", "OnTransientError")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)")
# Go's units, and `d` (days) as Argo's duration strings allow ("1d" in its suspend example)
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class WorkflowLoadError(ConfigError):
    """The YAML cannot be run: malformed, unsupported, or inconsistent. Exit code 2."""


@dataclass
class Source:
    path: Path
    index: int
    doc: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.doc.get("kind", ""))

    @property
    def name(self) -> str:
        meta = self.doc.get("metadata") or {}
        return str(meta.get("name") or meta.get("generateName") or "")

    def where(self) -> str:
        return f"{self.path} (document {self.index + 1}, {self.kind} {self.name or '<unnamed>'})"


@dataclass
class LoadedWorkflow:
    """A Workflow ready to execute: the effective spec after reference resolution."""

    name: str
    namespace: str
    uid: str
    created_at: datetime
    labels: dict[str, str]
    annotations: dict[str, str]
    spec: dict[str, Any]
    templates: dict[str, dict[str, Any]]
    parameters: dict[str, str]
    configmaps: dict[str, dict[str, str]]
    secrets: dict[str, dict[str, str]]
    source_kind: str
    scheduled_time: datetime | None = None
    depends: dict[tuple[str, str], DependsExpr] = field(default_factory=dict)
    # table key → the template's own name, as a node's templateName shows it
    template_names: dict[str, str] = field(default_factory=dict)
    # image → its ENTRYPOINT, for templates that give no command (`--image-entrypoint`)
    image_entrypoints: dict[str, list[str]] = field(default_factory=dict)
    resume_suspended: bool = False  # `--resume-suspended`: a suspend without duration resumes at once

    def command_of(self, body: dict[str, Any]) -> list[str] | None:
        """A container's command: its own, else its image's known ENTRYPOINT (as Kubernetes
        runs ENTRYPOINT + args when command is absent), else None."""
        if body.get("command"):
            return [str(part) for part in body["command"]]
        entry = self.image_entrypoints.get(str(body.get("image", "")))
        return list(entry) if entry else None

    def manifest(self) -> dict[str, Any]:
        """The Workflow object `argo get` would show, minus its status."""
        metadata: dict[str, Any] = {
            "name": self.name,
            "namespace": self.namespace,
            "uid": self.uid,
            "creationTimestamp": self.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if self.labels:
            metadata["labels"] = dict(self.labels)
        if self.annotations:
            metadata["annotations"] = dict(self.annotations)
        spec = copy.deepcopy(self.spec)
        spec["arguments"] = {
            **spec.get("arguments", {}),
            "parameters": [{"name": key, "value": value} for key, value in self.parameters.items()],
        }
        return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": metadata, "spec": spec}


# --- reading ----------------------------------------------------------------------------------


def read_documents(path: Path) -> list[Source]:
    """Every document of a file, parsed but not checked: only the document that runs and the
    templates it references are (see `check_document` and pipeline.argo.resolution)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkflowLoadError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    try:
        docs = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        raise WorkflowLoadError(f"malformed YAML in {path}: {_describe_yaml_error(exc)}") from exc
    sources = []
    for index, doc in enumerate(docs):
        if not isinstance(doc, dict):
            raise WorkflowLoadError(f"{path} (document {index + 1}): expected a Kubernetes object, got {type(doc).__name__}")
        sources.append(Source(path, index, doc))
    if not sources:
        raise WorkflowLoadError(f"{path}: no documents")
    return sources


def check_document(source: Source) -> None:
    check_kind = "WorkflowTemplate" if source.kind == "ClusterWorkflowTemplate" else source.kind
    try:
        fields.check(source.doc, check_kind)
    except fields.FieldError as exc:
        raise WorkflowLoadError(f"{source.where()}: {exc}") from exc


def _describe_yaml_error(exc: yaml.YAMLError) -> str:
    """PyYAML's problem and context with their line numbers, e.g. "while scanning a quoted
    scalar (line 10, column 24): found unexpected end of stream (line 12, column 1)"."""

    def at(mark: object) -> str:
        return f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""  # type: ignore[attr-defined]

    problem = getattr(exc, "problem", None)
    if problem is None:
        return str(exc)
    context = getattr(exc, "context", None)
    prefix = f"{context}{at(getattr(exc, 'context_mark', None))}: " if context else ""
    return f"{prefix}{problem}{at(getattr(exc, 'problem_mark', None))}"


def read_key_values(path: Path, *, kind: str) -> dict[str, str]:
    """A ConfigMap/Secret manifest, a plain `key: value` mapping, or a directory with one file
    per key (as `kubectl create configmap --from-file=DIR` reads it, and as a Secret mounts)."""
    if path.is_dir():
        return {child.name: child.read_text() for child in sorted(path.iterdir()) if child.is_file()}
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise WorkflowLoadError(f"cannot read {kind} file {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise WorkflowLoadError(f"malformed YAML in {kind} file {path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise WorkflowLoadError(f"{kind} file {path}: expected a mapping")
    if doc.get("kind") == "ConfigMap":
        return {str(k): param_string(v) for k, v in (doc.get("data") or {}).items()}
    if doc.get("kind") == "Secret":
        values = {}
        for key, encoded in (doc.get("data") or {}).items():
            try:
                values[str(key)] = base64.b64decode(str(encoded), validate=True).decode()
            except (ValueError, UnicodeDecodeError) as exc:
                raise WorkflowLoadError(f"secret file {path}: data.{key} is not base64 text") from exc
        values.update({str(k): param_string(v) for k, v in (doc.get("stringData") or {}).items()})
        return values
    return {str(k): param_string(v) for k, v in doc.items()}


# --- selecting and resolving ------------------------------------------------------------------


def load(
    files: list[Path],
    *,
    template_files: Iterable[Path] = (),
    parameters: dict[str, str] | None = None,
    configmaps: dict[str, Path] | None = None,
    secrets: dict[str, Path] | None = None,
    name: str | None = None,
    entrypoint: str | None = None,
    now: datetime | None = None,
    image_entrypoints: dict[str, list[str]] | None = None,
    resume_suspended: bool = False,
) -> LoadedWorkflow:
    main_sources = [source for path in files for source in read_documents(path)]
    every = list(main_sources) + [source for path in template_files for source in read_documents(path)]
    chosen = _choose([s for s in main_sources if s.kind in RUNNABLE_KINDS], name, main_sources)
    check_document(chosen)
    library = resolution.Library([(s.doc, s.where()) for s in every if s.kind in resolution.LIBRARY_KINDS])
    now = now or utcnow()

    meta = dict(chosen.doc.get("metadata") or {})
    scheduled_time = None
    if chosen.kind == "CronWorkflow":
        spec = copy.deepcopy(chosen.doc["spec"].get("workflowSpec"))
        if spec is None:
            raise WorkflowLoadError(f"{chosen.where()}: spec.workflowSpec is required")
        cron_meta = chosen.doc["spec"].get("workflowMetadata") or {}
        if not meta.get("name"):
            raise WorkflowLoadError(f"{chosen.where()}: metadata.name is required")
        # Argo names a CronWorkflow's child `<cron name>-<scheduled unix time>`.
        workflow_name = f"{meta['name']}-{int(now.timestamp())}"
        labels = {**_strings(cron_meta.get("labels")), "workflows.argoproj.io/cron-workflow": meta["name"]}
        annotations = _strings(cron_meta.get("annotations"))
        scheduled_time = now
        where = f"{chosen.where()}: spec.workflowSpec"
    else:
        spec = copy.deepcopy(chosen.doc.get("spec"))
        if not isinstance(spec, dict):
            raise WorkflowLoadError(f"{chosen.where()}: spec is required")
        labels = _strings(meta.get("labels"))
        annotations = _strings(meta.get("annotations"))
        if chosen.kind == "Workflow":
            workflow_name = meta.get("name") or _generate_name(meta.get("generateName"), chosen)
        else:  # `argo submit --from workflowtemplate/NAME` → generateName `<NAME>-`
            if not meta.get("name"):
                raise WorkflowLoadError(f"{chosen.where()}: metadata.name is required")
            workflow_name = _generate_name(f"{meta['name']}-", chosen)
            labels.setdefault("workflows.argoproj.io/workflow-template", meta["name"])
        where = f"{chosen.where()}: spec"

    spec, origin = _resolve_template_ref(spec, library, where)
    if origin is not None:  # templates and defaults came from there: say so in messages
        where = f"{origin} (via {where}.workflowTemplateRef): spec"
    if entrypoint:
        spec["entrypoint"] = entrypoint
    check_expression_tags(spec, where)

    # ConfigMaps and Secrets in the given files stand for objects applied to the cluster; an
    # explicit --configmap/--secret of the same name wins.
    configmap_values = {s.name: _object_data(s) for s in every if s.kind == "ConfigMap"}
    secret_values = {s.name: _object_data(s) for s in every if s.kind == "Secret"}
    configmap_values.update({key: read_key_values(path, kind="configmap") for key, path in (configmaps or {}).items()})
    secret_values.update({key: read_key_values(path, kind="secret") for key, path in (secrets or {}).items()})

    if not spec.get("entrypoint"):
        raise WorkflowLoadError(f"{where}.entrypoint is required")
    try:
        table = resolution.resolve(spec, library, where)
    except resolution.ResolutionError as exc:
        raise WorkflowLoadError(str(exc)) from exc
    templates = table.templates
    bound = _bind_parameters(spec, parameters or {}, configmap_values, where)
    loaded = LoadedWorkflow(
        name=workflow_name,
        namespace=str(meta.get("namespace") or "default"),
        uid=str(uuid.uuid4()),
        created_at=now,
        labels=labels,
        annotations=annotations,
        spec=spec,
        templates=templates,
        parameters=bound,
        configmaps=configmap_values,
        secrets=secret_values,
        source_kind=chosen.kind,
        scheduled_time=scheduled_time,
        template_names=table.names,
        image_entrypoints=dict(image_entrypoints or {}),
        resume_suspended=resume_suspended,
    )
    _check_workflow(loaded, where)
    return loaded


def _choose(runnable_sources: list[Source], name: str | None, every: list[Source]) -> Source:
    if not runnable_sources:
        found = ", ".join(f"{s.kind or '<no kind>'}/{s.name}" for s in every)
        raise WorkflowLoadError(f"no document of kind {', '.join(RUNNABLE_KINDS)} to run (found: {found})")
    if name:
        matches = [s for s in runnable_sources if name in {s.name, str((s.doc.get("metadata") or {}).get("name", ""))}]
        if len(matches) != 1:
            found = ", ".join(f"{s.kind}/{s.name}" for s in runnable_sources)
            raise WorkflowLoadError(f"no single document named {name!r} to run (found: {found})")
        return matches[0]
    runnable = [s for s in runnable_sources if s.kind in ("Workflow", "CronWorkflow")]
    if not runnable:
        runnable = [s for s in runnable_sources if s.kind in ("WorkflowTemplate", "ClusterWorkflowTemplate")]
    if len(runnable) != 1:
        found = ", ".join(f"{s.kind}/{s.name}" for s in runnable)
        raise WorkflowLoadError(f"{len(runnable)} runnable documents ({found}): choose one with --name")
    return runnable[0]


def _object_data(source: Source) -> dict[str, str]:
    """A ConfigMap's or Secret's data, as `read_key_values` reads it from a file."""
    doc = source.doc
    if source.kind == "Secret":
        values = {}
        for key, encoded in (doc.get("data") or {}).items():
            try:
                values[str(key)] = base64.b64decode(str(encoded), validate=True).decode()
            except (ValueError, UnicodeDecodeError) as exc:
                raise WorkflowLoadError(f"{source.where()}: data.{key} is not base64 text") from exc
        values.update({str(k): param_string(v) for k, v in (doc.get("stringData") or {}).items()})
        return values
    return {str(k): param_string(v) for k, v in (doc.get("data") or {}).items()}


def _generate_name(prefix: Any, source: Source) -> str:
    if not prefix:
        raise WorkflowLoadError(f"{source.where()}: metadata.name or metadata.generateName is required")
    alphabet = string.ascii_lowercase + string.digits
    return f"{prefix}{''.join(random_source.choice(alphabet) for _ in range(5))}"


def _strings(mapping: Any) -> dict[str, str]:
    return {str(k): param_string(v) for k, v in (mapping or {}).items()}


def _resolve_template_ref(spec: dict[str, Any], library: resolution.Library, where: str) -> tuple[dict[str, Any], str | None]:
    """Argo's JoinWorkflowSpec: the referenced template's spec under the Workflow's own fields."""
    ref = spec.pop("workflowTemplateRef", None)
    if ref is None:
        return spec, None
    kind = "ClusterWorkflowTemplate" if ref.get("clusterScope") else "WorkflowTemplate"
    try:
        doc = library.find(kind, ref.get("name"), f"{where}.workflowTemplateRef")
    except resolution.ResolutionError as exc:
        raise WorkflowLoadError(str(exc)) from exc
    if "templates" in spec:
        raise WorkflowLoadError(f"{where}.templates: a Workflow with workflowTemplateRef cannot define templates")
    origin = f"{kind} {ref.get('name')!r}"
    if not isinstance(doc.get("spec"), dict):
        raise WorkflowLoadError(f"{where}.workflowTemplateRef: {origin} has no spec")
    base = copy.deepcopy(doc["spec"])
    if "workflowTemplateRef" in base:
        raise WorkflowLoadError(f"{origin}: spec.workflowTemplateRef cannot be chained")
    # The Workflow's fields win; arguments merge by parameter name (Argo's JoinWorkflowSpec).
    merged = {**base, **{k: v for k, v in spec.items() if k != "arguments"}}
    params = {p["name"]: dict(p) for p in (base.get("arguments") or {}).get("parameters", [])}
    for p in (spec.get("arguments") or {}).get("parameters", []):
        params[p["name"]] = {**params.get(p["name"], {}), **p}
    arguments = {**(base.get("arguments") or {}), **(spec.get("arguments") or {})}
    if params:
        arguments["parameters"] = list(params.values())
    if arguments:
        merged["arguments"] = arguments
    return merged, origin


def check_expression_tags(value: Any, path: str) -> None:
    """Parse every `{{=...}}` tag now, so an expression the local evaluator cannot run exactly
    (a closure, an unsupported function) is refused before anything starts."""
    if isinstance(value, str):
        for match in TAG.finditer(value):
            if match.group(1).startswith("="):
                try:
                    exprlang.Expression(match.group(1)[1:])
                except ExpressionError as exc:
                    raise WorkflowLoadError(f"{path}: {exc}") from exc
    elif isinstance(value, list):
        for index, item in enumerate(value):
            label = item.get("name") if isinstance(item, dict) and isinstance(item.get("name"), str) else index
            check_expression_tags(item, f"{path}[{label}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_expression_tags(item, f"{path}.{key}")


def _bind_parameters(
    spec: dict[str, Any], supplied: dict[str, str], configmaps: dict[str, dict[str, str]], where: str
) -> dict[str, str]:
    declared = (spec.get("arguments") or {}).get("parameters") or []
    names = [p.get("name") for p in declared]
    unknown = sorted(set(supplied) - set(names))
    if unknown:
        raise WorkflowLoadError(
            f"{where}.arguments.parameters: -p {unknown[0]} is not a declared parameter (declared: {', '.join(map(str, names)) or 'none'})"
        )
    bound: dict[str, str] = {}
    for param in declared:
        name = param.get("name")
        path = f"{where}.arguments.parameters[{name}]"
        if not name:
            raise WorkflowLoadError(f"{where}.arguments.parameters: every parameter needs a name")
        if name in supplied:
            value: str | None = supplied[name]
        elif "value" in param:
            value = param_string(param["value"])
        elif "valueFrom" in param:
            value = configmap_value(param["valueFrom"]["configMapKeyRef"], configmaps, f"{path}.valueFrom.configMapKeyRef")
        elif "default" in param:
            value = param_string(param["default"])
        else:
            value = None
        if value is None:
            raise WorkflowLoadError(f"{path}: no value: pass -p {name}=VALUE")
        check_enum(param, value, path)
        bound[name] = value
    return bound


def configmap_value(ref: dict[str, Any], configmaps: dict[str, dict[str, str]], path: str) -> str | None:
    """A `configMapKeyRef`, resolved from a `--configmap NAME=FILE`; None when optional and absent."""
    return _key_ref(ref, configmaps, path, kind="configmap")


def secret_value(ref: dict[str, Any], secrets: dict[str, dict[str, str]], path: str) -> str | None:
    return _key_ref(ref, secrets, path, kind="secret")


def _key_ref(ref: dict[str, Any], sources: dict[str, dict[str, str]], path: str, *, kind: str) -> str | None:
    name, key = ref.get("name"), ref.get("key")
    if not name or not key:
        raise WorkflowLoadError(f"{path}: name and key are required")
    if name not in sources:
        if ref.get("optional"):
            return None
        raise WorkflowLoadError(f"{path}: {kind} {name!r} not given: pass --{kind} {name}=FILE")
    if key not in sources[name]:
        if ref.get("optional"):
            return None
        raise WorkflowLoadError(f"{path}: {kind} {name!r} has no key {key!r}")
    return sources[name][key]


def check_enum(param: dict[str, Any], value: str, path: str) -> None:
    allowed = [param_string(v) for v in param.get("enum") or []]
    if allowed and value not in allowed:
        raise WorkflowLoadError(f"{path}: value {value!r} is not one of {allowed}")


# --- static checks ------------------------------------------------------------------------------


def parse_duration(value: Any, path: str) -> float:
    """Seconds from an int or a Go duration string ("1s", "1m30s", "500ms")."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(a + b for a, b in parts) != text:
        raise WorkflowLoadError(f"{path}: {value!r} is not a duration (use seconds or a Go duration such as 30s, 1m)")
    return sum(float(amount) * _DURATION_UNITS[unit] for amount, unit in parts)


def parse_int(value: Any, path: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError as exc:
        raise WorkflowLoadError(f"{path}: {value!r} is not an integer") from exc


def _check_workflow(loaded: LoadedWorkflow, where: str) -> None:
    spec = loaded.spec
    templates = loaded.templates
    entry = spec.get("entrypoint")
    if not entry:
        raise WorkflowLoadError(f"{where}.entrypoint is required")
    if entry not in templates:
        raise WorkflowLoadError(f"{where}.entrypoint: unknown template {entry!r}")
    if spec.get("onExit") and spec["onExit"] not in templates:
        raise WorkflowLoadError(f"{where}.onExit: unknown template {spec['onExit']!r}")
    if "activeDeadlineSeconds" in spec:
        parse_int(spec["activeDeadlineSeconds"], f"{where}.activeDeadlineSeconds")
    for artifact in (spec.get("arguments") or {}).get("artifacts") or []:
        sources = [key for key in ("s3", "raw") if key in artifact]
        if len(sources) != 1:
            raise WorkflowLoadError(f"{where}.arguments.artifacts[{artifact.get('name')}]: exactly one of s3, raw")
    if "retryStrategy" in spec:
        _check_retry(spec["retryStrategy"], f"{where}.retryStrategy")
    _check_hooks(spec, where)
    _check_mutexes(spec.get("synchronization"), f"{where}.synchronization")
    for name, template in templates.items():
        _check_template(loaded, name, template, f"{where}.templates[{name}]")


def _check_template(loaded: LoadedWorkflow, name: str, template: dict[str, Any], path: str) -> None:
    kinds = [key for key in TEMPLATE_KINDS if key in template]
    if len(kinds) != 1:
        raise WorkflowLoadError(
            f"{path}: a template needs exactly one of {', '.join(TEMPLATE_KINDS)} (found {', '.join(kinds) or 'none'})"
        )
    kind = kinds[0]
    leaf = kind in POD_KINDS
    if kind == "suspend":
        _check_suspend(loaded, template, path)
    # Fields that only mean something for one kind of template: refused elsewhere rather than
    # silently ignored.
    for key, meaningful in (("activeDeadlineSeconds", leaf), ("volumes", leaf), ("parallelism", not leaf)):
        if key in template and not meaningful:
            where_it_works = "dag and steps" if leaf else "container and script"
            raise WorkflowLoadError(f"{path}.{key}: only {where_it_works} templates use it")
    if "activeDeadlineSeconds" in template:
        parse_int(template["activeDeadlineSeconds"], f"{path}.activeDeadlineSeconds")
    if "timeout" in template and not _has_tag(template["timeout"]):
        parse_duration(template["timeout"], f"{path}.timeout")
    if "retryStrategy" in template:
        _check_retry(template["retryStrategy"], f"{path}.retryStrategy")
    _check_mutexes(template.get("synchronization"), f"{path}.synchronization")
    for param in (template.get("inputs") or {}).get("parameters") or []:
        if "valueFrom" in param:
            configmap_value(param["valueFrom"]["configMapKeyRef"], loaded.configmaps, f"{path}.inputs.parameters[{param['name']}].valueFrom.configMapKeyRef")
    for artifact in (template.get("inputs") or {}).get("artifacts") or []:
        if leaf and not artifact.get("path"):
            raise WorkflowLoadError(f"{path}.inputs.artifacts[{artifact.get('name')}].path is required")
    for param in (template.get("outputs") or {}).get("parameters") or []:
        ppath = f"{path}.outputs.parameters[{param.get('name')}]"
        value_from = param.get("valueFrom") or {}
        if "value" not in param and not any(value_from.get(k) for k in ("path", "parameter", "expression")):
            raise WorkflowLoadError(f"{ppath}: needs value, valueFrom.path, valueFrom.parameter or valueFrom.expression")
        for key in ("parameter", "expression"):
            if leaf and value_from.get(key):
                raise WorkflowLoadError(f"{ppath}.valueFrom.{key}: only DAG and steps templates read other nodes' outputs")
        if value_from.get("expression"):
            try:
                exprlang.Expression(str(value_from["expression"]))
            except ExpressionError as exc:
                raise WorkflowLoadError(f"{ppath}.valueFrom.expression: {exc}") from exc
        if not leaf and value_from.get("path"):
            raise WorkflowLoadError(f"{ppath}.valueFrom.path: only container and script templates write files")
    for artifact in (template.get("outputs") or {}).get("artifacts") or []:
        apath = f"{path}.outputs.artifacts[{artifact.get('name')}]"
        if leaf and not artifact.get("path"):
            raise WorkflowLoadError(f"{apath}.path is required")
        if not leaf and not (artifact.get("from") or artifact.get("fromExpression")):
            raise WorkflowLoadError(f"{apath}: a DAG or steps template's artifact needs from or fromExpression")
        if leaf and (artifact.get("from") or artifact.get("fromExpression")):
            raise WorkflowLoadError(f"{apath}: from and fromExpression are for DAG and steps templates")
        if artifact.get("fromExpression"):
            try:
                exprlang.Expression(str(artifact["fromExpression"]))
            except ExpressionError as exc:
                raise WorkflowLoadError(f"{apath}.fromExpression: {exc}") from exc
    if kind == "containerSet":
        _check_container_set(loaded, template, path)
    elif leaf:
        body = template[kind]
        _check_mounts(loaded, template, body, f"{path}.{kind}")
        _check_command(loaded, body, f"{path}.{kind}")
        for index, init in enumerate(template.get("initContainers") or []):
            _check_command(loaded, init, f"{path}.initContainers[{init.get('name', index)}]")
            _check_env(loaded, init, f"{path}.initContainers[{init.get('name', index)}]")
        if kind == "script" and "source" not in body:
            raise WorkflowLoadError(f"{path}.script.source is required")
        _check_env(loaded, body, f"{path}.{kind}")
    elif kind == "dag":
        _check_dag(loaded, name, template, path)
    elif kind == "steps":
        _check_steps(loaded, template, path)


def _check_command(loaded: LoadedWorkflow, body: dict[str, Any], path: str) -> None:
    if loaded.command_of(body) is None:
        raise WorkflowLoadError(
            f"{path}.command is required locally: the image's ENTRYPOINT is not available outside the image "
            "(or name it with --image-entrypoint IMAGE=COMMAND)"
        )


def _check_container_set(loaded: LoadedWorkflow, template: dict[str, Any], path: str) -> None:
    """Containers with unique names, known dependencies and no cycle, each runnable here."""
    body = template["containerSet"]
    containers = body.get("containers") or []
    if not containers:
        raise WorkflowLoadError(f"{path}.containerSet.containers: at least one container is required")
    names = [str(c.get("name", "")) for c in containers]
    graph: dict[str, list[str]] = {}
    for container, name in zip(containers, names):
        cpath = f"{path}.containerSet.containers[{name}]"
        if not name:
            raise WorkflowLoadError(f"{path}.containerSet.containers: every container needs a name")
        if names.count(name) > 1:
            raise WorkflowLoadError(f"{cpath}: duplicate container name")
        for dep in container.get("dependencies") or []:
            if dep not in names:
                raise WorkflowLoadError(f"{cpath}.dependencies: unknown container {dep!r}")
        graph[name] = [str(d) for d in container.get("dependencies") or []]
        _check_command(loaded, container, cpath)
        _check_env(loaded, container, cpath)
        _check_mounts(loaded, template, container, cpath)
    _check_mounts(loaded, template, body, f"{path}.containerSet")
    _check_acyclic(graph, f"{path}.containerSet.containers")


def _check_suspend(loaded: LoadedWorkflow, template: dict[str, Any], path: str) -> None:
    duration = (template.get("suspend") or {}).get("duration")
    if duration is None and not loaded.resume_suspended:
        raise WorkflowLoadError(
            f"{path}.suspend: a suspend without duration waits for `argo resume`, which no one can send here; "
            "pass --resume-suspended to resume it at once, as `argo resume` right away would"
        )
    if duration is not None and not _has_tag(duration):
        parse_duration(duration, f"{path}.suspend.duration")


def template_volumes(spec: dict[str, Any], template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The volumes a template's mounts can name: its own, then the workflow's."""
    return {v["name"]: v for v in [*(spec.get("volumes") or []), *(template.get("volumes") or [])]}


def _check_mounts(loaded: LoadedWorkflow, template: dict[str, Any], body: dict[str, Any], path: str) -> None:
    volumes = template_volumes(loaded.spec, template)
    for mount in body.get("volumeMounts") or []:
        mpath = f"{path}.volumeMounts[{mount.get('name')}]"
        volume = volumes.get(mount.get("name"))
        if volume is None:
            raise WorkflowLoadError(f"{mpath}.name: no volume named {mount.get('name')!r} in spec.volumes or the template's volumes")
        if not str(mount.get("mountPath", "")).startswith("/"):
            raise WorkflowLoadError(f"{mpath}.mountPath: an absolute path is required")
    for source, vpath in ((v, f"spec.volumes[{v.get('name')}]") for v in volumes.values()):
        kinds = [key for key in ("emptyDir", "configMap", "secret") if key in source]
        if len(kinds) != 1:
            raise WorkflowLoadError(f"{vpath}: exactly one of emptyDir, configMap, secret (the local executor supports these)")
        if kinds[0] == "emptyDir":
            continue
        ref = source[kinds[0]]
        name = ref.get("name") if kinds[0] == "configMap" else ref.get("secretName")
        pool, flag = (loaded.configmaps, "configmap") if kinds[0] == "configMap" else (loaded.secrets, "secret")
        if ref.get("optional"):
            continue
        if name not in pool:
            raise WorkflowLoadError(f"{vpath}.{kinds[0]}: {flag} {name!r} not given: pass --{flag} {name}=FILE")
        for item in ref.get("items") or []:
            if item.get("key") not in pool[name]:
                raise WorkflowLoadError(f"{vpath}.{kinds[0]}.items[{item.get('key')}]: {flag} {name!r} has no key {item.get('key')!r}")


def _check_env(loaded: LoadedWorkflow, body: dict[str, Any], path: str) -> None:
    for var in body.get("env") or []:
        vpath = f"{path}.env[{var.get('name')}]"
        if not var.get("name"):
            raise WorkflowLoadError(f"{path}.env: every variable needs a name")
        source = var.get("valueFrom")
        if source is None:
            continue
        if len(source) != 1:
            raise WorkflowLoadError(f"{vpath}.valueFrom: exactly one of configMapKeyRef, secretKeyRef")
        if "configMapKeyRef" in source:
            configmap_value(source["configMapKeyRef"], loaded.configmaps, f"{vpath}.valueFrom.configMapKeyRef")
        else:
            secret_value(source["secretKeyRef"], loaded.secrets, f"{vpath}.valueFrom.secretKeyRef")
    for index, source in enumerate(body.get("envFrom") or []):
        spath = f"{path}.envFrom[{index}]"
        refs = [key for key in ("configMapRef", "secretRef") if key in source]
        if len(refs) != 1:
            raise WorkflowLoadError(f"{spath}: exactly one of configMapRef, secretRef")
        ref = source[refs[0]]
        pool, kind = (loaded.configmaps, "configmap") if refs[0] == "configMapRef" else (loaded.secrets, "secret")
        if ref.get("name") not in pool and not ref.get("optional"):
            raise WorkflowLoadError(f"{spath}.{refs[0]}: {kind} {ref.get('name')!r} not given: pass --{kind} {ref.get('name')}=FILE")


def _check_call(loaded: LoadedWorkflow, call: dict[str, Any], path: str) -> None:
    """A DAG task or step: its template exists and its arguments match the template's inputs."""
    target = call.get("template")
    if not target:
        raise WorkflowLoadError(f"{path}.template is required")
    if target not in loaded.templates:
        raise WorkflowLoadError(f"{path}.template: unknown template {target!r}")
    _check_hooks(call, path)
    loops = [key for key in ("withItems", "withParam", "withSequence") if key in call]
    if len(loops) > 1:
        raise WorkflowLoadError(f"{path}: use one of withItems, withParam, withSequence (found {', '.join(loops)})")
    sequence = call.get("withSequence") or {}
    if "end" in sequence and "count" in sequence:
        raise WorkflowLoadError(f"{path}.withSequence: only one of count or end can be defined (as in Argo)")
    if "withSequence" in call and "end" not in sequence and "count" not in sequence:
        raise WorkflowLoadError(f"{path}.withSequence: either count or end is required")
    for key in ("start", "end", "count"):
        if key in sequence and not _has_tag(sequence[key]):
            parse_int(sequence[key], f"{path}.withSequence.{key}")
    inputs = (loaded.templates[target].get("inputs") or {}).get("parameters") or []
    args = (call.get("arguments") or {}).get("parameters") or []
    given = set()
    # An argument the template does not declare is ignored, as Argo ignores it (lint warns).
    for arg in args:
        if "value" not in arg and "valueFrom" not in arg:
            raise WorkflowLoadError(f"{path}.arguments.parameters[{arg['name']}]: value is required")
        if "valueFrom" in arg:
            configmap_value(arg["valueFrom"]["configMapKeyRef"], loaded.configmaps, f"{path}.arguments.parameters[{arg['name']}].valueFrom.configMapKeyRef")
        given.add(arg["name"])
    for param in inputs:
        if param["name"] not in given and not any(key in param for key in ("value", "default", "valueFrom")):
            raise WorkflowLoadError(
                f"{path}.arguments.parameters: missing {param['name']!r}, required by template {target!r} (inputs.parameters[{param['name']}])"
            )
    for artifact in (call.get("arguments") or {}).get("artifacts") or []:
        sources = [key for key in ("from", "s3", "raw") if key in artifact]
        if len(sources) != 1:
            raise WorkflowLoadError(f"{path}.arguments.artifacts[{artifact.get('name')}]: exactly one of from, s3, raw")


def _check_dag(loaded: LoadedWorkflow, template_name: str, template: dict[str, Any], path: str) -> None:
    tasks = template["dag"].get("tasks") or []
    if not tasks:
        raise WorkflowLoadError(f"{path}.dag.tasks: at least one task is required")
    names = [task.get("name") for task in tasks]
    for task in tasks:
        if not task.get("name"):
            raise WorkflowLoadError(f"{path}.dag.tasks: every task needs a name")
        if names.count(task["name"]) > 1:
            raise WorkflowLoadError(f"{path}.dag.tasks[{task['name']}]: duplicate task name")
    if any("depends" in t for t in tasks) and any("dependencies" in t for t in tasks):
        raise WorkflowLoadError(f"{path}.dag.tasks: use either `dependencies` or `depends` in one DAG, not both (as Argo requires)")
    if any("depends" in t for t in tasks) and any("continueOn" in t for t in tasks):
        raise WorkflowLoadError(
            f"{path}.dag.tasks: continueOn is not available with `depends` (as in Argo): use .Failed or .Errored in depends"
        )
    continue_on = {t["name"]: t["continueOn"] for t in tasks if "continueOn" in t}
    graph: dict[str, list[str]] = {}
    for task in tasks:
        tpath = f"{path}.dag.tasks[{task['name']}]"
        _check_call(loaded, task, tpath)
        if "depends" in task:
            try:
                expr = parse_depends(task["depends"])
            except ExpressionError as exc:
                raise WorkflowLoadError(f"{tpath}.depends: {exc}") from exc
        elif task.get("dependencies"):
            expr = dependencies_expr(list(task["dependencies"]), continue_on)
        else:
            expr = None
        if expr is not None:
            for dep in expr.tasks():
                if dep not in names:
                    raise WorkflowLoadError(f"{tpath}.{'depends' if 'depends' in task else 'dependencies'}: unknown task {dep!r}")
                if dep == task["name"]:
                    raise WorkflowLoadError(f"{tpath}: a task cannot depend on itself")
            loaded.depends[(template_name, task["name"])] = expr
        graph[task["name"]] = expr.tasks() if expr else []
    _check_acyclic(graph, f"{path}.dag.tasks")


def _check_acyclic(graph: dict[str, list[str]], path: str) -> None:
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            cycle = trail[trail.index(node):] + [node]
            raise WorkflowLoadError(f"{path}: dependency cycle {' -> '.join(cycle)}")
        state[node] = 1
        for dep in graph[node]:
            visit(dep, trail + [node])
        state[node] = 2

    for node in graph:
        visit(node, [])


def _check_steps(loaded: LoadedWorkflow, template: dict[str, Any], path: str) -> None:
    groups = template["steps"]
    if not groups:
        raise WorkflowLoadError(f"{path}.steps: at least one step group is required")
    for index, group in enumerate(groups):
        if not group:
            raise WorkflowLoadError(f"{path}.steps[{index}]: empty step group")
        seen: set[str] = set()
        for step in group:
            if not step.get("name"):
                raise WorkflowLoadError(f"{path}.steps[{index}]: every step needs a name")
            if step["name"] in seen:
                raise WorkflowLoadError(f"{path}.steps[{index}][{step['name']}]: duplicate step name in one group")
            seen.add(step["name"])
            _check_call(loaded, step, f"{path}.steps[{index}][{step['name']}]")


def _check_hooks(site: dict[str, Any], path: str) -> None:
    """Hook expressions parse (those without `{{...}}`, parsed when they run), and a named
    hook other than `exit` has one."""
    for name, hook in (site.get("hooks") or {}).items():
        expression = hook.get("expression")
        if name != "exit" and not expression:
            raise WorkflowLoadError(f"{path}.hooks.{name}.expression is required (only the `exit` hook runs without one)")
        if expression and not _has_tag(expression):
            try:
                exprlang.Expression(str(expression))
            except ExpressionError as exc:
                raise WorkflowLoadError(f"{path}.hooks.{name}.expression: {exc}") from exc


def _check_retry(strategy: dict[str, Any], path: str) -> None:
    if "limit" in strategy and not _has_tag(strategy["limit"]):
        parse_int(strategy["limit"], f"{path}.limit")
    policy = strategy.get("retryPolicy")
    if policy is not None and policy not in RETRY_POLICIES:
        raise WorkflowLoadError(f"{path}.retryPolicy: {policy!r} is not one of {', '.join(RETRY_POLICIES)}")
    backoff = strategy.get("backoff") or {}
    for key in ("duration", "maxDuration", "cap"):
        if key in backoff and not _has_tag(backoff[key]):
            parse_duration(backoff[key], f"{path}.backoff.{key}")
    # An expression with `{{inputs...}}` in it is parsed after substitution, when the node runs.
    if "expression" in strategy and not _has_tag(strategy["expression"]):
        try:
            exprlang.Expression(str(strategy["expression"]))
        except ExpressionError as exc:
            raise WorkflowLoadError(f"{path}.expression: {exc}") from exc
    if "factor" in backoff and not _has_tag(backoff["factor"]):
        try:
            float(str(backoff["factor"]))
        except ValueError as exc:
            raise WorkflowLoadError(f"{path}.backoff.factor: {backoff['factor']!r} is not a number") from exc


def _check_mutexes(sync: dict[str, Any] | None, path: str) -> None:
    for index, mutex in enumerate((sync or {}).get("mutexes") or []):
        if not mutex.get("name"):
            raise WorkflowLoadError(f"{path}.mutexes[{index}].name is required")
        if mutex.get("database"):
            raise WorkflowLoadError(f"{path}.mutexes[{index}].database: database-backed locks need the controller's database; local locks are files")
    for index, semaphore in enumerate((sync or {}).get("semaphores") or []):
        ref = semaphore.get("configMapKeyRef") or {}
        if not ref.get("name") or not ref.get("key"):
            raise WorkflowLoadError(f"{path}.semaphores[{index}].configMapKeyRef: name and key are required")
        if semaphore.get("database"):
            raise WorkflowLoadError(f"{path}.semaphores[{index}].database: database-backed locks need the controller's database; local locks are files")


def _has_tag(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value
