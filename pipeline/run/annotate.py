"""annotate's contract: its inputs, its result (with the annotator's verification), the reader."""

from __future__ import annotations

from pydantic import BaseModel

from pipeline.run.context import Outcome, StageContext

STAGE = "annotate"


class AnnotateInputs(BaseModel):
    confidence_threshold: float | None = None  # default: config.annotation_confidence_threshold
    max_annotations: int | None = None  # default: config.max_annotations_per_run


class Verification(BaseModel):
    """The annotator measured on human-labelled decisions, before any of its labels is used."""

    n: int
    correct: int
    accuracy: float | None
    low: float | None  # Wilson 95 %
    high: float | None
    min_accuracy: float
    trusted: bool
    reason: str


class AnnotateResult(Outcome):
    candidates: int
    annotated: int  # LLM annotations used: written to Phoenix and labelling experiences (trusted annotator only)
    failed: int
    written_to_phoenix: int
    deferred: int
    labelled: int
    experiences_key: str | None
    annotator_model: str | None
    proposed: int = 0  # annotations the LLM produced, used or not
    verification: Verification | None = None


def annotated(ctx: StageContext) -> AnnotateResult | None:
    return ctx.output(STAGE).read(AnnotateResult)
