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
from pipeline.modules import facts, load_module, parse_target
from pipeline.run.commit import committed_stage
from pipeline.run.context import StageContext, StageOutput, read_jsonl
from pipeline.run.evaluate import (
    GOLDEN_PRIMARY_METRIC,
    PRIMARY_METRIC,
    STAGE,
    EvaluateInputs,
    EvaluateResult,
    Interval,
    ProgramRef,
    TierSlice,
    evaluation_part,
)
from pipeline.run.golden import golden_digest
from pipeline.run.train import DEFAULT_ATTEMPT, TrainResult, load_program, trained

log = logging.getLogger(__name__)


def _part(inputs: EvaluateInputs) -> str:
    """The evaluation's folder, keyed on its inputs (a golden set by its content)."""
    module_name, modality = parse_target(inputs.target)
    if inputs.golden_path and facts(module_name).golden:
        return evaluation_part(inputs, golden_digest(read_jsonl_file(Path(inputs.golden_path), "golden dataset")))
    golden = data_hash(load_golden(Path(inputs.golden_path), modality)) if inputs.golden_path else None
    return evaluation_part(inputs, golden)


@committed_stage(STAGE, EvaluateResult, part=_part)
def run(ctx: StageContext, inputs: EvaluateInputs, out: StageOutput) -> EvaluateResult:
    module_name, modality = parse_target(inputs.target)
    candidate_of_run = trained(ctx, inputs.target, inputs.attempt)
    if facts(module_name).golden:
        return _evaluate_golden(ctx, inputs, out, module_name, candidate_of_run)
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


def _evaluate_golden(ctx: StageContext, inputs: EvaluateInputs, out: StageOutput, module_name: str,
                     candidate_of_run: TrainResult | None) -> EvaluateResult:
    """A golden (agent) module: candidate and baseline on the held-out golden rows (or a golden
    file in the module's schema), scored by the module's metric (judged texts on the teacher).
    Primary metric: the metric's mean; an answer is right, for the paired test and the
    intervals, at `pass_score`. The uncompiled student is scored too (distillation before/after)."""
    spec = load_module(module_name)
    if inputs.golden_path:
        from pipeline.modules.golden import validate_rows

        path = Path(inputs.golden_path)
        examples, _ = validate_rows(spec, read_jsonl_file(path, "golden dataset"), str(path))
        dataset = inputs.golden_path
    else:
        if candidate_of_run is None:
            raise NotFoundError(f"run {ctx.run_id}: train has not completed for {inputs.target}")
        if candidate_of_run.status != "ok":
            return EvaluateResult(status="skipped", reason=f"train skipped: {candidate_of_run.reason}", target=inputs.target,
                                  dataset="held-out", primary_metric=GOLDEN_PRIMARY_METRIC)
        examples, dataset = read_jsonl(ctx.store, candidate_of_run.heldout_key), "held-out"
    if not examples:
        return EvaluateResult(status="skipped", reason="insufficient data: no evaluation examples", target=inputs.target,
                              dataset=dataset, primary_metric=GOLDEN_PRIMARY_METRIC)
    candidate = resolve_program(ctx, inputs.target, inputs.candidate, candidate_of_run)
    baseline = resolve_program(ctx, inputs.target, inputs.baseline, candidate_of_run)
    student = ProgramRef(kind="unoptimized", label="uncompiled student", artifact_prefix=None)

    from pipeline import lm as lmlib
    from pipeline.modules.golden import agreement_by_field, judging

    lm_spec = ctx.config.llm.for_module(module_name)
    teacher_spec = ctx.config.llm.teacher
    judge_meter = lmlib.LMMeter()
    with lmlib.lm_context(lm_spec) as lm:
        lmlib.check_lm(lm)
        teacher = lmlib.build_lm(teacher_spec) if teacher_spec is not None else None
        sides = {"candidate": candidate, "baseline": baseline}
        if candidate.kind == "run" and baseline.kind != "unoptimized":
            sides["student"] = student
        answered = {side: predict_all(ctx, module_name, ref, examples, lm_spec) for side, ref in sides.items()}
        with judging(teacher, lmlib.adapter_for(teacher) if teacher is not None else None), judge_meter.watching():
            scores = {side: _golden_scores(spec, examples, rows) for side, (rows, _) in answered.items()}
    (cand_rows, cand_usage), (base_rows, base_usage) = answered["candidate"], answered["baseline"]
    cand_metrics, base_metrics = (_golden_metrics(spec, examples, answered[s][0], scores[s]) for s in ("candidate", "baseline"))
    cand_right = [x >= spec.pass_score for x in scores["candidate"]]
    base_right = [x >= spec.pass_score for x in scores["baseline"]]
    improvement, basis = relative_improvement(cand_metrics.mean_score, base_metrics.mean_score)
    golds = examples
    fields = {side: agreement_by_field(spec.exact_fields, golds, [r["predicted"] for r in answered[side][0]])
              for side in ("candidate", "baseline")} if spec.exact_fields else {}
    distillation = None
    if candidate.kind == "run":
        before = "student" if "student" in answered else "baseline"
        trained_with = (candidate_of_run.distillation if candidate_of_run is not None else None) or {}
        distillation = {
            "uncompiled_student": round(sum(scores[before]) / len(examples), 4),
            "compiled_student": cand_metrics.mean_score,
            "lm_calls": {"uncompiled_student": answered[before][1]["lm_calls"], "compiled_student": cand_usage["lm_calls"]},
            "judge_lm_calls": judge_meter.calls,
            **{k: trained_with.get(k) for k in ("teacher", "teacher_labelled", "teacher_calls", "cache_hits", "compile_lm_calls")},
        }
    report_key = out.put_json(EVALUATION_FILE, {
        "examples": [
            {"query": e.get("query"), "gold": {f: e.get(f) for f in spec.outputs or ()}, "candidate": c, "baseline": b,
             "candidate_score": cs, "baseline_score": bs, "label_source": e.get("label_source")}
            for e, c, b, cs, bs in zip(examples, cand_rows, base_rows, scores["candidate"], scores["baseline"])
        ],
        "input_fields": list(spec.input_fields),
    })
    return EvaluateResult(
        status="ok", target=inputs.target, dataset=dataset, n=len(examples), primary_metric=GOLDEN_PRIMARY_METRIC,
        candidate=candidate, baseline=baseline, candidate_metrics=cand_metrics, baseline_metrics=base_metrics,
        candidate_interval=Interval(**dict(zip(("low", "high"), _rounded(wilson_interval(sum(cand_right), len(examples)))))),
        baseline_interval=Interval(**dict(zip(("low", "high"), _rounded(wilson_interval(sum(base_right), len(examples)))))),
        difference=paired_difference(cand_right, base_right), improvement_pct=improvement, improvement_basis=basis,
        paired_test=mcnemar_one_sided(cand_right, base_right),
        lm_calls={"candidate": cand_usage["lm_calls"], "baseline": base_usage["lm_calls"]},
        cached={"candidate": cand_usage["cached"], "baseline": base_usage["cached"]},
        report_key=report_key, lm=lm_spec.model, field_agreement=fields, distillation=distillation,
    )


def _golden_scores(spec: Any, examples: list[dict[str, Any]], rows: list[dict[str, Any]]) -> list[float]:
    import dspy

    scores = []
    for example, row in zip(examples, rows):
        predicted = row.get("predicted")
        scores.append(float(spec.metric(spec.build_example(example), dspy.Prediction(**predicted))) if isinstance(predicted, dict) else 0.0)
    return scores


def _golden_metrics(spec: Any, examples: list[dict[str, Any]], rows: list[dict[str, Any]], scores: list[float]) -> ProgramMetrics:
    """Per-label figures on the label field when it is a label set; else on pass/fail at `pass_score`."""
    if spec.exact_fields:
        gold = [str(e.get(spec.label_field)) for e in examples]
        predicted = [None if not isinstance(r.get("predicted"), dict) or r["predicted"].get(spec.label_field) is None
                     else str(r["predicted"][spec.label_field]) for r in rows]
    else:
        gold = ["pass"] * len(examples)
        predicted = [None if r.get("error") else ("pass" if s >= spec.pass_score else "fail") for r, s in zip(rows, scores)]
    metrics = score_predictions(gold, predicted, [r["confidence"] for r in rows], [r["latency_s"] for r in rows])
    return metrics.model_copy(update={"mean_score": round(sum(scores) / len(scores), 4)})


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
                if spec.golden:  # every output the module's metric may read; its own confidence if it has one
                    row = {"predicted": {f: getattr(pred, f, None) for f in spec.outputs or (spec.label_field,)},
                           "confidence": float(getattr(pred, "confidence", 0.0) or 0.0), "error": None, "tier": None,
                           "classifier": None, "answer": spec.answer(pred)}
                else:
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
