"""plan's contract: its inputs, its decisions and the training fan-out, the readers, and the
feedback that records a run's measured outcomes in the planning history (after its gates)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from pipeline import contract
from pipeline.errors import ConfigError
from pipeline.layout import RESULT_FILE
from pipeline.optimizers import AUTO
from pipeline.planning import history
from pipeline.planning.planner import ModelStatus
from pipeline.planning.rules import Strategy
from pipeline.run.context import StageContext

STAGE = "plan"


class PlanInputs(BaseModel):
    targets: list[str]
    use_synthetic_data: bool = False
    force_training: bool = False
    synthetic_budget: int | None = None  # synthetic examples the run will request; default config.planning
    optimizer: str = AUTO  # forced on every target, or auto
    annotation_threshold: int = Field(default=contract.ANNOTATION_THRESHOLD, ge=0)  # fewer annotations this run → enough_annotations false


class TargetDecision(BaseModel):
    target: str
    train: bool
    strategy: Strategy
    real_examples: int
    forced: bool = False
    explored: bool = False  # the model said skip; trained anyway so the history keeps measuring
    decided_by: str  # train or skip: "rules: cold start, N/10 history records: <rule>", "model vN (...)", "force-training"
    reason: str
    strategy_decided_by: str = ""
    expected_improvement_pct: float | None = None  # the decision model's estimate; None under rules
    p_beneficial: float | None = None  # the decision model's P(training helps)
    strategy_probabilities: dict[str, float] | None = None
    context: dict[str, Any] | None = None  # the modeling context (features) the decision saw


class TrainItem(BaseModel):
    """One element of the fan-out list (Argo `withParam`)."""

    target: str
    use_synthetic: bool
    strategy: Strategy
    optimizer: str = AUTO  # a name from pipeline.optimizers.OPTIMIZERS, or auto


class HistoryStatus(BaseModel):
    decisions: int = 0  # earlier runs' decisions on record
    measured: int = 0  # ... with a measured outcome (what the meta-models learn from)
    pending: int = 0  # ... to train whose outcome is not known yet
    backfilled: int = 0  # outcomes this plan filled in


class PlanResult(BaseModel):
    decisions: list[TargetDecision]
    train: list[TrainItem]
    train_count: int
    synthetic_allowed: bool = False
    annotated: int = 0  # LLM annotations this run's annotate committed
    enough_annotations: bool = True  # annotated >= the annotation threshold, or forced: train at all
    history: HistoryStatus = HistoryStatus()
    models: dict[str, ModelStatus] = {}


class FeedbackResult(BaseModel):
    run_id: str
    recorded: int  # outcomes written now
    measured: int  # this run's decisions with an outcome on record
    pending: int  # decisions to train still without one


def planned(ctx: StageContext) -> PlanResult | None:
    return ctx.output(STAGE).read(PlanResult)


_TRAIN_ITEMS = TypeAdapter(list[TrainItem])


def fan_out(ctx: StageContext) -> list[TrainItem] | None:
    """The committed plan's `train` list — all that synthesize needs of it — or None when no
    plan is committed."""
    out = ctx.output(STAGE)
    done = out.committed()
    if done is None:
        return None
    try:
        return _TRAIN_ITEMS.validate_python(done.get("train") or [])
    except (ValidationError, AttributeError) as exc:
        raise ConfigError(f"{ctx.store.describe(out.key(RESULT_FILE))}: not a valid list of train items: {exc}") from exc


def feedback(ctx: StageContext) -> FeedbackResult:
    """Record the measured outcome of this run's decisions (after its gates)."""
    entries = history.load(ctx.store, ctx.tenant, run_id=ctx.run_id)
    recorded = history.backfill(ctx.store, ctx.tenant, entries, run_id=ctx.run_id)
    return FeedbackResult(
        run_id=ctx.run_id, recorded=recorded, measured=sum(1 for e in entries if e.outcome is not None),
        pending=sum(1 for e in entries if e.pending),
    )
