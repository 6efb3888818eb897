"""`lint FILE...`: offline validation of Argo Workflow, WorkflowTemplate, ClusterWorkflowTemplate
and CronWorkflow YAML, ours or anyone's.

Three checks per document: Argo's JSON schema made strict (`schema.py`: a misspelled field is
an error), the references the schema cannot see (`references.py`), and parameter sizes: Argo
refuses a parameter value over 256 KiB, and we want values far below it (big data goes through
artifacts), so any literal value over the budget (32 KiB by default) is a finding. Run-time
values only exist in a status document: `check_output_sizes` (or `lint --status FILE`).

Findings are errors (Argo would refuse or fail on it) or warnings (Argo accepts it, but it is a
likely mistake or a hazard, such as a raw string parameter inside `when`).

Exit codes: 0 no errors (warnings are printed; with `--strict` a warning fails too), 1 findings
(one per line: `file:document:path: [warning: ]message`, documents counted from 0), 2 a file
that cannot be read or is not YAML, or no schema.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path
from typing import Any, Iterable, Literal, Sequence

from pydantic import BaseModel

from pipeline.argo.references import WORKFLOW_KINDS, Document, check_references
from pipeline.errors import ConfigError, fail, run_main

ARGO_PARAMETER_LIMIT_BYTES = 256 * 1024
DEFAULT_BUDGET_BYTES = ARGO_PARAMETER_LIMIT_BYTES // 8


class Finding(BaseModel):
    file: str
    document: int
    path: str  # JSON path into the document, e.g. $.spec.templates[2].dag.tasks[0].template
    message: str
    # "error": Argo would refuse it or fail on it. "warning": Argo accepts it, but it is most
    # likely a mistake or a hazard; `lint --strict` fails on warnings too.
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        label = "warning: " if self.severity == "warning" else ""
        return f"{self.file}:{self.document}:{self.path}: {label}{self.message}"


class LintInputError(ConfigError):
    """A file that cannot be read or parsed: lint cannot say anything about it (exit 2)."""


def load_documents(paths: Iterable[str | Path]) -> list[Document]:
    import yaml

    documents: list[Document] = []
    for path in paths:
        try:
            text = Path(path).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise LintInputError(f"{path}: cannot read: {exc}") from exc
        try:
            bodies = list(yaml.safe_load_all(text))
        except yaml.YAMLError as exc:
            raise LintInputError(f"{path}: not valid YAML: {exc}") from exc
        documents.extend(Document(str(path), index, body) for index, body in enumerate(bodies) if body is not None)
    return documents


def is_argo_workflow(body: Any) -> bool:
    """An Argo workflow kind; a document of another API group that happens to be called
    `Workflow` is not ours to judge."""
    if not isinstance(body, dict) or body.get("kind") not in WORKFLOW_KINDS:
        return False
    api_version = body.get("apiVersion")
    return api_version is None or str(api_version).startswith("argoproj.io/")


def lint(paths: Iterable[str | Path], *, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> list[Finding]:
    """All findings for the files at `paths`, linted together (a Workflow's
    workflowTemplateRef may name a WorkflowTemplate in another file)."""
    paths = [str(p) for p in paths]
    documents = load_documents(paths)
    return lint_documents(documents, budget_bytes=budget_bytes)


def skipped(documents: Sequence[Document]) -> list[str]:
    """One note per document that is not an Argo workflow kind (a ConfigMap beside a
    Workflow, ...): lint says it skipped them instead of judging them."""
    notes = []
    for document in documents:
        if not is_argo_workflow(document.body):
            kind = document.body.get("kind", "<no kind>") if isinstance(document.body, dict) else type(document.body).__name__
            notes.append(f"{document.file}:{document.index}: note: skipped {kind} (not one of {', '.join(WORKFLOW_KINDS)})")
    return notes


def lint_documents(documents: Sequence[Document], *, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> list[Finding]:
    """Findings for already-parsed documents; other kinds (ConfigMaps, ...) are skipped."""
    workflows = [d for d in documents if is_argo_workflow(d.body)]
    findings: list[Finding] = []
    for document in workflows:
        findings.extend(schema_findings(document))
        findings.extend(_parameter_sizes(document, budget_bytes))
    for problem in check_references(workflows):
        findings.append(Finding(file=problem.document.file, document=problem.document.index, path=problem.path,
                                message=problem.message, severity=problem.severity))
    return sorted(findings, key=lambda f: (f.file, f.document, f.path, f.message))


def json_path(parts: Iterable[Any]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


def schema_findings(document: Document) -> list[Finding]:
    from pipeline.argo.schema import validator

    found = []
    for error in validator(document.body["kind"]).iter_errors(document.body):
        path = list(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = list(error.schema.get("properties", {}))
            for key in sorted(k for k in error.instance if k not in known):
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                found.append(Finding(file=document.file, document=document.index, path=json_path([*path, key]),
                                     message=f"unknown field {key!r}{hint}"))
            continue
        found.append(Finding(file=document.file, document=document.index, path=json_path(path), message=error.message))
    return found


def _parameter_sizes(document: Document, budget_bytes: int) -> list[Finding]:
    """Literal parameter values (arguments, inputs, outputs, defaults, enums) over budget."""
    found = []

    def visit(value: Any, path: list[Any]) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "parameters" and isinstance(item, list):
                    for index, parameter in enumerate(item):
                        if isinstance(parameter, dict):
                            for where, literal in _literals(parameter):
                                size = len(str(literal).encode())
                                if size > budget_bytes:
                                    found.append(Finding(
                                        file=document.file, document=document.index,
                                        path=json_path([*path, key, index, *where]),
                                        message=_size_message(size, budget_bytes),
                                    ))
                visit(item, [*path, key])
        elif isinstance(value, list):
            for index, item in enumerate(value):
                visit(item, [*path, index])

    visit(document.body, [])
    return found


def _literals(parameter: dict[str, Any]) -> Iterable[tuple[list[Any], Any]]:
    for key in ("value", "default"):
        if key in parameter:
            yield [key], parameter[key]
    value_from = parameter.get("valueFrom")
    if isinstance(value_from, dict) and "default" in value_from:
        yield ["valueFrom", "default"], value_from["default"]
    for index, option in enumerate(parameter.get("enum") or []):
        yield ["enum", index], option


def _size_message(size: int, budget_bytes: int) -> str:
    return (f"parameter value is {size} bytes, over the {budget_bytes}-byte budget "
            f"(Argo's limit is {ARGO_PARAMETER_LIMIT_BYTES}): pass large data as an artifact")


def check_output_sizes(status_doc: dict[str, Any], *, source: str = "status", budget_bytes: int = DEFAULT_BUDGET_BYTES) -> list[Finding]:
    """Output parameter values over budget in a status document (`argo get NAME -o json`, or
    the local executor's): every node's outputs and the workflow's global outputs."""
    status = status_doc.get("status", status_doc) if isinstance(status_doc, dict) else {}
    found = []

    def check(parameters: Any, path: list[Any]) -> None:
        for index, parameter in enumerate(parameters if isinstance(parameters, list) else []):
            if isinstance(parameter, dict) and "value" in parameter:
                size = len(str(parameter["value"]).encode())
                if size > budget_bytes:
                    name = parameter.get("name", index)
                    found.append(Finding(file=source, document=0, path=json_path([*path, index, "value"]),
                                         message=f"output {name!r}: " + _size_message(size, budget_bytes)))

    base = ["status"] if "status" in status_doc else []
    for node_id, node in (status.get("nodes") or {}).items():
        if isinstance(node, dict):
            check((node.get("outputs") or {}).get("parameters"), [*base, "nodes", node_id, "outputs", "parameters"])
    check((status.get("outputs") or {}).get("parameters"), [*base, "outputs", "parameters"])
    return found


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments, for `python -m pipeline.argo.lint` and `pipeline.argo.cli lint`."""
    parser.add_argument("files", nargs="*", metavar="FILE", help="YAML files with Argo workflow documents, linted together")
    parser.add_argument("--status", action="append", default=[], metavar="FILE",
                        help="also check output sizes in a status document (argo get -o json); repeatable")
    parser.add_argument("--max-parameter-bytes", type=int, default=DEFAULT_BUDGET_BYTES,
                        help=f"parameter value budget (default {DEFAULT_BUDGET_BYTES}; Argo's limit is {ARGO_PARAMETER_LIMIT_BYTES})")
    parser.add_argument("--strict", action="store_true", help="fail (exit 1) on warnings too")


def handle(args: argparse.Namespace) -> int:
    if not args.files and not args.status:
        raise ConfigError("give at least one FILE or --status FILE")
    return run(args.files, args.status, args.max_parameter_bytes, strict=args.strict)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lint", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run_main(lambda: handle(args))


def run(files: Sequence[str], status_files: Sequence[str] = (), budget_bytes: int = DEFAULT_BUDGET_BYTES, *, strict: bool = False) -> int:
    """Lint and print; the exit code as documented above."""
    from pipeline.argo.schema import SchemaNotFoundError

    try:
        findings = lint(files, budget_bytes=budget_bytes) if files else []
        for note in skipped(load_documents(files)) if files else []:
            print(note, file=sys.stderr)
        for path in status_files:
            findings.extend(check_output_sizes(_read_status(path), source=path, budget_bytes=budget_bytes))
    except (LintInputError, SchemaNotFoundError) as exc:
        return fail(exc)  # exit 2: the input, not the workflow, is wrong
    for finding in findings:
        print(finding)
    failing = [f for f in findings if f.severity == "error" or strict]
    return 1 if failing else 0


def _read_status(path: str) -> dict[str, Any]:
    documents = load_documents([path])
    if len(documents) != 1 or not isinstance(documents[0].body, dict):
        raise LintInputError(f"{path}: expected one status document (a JSON or YAML object)")
    return documents[0].body


if __name__ == "__main__":
    sys.exit(main())
