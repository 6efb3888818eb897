"""evaluate: a candidate and a baseline program on the same examples, with the same LM.

By default the candidate is this run's trained program, the baseline what is in production
(or the unoptimized program when nothing is), and the examples the held-out split that train
wrote. A golden JSON Lines file (`query`, `expected_agent`, optional `modality`) can replace
the held-out split, and either side can be any program version: `run` (this run's candidate),
`production`, `unoptimized`, or a production history sequence number.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from pipeline.datasets import data_hash
from pipeline.domain import AGENTS, MODALITIES
from pipeline.errors import ConfigError, NotFoundError
from pipeline.jsonlines import read_jsonl_file
from pipeline.layout import EVALUATION_FILE
from pipeline.metrics import (
    ProgramMetrics,
    mcnemar_one_sided,
    paired_difference,
    relative_improvement,
    score_predictions,
    wilson_interval,
)
from pipeline.modules import load_module, parse_target
from pipeline.run.commit import committed_stage
from pipeline.run.context import StageContext, StageOutput, read_jsonl
from pipeline.run.evaluate import (
    PRIMARY_METRIC,
    STAGE,
    EvaluateInputs,
    EvaluateResult,
    Interval,
    ProgramRef,
    TierSlice,
    evaluation_part,
)
from pipeline.run.train import DEFAULT_ATTEMPT, TrainResult, load_program, trained

log = logging.getLogger(__name__)


def _part(inputs: EvaluateInputs) -> str:
    """The evaluation's folder, keyed on its inputs (a golden set by its content)."""
    _, modality = parse_target(inputs.target)
    golden = data_hash(load_golden(Path(inputs.golden_path), modality)) if inputs.golden_path else None
    return evaluation_part(inputs, golden)


@committed_stage(STAGE, EvaluateResult, part=_part)
def run(ctx: StageContext, inputs: EvaluateInputs, out: StageOutput) -> EvaluateResult:
    module_name, modality = parse_target(inputs.target)
    candidate_of_run = trained(ctx, inputs.target, inputs.attempt)
    if inputs.golden_path:
        examples, dataset = load_golden(Path(inputs.golden_path), modality), inputs.golden_path
    else:
        if candidate_of_run is None:
            raise NotFoundError(f"run {ctx.run_id}: train has not completed for {inputs.target}")
        if candidate_of_run.status != "ok":
            return EvaluateResult(status="skipped", reason=f"train skipped: {candidate_of_run.reason}", target=inputs.target,
                                  dataset="held-out")
        examples, dataset = read_jsonl(ctx.store, candidate_of_run.heldout_key), "held-out"
    if not examples:
        return EvaluateResult(status="skipped", reason="insufficient data: no evaluation examples", target=inputs.target,
                              dataset=dataset)

    candidate = resolve_program(ctx, inputs.target, inputs.candidate, candidate_of_run)
    baseline = resolve_program(ctx, inputs.target, inputs.baseline, candidate_of_run)

    from pipeline.lm import check_lm, lm_context

    spec = load_module(module_name)
    lm_spec = ctx.config.llm.for_module(module_name)
    with lm_context(lm_spec) as lm:
        check_lm(lm)  # fails fast when unreachable, and keeps model loading out of the latencies
        cand_rows, cand_usage = predict_all(ctx, module_name, candidate, examples, lm_spec)
        base_rows, base_usage = predict_all(ctx, module_name, baseline, examples, lm_spec)

    gold = [e["label"] for e in examples]
    cand_metrics = _score(gold, cand_rows)
    base_metrics = _score(gold, base_rows)
    cand_right = [r["predicted"] == g for r, g in zip(cand_rows, gold)]
    base_right = [r["predicted"] == g for r, g in zip(base_rows, gold)]
    improvement, basis = relative_improvement(getattr(cand_metrics, PRIMARY_METRIC), getattr(base_metrics, PRIMARY_METRIC))
    paired = mcnemar_one_sided(cand_right, base_right)
    report_key = out.put_json(
        EVALUATION_FILE,
        {
            "examples": [
                {"query": e["query"], "gold": g, "candidate": c, "baseline": b,
                 "label_source": e.get("label_source"), "router_choice": e.get("chosen_agent")}
                for e, g, c, b in zip(examples, gold, cand_rows, base_rows)
            ],
            "input_fields": list(spec.input_fields),
        },
    )
    return EvaluateResult(
        status="ok",
        target=inputs.target,
        dataset=dataset,
        n=len(examples),
        candidate=candidate,
        baseline=baseline,
        candidate_metrics=cand_metrics,
        baseline_metrics=base_metrics,
        candidate_interval=Interval(**dict(zip(("low", "high"), _rounded(wilson_interval(sum(cand_right), len(gold)))))),
        baseline_interval=Interval(**dict(zip(("low", "high"), _rounded(wilson_interval(sum(base_right), len(gold)))))),
        difference=paired_difference(cand_right, base_right),
        improvement_pct=improvement,
        improvement_basis=basis,
        paired_test=paired,
        incumbent=incumbent_accuracy(examples),
        score_metric=spec.metric.__name__ if spec.outputs is not None else None,
        candidate_score=metric_score(spec, examples, cand_rows),
        baseline_score=metric_score(spec, examples, base_rows),
        candidate_tiers=tier_slices(cand_rows, gold),
        lm_calls={"candidate": cand_usage["lm_calls"], "baseline": base_usage["lm_calls"]},
        cached={"candidate": cand_usage["cached"], "baseline": base_usage["cached"]},
        report_key=report_key,
        lm=lm_spec.model,
    )


def metric_score(spec: Any, examples: list[dict[str, Any]], rows: list[dict[str, Any]]) -> float | None:
    """The mean of the module's metric over the examples, for a module with several outputs
    (for a single-label one it is the accuracy); a failed answer scores 0. None when an answer
    read from an older prediction cache lacks the outputs the metric needs."""
    if spec.outputs is None or not rows:
        return None
    import dspy

    total = 0.0
    for example, row in zip(examples, rows):
        if row.get("error") is None and row.get("answer") is None:
            return None
        if row.get("error") is None:
            total += float(spec.metric(spec.build_example(example), dspy.Prediction(**row["answer"])))
    return round(total / len(rows), 4)


def incumbent_accuracy(examples: list[dict[str, Any]]) -> dict[str, Any] | None:
    """How the production router itself did, from its logged choice, on the examples a human
    labelled (an outcome label is the router's own choice, so it cannot grade the router)."""
    human = [e for e in examples if e.get("label_source") == "human" and e.get("chosen_agent")]
    if not human:
        return None
    right = sum(e["chosen_agent"] == e["label"] for e in human)
    low, high = wilson_interval(right, len(human))
    return {"n": len(human), "accuracy": round(right / len(human), 4), "low": round(low, 4), "high": round(high, 4),
            "labels": "human"}


def tier_slices(rows: list[dict[str, Any]], gold: list[str]) -> list[TierSlice]:
    slices = []
    for tier in sorted({r.get("tier") for r in rows if r.get("tier")}):
        members = [i for i, r in enumerate(rows) if r.get("tier") == tier]
        with_fast = [i for i in members if rows[i].get("classifier") is not None]
        slices.append(TierSlice(
            tier=tier,
            n=len(members),
            accuracy=round(sum(rows[i]["predicted"] == gold[i] for i in members) / len(members), 4),
            classifier_accuracy=round(sum(rows[i]["classifier"] == gold[i] for i in with_fast) / len(with_fast), 4) if with_fast else None,
        ))
    return slices


def _rounded(pair: tuple[float, float]) -> tuple[float, float]:
    return round(pair[0], 4), round(pair[1], 4)


def resolve_program(ctx: StageContext, target: str, ref: str, candidate: TrainResult | dict[str, Any] | None) -> ProgramRef:
    """`ref` (run, production, unoptimized or a version number) as a program; `candidate` is
    the run's train result (as committed, or typed)."""
    from pipeline import promotion

    if isinstance(candidate, dict):
        candidate = TrainResult.model_validate(candidate)
    if ref == "run":
        if candidate is None or candidate.status != "ok":
            raise NotFoundError(f"run {ctx.run_id} has no trained candidate for {target}")
        attempt = candidate.attempt or DEFAULT_ATTEMPT
        which = f"run {ctx.run_id}" + ("" if attempt == DEFAULT_ATTEMPT else f", attempt {attempt}")
        return ProgramRef(kind="run", label=f"candidate ({which})", artifact_prefix=candidate.artifact_prefix)
    if ref == "unoptimized":
        return ProgramRef(kind="unoptimized", label="unoptimized program", artifact_prefix=None)
    if ref == "production":
        pointer = promotion.current(ctx.store, ctx.tenant, target)
        if pointer is None:
            return ProgramRef(kind="unoptimized", label="unoptimized program (nothing in production)", artifact_prefix=None)
        return ProgramRef(kind="production", label=f"production v{pointer.sequence}", artifact_prefix=pointer.artifact_prefix, sequence=pointer.sequence)
    if ref.isdigit():
        for pointer in promotion.history(ctx.store, ctx.tenant, target):
            if pointer.sequence == int(ref):
                return ProgramRef(kind="history", label=f"version {pointer.sequence}", artifact_prefix=pointer.artifact_prefix, sequence=pointer.sequence)
        raise NotFoundError(f"{target} of tenant {ctx.tenant} has no version {ref}")
    raise ConfigError(f"program reference {ref!r}: use run, production, unoptimized or a version number")


def predict_all(ctx: StageContext, module_name: str, ref: ProgramRef, examples: list[dict[str, Any]],
                lm_spec: Any = None) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Run a program over the examples inside the caller's LM context; failures count as wrong.

    Answers of programs that outlive the run (production, history, unoptimized) are cached in the
    store by (program hash, LM, example hash): a re-run on unchanged examples pays nothing."""
    from pipeline import prediction_cache
    from pipeline.errors import is_lm_unreachable
    from pipeline.lm import LMMeter

    spec = load_module(module_name)
    program = (
        spec.program_factory() if ref.artifact_prefix is None else load_program(ctx.store, module_name, ref.artifact_prefix)
    )
    cache = prediction_cache.PredictionCache(ctx.store, ctx.tenant, program, lm_spec) if ref.kind != "run" and lm_spec else None
    meter, cached = LMMeter(), 0
    rows = []
    with meter.watching():
        for example in examples:
            inputs = spec.build_example(example).inputs().toDict()
            if cache is not None and (hit := cache.get(inputs)) is not None:
                rows.append({**hit, "cached": True})
                cached += 1
                continue
            started = time.perf_counter()
            try:
                pred = program(**inputs)
                row = {"predicted": getattr(pred, spec.label_field), "confidence": float(pred.confidence), "error": None,
                       "tier": getattr(pred, "tier", None), "classifier": getattr(pred, "classifier_label", None),
                       "answer": spec.answer(pred) if spec.outputs is not None else None}
            except Exception as exc:  # an unparseable reply is a wrong answer, not a crash
                if is_lm_unreachable(exc):
                    raise
                row = {"predicted": None, "confidence": 0.0, "error": str(exc)[:300], "tier": None, "classifier": None,
                       "answer": None}
            row["latency_s"] = round(time.perf_counter() - started, 4)
            if cache is not None and row["error"] is None:
                cache.put(inputs, row)
            rows.append(row)
    return rows, {"lm_calls": meter.calls, "cached": cached}


def _score(gold: list[str], rows: list[dict[str, Any]]) -> ProgramMetrics:
    return score_predictions(gold, [r["predicted"] for r in rows], [r["confidence"] for r in rows], [r["latency_s"] for r in rows])


def load_golden(path: Path, modality: str | None) -> list[dict[str, Any]]:
    """Golden set: JSON Lines of {query, expected_agent, modality?}; bad lines are errors."""
    rows = []
    for number, raw in read_jsonl_file(path, "golden dataset"):
        if not isinstance(raw, dict) or not isinstance(raw.get("query"), str) or raw.get("expected_agent") not in AGENTS:
            raise ConfigError(f"{path}, line {number}: needs a string 'query' and an 'expected_agent' from the catalog")
        row_modality = raw.get("modality") or "text"
        if row_modality not in MODALITIES:
            raise ConfigError(f"{path}, line {number}: unknown modality {row_modality!r}")
        if modality is None or row_modality == modality:
            rows.append({"query": raw["query"], "label": raw["expected_agent"], "modality": row_modality, "context": raw.get("context", "")})
    return rows
