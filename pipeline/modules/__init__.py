"""Module registry: a trained module is one file in this package that assigns `SPEC =
ModuleSpec(...)`: its Signature and program, metric, example builder and the facts below.

Modules are found, not listed: every file here whose top level assigns `SPEC = ModuleSpec(...)`
is one. Its facts (`name`, `per_modality`, `real_data`, `synthetic`, `adaptive`, `orchestration`, `golden`) are read
from the file's source, where they must be literals, so that what the CLI, plan, synthesize,
gate and report ask of the registry (names, targets, where a module's data comes from) never
imports DSPy; `load_module` imports the file for the rest. Adding a module: README, "Adding a
module".
"""

from __future__ import annotations

import ast
import functools
import importlib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from pipeline.datasets import labelled_for_target, split_for_training, stratified_split
from pipeline.domain import MODALITIES
from pipeline.errors import ConfigError

if TYPE_CHECKING:
    import dspy

_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True, kw_only=True)
class ModuleFacts:
    """What is known of a module without importing it."""

    name: str
    per_modality: bool = False  # trained once per modality: targets `<name>-<modality>`
    real_data: bool = True  # labelled real experiences train it and form its held-out set
    synthetic: str | None = None  # the generator with its own examples file that trains it; None = examples.jsonl
    adaptive: bool = True  # a ChoiceProgram: the `adaptive` strategy applies (else a DSPy optimizer by size)
    # What the orchestrator's workflow executions are to it (pipeline.executions): None (nothing),
    # "workflow" (its real data: workflow rows, in place of the routing experiences) or "routing"
    # (routing rows derived from them join its training rows, never its held-out set).
    orchestration: str | None = None
    # Trained from the tenant's golden dataset (`tenants/{t}/golden/{name}.jsonl` or a file;
    # pipeline.modules.golden): held-out = a seeded share of its labelled rows, never rows a
    # teacher labelled. Such a module has no real or synthetic data.
    golden: bool = False

    def __post_init__(self) -> None:
        if self.orchestration not in (None, "workflow", "routing"):
            raise TypeError(f"module {self.name}: orchestration must be None, 'workflow' or 'routing'")

    def orchestrated(self, executions: list[dict[str, Any]], reward: Any, min_reward: float) -> list[dict[str, Any]]:
        """The rows it takes from the run's workflow executions (none unless `orchestration`)."""
        from pipeline import executions as rows

        if self.orchestration == "workflow":
            return rows.workflow_rows(executions)
        if self.orchestration == "routing":
            return rows.routing_rows(executions, reward, min_reward)
        return []

    def labelled(self, experiences: list[dict[str, Any]], modality: str | None,
                 orchestrated: list[dict[str, Any]] = ()) -> list[dict[str, Any]]:
        """The labelled real rows it learns from (none for a module the traces do not label):
        labelled experiences, plus or (workflow) instead of its labelled `orchestrated` rows."""
        derived = [r for r in orchestrated if r.get("label")]
        if self.orchestration == "workflow":
            return derived
        return (labelled_for_target(experiences, modality) if self.real_data else []) + derived

    def datasets(self, experiences: list[dict[str, Any]], synthetic: list[dict[str, Any]], modality: str | None,
                 fraction: float, seed: int, *, hybrid: bool,
                 orchestrated: list[dict[str, Any]] = ()) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        """(real training rows, synthetic training rows, held-out rows). Held-out rows are
        trusted real labels; a module without real data holds out a seeded, stratified share of
        its synthetic examples instead (the only labels there are). HYBRID caps synthetic rows
        at the real ones, 1:1. `orchestrated` (from `orchestrated()`): the workflow module's
        rows split like experiences (stratified by pattern, `beneficial` labels held out);
        routing rows from executions join training only, never a held-out query."""
        if self.orchestration == "workflow":
            from pipeline.executions import WORKFLOW_TRUSTED

            real_train, heldout = split_for_training(list(orchestrated), None, fraction, seed, trusted=WORKFLOW_TRUSTED,
                                                     label_key="pattern")
        elif self.real_data:
            real_train, heldout = split_for_training([*experiences, *orchestrated], modality, fraction, seed)
        else:
            real_train, (synthetic, heldout) = [], stratified_split(synthetic, fraction, seed)
        if hybrid:
            synthetic = synthetic[: len(real_train)]
        return real_train, synthetic, heldout


@dataclass(frozen=True, kw_only=True)
class ModuleSpec(ModuleFacts):
    """What the train/evaluate/predict stages need to know about one module."""

    program_factory: Callable[[], "dspy.Module"]
    metric: Callable[..., float]
    build_example: Callable[[dict[str, Any]], "dspy.Example"]
    input_fields: tuple[str, ...]
    label_field: str  # the output evaluate scores (against a row's `label`)
    text_field: str = "query"  # what the fast tier classifies and demos are retrieved by
    outputs: tuple[str, ...] | None = None  # what predict writes of a prediction; None = an agent choice
    # Golden modules (pipeline.modules.golden): the output fields the metric reads from a labelled
    # row (checked on every row before any LM call), those it compares exactly (empty: a judged
    # text), and the metric score at which one answer counts as right (the paired test).
    metric_fields: tuple[str, ...] = ()
    exact_fields: tuple[str, ...] = ()
    pass_score: float = 1.0

    def text_of(self, record: dict[str, Any]) -> str:
        return str(record.get(self.text_field) or "")

    def answer(self, pred: Any) -> dict[str, Any]:
        """predict's output fields for one prediction."""
        if self.outputs is not None:
            return {field: getattr(pred, field, None) for field in self.outputs}
        return {"recommended_agent": getattr(pred, self.label_field), "confidence": pred.confidence,
                "reasoning": getattr(pred, "reasoning", None), "tier": getattr(pred, "tier", None)}


_FACTS = tuple(f.name for f in fields(ModuleFacts))


@functools.cache
def _registry() -> dict[str, tuple[str, ModuleFacts]]:
    """Module name → (its import path, its facts), from the package's sources."""
    found: dict[str, tuple[str, ModuleFacts]] = {}
    for path in sorted(_HERE.glob("*.py")):
        facts = _declared(path)
        if facts is not None:
            if facts.name in found:
                raise TypeError(f"{path}: module {facts.name!r} is also declared in {found[facts.name][0]}")
            found[facts.name] = (f"{__name__}.{path.stem}", facts)
    return found


def _declared(path: Path) -> ModuleFacts | None:
    """The facts of the `SPEC = ModuleSpec(...)` at the top level of `path`, if it has one."""
    for node in ast.parse(path.read_text(encoding="utf-8"), str(path)).body:
        if not (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "SPEC" for t in node.targets)):
            continue
        if not (isinstance(node.value, ast.Call) and getattr(node.value.func, "id", None) == "ModuleSpec"):
            return None
        values = {}
        for keyword in node.value.keywords:
            if keyword.arg in _FACTS:
                try:
                    values[keyword.arg] = ast.literal_eval(keyword.value)
                except ValueError:
                    raise TypeError(f"{path}: ModuleSpec({keyword.arg}=...) must be a literal: the registry reads it without importing the file") from None
        return ModuleFacts(**values)
    return None


def module_names() -> list[str]:
    return sorted(_registry())


def facts(name: str) -> ModuleFacts:
    if name not in _registry():
        raise ConfigError(f"unknown module {name!r}; known: {', '.join(module_names())}")
    return _registry()[name][1]


def load_module(name: str) -> ModuleSpec:
    declared = facts(name)
    spec: ModuleSpec = importlib.import_module(_registry()[name][0]).SPEC
    if ModuleFacts(**{f: getattr(spec, f) for f in _FACTS}) != declared:
        raise TypeError(f"module {name}: its SPEC's facts differ from what its source declares")
    return spec


def is_per_modality(name: str) -> bool:
    return name in _registry() and facts(name).per_modality


def parse_target(target: str) -> tuple[str, str | None]:
    """`routing` → ("routing", None); `modality-video` → ("modality", "video")."""
    module, _, modality = target.partition("-")
    if module not in _registry():
        raise ConfigError(f"unknown module target {target!r}; known modules: {', '.join(module_names())}")
    if facts(module).per_modality:
        if modality not in MODALITIES:
            raise ConfigError(f"module {module!r} is trained per modality: use {module}-<{'|'.join(MODALITIES)}>")
        return module, modality
    if modality:
        raise ConfigError(f"module {module!r} is not trained per modality: use {module!r}")
    return module, None


def all_targets() -> list[str]:
    targets = []
    for name in module_names():
        if facts(name).per_modality:
            targets.extend(f"{name}-{m}" for m in MODALITIES)
        else:
            targets.append(name)
    return targets


def golden_modules() -> list[str]:
    """The modules trained from a tenant's golden dataset (the DSPy agent modules)."""
    return [name for name in module_names() if facts(name).golden]
