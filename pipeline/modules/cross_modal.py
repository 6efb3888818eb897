"""The `cross_modal` module: a query and the modalities detected in it → whether to fuse the
results across those modalities, which modality leads, and the fusion weights.

Data: the cross-modal generator's examples (pipeline.synthetic, `examples-cross_modal.jsonl`):
queries written for a pair of real items of two modalities, labelled from the content (the
primary item's modality leads). The traces label no such decision, so the module has no real
data and its held-out split is a seeded share of those synthetic examples: its gate decides on
the generator's labels, not on traffic.

Metric (training): half for the fuse decision, half for the leading modality; with a trace
(bootstrapping) only a fully right answer counts. Every generated example needs fusing, so the
fuse half cannot tell a good program from one that always fuses until negatives exist; the
weights have no label and are only normalised. Evaluation and the gate score `primary_modality`
(accuracy), with the primary's weight as the confidence.
"""

from __future__ import annotations

import math
from typing import Any

import dspy

from pipeline.domain import Modality
from pipeline.modules import ModuleSpec
from pipeline.modules.structured import StructuredProgram


class FuseAcrossModalities(dspy.Signature):
    """A search query mentions content of several kinds. Decide whether the answer needs the
    results of those kinds combined, which kind of content leads the answer, and how much each
    kind's results should weigh."""

    query: str = dspy.InputField(desc="the user's request")
    modalities: list[Modality] = dspy.InputField(desc="the kinds of content detected in the query")
    fuse: bool = dspy.OutputField(desc="true when the answer needs results of several of these kinds combined")
    primary_modality: Modality = dspy.OutputField(desc="the kind of content whose results lead the answer")
    fusion_weights: dict[str, float] = dspy.OutputField(desc="weight of each detected kind's results, summing to 1")


def _weight(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) and number > 0 else 0.0


def _finish(outputs: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    """Weights over the detected modalities only, summing to 1 (equal when the LM gave none)."""
    detected = list(dict.fromkeys(inputs.get("modalities") or []))
    raw = outputs.get("fusion_weights") if isinstance(outputs.get("fusion_weights"), dict) else {}
    weights = {m: _weight(raw.get(m)) for m in detected}
    total = sum(weights.values())
    weights = {m: round(w / total if total else 1 / len(detected), 4) for m, w in weights.items()}
    primary = outputs.get("primary_modality")
    return {"fuse": bool(outputs.get("fuse")), "primary_modality": primary, "fusion_weights": weights,
            "confidence": weights.get(primary, 0.0)}


def program() -> StructuredProgram:
    return StructuredProgram(FuseAcrossModalities, _finish)


def build_example(record: dict[str, Any]) -> dspy.Example:
    return dspy.Example(
        query=record["query"], modalities=sorted(record["modalities"]), fuse=bool(record.get("fuse", True)),
        primary_modality=record["label"],
    ).with_inputs("query", "modalities")


def fusion_match(example: Any, pred: Any, trace: Any = None) -> float:
    score = 0.5 * (bool(getattr(pred, "fuse", None)) == bool(example.fuse)) + 0.5 * (
        getattr(pred, "primary_modality", None) == example.primary_modality)
    return float(score == 1.0) if trace is not None else score


SPEC = ModuleSpec(
    name="cross_modal",
    real_data=False,
    synthetic="cross_modal",
    adaptive=False,
    program_factory=program,
    metric=fusion_match,
    build_example=build_example,
    input_fields=("query", "modalities"),
    label_field="primary_modality",
    outputs=("fuse", "primary_modality", "fusion_weights", "confidence"),
)
