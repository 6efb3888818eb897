"""plan: per module target, whether and how to train; its output drives the training fan-out.

Decisions use the seed's cold-start rules on the count of labelled real examples:
< 20 → SYNTHETIC, 20–49 → HYBRID (real and synthetic mixed 1:1), ≥ 50 → PURE_REAL, and SKIP
when nothing would change (no labelled data, or the same data production was trained on).
Every decision says which rule made it. `force_training` turns a SKIP into training with the
best strategy the data allows, and is recorded as forced.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from pipeline.datasets import labelled_data_hash, labelled_for_target
from pipeline.modules import parse_target
from pipeline.stages.base import StageContext

STAGE = "plan"
SYNTHETIC_BELOW = 20
HYBRID_BELOW = 50

Strategy = Literal["SKIP", "SYNTHETIC", "HYBRID", "PURE_REAL"]


class PlanInputs(BaseModel):
    targets: list[str]
    use_synthetic_data: bool = False
    force_training: bool = False


class TargetDecision(BaseModel):
    target: str
    train: bool
    strategy: Strategy
    real_examples: int
    forced: bool = False
    decided_by: str  # "rules: <which>" (learned meta-models arrive with the planning issue)
    reason: str


class TrainItem(BaseModel):
    """One element of the fan-out list (Argo `withParam`)."""

    target: str
    use_synthetic: bool
    strategy: Strategy


class PlanResult(BaseModel):
    decisions: list[TargetDecision]
    train: list[TrainItem]
    train_count: int


def run(ctx: StageContext, inputs: PlanInputs) -> PlanResult:
    from pipeline import promotion
    from pipeline.stages.train import load_experiences

    out = ctx.output(STAGE)
    if (done := out.committed()) is not None:
        return PlanResult.model_validate(done)
    experiences = load_experiences(ctx)
    decisions = []
    for target in inputs.targets:
        _, modality = parse_target(target)
        rows = labelled_for_target(experiences, modality)
        pointer = promotion.current(ctx.store, ctx.tenant, target)
        trained_on = _production_data_hash(ctx, pointer)
        decisions.append(decide(target, rows, trained_on, inputs.use_synthetic_data, inputs.force_training))
    train = [TrainItem(target=d.target, use_synthetic=d.strategy in ("SYNTHETIC", "HYBRID"), strategy=d.strategy) for d in decisions if d.train]
    result = PlanResult(decisions=decisions, train=train, train_count=len(train))
    out.commit(result)
    return result


def decide(target: str, rows: list[dict], trained_on: str | None, synthetic_allowed: bool, force: bool) -> TargetDecision:
    n = len(rows)
    if n < SYNTHETIC_BELOW:
        strategy, rule = "SYNTHETIC", f"fewer than {SYNTHETIC_BELOW} labelled real examples"
    elif n < HYBRID_BELOW:
        strategy, rule = "HYBRID", f"{SYNTHETIC_BELOW}–{HYBRID_BELOW - 1} labelled real examples"
    else:
        strategy, rule = "PURE_REAL", f"at least {HYBRID_BELOW} labelled real examples"
    skip_reason = None
    if n == 0 and not synthetic_allowed:
        skip_reason = "no labelled data and synthetic data is disabled"
    elif strategy == "SYNTHETIC" and not synthetic_allowed:
        skip_reason = f"{n} labelled examples need synthetic data, which is disabled (use-synthetic-data)"
    elif trained_on is not None and trained_on == labelled_data_hash(rows):
        skip_reason = "nothing would change: production was trained on exactly this data"
    if skip_reason is None:
        return TargetDecision(target=target, train=True, strategy=strategy, real_examples=n, decided_by=f"rules: {rule}", reason=rule)
    if force:
        forced_strategy = strategy if synthetic_allowed or strategy == "PURE_REAL" else "PURE_REAL"
        if n == 0 and not synthetic_allowed:
            return TargetDecision(target=target, train=False, strategy="SKIP", real_examples=n, forced=True,
                                  decided_by="rules: no data", reason=f"forced, but {skip_reason}")
        return TargetDecision(target=target, train=True, strategy=forced_strategy, real_examples=n, forced=True,
                              decided_by="force-training", reason=f"forced despite: {skip_reason}")
    return TargetDecision(target=target, train=False, strategy="SKIP", real_examples=n, decided_by="rules: skip", reason=skip_reason)


def _production_data_hash(ctx: StageContext, pointer: object) -> str | None:
    if pointer is None:
        return None
    from pipeline.errors import NotFoundError

    try:
        metadata = ctx.store.get_json(f"{pointer.artifact_prefix}/metadata.json")
    except NotFoundError:
        return None
    return (metadata.get("data_hashes") or {}).get("real_labelled")
