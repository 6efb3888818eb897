"""The import graph of `pipeline`, read from the source (ast): stages never import each other,
no import cycle exists, no module imports one in a layer above its own (README, "Code layout
and layers"), what the step images install never imports the repository's tools, and every
entry point turns failures into exit codes through pipeline.errors.

Every import counts — at the top of a module or inside a function (a lazy import is still a
dependency) — except that imports under `if TYPE_CHECKING:` (annotations only, never executed)
are left out of the cycle check.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pipeline"

# Lowest first. A module's layer is that of the longest prefix naming it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("pipeline.errors", "pipeline.domain", "pipeline.orchestration", "pipeline.contract", "pipeline.tenant", "pipeline.jsonlines"),
    ("pipeline.layout", "pipeline.config"),
    ("pipeline.storage", "pipeline.lm", "pipeline.phoenix_io", "pipeline.content", "pipeline.prediction_cache",
     "pipeline.provenance", "pipeline.teacher_cache"),
    ("pipeline.reward", "pipeline.metrics", "pipeline.datasets", "pipeline.executions", "pipeline.textclf", "pipeline.labelprobs",
     "pipeline.promotion", "pipeline.planning", "pipeline.optimizers"),
    ("pipeline.modules", "pipeline.synthetic", "pipeline.adaptive"),
    ("pipeline.run",),
    ("pipeline.stages", "pipeline.router"),
    ("pipeline.cli", "pipeline.batch", "pipeline.outputs", "pipeline.runs", "pipeline.demo", "pipeline.local", "pipeline.argo"),
)
# The repository's tools: left out of the wheel the step images install (pyproject.toml).
TOOLS = ("pipeline.argo", "pipeline.local")
PACKAGE_ROOT = "pipeline"


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    type_only: bool


def module_files() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = module_files()


def _resolve(name: str) -> str | None:
    """The module an imported name lives in (`pipeline.stages.harvest.run` → the stage)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def edges_of(module: str) -> list[Edge]:
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    type_only = _type_checking_lines(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        for name in names:
            if name == PACKAGE_ROOT or name.startswith(PACKAGE_ROOT + "."):
                target = _resolve(name)
                if target is not None and target != module:
                    found.append(Edge(module, target, node.lineno, node.lineno in type_only))
    return found


EDGES = [edge for module in MODULES for edge in edges_of(module)]


def layer_of(module: str) -> int:
    best = (-1, -1)
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best[0]:
                best = (len(prefix), index)
    return best[1]


def cycles(edges: list[Edge]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for edge in edges:
        graph[edge.source].add(edge.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def show(edge: Edge) -> str:
    return f"{MODULES[edge.source].relative_to(ROOT)}:{edge.line}: {edge.source} imports {edge.target}"


# ------------------------------------------------------------------------------------- the rules
def test_every_module_has_a_layer():
    assert [m for m in MODULES if layer_of(m) < 0 and m != PACKAGE_ROOT] == [], "add it to LAYERS (and the README table)"


def test_no_stage_imports_another_stage():
    stage = "pipeline.stages."
    assert [show(e) for e in EDGES if e.source.startswith(stage) and e.target.startswith(stage)] == []


def test_no_import_cycle():
    assert cycles([e for e in EDGES if not e.type_only]) == []


def test_no_module_imports_a_layer_above_its_own():
    upward = [f"{show(e)} (layer {layer_of(e.source)} → {layer_of(e.target)})" for e in EDGES
              if e.source != PACKAGE_ROOT and layer_of(e.target) > layer_of(e.source)]
    assert upward == []


def test_what_the_images_install_never_imports_the_repository_tools():
    def tool(module: str) -> bool:
        return any(module == t or module.startswith(t + ".") for t in TOOLS)

    assert [show(e) for e in EDGES if not tool(e.source) and tool(e.target)] == []


def test_every_entry_point_maps_failures_through_pipeline_errors():
    """No module but pipeline.errors prints `error: ...` itself or returns a caught error's exit
    code: every `main` goes through run_main/fail."""
    found = []
    for module, path in MODULES.items():
        if module == "pipeline.errors":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for handler in (n for n in ast.walk(tree) if isinstance(n, ast.ExceptHandler) and n.name):
            for node in ast.walk(handler):
                if isinstance(node, ast.Attribute) and node.attr == "exit_code" and getattr(node.value, "id", None) == handler.name:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: returns {handler.name}.exit_code itself")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print" and node.args:
                first = node.args[0]
                text = ast.unparse(first)
                if isinstance(first, (ast.JoinedStr, ast.Constant)) and text.lstrip("f").strip("'\"").startswith("error:"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: prints its own error line")
        mains = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"]
        if mains and not any(isinstance(n, ast.Name) and n.id in ("run_main", "fail") for n in ast.walk(tree)):
            found.append(f"{path.relative_to(ROOT)}: main() does not go through pipeline.errors.run_main")
    assert found == []


# ------------------------------------------------------------------------------ the checks check
def test_the_checks_see_what_they_are_meant_to_see():
    """A stage → stage import, a cycle and an upward import are all found (fixtures, not the tree)."""
    fake = [Edge("pipeline.stages.train", "pipeline.stages.harvest", 1, False),
            Edge("pipeline.run.context", "pipeline.storage", 1, False)]
    assert [e for e in fake if e.source.startswith("pipeline.stages.") and e.target.startswith("pipeline.stages.")] == fake[:1]
    assert layer_of("pipeline.storage") < layer_of("pipeline.run.context") < layer_of("pipeline.stages.train")
    assert layer_of("pipeline.modules.cross_modal") == layer_of("pipeline.modules")
    looped = [Edge("pipeline.layout", "pipeline.config", 1, False), Edge("pipeline.config", "pipeline.layout", 1, False)]
    assert cycles(looped) == [["pipeline.config", "pipeline.layout"]]
    assert any(e.target == "pipeline.storage" for e in EDGES if e.source == "pipeline.run.context")
    lazy = [e for e in EDGES if e.source == "pipeline.stages.harvest" and e.target == "pipeline.phoenix_io"]
    assert lazy, "imports inside functions count"


@pytest.mark.parametrize("module", ["pipeline.stages.train", "pipeline.stages.plan", "pipeline.stages.record"])
def test_stages_read_each_other_through_the_run_layer(module):
    assert any(e.target.startswith("pipeline.run") for e in EDGES if e.source == module)
