"""annotate: low-confidence, unlabelled decisions → LLM annotations, written back to Phoenix.

The annotation count is what the cron workflows gate training on.
"""

from __future__ import annotations

import logging
from typing import Any

from pipeline.errors import NotFoundError
from pipeline.layout import ANNOTATIONS_FILE, EXPERIENCES_FILE
from pipeline.run.annotate import STAGE, AnnotateInputs, AnnotateResult, Verification
from pipeline.run.commit import committed_stage
from pipeline.run.context import StageContext, StageOutput, read_parquet
from pipeline.run.harvest import ANNOTATION_NAME, experience_schema, harvested

ANNOTATOR_IDENTIFIER = "cogniverse-optimizer"  # Phoenix upserts on (name, span_id, identifier)

log = logging.getLogger(__name__)


@committed_stage(STAGE, AnnotateResult)
def run(ctx: StageContext, inputs: AnnotateInputs, out: StageOutput) -> AnnotateResult:
    done = harvested(ctx)
    if done is None:
        raise NotFoundError(f"run {ctx.run_id}: harvest has not completed; run `harvest` first")
    if not done.experiences_key:
        return AnnotateResult(
            status="skipped", reason="insufficient data: harvest found no experiences", candidates=0, annotated=0,
            failed=0, written_to_phoenix=0, deferred=0, labelled=0, experiences_key=None, annotator_model=None,
        )

    experiences = read_parquet(ctx.store, done.experiences_key)
    threshold = ctx.config.annotation_confidence_threshold if inputs.confidence_threshold is None else inputs.confidence_threshold
    limit = ctx.config.max_annotations_per_run if inputs.max_annotations is None else inputs.max_annotations
    candidates = sorted(
        (e for e in experiences if not e["label"] and e["confidence"] < threshold),
        key=lambda e: (e["confidence"], e["span_id"]),
    )
    chosen, deferred = candidates[:limit], candidates[limit:]
    spec = ctx.config.llm.for_teacher()
    verification: Verification | None = None
    proposals, failed = [], 0
    if chosen:
        reviewed = [e for e in experiences if e["label_source"] == "human"][: ctx.config.annotation.max_verification]
        proposals, failed, verification = annotate_all(chosen, spec, reviewed, ctx.config.annotation, ctx)
    annotations = proposals if verification is not None and verification.trusted else []
    if verification is not None and not verification.trusted:
        log.warning("no LLM annotations this run: %s", verification.reason)

    written = 0
    if annotations:
        from pipeline import phoenix_io

        phoenix_io.write_annotations(
            ctx.config.phoenix.endpoint,
            ctx.config.phoenix.project_for(ctx.tenant),
            [{k: a[k] for k in ("span_id", "label", "score", "explanation")} for a in annotations],
            name=ANNOTATION_NAME,
            annotator_kind="LLM",
            identifier=ANNOTATOR_IDENTIFIER,
        )
        written = len(annotations)
    by_span = {a["span_id"]: a for a in annotations}
    for e in experiences:
        if e["span_id"] in by_span:
            e["label"], e["label_source"], e["label_score"] = by_span[e["span_id"]]["label"], "llm", by_span[e["span_id"]]["score"]

    used = {a["span_id"] for a in annotations}
    out.put_jsonl(ANNOTATIONS_FILE, [{**a, "used": a["span_id"] in used} for a in proposals])
    key = out.put_parquet(EXPERIENCES_FILE, experiences, schema=experience_schema())
    return AnnotateResult(
        status="ok",
        candidates=len(candidates),
        annotated=len(annotations),
        failed=failed,
        written_to_phoenix=written,
        deferred=len(deferred),
        labelled=sum(1 for e in experiences if e["label"]),
        experiences_key=key,
        annotator_model=spec.model if chosen else None,
        proposed=len(proposals),
        verification=verification,
    )


def annotate_all(candidates: list[dict[str, Any]], spec: Any, reviewed: list[dict[str, Any]], cfg: Any,
                 ctx: StageContext | None = None) -> tuple[list[dict[str, Any]], int, Verification]:
    """Measure the annotator on human-labelled decisions (blind: it sees what it would see for a
    candidate); only a trusted annotator then annotates the candidates (an untrusted one's labels
    would be thrown away: no LM calls for them). A reply that cannot be parsed is counted, not
    fatal. Verification answers are cached in the store (with `ctx`), so re-runs pay once."""
    from pipeline.lm import check_lm, lm_context
    from pipeline.metrics import wilson_interval
    from pipeline.modules import annotator as annotator_module
    from pipeline.prediction_cache import PredictionCache

    annotator = annotator_module.program()
    annotations, failed = [], 0
    with lm_context(spec) as lm:
        check_lm(lm)
        cache = PredictionCache(ctx.store, ctx.tenant, annotator, spec) if reviewed and ctx is not None else None
        correct = 0
        for experience in reviewed:
            key = {k: experience.get(k) for k in ("query", "context", "chosen_agent", "search_quality", "agent_success", "user_satisfaction")}
            hit = cache.get(key) if cache else None
            if hit is None:
                pred = _annotate_one(annotator, experience)
                hit = {"predicted": pred.correct_agent if pred is not None else None}
                if cache:
                    cache.put(key, hit)
            correct += hit.get("predicted") == experience["label"]
        verification = _verdict(len(reviewed), correct, cfg, wilson_interval)
        for experience in candidates if verification.trusted else []:
            pred = _annotate_one(annotator, experience)
            if pred is None:
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
    return annotations, failed, verification


def _annotate_one(annotator: Any, experience: dict[str, Any]) -> Any:
    from pipeline.errors import is_lm_unreachable
    from pipeline.modules.annotator import inputs_of

    try:
        return annotator(**inputs_of(experience))
    except Exception as exc:  # DSPy raises plain exceptions for unparseable replies
        if is_lm_unreachable(exc):
            raise
        log.warning("annotation of span %s failed: %s", experience["span_id"], exc)
        return None


def _verdict(n: int, correct: int, cfg: Any, wilson: Any) -> Verification:
    if n < cfg.min_verified:
        return Verification(n=n, correct=correct, accuracy=round(correct / n, 4) if n else None, low=None, high=None,
                            min_accuracy=cfg.min_accuracy, trusted=False,
                            reason=f"annotator unverified: {n} human-labelled decisions, {cfg.min_verified} needed to measure it")
    accuracy = correct / n
    low, high = wilson(correct, n)
    trusted = accuracy >= cfg.min_accuracy
    return Verification(
        n=n, correct=correct, accuracy=round(accuracy, 4), low=round(low, 4), high=round(high, 4),
        min_accuracy=cfg.min_accuracy, trusted=trusted,
        reason=(f"annotator {'trusted' if trusted else 'not trusted'}: {correct}/{n} = {accuracy:.0%} right on human-labelled "
                f"decisions (95% {low:.0%}–{high:.0%}), floor {cfg.min_accuracy:.0%}"),
    )
