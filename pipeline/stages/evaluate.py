"""evaluate: a candidate and a baseline program on the same examples, with the same LM.

By default the candidate is this run's trained program, the baseline what is in production
(or the unoptimized program when nothing is), and the examples the held-out split that train
wrote. A golden JSON Lines file (`query`, `expected_agent`, optional `modality`) can replace
the held-out split, and either side can be any program version: `run` (this run's candidate),
`production`, `unoptimized`, or a production history sequence number.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from pipeline.errors import ConfigError, NotFoundError
from pipeline.metrics import PairedTest, ProgramMetrics, mcnemar_one_sided, relative_improvement, score_predictions
from pipeline.modules import load_module, parse_target
from pipeline.stages import train
from pipeline.stages.base import StageContext, read_jsonl

STAGE = "evaluate"
REPORT_FILE = "evaluation.json"
PRIMARY_METRIC = "accuracy"

log = logging.getLogger(__name__)


class EvaluateInputs(BaseModel):
    target: str
    candidate: str = "run"
    baseline: str = "production"
    golden_path: str | None = None


class ProgramRef(BaseModel):
    kind: Literal["run", "production", "unoptimized", "history"]
    label: str  # for people: "candidate (run r1)", "production v3", "unoptimized"
    artifact_prefix: str | None
    sequence: int | None = None


class EvaluateResult(BaseModel):
    status: Literal["ok", "skipped"]
    reason: str | None = None
    target: str
    dataset: str  # "held-out" or the golden file
    n: int = 0
    primary_metric: str = PRIMARY_METRIC
    candidate: ProgramRef | None = None
    baseline: ProgramRef | None = None
    candidate_metrics: ProgramMetrics | None = None
    baseline_metrics: ProgramMetrics | None = None
    improvement_pct: float | None = None
    improvement_basis: str | None = None
    paired_test: PairedTest | None = None
    report_key: str | None = None
    lm: str | None = None


def run(ctx: StageContext, inputs: EvaluateInputs) -> EvaluateResult:
    module_name, modality = parse_target(inputs.target)
    part = inputs.target if inputs.golden_path is None else f"{inputs.target}-golden"
    out = ctx.output(STAGE, part)
    if (done := out.committed()) is not None:
        return EvaluateResult.model_validate(done)

    trained = ctx.output(train.STAGE, inputs.target).committed()
    if inputs.golden_path:
        examples, dataset = load_golden(Path(inputs.golden_path), modality), inputs.golden_path
    else:
        if trained is None:
            raise NotFoundError(f"run {ctx.run_id}: train has not completed for {inputs.target}")
        if trained["status"] != "ok":
            result = EvaluateResult(status="skipped", reason=f"train skipped: {trained['reason']}", target=inputs.target, dataset="held-out")
            out.commit(result)
            return result
        examples, dataset = read_jsonl(ctx.store, trained["heldout_key"]), "held-out"
    if not examples:
        result = EvaluateResult(status="skipped", reason="insufficient data: no evaluation examples", target=inputs.target, dataset=dataset)
        out.commit(result)
        return result

    candidate = resolve_program(ctx, inputs.target, inputs.candidate, trained)
    baseline = resolve_program(ctx, inputs.target, inputs.baseline, trained)

    from pipeline.lm import lm_context

    spec = load_module(module_name)
    lm_spec = ctx.config.llm.for_module(module_name)
    from pipeline.lm import check_lm

    with lm_context(lm_spec) as lm:
        check_lm(lm)  # fails fast when unreachable, and keeps model loading out of the latencies
        cand_rows = predict_all(ctx, module_name, candidate, examples)
        base_rows = predict_all(ctx, module_name, baseline, examples)

    gold = [e["label"] for e in examples]
    cand_metrics = _score(gold, cand_rows)
    base_metrics = _score(gold, base_rows)
    improvement, basis = relative_improvement(getattr(cand_metrics, PRIMARY_METRIC), getattr(base_metrics, PRIMARY_METRIC))
    paired = mcnemar_one_sided(
        [r["predicted"] == g for r, g in zip(cand_rows, gold)], [r["predicted"] == g for r, g in zip(base_rows, gold)]
    )
    report_key = out.put_json(
        REPORT_FILE,
        {
            "examples": [
                {"query": e["query"], "gold": g, "candidate": c, "baseline": b}
                for e, g, c, b in zip(examples, gold, cand_rows, base_rows)
            ],
            "input_fields": list(spec.input_fields),
        },
    )
    result = EvaluateResult(
        status="ok",
        target=inputs.target,
        dataset=dataset,
        n=len(examples),
        candidate=candidate,
        baseline=baseline,
        candidate_metrics=cand_metrics,
        baseline_metrics=base_metrics,
        improvement_pct=improvement,
        improvement_basis=basis,
        paired_test=paired,
        report_key=report_key,
        lm=lm_spec.model,
    )
    out.commit(result)
    return result


def resolve_program(ctx: StageContext, target: str, ref: str, trained: dict[str, Any] | None) -> ProgramRef:
    from pipeline import promotion

    if ref == "run":
        if not trained or trained.get("status") != "ok":
            raise NotFoundError(f"run {ctx.run_id} has no trained candidate for {target}")
        return ProgramRef(kind="run", label=f"candidate (run {ctx.run_id})", artifact_prefix=trained["artifact_prefix"])
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


def predict_all(ctx: StageContext, module_name: str, ref: ProgramRef, examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run a program over the examples inside the caller's LM context; failures count as wrong."""
    spec = load_module(module_name)
    program = (
        spec.program_factory() if ref.artifact_prefix is None else train.load_program(ctx.store, module_name, ref.artifact_prefix)
    )
    rows = []
    for example in examples:
        inputs = spec.build_example(example).inputs().toDict()
        started = time.perf_counter()
        try:
            pred = program(**inputs)
            row = {"predicted": pred.recommended_agent, "confidence": float(pred.confidence), "error": None}
        except Exception as exc:  # an unparseable reply is a wrong answer, not a crash
            from pipeline.errors import is_lm_unreachable

            if is_lm_unreachable(exc):
                raise
            row = {"predicted": None, "confidence": 0.0, "error": str(exc)[:300]}
        row["latency_s"] = round(time.perf_counter() - started, 4)
        rows.append(row)
    return rows


def _score(gold: list[str], rows: list[dict[str, Any]]) -> ProgramMetrics:
    return score_predictions(gold, [r["predicted"] for r in rows], [r["confidence"] for r in rows], [r["latency_s"] for r in rows])


def load_golden(path: Path, modality: str | None) -> list[dict[str, Any]]:
    """Golden set: JSON Lines of {query, expected_agent, modality?}; bad lines are errors."""
    from pipeline.config import AGENTS, MODALITIES

    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError as exc:
        raise ConfigError(f"golden dataset not found: {path}") from exc
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}, line {number}: not JSON ({exc.msg})") from exc
        if not isinstance(raw, dict) or not isinstance(raw.get("query"), str) or raw.get("expected_agent") not in AGENTS:
            raise ConfigError(f"{path}, line {number}: needs a string 'query' and an 'expected_agent' from the catalog")
        row_modality = raw.get("modality") or "text"
        if row_modality not in MODALITIES:
            raise ConfigError(f"{path}, line {number}: unknown modality {row_modality!r}")
        if modality is None or row_modality == modality:
            rows.append({"query": raw["query"], "label": raw["expected_agent"], "modality": row_modality, "context": raw.get("context", "")})
    return rows
