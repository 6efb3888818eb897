"""The whole loop in one process, in the stage order of pipeline.contract (harvest → annotate →
plan → synthesize → per target train → evaluate → gate → report). Local runs use it; on a
cluster the Argo workflow runs the same stages as steps."""

from __future__ import annotations

import logging
from typing import Any, Callable

from pydantic import BaseModel

from pipeline import contract
from pipeline.modules import all_targets, is_per_modality, parse_target
from pipeline.run.annotate import AnnotateInputs, AnnotateResult
from pipeline.run.context import StageContext
from pipeline.run.evaluate import EvaluateInputs
from pipeline.run.gate import GateInputs, GateResult
from pipeline.run.harvest import HarvestInputs, HarvestResult
from pipeline.run.plan import PlanInputs, PlanResult, TrainItem, feedback
from pipeline.run.report import ReportResult
from pipeline.run.synthesize import SynthesizeInputs, SynthesizeResult
from pipeline.run.train import TrainInputs
from pipeline.stages import annotate, evaluate, gate, harvest, plan, report, synthesize, train

log = logging.getLogger(__name__)


class BatchInputs(BaseModel):
    targets: str = "routing"
    lookback_hours: float = contract.LOOKBACK_HOURS
    min_confidence: float = contract.MIN_CONFIDENCE
    max_annotations: int | None = None
    use_synthetic: bool = False
    synthetic_count: int | None = None  # None = content.synthetic_count
    optimizer: str | None = None
    max_iterations: int = contract.MAX_ITERATIONS
    improvement_threshold: float | None = None
    force_training: bool = False


class BatchResult(BaseModel):
    tenant: str
    run_id: str
    harvest: HarvestResult
    annotate: AnnotateResult
    synthesize: SynthesizeResult | None
    plan: PlanResult
    gates: list[GateResult]
    report: ReportResult

    def failure(self) -> Exception | None:
        """The first gate that lost a race (exit 6, after the whole loop and its report ran)."""
        return next((f for g in self.gates if (f := g.failure()) is not None), None)


def resolve_targets(spec: str) -> list[str]:
    """`all`, a module name (all its targets: `modality` → one per modality), or a
    comma-separated list of targets."""
    targets: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if part == "all":
            targets.extend(all_targets())
        elif is_per_modality(part):
            targets.extend(t for t in all_targets() if t.startswith(f"{part}-"))
        else:
            parse_target(part)  # fail on a bad name before any work
            targets.append(part)
    return list(dict.fromkeys(targets))


Say = Callable[[str], None]


def run_batch(ctx: StageContext, inputs: BatchInputs, progress: Say | None = None) -> BatchResult:
    say = progress or (lambda message: log.info(message))
    targets = resolve_targets(inputs.targets)
    done: dict[str, Any] = {}
    for stage in contract.BEFORE_TARGETS:
        done[stage] = _BEFORE_TARGETS[stage](ctx, inputs, targets, done, say)
    gates = []
    for item in done["plan"].train:
        for stage in contract.PER_TARGET:
            result = _PER_TARGET[stage](ctx, inputs, item, say)
            if result is None:  # nothing for the next stage of this target
                break
        else:
            gates.append(result)
    feedback(ctx)  # the measured outcomes become training history for the meta-models
    after = {stage: _AFTER_TARGETS[stage](ctx) for stage in contract.AFTER_TARGETS}
    return BatchResult(
        tenant=ctx.tenant,
        run_id=ctx.run_id,
        harvest=done["harvest"],
        annotate=done["annotate"],
        synthesize=done["synthesize"],
        plan=done["plan"],
        gates=gates,
        report=after["report"],
    )


# One step per stage: (ctx, the batch's inputs, the targets, what ran before, say) → result.
def _harvest(ctx: StageContext, inputs: BatchInputs, targets: list[str], done: dict[str, Any], say: Say) -> HarvestResult:
    say(f"harvest: reading {ctx.config.phoenix.project_for(ctx.tenant)} at {ctx.config.phoenix.endpoint}")
    harvested = harvest.run(ctx, HarvestInputs(lookback_hours=inputs.lookback_hours, min_confidence=inputs.min_confidence))
    say(f"harvest: {harvested.experiences} experiences from {harvested.spans_read} spans, labels {harvested.labels_by_source}")
    return harvested


def _annotate(ctx: StageContext, inputs: BatchInputs, targets: list[str], done: dict[str, Any], say: Say) -> AnnotateResult:
    annotated = annotate.run(ctx, AnnotateInputs(max_annotations=inputs.max_annotations))
    say(f"annotate: {annotated.annotated} LLM annotations written back to Phoenix ({annotated.deferred} deferred)")
    return annotated


def _plan(ctx: StageContext, inputs: BatchInputs, targets: list[str], done: dict[str, Any], say: Say) -> PlanResult:
    planned = plan.run(
        ctx,
        PlanInputs(
            targets=targets,
            use_synthetic_data=inputs.use_synthetic,
            force_training=inputs.force_training,
            synthetic_budget=(ctx.config.content.synthetic_count if inputs.synthetic_count is None else inputs.synthetic_count)
            if inputs.use_synthetic
            else 0,
        ),
    )
    for decision in planned.decisions:
        verdict = f"train ({decision.strategy})" if decision.train else "skip"
        say(f"plan {decision.target}: {verdict}, {decision.real_examples} labelled real examples; {decision.reason} [{decision.decided_by}]")
    return planned


def _synthesize(ctx: StageContext, inputs: BatchInputs, targets: list[str], done: dict[str, Any], say: Say) -> SynthesizeResult | None:
    if not any(item.use_synthetic for item in done["plan"].train):
        return None
    synthesized = synthesize.run(ctx, SynthesizeInputs(count=inputs.synthetic_count))
    say(f"synthesize: {synthesized.generated} synthetic examples from {synthesized.source}")
    return synthesized


# Per target: (ctx, the batch's inputs, the plan's item, say) → result, or None to stop the target.
def _train(ctx: StageContext, inputs: BatchInputs, item: TrainItem, say: Say) -> Any:
    trained = train.run(
        ctx,
        TrainInputs(
            target=item.target, optimizer=inputs.optimizer, max_iterations=inputs.max_iterations,
            use_synthetic=item.use_synthetic, strategy=item.strategy,
        ),
    )
    if trained.status != "ok":
        say(f"train {item.target}: skipped ({trained.reason})")
        return None
    say(
        f"train {item.target}: {trained.optimizer} on {trained.trainset_size} examples "
        f"({trained.synthetic_train} synthetic) in {trained.compile_seconds:.0f}s; {trained.heldout_size} held out"
    )
    return trained


def _evaluate(ctx: StageContext, inputs: BatchInputs, item: TrainItem, say: Say) -> Any:
    evaluated = evaluate.run(ctx, EvaluateInputs(target=item.target))
    if evaluated.status == "ok":
        say(
            f"evaluate {item.target}: {evaluated.baseline.label} {evaluated.baseline_metrics.accuracy:.1%} → "
            f"candidate {evaluated.candidate_metrics.accuracy:.1%} ({evaluated.improvement_pct:+.1f}%)"
        )
    return evaluated  # a skipped evaluation is the gate's to report


def _gate(ctx: StageContext, inputs: BatchInputs, item: TrainItem, say: Say) -> GateResult:
    decided = gate.run(ctx, GateInputs(target=item.target, improvement_threshold=inputs.improvement_threshold))
    say(f"gate {item.target}: {decided.decision} — {'; '.join(decided.reasons)}")
    return decided


_BEFORE_TARGETS = {"harvest": _harvest, "annotate": _annotate, "plan": _plan, "synthesize": _synthesize}
_PER_TARGET = {"train": _train, "evaluate": _evaluate, "gate": _gate}
_AFTER_TARGETS = {"report": report.run}
