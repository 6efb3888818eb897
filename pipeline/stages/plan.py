"""plan: per module target, whether and how to train; its output drives the training fan-out.

For each target the stage builds the modeling context (pipeline.planning.context) from the
run's experiences and the tenant's history, then decides with the seed's cold-start rules
(< 20 labelled real examples → SYNTHETIC, 20–49 → HYBRID, ≥ 50 → PURE_REAL, SKIP when nothing
would change) until the history holds enough measured outcomes, and with the XGBoost
meta-models after that (pipeline.planning.planner). Every decision says who made it
("rules: cold start, 3/10 history records" or "model v3 (trained on 27 records)").
`force_training` turns a SKIP into training with the best strategy the data allows, and is
recorded as forced.

The result also carries what the workflow's conditions need, validated here rather than
interpolated raw into an Argo `when`: each fan-out item's optimizer (`auto` = by trainset
size), and `enough_annotations` (this run's annotate committed at least `annotation_threshold`
LLM annotations, or training is forced).

History: before deciding, the stage fills in the measured outcome of earlier runs' decisions
(pipeline.planning.history); after committing, it appends this run's decisions. `feedback`
does the former for one run right after its gates, so its outcome is on record even before
the next plan.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from pipeline.domain import MODALITIES
from pipeline.datasets import labelled_data_hash, labelled_for_target
from pipeline.errors import NotFoundError
from pipeline.modules import parse_target
from pipeline.optimizers import AUTO, optimizer_choice
from pipeline.planning import history, planner
from pipeline.planning.context import build_context, normalise
from pipeline.planning.rules import USES_SYNTHETIC, Strategy
from pipeline.stages.base import StageContext, read_jsonl

STAGE = "plan"


class PlanInputs(BaseModel):
    targets: list[str]
    use_synthetic_data: bool = False
    force_training: bool = False
    synthetic_budget: int | None = None  # synthetic examples the run will request; default config.planning
    optimizer: str = AUTO  # forced on every target, or auto
    annotation_threshold: int = Field(default=0, ge=0)  # fewer annotations this run → enough_annotations false


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
    models: dict[str, planner.ModelStatus] = {}


class FeedbackResult(BaseModel):
    run_id: str
    recorded: int  # outcomes written now
    measured: int  # this run's decisions with an outcome on record
    pending: int  # decisions to train still without one


def run(ctx: StageContext, inputs: PlanInputs) -> PlanResult:
    from pipeline import promotion
    from pipeline.stages.train import load_experiences

    out = ctx.output(STAGE)
    if (done := out.committed()) is not None:
        result = PlanResult.model_validate(done)
        _record(ctx, result)  # heals a crash between the commit and the history write
        return result
    cfg = ctx.config.planning
    optimizer = optimizer_choice(inputs.optimizer)
    annotated = int((ctx.output("annotate").committed() or {}).get("annotated") or 0)
    experiences = load_experiences(ctx)
    earlier = [e for e in history.load(ctx.store, ctx.tenant) if e.decision.run_id != ctx.run_id]
    backfilled = history.backfill(ctx.store, ctx.tenant, earlier)
    models = planner.prepare_models(ctx.store, ctx.tenant, earlier, cfg)
    now = ctx.run_started_at()
    malformed_rate = _malformed_rate(ctx)
    synthetic = _synthetic_counts(ctx, inputs)

    decisions = []
    for target in inputs.targets:
        _, modality = parse_target(target)
        rows = labelled_for_target(experiences, modality)
        pointer = promotion.current(ctx.store, ctx.tenant, target)
        metadata = _artifact_metadata(ctx, pointer)
        context = build_context(
            target, modality, [e for e in experiences if modality is None or e.get("modality") == modality], rows,
            min_reward=ctx.config.training.min_reward,
            malformed_rate=malformed_rate,
            has_production=pointer is not None,
            production_queries=_production_queries(ctx, pointer),
            production_score=(pointer.metrics.get("candidate") if pointer is not None else None),
            last_trained_at=_last_trained(pointer, earlier, target),
            now=now,
            synthetic_count=synthetic.get(modality, 0),
            never_trained_days=cfg.never_trained_days,
        )
        trained_on = (metadata.get("data_hashes") or {}).get("real_labelled") if metadata else None
        decision = decide(target, rows, trained_on, inputs.use_synthetic_data, inputs.force_training,
                          features=context.features(), models=models, explore_key=f"{ctx.tenant}/{ctx.run_id}/{target}")
        decision.context = context.model_dump()
        decisions.append(decision)
    train = [
        TrainItem(target=d.target, use_synthetic=d.strategy in USES_SYNTHETIC, strategy=d.strategy, optimizer=optimizer)
        for d in decisions if d.train
    ]
    status = HistoryStatus(
        decisions=len(earlier),
        measured=len(planner.measured(earlier)),
        pending=sum(1 for e in earlier if e.pending),
        backfilled=backfilled,
    )
    result = PlanResult(decisions=decisions, train=train, train_count=len(train), synthetic_allowed=inputs.use_synthetic_data,
                        annotated=annotated, enough_annotations=inputs.force_training or annotated >= inputs.annotation_threshold,
                        history=status, models=models.statuses)
    out.commit(result)
    committed = PlanResult.model_validate(out.committed())  # a concurrent attempt may have committed first
    _record(ctx, committed)
    return committed


def decide(
    target: str, rows: list[dict], trained_on: str | None, synthetic_allowed: bool, force: bool, *,
    features: dict[str, Any] | None = None, models: planner.Models | None = None, explore_key: str = "",
) -> TargetDecision:
    """One target's decision; without `models` (no history) the seed's cold-start rules decide."""
    d = planner.decide(
        features or {}, len(rows), labelled_data_hash(rows), trained_on, synthetic_allowed, force, models or planner.Models.cold(),
        explore_key,
    )
    return TargetDecision(target=target, real_examples=len(rows), **d.model_dump())


def feedback(ctx: StageContext) -> FeedbackResult:
    """Record the measured outcome of this run's decisions (after its gates)."""
    entries = history.load(ctx.store, ctx.tenant, run_id=ctx.run_id)
    recorded = history.backfill(ctx.store, ctx.tenant, entries, run_id=ctx.run_id)
    return FeedbackResult(
        run_id=ctx.run_id, recorded=recorded, measured=sum(1 for e in entries if e.outcome is not None),
        pending=sum(1 for e in entries if e.pending),
    )


def _record(ctx: StageContext, result: PlanResult) -> None:
    started = ctx.run_started_at().isoformat()
    history.record_decisions(ctx.store, [
        history.DecisionRecord(
            tenant=ctx.tenant, run_id=ctx.run_id, target=d.target, run_started_at=started, context=d.context or {},
            train=d.train, strategy=d.strategy, forced=d.forced, explored=d.explored, decided_by=d.decided_by,
            strategy_decided_by=d.strategy_decided_by, synthetic_allowed=result.synthetic_allowed,
            p_beneficial=d.p_beneficial, expected_improvement_pct=d.expected_improvement_pct,
        )
        for d in result.decisions
    ])


def _malformed_rate(ctx: StageContext) -> float:
    harvested = ctx.output("harvest").committed() or {}
    spans = harvested.get("spans_read") or 0
    return sum((harvested.get("malformed") or {}).values()) / spans if spans else 0.0


def _synthetic_counts(ctx: StageContext, inputs: PlanInputs) -> dict[str | None, int]:
    """Synthetic examples per modality (None = all): this run's if synthesize already ran, else
    the run's budget spread evenly over the modalities when synthetic data is on."""
    from pipeline.stages import synthesize
    from pipeline.stages.train import load_synthetic

    if ctx.output(synthesize.STAGE).committed() is not None:
        rows = load_synthetic(ctx, None)  # what train would read
        counts: dict[str | None, int] = {m: sum(1 for r in rows if r.get("modality") == m) for m in MODALITIES}
        counts[None] = len(rows)
        return counts
    if not inputs.use_synthetic_data:
        return {}
    budget = ctx.config.planning.synthetic_budget if inputs.synthetic_budget is None else inputs.synthetic_budget
    return {None: budget, **{m: round(budget / len(MODALITIES)) for m in MODALITIES}}


def _artifact_metadata(ctx: StageContext, pointer: Any) -> dict[str, Any] | None:
    if pointer is None:
        return None
    try:
        return ctx.store.get_json(f"{pointer.artifact_prefix}/metadata.json")
    except NotFoundError:
        return None


def _production_queries(ctx: StageContext, pointer: Any) -> set[str] | None:
    """Queries production was trained and evaluated on (None when its artifact lacks them)."""
    if pointer is None:
        return None
    queries: set[str] = set()
    found = False
    for name in ("trainset.jsonl", "heldout.jsonl"):
        try:
            queries.update(normalise(r["query"]) for r in read_jsonl(ctx.store, f"{pointer.artifact_prefix}/{name}") if r.get("query"))
            found = True
        except NotFoundError:
            continue
    return queries if found else None


def _last_trained(pointer: Any, entries: list[history.HistoryEntry], target: str) -> datetime | None:
    """The latest of production's promotion and any earlier run that compiled this target."""
    times = [datetime.fromisoformat(pointer.promoted_at)] if pointer is not None else []
    times += [
        datetime.fromisoformat(e.decision.run_started_at)
        for e in entries
        if e.decision.target == target and e.outcome is not None and e.outcome.trained
    ]
    return max(times, default=None)
