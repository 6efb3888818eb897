"""The whole loop in one process: harvest → annotate → plan → synthesize → train → evaluate →
gate → report. Local runs use it; on a cluster the Argo workflow runs the same stages as steps."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel

from pipeline import contract
from pipeline.modules import PER_MODALITY, all_targets, parse_target
from pipeline.stages import annotate, evaluate, gate, harvest, plan, report, synthesize, train
from pipeline.stages.base import StageContext

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
    harvest: harvest.HarvestResult
    annotate: annotate.AnnotateResult
    synthesize: synthesize.SynthesizeResult | None
    plan: plan.PlanResult
    gates: list[gate.GateResult]
    report: report.ReportResult

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
        elif part in PER_MODALITY:
            targets.extend(t for t in all_targets() if t.startswith(f"{part}-"))
        else:
            parse_target(part)  # fail on a bad name before any work
            targets.append(part)
    return list(dict.fromkeys(targets))


def run_batch(ctx: StageContext, inputs: BatchInputs, progress: Any = None) -> BatchResult:
    say = progress or (lambda message: log.info(message))
    targets = resolve_targets(inputs.targets)
    say(f"harvest: reading {ctx.config.phoenix.project_for(ctx.tenant)} at {ctx.config.phoenix.endpoint}")
    harvested = harvest.run(ctx, harvest.HarvestInputs(lookback_hours=inputs.lookback_hours, min_confidence=inputs.min_confidence))
    say(f"harvest: {harvested.experiences} experiences from {harvested.spans_read} spans, labels {harvested.labels_by_source}")
    annotated = annotate.run(ctx, annotate.AnnotateInputs(max_annotations=inputs.max_annotations))
    say(f"annotate: {annotated.annotated} LLM annotations written back to Phoenix ({annotated.deferred} deferred)")
    planned = plan.run(
        ctx,
        plan.PlanInputs(
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
    synthesized = None
    if any(item.use_synthetic for item in planned.train):
        synthesized = synthesize.run(ctx, synthesize.SynthesizeInputs(count=inputs.synthetic_count))
        say(f"synthesize: {synthesized.generated} synthetic examples from {synthesized.source}")
    gates = []
    for item in planned.train:
        target = item.target
        trained = train.run(
            ctx,
            train.TrainInputs(
                target=target, optimizer=inputs.optimizer, max_iterations=inputs.max_iterations,
                use_synthetic=item.use_synthetic, strategy=item.strategy,
            ),
        )
        if trained.status != "ok":
            say(f"train {target}: skipped ({trained.reason})")
            continue
        say(
            f"train {target}: {trained.optimizer} on {trained.trainset_size} examples "
            f"({trained.synthetic_train} synthetic) in {trained.compile_seconds:.0f}s; {trained.heldout_size} held out"
        )
        evaluated = evaluate.run(ctx, evaluate.EvaluateInputs(target=target))
        if evaluated.status == "ok":
            say(
                f"evaluate {target}: {evaluated.baseline.label} {evaluated.baseline_metrics.accuracy:.1%} → "
                f"candidate {evaluated.candidate_metrics.accuracy:.1%} ({evaluated.improvement_pct:+.1f}%)"
            )
        decided = gate.run(ctx, gate.GateInputs(target=target, improvement_threshold=inputs.improvement_threshold))
        say(f"gate {target}: {decided.decision} — {'; '.join(decided.reasons)}")
        gates.append(decided)
    plan.feedback(ctx)  # the measured outcomes become training history for the meta-models
    reported = report.run(ctx)
    return BatchResult(
        tenant=ctx.tenant,
        run_id=ctx.run_id,
        harvest=harvested,
        annotate=annotated,
        synthesize=synthesized,
        plan=planned,
        gates=gates,
        report=reported,
    )
