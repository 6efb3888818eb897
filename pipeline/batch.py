"""The whole loop in one process: harvest → annotate → synthesize → train → evaluate → gate →
report. Local runs use it; on a cluster the Argo workflow runs the same stages as steps."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel

from pipeline.modules import all_targets, parse_target
from pipeline.stages import annotate, evaluate, gate, harvest, report, synthesize, train
from pipeline.stages.base import StageContext

log = logging.getLogger(__name__)


class BatchInputs(BaseModel):
    targets: str = "routing"
    lookback_hours: float = 24.0
    min_confidence: float = 0.7
    max_annotations: int | None = None
    use_synthetic: bool = False
    synthetic_count: int = 40
    optimizer: str | None = None
    max_iterations: int = 100
    improvement_threshold: float | None = None


class BatchResult(BaseModel):
    tenant: str
    run_id: str
    harvest: harvest.HarvestResult
    annotate: annotate.AnnotateResult
    synthesize: synthesize.SynthesizeResult | None
    gates: list[gate.GateResult]
    report: report.ReportResult


def resolve_targets(spec: str) -> list[str]:
    if spec.strip() == "all":
        return all_targets()
    targets = [t.strip() for t in spec.split(",") if t.strip()]
    for target in targets:
        parse_target(target)  # fail on a bad name before any work
    return targets


def run_batch(ctx: StageContext, inputs: BatchInputs, progress: Any = None) -> BatchResult:
    say = progress or (lambda message: log.info(message))
    targets = resolve_targets(inputs.targets)
    say(f"harvest: reading {ctx.config.phoenix.project_for(ctx.tenant)} at {ctx.config.phoenix.endpoint}")
    harvested = harvest.run(ctx, harvest.HarvestInputs(lookback_hours=inputs.lookback_hours, min_confidence=inputs.min_confidence))
    say(f"harvest: {harvested.experiences} experiences from {harvested.spans_read} spans, labels {harvested.labels_by_source}")
    annotated = annotate.run(ctx, annotate.AnnotateInputs(max_annotations=inputs.max_annotations))
    say(f"annotate: {annotated.annotated} LLM annotations written back to Phoenix ({annotated.deferred} deferred)")
    synthesized = None
    if inputs.use_synthetic:
        synthesized = synthesize.run(ctx, synthesize.SynthesizeInputs(count=inputs.synthetic_count))
        say(f"synthesize: {synthesized.generated} synthetic examples from {synthesized.source}")
    gates = []
    for target in targets:
        trained = train.run(
            ctx,
            train.TrainInputs(target=target, optimizer=inputs.optimizer, max_iterations=inputs.max_iterations, use_synthetic=inputs.use_synthetic),
        )
        if trained.status != "ok":
            say(f"train {target}: skipped ({trained.reason})")
            continue
        say(f"train {target}: {trained.optimizer} on {trained.trainset_size} examples in {trained.compile_seconds:.0f}s; {trained.heldout_size} held out")
        evaluated = evaluate.run(ctx, evaluate.EvaluateInputs(target=target))
        if evaluated.status == "ok":
            say(
                f"evaluate {target}: {evaluated.baseline.label} {evaluated.baseline_metrics.accuracy:.1%} → "
                f"candidate {evaluated.candidate_metrics.accuracy:.1%} ({evaluated.improvement_pct:+.1f}%)"
            )
        decided = gate.run(ctx, gate.GateInputs(target=target, improvement_threshold=inputs.improvement_threshold))
        say(f"gate {target}: {decided.decision} — {'; '.join(decided.reasons)}")
        gates.append(decided)
    reported = report.run(ctx)
    return BatchResult(
        tenant=ctx.tenant,
        run_id=ctx.run_id,
        harvest=harvested,
        annotate=annotated,
        synthesize=synthesized,
        gates=gates,
        report=reported,
    )
