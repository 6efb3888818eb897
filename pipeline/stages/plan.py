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

from pipeline import promotion
from pipeline.datasets import labelled_data_hash
from pipeline.domain import MODALITIES
from pipeline.layout import HELDOUT_FILE, METADATA_FILE, TRAINSET_FILE, golden_key
from pipeline.modules import facts, parse_target
from pipeline.optimizers import optimizer_choice
from pipeline.planning import history, planner
from pipeline.planning.context import build_context, normalise
from pipeline.planning.rules import USES_SYNTHETIC
from pipeline.run import readers
from pipeline.run.annotate import annotated
from pipeline.run.commit import committed_stage
from pipeline.run.context import StageContext, StageOutput
from pipeline.run.golden import golden_digest, golden_lines
from pipeline.run.harvest import harvested
from pipeline.run.plan import STAGE, HistoryStatus, PlanInputs, PlanResult, TargetDecision, TrainItem, feedback, planned
from pipeline.run.synthesize import synthesized_files

__all__ = ["STAGE", "PlanInputs", "PlanResult", "decide", "feedback", "run"]


def run(ctx: StageContext, inputs: PlanInputs) -> PlanResult:
    decided = _plan(ctx, inputs)
    committed = planned(ctx) or decided  # a concurrent attempt may have committed first: its plan stands
    _record(ctx, committed)  # also heals a crash between the commit and the history write
    return committed


@committed_stage(STAGE, PlanResult)
def _plan(ctx: StageContext, inputs: PlanInputs, out: StageOutput) -> PlanResult:
    cfg = ctx.config.planning
    optimizer = optimizer_choice(inputs.optimizer)
    done = annotated(ctx)
    n_annotated = done.annotated if done is not None else 0
    experiences = readers.experiences(ctx)
    earlier = [e for e in history.load(ctx.store, ctx.tenant) if e.decision.run_id != ctx.run_id]
    backfilled = history.backfill(ctx.store, ctx.tenant, earlier)
    models = planner.prepare_models(ctx.store, ctx.tenant, earlier, cfg)
    now = ctx.run_started_at()
    malformed_rate = _malformed_rate(ctx)
    synthetic: dict[str | None, dict[str | None, int]] = {}  # generator file → counts per modality

    executions: list[dict[str, Any]] | None = None  # read once, when a target learns from them
    decisions = []
    for target in inputs.targets:
        name, modality = parse_target(target)
        module = facts(name)
        if module.golden:
            decisions.append(_golden_decision(ctx, target, inputs.force_training))
            continue
        if module.orchestration and executions is None:
            executions = readers.executions(ctx)
        orchestrated = module.orchestrated(executions or [], ctx.config.reward, ctx.config.training.min_reward)
        rows = module.labelled(experiences, modality, orchestrated)
        if module.synthetic not in synthetic:
            synthetic[module.synthetic] = _synthetic_counts(ctx, inputs, module.synthetic)
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
            synthetic_count=synthetic[module.synthetic].get(modality, 0),
            never_trained_days=cfg.never_trained_days,
        )
        # "nothing would change" compares the real labelled data; a module without any is
        # retrained on fresh synthetic data instead.
        trained_on = (metadata.get("data_hashes") or {}).get("real_labelled") if metadata and module.real_data else None
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
    return PlanResult(decisions=decisions, train=train, train_count=len(train), synthetic_allowed=inputs.use_synthetic_data,
                      annotated=n_annotated, enough_annotations=inputs.force_training or n_annotated >= inputs.annotation_threshold,
                      history=status, models=models.statuses)


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


GOLDEN_RULE = "rules: golden dataset"


def _golden_decision(ctx: StageContext, target: str, force: bool) -> TargetDecision:
    """A golden (agent) module trains when the tenant has a golden dataset for it that
    production was not trained on (or when forced); the meta-models do not decide on it, since
    the traces say nothing of its data."""
    found = golden_lines(ctx, target)
    lines = found[0] if found is not None else []
    metadata = _artifact_metadata(ctx, promotion.current(ctx.store, ctx.tenant, target))
    trained_on = ((metadata or {}).get("data_hashes") or {}).get("golden")
    if not lines:
        train, reason = False, f"no golden dataset ({ctx.store.describe(golden_key(ctx.tenant, target))})"
    elif trained_on == golden_digest(lines) and not force:
        train, reason = False, "nothing would change: production was trained on exactly this golden dataset"
    else:
        train, reason = True, f"{len(lines)} golden dataset lines" + (" (forced)" if trained_on == golden_digest(lines) else "")
    return TargetDecision(target=target, train=train, strategy="PURE_REAL" if train else "SKIP", real_examples=len(lines),
                          forced=bool(force and train and trained_on == golden_digest(lines)), decided_by=GOLDEN_RULE,
                          reason=reason, strategy_decided_by=GOLDEN_RULE if train else "")


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
        if d.decided_by != GOLDEN_RULE  # the meta-models learn from trace features, which golden modules lack
    ])


def _malformed_rate(ctx: StageContext) -> float:
    done = harvested(ctx)
    spans = done.spans_read if done is not None else 0
    return sum(done.malformed.values()) / spans if spans else 0.0


def _synthetic_counts(ctx: StageContext, inputs: PlanInputs, generator: str | None) -> dict[str | None, int]:
    """Synthetic examples per modality (None = all) of a module's examples file (`generator`,
    pipeline.run.readers.synthetic): this run's if synthesize already ran, else the run's
    budget spread evenly over the modalities when synthetic data is on."""
    if synthesized_files(ctx) is not None:
        rows = readers.synthetic(ctx, None, generator)  # what train would read
        counts: dict[str | None, int] = {m: sum(1 for r in rows if r.get("modality") == m) for m in MODALITIES}
        counts[None] = len(rows)
        return counts
    if not inputs.use_synthetic_data:
        return {}
    budget = ctx.config.planning.synthetic_budget if inputs.synthetic_budget is None else inputs.synthetic_budget
    return {None: budget, **{m: round(budget / len(MODALITIES)) for m in MODALITIES}}


def _artifact_metadata(ctx: StageContext, pointer: Any) -> dict[str, Any] | None:
    return None if pointer is None else readers.artifact_json(ctx.store, pointer.artifact_prefix, METADATA_FILE)


def _production_queries(ctx: StageContext, pointer: Any) -> set[str] | None:
    """Queries production was trained and evaluated on (None when its artifact lacks them)."""
    if pointer is None:
        return None
    queries: set[str] = set()
    found = False
    for name in (TRAINSET_FILE, HELDOUT_FILE):
        rows = readers.artifact_rows(ctx.store, pointer.artifact_prefix, name)
        if rows is not None:
            queries.update(normalise(r["query"]) for r in rows if r.get("query"))
            found = True
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
