"""Which template each call runs: one flat table for the executor.

Argo resolves a task's or step's `template` in the scope of the spec it is written in, a
`templateRef` in the referenced WorkflowTemplate or ClusterWorkflowTemplate (whose own
`template:` calls then resolve in *its* templates), and an `inline` template in place. This
module does that once, before anything runs: every reachable template gets a key (`name` for the
workflow's own, `WorkflowTemplate/<doc>/<name>` or `ClusterWorkflowTemplate/<doc>/<name>` for a
referenced one, `<parent key>/<task>` for an inline one), and every call site is rewritten to
`template: <key>`. `spec.templateDefaults` is merged into every template (the template's own
fields win), as Argo merges it.

Documents of `--templates` files are checked (`pipeline.argo.fields`) only when something
references them: a library file may hold templates this run never calls.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from pipeline.argo import fields

LIBRARY_KINDS = ("WorkflowTemplate", "ClusterWorkflowTemplate")


class ResolutionError(ValueError):
    """A call that names nothing, or a referenced document that cannot be used."""


@dataclass
class Library:
    """The WorkflowTemplates and ClusterWorkflowTemplates available to `templateRef` and
    `workflowTemplateRef`: (kind, name) → (document, where it was read)."""

    documents: list[tuple[dict[str, Any], str]]
    _checked: set[int] = field(default_factory=set)

    def find(self, kind: str, name: Any, path: str) -> dict[str, Any]:
        matches = [
            (doc, where) for doc, where in self.documents
            if doc.get("kind") == kind and (doc.get("metadata") or {}).get("name") == name
        ]
        if not matches:
            raise ResolutionError(f"{path}: {kind} {name!r} not found: pass its file with --templates")
        if len(matches) > 1:
            raise ResolutionError(f"{path}: {len(matches)} {kind}s are named {name!r} ({', '.join(w for _, w in matches)})")
        doc, where = matches[0]
        if id(doc) not in self._checked:
            try:
                fields.check(doc, "WorkflowTemplate")  # a ClusterWorkflowTemplate has the same shape
            except fields.FieldError as exc:
                raise ResolutionError(f"{where}: {exc}") from exc
            self._checked.add(id(doc))
        return doc


@dataclass
class TemplateTable:
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # key → the template's own name (status)


def index(templates: Any, path: str) -> dict[str, dict[str, Any]]:
    indexed: dict[str, dict[str, Any]] = {}
    for position, template in enumerate(templates or []):
        name = template.get("name") if isinstance(template, dict) else None
        if not name:
            raise ResolutionError(f"{path}.templates[{position}].name is required")
        if name in indexed:
            raise ResolutionError(f"{path}.templates[{name}]: duplicate template name")
        indexed[name] = template
    return indexed


def resolve(spec: dict[str, Any], library: Library, where: str) -> TemplateTable:
    """Rewrite `spec` in place (entrypoint, onExit, hooks) and return every reachable template
    with its calls rewritten to table keys."""
    table = TemplateTable()
    own = index(spec.get("templates"), where)
    if not own:
        raise ResolutionError(f"{where}.templates: at least one template is required")
    defaults = spec.get("templateDefaults") or {}
    resolver = _Resolver(table, library, defaults)
    for name in own:  # all of the workflow's own templates are checked, as Argo validates them
        resolver.add("", own, name, f"{where}.templates[{name}]")
    for key in ("entrypoint", "onExit"):
        if isinstance(spec.get(key), str) and spec[key] in own:
            spec[key] = resolver.add("", own, spec[key], f"{where}.{key}")
    for hook_name, hook in (spec.get("hooks") or {}).items():
        resolver.call("", own, hook, f"{where}.hooks.{hook_name}", f"hooks.{hook_name}", allow_inline=False)
    return table


class _Resolver:
    def __init__(self, table: TemplateTable, library: Library, defaults: dict[str, Any]) -> None:
        self.table = table
        self.library = library
        self.defaults = defaults

    def add(self, scope: str, templates: dict[str, dict[str, Any]], name: str, path: str) -> str:
        key = f"{scope}/{name}" if scope else name
        if key in self.table.templates:
            return key
        if name not in templates:
            where = f"{scope}" if scope else "this workflow"
            raise ResolutionError(f"{path}: unknown template {name!r} (not a template of {where})")
        template = _with_defaults(copy.deepcopy(templates[name]), self.defaults)
        self.table.templates[key] = template  # before walking its calls: recursion terminates
        self.table.names[key] = name
        self._walk(scope, templates, key, template, path)
        return key

    def _walk(self, scope: str, templates: dict[str, dict[str, Any]], key: str, template: dict[str, Any], path: str) -> None:
        for index_, task in enumerate((template.get("dag") or {}).get("tasks") or []):
            label = task.get("name", index_)
            self._site(scope, templates, key, task, f"{path}.dag.tasks[{label}]")
        for group_index, group in enumerate(template.get("steps") or []):
            for step in group or []:
                self._site(scope, templates, key, step, f"{path}.steps[{group_index}][{step.get('name')}]")

    def _site(self, scope: str, templates: dict[str, dict[str, Any]], parent: str, site: dict[str, Any], path: str) -> None:
        self.call(scope, templates, site, path, f"{parent}/{site.get('name')}", allow_inline=True)
        if isinstance(site.get("onExit"), str):
            site["onExit"] = self.add(scope, templates, site["onExit"], f"{path}.onExit")
        for hook_name, hook in (site.get("hooks") or {}).items():
            self.call(scope, templates, hook, f"{path}.hooks.{hook_name}", f"{parent}/{site.get('name')}.hooks.{hook_name}", allow_inline=False)

    def call(self, scope: str, templates: dict[str, dict[str, Any]], site: dict[str, Any], path: str,
             inline_key: str, *, allow_inline: bool) -> None:
        kinds = [k for k in ("template", "templateRef", "inline") if k in site]
        if len(kinds) != 1:
            options = "template, templateRef, inline" if allow_inline else "template, templateRef"
            raise ResolutionError(f"{path}: exactly one of {options} (found {', '.join(kinds) or 'none'})")
        if kinds[0] == "template":
            site["template"] = self.add(scope, templates, site["template"], f"{path}.template")
        elif kinds[0] == "templateRef":
            ref = site.pop("templateRef")
            kind = "ClusterWorkflowTemplate" if ref.get("clusterScope") else "WorkflowTemplate"
            doc = self.library.find(kind, ref.get("name"), f"{path}.templateRef")
            doc_templates = index((doc.get("spec") or {}).get("templates"), f"{kind} {ref.get('name')!r}: spec")
            site["template"] = self.add(f"{kind}/{ref.get('name')}", doc_templates, str(ref.get("template")), f"{path}.templateRef.template")
        else:
            inline = _with_defaults(copy.deepcopy(site.pop("inline")), self.defaults)
            inline.setdefault("name", inline_key.rsplit("/", 1)[-1])
            self.table.templates[inline_key] = inline
            self.table.names[inline_key] = ""  # Argo shows no templateName for an inline template
            self._walk(scope, templates, inline_key, inline, f"{path}.inline")
            site["template"] = inline_key


def _with_defaults(template: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """templateDefaults under the template: the template's own fields win, maps merge."""

    def merge(mine: Any, default: Any) -> Any:
        if isinstance(mine, dict) and isinstance(default, dict):
            return {**{k: copy.deepcopy(v) for k, v in default.items() if k not in mine},
                    **{k: merge(v, default[k]) if k in default else v for k, v in mine.items()}}
        return mine

    if not defaults:
        return template
    kind_keys = ("container", "script", "dag", "steps", "containerSet", "suspend", "resource", "http", "data", "plugin")
    # A default for one kind of template (e.g. container.env) only reaches templates of that kind.
    usable = {k: v for k, v in defaults.items() if k not in kind_keys or k in template}
    return merge(template, usable)
