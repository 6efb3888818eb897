"""What Argo's schema cannot check: that every name a workflow uses names something.

- the entrypoint, `onExit`, and every DAG task's / step's `template`, `templateRef` (within the
  linted documents) and `workflowTemplateRef` resolve;
- DAG `dependencies`/`depends` name tasks of the same DAG, without cycles;
- arguments match the called template's inputs: none unknown, none required missing;
- every `{{...}}` tag resolves: `inputs.parameters.x` (declared by the template),
  `tasks.t.outputs.parameters.p` (t is an upstream task of the same DAG and its template
  declares output p), `steps.s.outputs.parameters.p` (s in an earlier step group),
  `workflow.parameters.x` (declared in the workflow's or its referenced template's
  arguments), `workflow.outputs.parameters.x` (some `globalName`), `{{item...}}` only inside
  withItems/withParam tasks, `workflow.status`/`failures` only in exit handlers;
- `withParam` is a tag that resolves, or a JSON list;
- CronWorkflow schedules have five fields (or a macro) and the timezone exists.

Expression tags (`{{=...}}`) are checked only for the parameter names they mention.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterator

WORKFLOW_KINDS = ("Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow")
TAG = re.compile(r"\{\{\s*(.*?)\s*\}\}", re.DOTALL)  # fasttemplate's rule, as Argo uses it
_EXPRESSION_PARAMETER = re.compile(r"\b(inputs|workflow)\.parameters(?:\['([^']+)'\]|\[\"([^\"]+)\"\]|\.([A-Za-z0-9_]+))")
_DEPENDS_TOKEN = re.compile(r"\s*(&&|\|\||!|\(|\)|[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z]+)?)")
_TASK_RESULTS = {"Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned", "AnySucceeded", "AllFailed"}
_NODE_FIELDS = {"id", "ip", "status", "exitCode", "startedAt", "finishedAt", "hostNodeName"}
_WORKFLOW_FIELDS = {
    "name", "namespace", "uid", "serviceAccountName", "mainEntrypoint", "duration", "priority",
    "creationTimestamp", "scheduledTime", "status", "failures",
}
_EXIT_ONLY = {"status", "failures"}
_CRON_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


@dataclass(frozen=True)
class Document:
    """One YAML document of one file: `index` counts from 0 in file order."""

    file: str
    index: int
    body: Any


class _Warning(str):
    """A tag message that is a warning (Argo accepts it), not an error."""


@dataclass(frozen=True)
class Problem:
    document: Document
    path: str
    message: str
    severity: str = "error"  # or "warning": accepted by Argo, but likely a mistake


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _names(items: Any) -> list[str]:
    return [item["name"] for item in _list(items) if isinstance(item, dict) and isinstance(item.get("name"), str)]


def spec_of(document: Document) -> tuple[dict[str, Any], str]:
    """The workflow spec of an Argo workflow document and its JSON path."""
    body = _dict(document.body)
    if body.get("kind") == "CronWorkflow":
        return _dict(_dict(body.get("spec")).get("workflowSpec")), "$.spec.workflowSpec"
    return _dict(body.get("spec")), "$.spec"


def is_workflow_document(body: Any) -> bool:
    return isinstance(body, dict) and str(body.get("apiVersion", "")).startswith("argoproj.io/") and body.get("kind") in WORKFLOW_KINDS


class Library:
    """The WorkflowTemplates and ClusterWorkflowTemplates among the linted documents."""

    def __init__(self, documents: list[Document]) -> None:
        self.documents = documents
        self.by_kind: dict[str, dict[str, Document]] = {"WorkflowTemplate": {}, "ClusterWorkflowTemplate": {}}
        for document in documents:
            kind = document.body.get("kind")
            name = _dict(document.body.get("metadata")).get("name")
            if kind in self.by_kind and isinstance(name, str):
                self.by_kind[kind].setdefault(name, document)

    def referrers(self, template: Document) -> list[Document]:
        """The linted documents whose workflowTemplateRef names `template`."""
        kind = _dict(template.body).get("kind")
        name = _dict(_dict(template.body).get("metadata")).get("name")
        found = []
        for document in self.documents:
            ref = _dict(spec_of(document)[0].get("workflowTemplateRef"))
            ref_kind = "ClusterWorkflowTemplate" if ref.get("clusterScope") else "WorkflowTemplate"
            if ref and ref.get("name") == name and ref_kind == kind:
                found.append(document)
        return found

    def template_document(self, name: str, cluster_scope: bool = False) -> Document | None:
        return self.by_kind["ClusterWorkflowTemplate" if cluster_scope else "WorkflowTemplate"].get(name)

    def templates_of(self, document: Document) -> dict[str, dict[str, Any]]:
        spec, _ = spec_of(document)
        return {t["name"]: t for t in _list(spec.get("templates")) if isinstance(t, dict) and isinstance(t.get("name"), str)}


@dataclass
class _Scope:
    """Where a string sits: which names its tags may use."""

    template: dict[str, Any] | None = None  # None: spec level, outside any template
    dag_tasks: dict[str, dict[str, Any]] | None = None
    task: dict[str, Any] | None = None  # the DAG task or step the string belongs to
    upstream: set[str] = field(default_factory=set)  # tasks a task may read: its ancestors
    earlier_steps: dict[str, dict[str, Any]] | None = None
    in_exit_handler: bool = False


class _DocumentChecker:
    def __init__(self, document: Document, library: Library, problems: list[Problem]) -> None:
        self.document = document
        self.library = library
        self.problems = problems
        self.spec, self.spec_path = spec_of(document)
        self.kind = document.body.get("kind")
        self.templates = {t["name"]: t for t in _list(self.spec.get("templates")) if isinstance(t, dict) and isinstance(t.get("name"), str)}
        self.referenced: Document | None = None  # the workflowTemplateRef target
        self.parameters = set(_names(_dict(self.spec.get("arguments")).get("parameters")))
        self.global_parameters: set[str] = set()
        self.global_artifacts: set[str] = set()

    def report(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.document, path, message))

    def warn(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.document, path, message, "warning"))

    # ---------------------------------------------------------------- document level
    def check(self) -> None:
        self._check_metadata()
        available = dict(self.templates)
        ref = self.spec.get("workflowTemplateRef")
        if isinstance(ref, dict):
            self.referenced = self.library.template_document(str(ref.get("name")), bool(ref.get("clusterScope")))
            if self.referenced is None:
                kind = "ClusterWorkflowTemplate" if ref.get("clusterScope") else "WorkflowTemplate"
                self.report(f"{self.spec_path}.workflowTemplateRef.name",
                            f"{kind} {ref.get('name')!r} is not among the linted documents (lint it together with this file)")
            else:
                ref_spec, _ = spec_of(self.referenced)
                available = {**self.library.templates_of(self.referenced), **available}
                self._check_arguments_against(ref_spec)
                self.parameters |= set(_names(_dict(ref_spec.get("arguments")).get("parameters")))
        self.available = available
        for template in available.values():
            self._collect_globals(template)
        self._check_duplicates()
        # A referenced WorkflowTemplate's own entrypoint and onExit are reported on its document.
        entrypoint = self.spec.get("entrypoint")
        inherited = self.referenced is not None and spec_of(self.referenced)[0].get("entrypoint") is not None
        if entrypoint is None:
            if self.kind in ("Workflow", "CronWorkflow") and "workflowTemplateRef" not in self.spec:
                self.report(self.spec_path, "no entrypoint (and no workflowTemplateRef)")
            elif self.referenced is not None and not inherited:
                self.report(self.spec_path, "no entrypoint here nor in the referenced WorkflowTemplate")
        elif entrypoint not in available:
            self.report(f"{self.spec_path}.entrypoint", f"entrypoint {entrypoint!r} is not a template of this workflow")
        on_exit = self.spec.get("onExit")
        if on_exit is not None and on_exit not in available:
            self.report(f"{self.spec_path}.onExit", f"onExit template {on_exit!r} does not exist")
        self.exit_handlers = self._exit_handler_templates()
        if self.kind == "CronWorkflow":
            self._check_cron()
        for index, template in enumerate(_list(self.spec.get("templates"))):
            if isinstance(template, dict):
                self._check_template(template, f"{self.spec_path}.templates[{index}]")
        # Spec-level strings (arguments, synchronization, metadata, artifact keys...).
        for key, value in self.spec.items():
            if key != "templates":
                # Workflow-level hooks and metrics are evaluated with the workflow's status known.
                scope = _Scope(in_exit_handler=key in ("hooks", "metrics", "onExit"))
                self._check_tags(value, f"{self.spec_path}.{key}", scope)

    def _check_metadata(self) -> None:
        metadata = _dict(self.document.body.get("metadata"))
        if self.kind == "Workflow":
            if not metadata.get("name") and not metadata.get("generateName"):
                self.report("$.metadata", "a Workflow needs metadata.name or metadata.generateName")
        elif not metadata.get("name"):
            self.report("$.metadata", f"a {self.kind} needs metadata.name")

    def _check_duplicates(self) -> None:
        seen: set[str] = set()
        for index, template in enumerate(_list(self.spec.get("templates"))):
            name = _dict(template).get("name")
            if name in seen:
                self.report(f"{self.spec_path}.templates[{index}].name", f"duplicate template name {name!r}")
            seen.add(name)

    def _check_arguments_against(self, ref_spec: dict[str, Any]) -> None:
        """A Workflow's arguments against the parameters its WorkflowTemplate declares: an
        argument the template does not declare is a typo the controller would ignore."""
        declared = {p["name"]: p for p in _list(_dict(ref_spec.get("arguments")).get("parameters")) if isinstance(p, dict) and "name" in p}
        # Workflow arguments also reach the entrypoint template's inputs of the same name.
        entry = self.spec.get("entrypoint") or ref_spec.get("entrypoint")
        entry_template = self.library.templates_of(self.referenced).get(str(entry)) or {}
        consumed = set(_names(_dict(entry_template.get("inputs")).get("parameters")))
        given = _list(_dict(self.spec.get("arguments")).get("parameters"))
        for index, parameter in enumerate(given):
            name = _dict(parameter).get("name")
            if name not in declared and name not in consumed:
                self.warn(f"{self.spec_path}.arguments.parameters[{index}].name",
                          f"parameter {name!r} is not declared by WorkflowTemplate {self.referenced.body['metadata']['name']!r} "
                          "nor an input of its entrypoint (Argo ignores it)")
        # A parameter without a value anywhere is not an error: `argo submit -p` supplies it.

    def _collect_globals(self, template: dict[str, Any]) -> None:
        outputs = _dict(template.get("outputs"))
        for parameter in _list(outputs.get("parameters")):
            if isinstance(_dict(parameter).get("globalName"), str):
                self.global_parameters.add(parameter["globalName"])
        for artifact in _list(outputs.get("artifacts")):
            if isinstance(_dict(artifact).get("globalName"), str):
                self.global_artifacts.add(artifact["globalName"])

    def _exit_handler_templates(self) -> set[str]:
        """Templates that run as exit handlers (and whatever they call): where
        workflow.status and workflow.failures exist."""
        roots: list[str] = []
        if isinstance(self.spec.get("onExit"), str):
            roots.append(self.spec["onExit"])
        for hook in _dict(self.spec.get("hooks")).values():
            if isinstance(_dict(hook).get("template"), str):
                roots.append(hook["template"])
        for template in self.available.values():
            for node in self._invocations(template):
                if isinstance(node.get("onExit"), str):
                    roots.append(node["onExit"])
                for hook in _dict(node.get("hooks")).values():
                    if isinstance(_dict(hook).get("template"), str):
                        roots.append(hook["template"])
        reached: set[str] = set()
        while roots:
            name = roots.pop()
            if name in reached or name not in self.available:
                continue
            reached.add(name)
            roots.extend(n["template"] for n in self._invocations(self.available[name]) if isinstance(n.get("template"), str))
        return reached

    @staticmethod
    def _invocations(template: dict[str, Any]) -> Iterator[dict[str, Any]]:
        for task in _list(_dict(template.get("dag")).get("tasks")):
            if isinstance(task, dict):
                yield task
        for group in _list(template.get("steps")):
            for step in _list(group):
                if isinstance(step, dict):
                    yield step

    def _check_cron(self) -> None:
        spec = _dict(self.document.body.get("spec"))
        for index, schedule in enumerate(_list(spec.get("schedules"))):
            text = str(schedule).strip()
            if text.startswith("@"):
                if text not in _CRON_MACROS and not text.startswith("@every "):
                    self.report(f"$.spec.schedules[{index}]", f"unknown schedule macro {text!r}")
            elif len(text.split()) != 5:
                self.report(f"$.spec.schedules[{index}]", f"schedule {text!r} does not have five fields (minute hour day month weekday)")
        timezone = spec.get("timezone")
        if isinstance(timezone, str) and timezone:
            import zoneinfo

            try:
                zoneinfo.ZoneInfo(timezone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                self.report("$.spec.timezone", f"unknown timezone {timezone!r}")

    # ---------------------------------------------------------------- templates
    def _check_template(self, template: dict[str, Any], path: str) -> None:
        scope = _Scope(template=template, in_exit_handler=template.get("name") in self.exit_handlers)
        dag = _dict(template.get("dag"))
        tasks = self._tasks_by_name(dag)
        # A DAG's own fields (outputs, dag.target...) may read any of its tasks.
        dag_scope = _Scope(template=template, dag_tasks=tasks, upstream=set(tasks), in_exit_handler=scope.in_exit_handler)
        if "tasks" in dag:
            self._check_dag(template, _list(dag["tasks"]), f"{path}.dag.tasks", scope)
            for key, value in dag.items():
                if key != "tasks":
                    self._check_tags(value, f"{path}.dag.{key}", dag_scope)
        # A steps template's own outputs may read any of its steps, like a DAG's.
        all_steps = {
            step["name"]: step
            for group in _list(template.get("steps"))
            for step in _list(group)
            if isinstance(step, dict) and isinstance(step.get("name"), str)
        }
        steps_scope = _Scope(template=template, earlier_steps=all_steps, in_exit_handler=scope.in_exit_handler)
        if "steps" in template:
            self._check_steps(template, _list(template["steps"]), f"{path}.steps", scope)
        for key, value in template.items():
            if key == "steps" or (key == "dag" and "tasks" in dag):
                continue
            if key == "outputs" and "tasks" in dag:
                self._check_tags(value, f"{path}.{key}", dag_scope)
            elif key == "outputs" and "steps" in template:
                self._check_tags(value, f"{path}.{key}", steps_scope)
            else:
                self._check_tags(value, f"{path}.{key}", scope)

    @staticmethod
    def _tasks_by_name(dag: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {t["name"]: t for t in _list(dag.get("tasks")) if isinstance(t, dict) and isinstance(t.get("name"), str)}

    def _check_dag(self, template: dict[str, Any], tasks: list[Any], path: str, scope: _Scope) -> None:
        by_name: dict[str, dict[str, Any]] = {}
        for index, task in enumerate(tasks):
            name = _dict(task).get("name")
            if name in by_name:
                self.report(f"{path}[{index}].name", f"duplicate task name {name!r}")
            elif isinstance(name, str):
                by_name[name] = task
        parents: dict[str, set[str]] = {}
        for index, task in enumerate(tasks):
            if not isinstance(task, dict):
                continue
            task_path = f"{path}[{index}]"
            deps: set[str] = set()
            for j, dep in enumerate(_list(task.get("dependencies"))):
                if dep not in by_name:
                    self.report(f"{task_path}.dependencies[{j}]", f"dependency {dep!r} is not a task of this DAG")
                deps.add(dep)
            if isinstance(task.get("depends"), str):
                deps |= self._check_depends(task["depends"], by_name, f"{task_path}.depends")
            parents[str(task.get("name"))] = deps & set(by_name)
        ancestors = {name: self._ancestors(name, parents) for name in parents}
        for index, task in enumerate(tasks):
            if not isinstance(task, dict):
                continue
            name = str(task.get("name"))
            task_path = f"{path}[{index}]"
            if name in ancestors[name]:
                self.report(f"{task_path}", f"task {name!r} depends on itself (a dependency cycle)")
            self._check_invocation(task, task_path)
            task_scope = _Scope(template=template, dag_tasks=by_name, task=task, upstream=ancestors[name] - {name},
                                in_exit_handler=scope.in_exit_handler)
            # A task's hooks run after (or while) it runs: they may read the task itself.
            hook_scope = _Scope(template=template, dag_tasks=by_name, upstream=ancestors[name] | {name},
                                in_exit_handler=scope.in_exit_handler)
            for key, value in task.items():
                if key in ("name", "template", "dependencies", "depends", "inline"):
                    continue
                self._check_tags(value, f"{task_path}.{key}", hook_scope if key == "hooks" else task_scope)
            if isinstance(task.get("inline"), dict):
                self._check_template(task["inline"], f"{task_path}.inline")

    @staticmethod
    def _ancestors(name: str, parents: dict[str, set[str]]) -> set[str]:
        seen: set[str] = set()
        stack = list(parents.get(name, ()))
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(parents.get(current, ()))
        return seen

    def _check_depends(self, expression: str, tasks: dict[str, Any], path: str) -> set[str]:
        names: set[str] = set()
        position = 0
        while position < len(expression):
            match = _DEPENDS_TOKEN.match(expression, position)
            if match is None or match.end() == position:
                if expression[position:].strip():
                    self.report(path, f"cannot parse depends {expression!r} at {expression[position:].strip()!r}")
                break
            position = match.end()
            token = match.group(1)
            if token in ("&&", "||", "!", "(", ")"):
                continue
            task, _, result = token.partition(".")
            if task not in tasks:
                self.report(path, f"depends names {task!r}, not a task of this DAG")
            if result and result not in _TASK_RESULTS:
                self.report(path, f"depends uses {token!r}: {result!r} is not a task result ({', '.join(sorted(_TASK_RESULTS))})")
            names.add(task)
        return names

    def _check_steps(self, template: dict[str, Any], groups: list[Any], path: str, scope: _Scope) -> None:
        earlier: dict[str, dict[str, Any]] = {}
        for g, group in enumerate(groups):
            current: dict[str, dict[str, Any]] = {}
            for s, step in enumerate(_list(group)):
                if not isinstance(step, dict):
                    continue
                step_path = f"{path}[{g}][{s}]"
                name = step.get("name")
                if name in earlier or name in current:
                    self.report(f"{step_path}.name", f"duplicate step name {name!r}")
                self._check_invocation(step, step_path)
                step_scope = _Scope(template=template, task=step, earlier_steps=dict(earlier), in_exit_handler=scope.in_exit_handler)
                # A step's hooks run after (or while) it runs: they may read the step itself.
                own = {name: step} if isinstance(name, str) else {}
                hook_scope = _Scope(template=template, earlier_steps={**earlier, **own}, in_exit_handler=scope.in_exit_handler)
                for key, value in step.items():
                    if key in ("name", "template", "inline"):
                        continue
                    self._check_tags(value, f"{step_path}.{key}", hook_scope if key == "hooks" else step_scope)
                if isinstance(step.get("inline"), dict):
                    self._check_template(step["inline"], f"{step_path}.inline")
                if isinstance(name, str):
                    current[name] = step
            earlier.update(current)

    def _resolve(self, node: dict[str, Any], path: str | None) -> dict[str, Any] | None:
        """The template a task or step calls; what does not resolve is reported at `path`
        (unless None: the caller only wants the template)."""
        report = self.report if path is not None else (lambda _path, _message: None)
        if isinstance(node.get("template"), str):
            called = self.available.get(node["template"])
            if called is None:
                report(f"{path}.template", f"template {node['template']!r} does not exist")
            return called
        ref = node.get("templateRef")
        if isinstance(ref, dict):
            owner = self.library.template_document(str(ref.get("name")), bool(ref.get("clusterScope")))
            if owner is None:
                report(f"{path}.templateRef.name", f"template reference {ref.get('name')!r} is not among the linted documents")
                return None
            called = self.library.templates_of(owner).get(str(ref.get("template")))
            if called is None:
                report(f"{path}.templateRef.template", f"{ref.get('name')!r} has no template {ref.get('template')!r}")
            return called
        if isinstance(node.get("inline"), dict):
            return node["inline"]
        return None

    def _check_invocation(self, node: dict[str, Any], path: str) -> None:
        called = self._resolve(node, path)
        if isinstance(node.get("onExit"), str) and node["onExit"] not in self.available:
            self.report(f"{path}.onExit", f"onExit template {node['onExit']!r} does not exist")
        for hook_name, hook in _dict(node.get("hooks")).items():
            if isinstance(_dict(hook).get("template"), str) and hook["template"] not in self.available:
                self.report(f"{path}.hooks.{hook_name}.template", f"hook template {hook['template']!r} does not exist")
        with_param = node.get("withParam")
        if isinstance(with_param, str) and not TAG.search(with_param):
            try:
                if not isinstance(json.loads(with_param), list):
                    raise ValueError
            except ValueError:
                self.report(f"{path}.withParam", "withParam is neither a {{...}} reference nor a JSON list")
        if called is None:
            return
        inputs = _dict(called.get("inputs"))
        declared = {p["name"]: p for p in _list(inputs.get("parameters")) if isinstance(p, dict) and "name" in p}
        arguments = _dict(node.get("arguments"))
        given = _list(arguments.get("parameters"))
        for index, parameter in enumerate(given):
            name = _dict(parameter).get("name")
            if name not in declared:
                self.warn(f"{path}.arguments.parameters[{index}].name",
                          f"template {called.get('name')!r} has no input parameter {name!r} (Argo ignores the argument)")
        supplied = set(_names(given))
        for name, parameter in declared.items():
            if name not in supplied and not ({"value", "default", "valueFrom"} & set(parameter)):
                self.report(f"{path}.arguments", f"template {called.get('name')!r} needs input parameter {name!r}")
        artifacts = set(_names(inputs.get("artifacts")))
        for index, artifact in enumerate(_list(arguments.get("artifacts"))):
            name = _dict(artifact).get("name")
            if name not in artifacts:
                self.warn(f"{path}.arguments.artifacts[{index}].name",
                          f"template {called.get('name')!r} has no input artifact {name!r} (Argo ignores the argument)")

    # ---------------------------------------------------------------- tags
    def _check_tags(self, value: Any, path: str, scope: _Scope) -> None:
        if isinstance(value, str):
            for match in TAG.finditer(value):
                inner = match.group(1)
                if inner.startswith("="):
                    self._check_expression(inner[1:], path, scope)
                else:
                    message = self._resolve_tag(inner, scope)
                    if isinstance(message, _Warning):
                        self.warn(path, f"{{{{{inner}}}}}: {message}")
                    elif message:
                        self.report(path, f"{{{{{inner}}}}}: {message}")
            if path.endswith(".when"):
                self._check_when(value, path, scope)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self._check_tags(item, f"{path}[{index}]", scope)
        elif isinstance(value, dict):
            for key, item in value.items():
                self._check_tags(item, f"{path}.{key}", scope)

    def _check_expression(self, expression: str, path: str, scope: _Scope) -> None:
        for match in _EXPRESSION_PARAMETER.finditer(expression):
            name = match.group(2) or match.group(3) or match.group(4)
            message = self._resolve_tag(f"{match.group(1)}.parameters.{name}", scope)
            if message:
                self.report(path, f"{{{{={expression}}}}}: {message}")

    def _check_when(self, expression: str, path: str, scope: _Scope) -> None:
        """Argo pastes a parameter's text into `when` before govaluate parses it: a workflow or
        input parameter that is not constrained by an `enum` can rewrite the condition (the value
        `x" == "x" || "y` makes `"{{p}}" == "a"` true). Flagged as a warning (`lint --strict`
        fails on it); an `enum` on the parameter's declaration clears it."""
        for match in TAG.finditer(expression):
            parts = match.group(1).split(".")
            if len(parts) != 3 or parts[1] != "parameters" or parts[0] not in ("workflow", "inputs"):
                continue
            declaration = self._declaration(parts[0], parts[2], scope)
            if declaration is not None and declaration.get("enum"):
                continue
            self.warn(path, f"{match.group(0)} is pasted raw into `when`: a value such as `x\" == \"x\" || \"y` "
                            f"rewrites the condition; constrain {parts[0]}.parameters {parts[2]!r} with an enum")

    def _declaration(self, root: str, name: str, scope: _Scope) -> dict[str, Any] | None:
        if root == "inputs":
            parameters = _list(_dict(_dict(scope.template).get("inputs")).get("parameters"))
        else:
            parameters = list(_list(_dict(self.spec.get("arguments")).get("parameters")))
            if self.referenced is not None:
                parameters += _list(_dict(spec_of(self.referenced)[0].get("arguments")).get("parameters"))
        found = [p for p in parameters if isinstance(p, dict) and p.get("name") == name]
        return found[0] if found else None

    def _inputs(self, scope: _Scope, kind: str) -> set[str]:
        return set(_names(_dict(_dict(scope.template).get("inputs")).get(kind)))

    def _resolve_tag(self, name: str, scope: _Scope) -> str | None:
        """None when the tag names something that exists here, else why not."""
        parts = name.split(".")
        root = parts[0]
        if root in ("inputs", "outputs"):
            if scope.template is None:
                return f"{root}.* is only defined inside a template"
            if len(parts) < 3 or parts[1] not in ("parameters", "artifacts"):
                return None if parts[1:] == ["parameters"] else f"expected {root}.parameters.<name> or {root}.artifacts.<name>"
            declared = self._inputs(scope, parts[1]) if root == "inputs" else set(_names(_dict(scope.template.get("outputs")).get(parts[1])))
            if parts[2] not in declared:
                return f"template {scope.template.get('name')!r} declares no {root[:-1]} {parts[1][:-1]} {parts[2]!r}"
            return None
        if root == "workflow":
            return self._resolve_workflow(parts, scope)
        if root == "item":
            return self._resolve_item(parts, scope)
        if root == "tasks":
            return self._resolve_node(parts, scope.dag_tasks, scope.upstream, scope, "tasks", "DAG task")
        if root == "steps":
            if scope.earlier_steps is None:
                return "steps.* is only defined in a steps template"
            return self._resolve_node(parts, scope.earlier_steps, set(scope.earlier_steps), scope, "steps", "earlier step")
        if root in ("pod", "node") and parts[1:] == ["name"]:
            return None if scope.template is not None else f"{name} is only defined inside a template"
        # Retry, cron and metric variables: defined where Argo evaluates those fields.
        if root in ("retries", "lastRetry", "cronworkflow", "status", "duration", "exitCode", "resourcesDuration"):
            return None
        return f"unknown variable {name!r}"

    def _resolve_workflow(self, parts: list[str], scope: _Scope) -> str | None:
        if len(parts) < 2:
            return "expected workflow.<field>"
        field_name = parts[1]
        if field_name == "parameters":
            if len(parts) == 2 or parts[2:] == ["json"]:
                return None
            if parts[2] not in self.parameters:
                if self.kind in ("WorkflowTemplate", "ClusterWorkflowTemplate") and self.referenced is None:
                    referrers = self.library.referrers(self.document)
                    if not referrers:
                        # Linted alone, a WorkflowTemplate may get it from the Workflow that refers to it.
                        return _Warning(f"workflow parameter {parts[2]!r} is not declared here: the Workflow that refers to "
                                        "this template must declare it")
                    if any(parts[2] in set(_names(_dict(spec_of(r)[0].get("arguments")).get("parameters"))) for r in referrers):
                        return None
                    return f"workflow parameter {parts[2]!r} is declared neither here nor by the Workflows that refer to this template"
                return f"workflow parameter {parts[2]!r} is not declared in spec.arguments"
            return None
        if field_name == "outputs":
            if len(parts) < 4 or parts[2] not in ("parameters", "artifacts"):
                return "expected workflow.outputs.parameters.<globalName>"
            known = self.global_parameters if parts[2] == "parameters" else self.global_artifacts
            return None if parts[3] in known else f"no output {parts[2][:-1]} has globalName {parts[3]!r}"
        if field_name in ("labels", "annotations"):
            return None
        if field_name not in _WORKFLOW_FIELDS:
            return f"unknown workflow variable workflow.{field_name}"
        if field_name in _EXIT_ONLY and not scope.in_exit_handler:
            return f"workflow.{field_name} is only defined in exit handlers (onExit)"
        return None

    def _resolve_item(self, parts: list[str], scope: _Scope) -> str | None:
        task = scope.task
        if task is None or not ({"withItems", "withParam", "withSequence"} & set(task)):
            return "{{item}} is only defined in a task or step with withItems, withParam or withSequence"
        items = task.get("withItems")
        if len(parts) > 1 and isinstance(items, list) and items:
            if not all(isinstance(i, dict) and parts[1] in i for i in items):
                return f"not every withItems item has the field {parts[1]!r}"
        return None

    def _resolve_node(self, parts: list[str], nodes: dict[str, dict[str, Any]] | None, readable: set[str],
                      scope: _Scope, root: str, what: str) -> str | None:
        if nodes is None:
            return f"{root}.* is only defined in a {'DAG' if root == 'tasks' else 'steps'} template"
        if len(parts) < 3:
            return f"expected {root}.<name>.<field>"
        node_name = parts[1]
        if node_name not in nodes:
            return f"{node_name!r} is not a {'task of this DAG' if root == 'tasks' else 'step of this template'}"
        if node_name not in readable:
            if root == "tasks":
                return f"task {node_name!r} is not upstream of this task (add it to depends/dependencies)"
            return f"step {node_name!r} does not run before this step"
        if parts[2] in _NODE_FIELDS and len(parts) == 3:
            return None
        if parts[2] != "outputs" or len(parts) < 4:
            return f"unknown {what} field {'.'.join(parts[2:])!r}"
        if parts[3] in ("result", "exitCode") and len(parts) == 4:
            return None
        if parts[3] not in ("parameters", "artifacts"):
            return f"unknown output {parts[3]!r}"
        if len(parts) == 4:
            return None  # the aggregated outputs of a fanned-out task
        called = self._resolve(nodes[node_name], None)
        if called is None:
            return None  # unresolved template: reported where it is called
        declared = set(_names(_dict(called.get("outputs")).get(parts[3])))
        if parts[4] not in declared:
            return f"template {called.get('name')!r} (called by {node_name!r}) declares no output {parts[3][:-1]} {parts[4]!r}"
        return None


def check_references(documents: list[Document]) -> list[Problem]:
    """Reference problems across `documents` (templateRefs may point from one file to another)."""
    workflows = [d for d in documents if is_workflow_document(d.body)]
    library = Library(workflows)
    problems: list[Problem] = []
    for document in workflows:
        _DocumentChecker(document, library, problems).check()
    return problems
