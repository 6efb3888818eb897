"""evaluate's contract: its inputs, the program references, its result, where an evaluation
lives (keyed on its inputs) and the reader."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel

from pipeline.metrics import PairedDifference, PairedTest, ProgramMetrics
from pipeline.run.context import Outcome, StageContext
from pipeline.run.train import DEFAULT_ATTEMPT, part_name

STAGE = "evaluate"
PRIMARY_METRIC = "accuracy"
GOLDEN_PRIMARY_METRIC = "mean_score"  # golden (agent) modules: the mean of the module's metric


class EvaluateInputs(BaseModel):
    target: str
    candidate: str = "run"
    baseline: str = "production"
    golden_path: str | None = None
    attempt: str = DEFAULT_ATTEMPT  # which of the run's train attempts is "run"


class ProgramRef(BaseModel):
    kind: Literal["run", "production", "unoptimized", "history"]
    label: str  # for people: "candidate (run r1)", "production v3", "unoptimized"
    artifact_prefix: str | None
    sequence: int | None = None


class Interval(BaseModel):
    low: float
    high: float


class TierSlice(BaseModel):
    """The examples one tier of a composite program answered, and how each tier would have
    done on them: where the LM tier answers, it must beat the classifier there."""

    tier: str
    n: int
    accuracy: float
    classifier_accuracy: float | None = None  # the fast tier's own answers on the same examples


class EvaluateResult(Outcome):
    target: str
    dataset: str  # "held-out" or the golden file
    n: int = 0
    primary_metric: str = PRIMARY_METRIC
    candidate: ProgramRef | None = None
    baseline: ProgramRef | None = None
    candidate_metrics: ProgramMetrics | None = None
    baseline_metrics: ProgramMetrics | None = None
    candidate_interval: Interval | None = None  # Wilson 95 % of the accuracy
    baseline_interval: Interval | None = None
    difference: PairedDifference | None = None  # candidate − baseline accuracy, Newcombe 95 % interval
    improvement_pct: float | None = None
    improvement_basis: str | None = None
    paired_test: PairedTest | None = None
    incumbent: dict[str, Any] | None = None  # the router's own logged choices on the human-labelled examples
    # A module with several outputs (workflow, cross_modal): the mean of its own metric over the
    # examples (partial credit, e.g. the right pattern with a step left out), beside accuracy.
    score_metric: str | None = None
    candidate_score: float | None = None
    baseline_score: float | None = None
    candidate_tiers: list[TierSlice] = []
    lm_calls: dict[str, int] = {}  # LM calls spent per side; cached answers cost none
    cached: dict[str, int] = {}  # answers read from the prediction cache per side
    report_key: str | None = None
    lm: str | None = None
    # Golden (agent) modules: each exactly-scored field's agreement per side, and the student
    # before/after distillation (held-out score of the uncompiled and the compiled student, the
    # LM calls each spent, the judge's calls, and train's teacher calls and cache hits).
    field_agreement: dict[str, dict[str, float]] = {}
    distillation: dict[str, Any] | None = None
    inputs: dict[str, Any] | None = None


def evaluation_part(inputs: EvaluateInputs, golden_digest: str | None) -> str:
    """The store folder of an evaluation, keyed on its inputs: the default one (this run's
    candidate against production on the held-out split) is the gate's; any other combination
    gets its own folder, so a re-run with other programs or another golden file never returns
    a stale result."""
    base = part_name(inputs.target, inputs.attempt)
    if (inputs.candidate, inputs.baseline, inputs.golden_path) == ("run", "production", None):
        return base
    key = json.dumps({"candidate": inputs.candidate, "baseline": inputs.baseline, "golden": golden_digest}, sort_keys=True)
    return f"{base}.{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def evaluated(ctx: StageContext, target: str, attempt: str = DEFAULT_ATTEMPT) -> EvaluateResult | None:
    """The gate's evaluation of an attempt: its candidate against production on the held-out split."""
    return ctx.output(STAGE, part_name(target, attempt)).read(EvaluateResult)
