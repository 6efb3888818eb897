"""Module registry: a trained module is one Signature + Module + metric + example builder.

The registry maps names to import paths so that stages which never touch DSPy (harvest,
gate, report) can list modules without importing it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from pipeline.domain import MODALITIES
from pipeline.errors import ConfigError

if TYPE_CHECKING:
    import dspy

_REGISTRY: dict[str, str] = {
    "routing": "pipeline.modules.routing",
    "modality": "pipeline.modules.modality",
}
PER_MODALITY = {"modality"}


@dataclass(frozen=True)
class ModuleSpec:
    """What the train/evaluate/predict stages need to know about one module."""

    name: str
    program_factory: Callable[[], "dspy.Module"]
    metric: Callable[[Any, Any], float]
    build_example: Callable[[dict[str, Any]], "dspy.Example"]
    input_fields: tuple[str, ...]
    label_field: str
    text_field: str = "query"  # what the fast tier classifies and demos are retrieved by

    def text_of(self, record: dict[str, Any]) -> str:
        return str(record.get(self.text_field) or "")


def module_names() -> list[str]:
    return sorted(_REGISTRY)


def load_module(name: str) -> ModuleSpec:
    if name not in _REGISTRY:
        raise ConfigError(f"unknown module {name!r}; known: {', '.join(module_names())}")
    return importlib.import_module(_REGISTRY[name]).SPEC


def parse_target(target: str) -> tuple[str, str | None]:
    """`routing` → ("routing", None); `modality-video` → ("modality", "video")."""
    module, _, modality = target.partition("-")
    if module not in _REGISTRY:
        raise ConfigError(f"unknown module target {target!r}; known modules: {', '.join(module_names())}")
    if module in PER_MODALITY:
        if modality not in MODALITIES:
            raise ConfigError(f"module {module!r} is trained per modality: use {module}-<{'|'.join(MODALITIES)}>")
        return module, modality
    if modality:
        raise ConfigError(f"module {module!r} is not trained per modality: use {module!r}")
    return module, None


def all_targets() -> list[str]:
    targets = []
    for name in module_names():
        if name in PER_MODALITY:
            targets.extend(f"{name}-{m}" for m in MODALITIES)
        else:
            targets.append(name)
    return targets
