"""annotate: low-confidence, unlabelled decisions → LLM annotations, written back to Phoenix.

The annotation count is what the cron workflows gate training on.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel

from pipeline.errors import NotFoundError
from pipeline.stages import harvest
from pipeline.stages.base import StageContext, read_parquet

STAGE = "annotate"
EXPERIENCES_FILE = "experiences.parquet"
ANNOTATIONS_FILE = "annotations.jsonl"
ANNOTATOR_IDENTIFIER = "cogniverse-optimizer"  # Phoenix upserts on (name, span_id, identifier)

log = logging.getLogger(__name__)


class AnnotateInputs(BaseModel):
    confidence_threshold: float | None = None  # default: config.annotation_confidence_threshold
    max_annotations: int | None = None  # default: config.max_annotations_per_run


class AnnotateResult(BaseModel):
    status: Literal["ok", "skipped"]
    reason: str | None = None
    candidates: int
    annotated: int
    failed: int
    written_to_phoenix: int
    deferred: int
    labelled: int
    experiences_key: str | None
    annotator_model: str | None


def run(ctx: StageContext, inputs: AnnotateInputs) -> AnnotateResult:
    out = ctx.output(STAGE)
    if (done := out.committed()) is not None:
        return AnnotateResult.model_validate(done)
    harvested = ctx.output(harvest.STAGE).committed()
    if harvested is None:
        raise NotFoundError(f"run {ctx.run_id}: harvest has not completed; run `harvest` first")
    if not harvested.get("experiences_key"):
        result = AnnotateResult(
            status="skipped", reason="insufficient data: harvest found no experiences", candidates=0, annotated=0,
            failed=0, written_to_phoenix=0, deferred=0, labelled=0, experiences_key=None, annotator_model=None,
        )
        out.commit(result)
        return result

    experiences = read_parquet(ctx.store, harvested["experiences_key"])
    threshold = ctx.config.annotation_confidence_threshold if inputs.confidence_threshold is None else inputs.confidence_threshold
    limit = ctx.config.max_annotations_per_run if inputs.max_annotations is None else inputs.max_annotations
    candidates = sorted(
        (e for e in experiences if not e["label"] and e["confidence"] < threshold),
        key=lambda e: (e["confidence"], e["span_id"]),
    )
    chosen, deferred = candidates[:limit], candidates[limit:]
    spec = ctx.config.llm.for_teacher()
    annotations, failed = annotate_all(chosen, spec) if chosen else ([], 0)

    written = 0
    if annotations:
        from pipeline import phoenix_io

        phoenix_io.write_annotations(
            ctx.config.phoenix.endpoint,
            ctx.config.phoenix.project_for(ctx.tenant),
            [{k: a[k] for k in ("span_id", "label", "score", "explanation")} for a in annotations],
            name=harvest.ANNOTATION_NAME,
            annotator_kind="LLM",
            identifier=ANNOTATOR_IDENTIFIER,
        )
        written = len(annotations)
    by_span = {a["span_id"]: a for a in annotations}
    for e in experiences:
        if e["span_id"] in by_span:
            e["label"], e["label_source"], e["label_score"] = by_span[e["span_id"]]["label"], "llm", by_span[e["span_id"]]["score"]

    out.put_jsonl(ANNOTATIONS_FILE, annotations)
    key = out.put_parquet(EXPERIENCES_FILE, experiences, schema=harvest.experience_schema())
    result = AnnotateResult(
        status="ok",
        candidates=len(candidates),
        annotated=len(annotations),
        failed=failed,
        written_to_phoenix=written,
        deferred=len(deferred),
        labelled=sum(1 for e in experiences if e["label"]),
        experiences_key=key,
        annotator_model=spec.model if chosen else None,
    )
    out.commit(result)
    return result


def annotate_all(candidates: list[dict[str, Any]], spec: Any) -> tuple[list[dict[str, Any]], int]:
    """Annotate each candidate; a reply that cannot be parsed is counted, not fatal."""
    from pipeline.annotator import RoutingAnnotator
    from pipeline.lm import check_lm, lm_context

    annotator = RoutingAnnotator()
    annotations, failed = [], 0
    with lm_context(spec) as lm:
        check_lm(lm)
        for experience in candidates:
            try:
                pred = annotator(experience=experience)
            except Exception as exc:  # DSPy raises plain exceptions for unparseable replies
                if _is_unreachable(exc):
                    raise
                log.warning("annotation of span %s failed: %s", experience["span_id"], exc)
                failed += 1
                continue
            annotations.append(
                {
                    "span_id": experience["span_id"],
                    "query": experience["query"],
                    "chosen_agent": experience["chosen_agent"],
                    "label": pred.correct_agent,
                    "score": pred.confidence,
                    "explanation": pred.explanation,
                }
            )
    return annotations, failed


def _is_unreachable(exc: Exception) -> bool:
    from pipeline.errors import is_lm_unreachable

    return is_lm_unreachable(exc)
