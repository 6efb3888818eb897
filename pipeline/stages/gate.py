"""gate: promote the candidate only when the evidence says it is better.

A candidate is promoted when, on the held-out set:
- its relative improvement of the primary metric is ≥ the threshold (default 5 %),
- the set has at least `gate.min_heldout_examples` examples (default 30: below that one
  example moves accuracy by more than 3 points), and
- the paired one-sided exact McNemar test gives p ≤ `gate.max_p_value` (default 0.2), i.e. the
  candidate's extra right answers are unlikely to be luck on this particular sample.
Promotion is a compare-and-swap against the production version that was the baseline: if
someone promoted in between, the gate refuses rather than overwrite a program it never beat.

Idempotent: an attempt killed after the swap but before its result commit leaves this run's
candidate promoted; the retry finds that promotion (same run id, same artifact, in production's
history) and reports and commits "promoted", instead of reading its own swap as a conflict.
"""

from __future__ import annotations

from pipeline import promotion
from pipeline.errors import ConflictError, NotFoundError
from pipeline.run.commit import committed_stage
from pipeline.run.context import StageContext, StageOutput
from pipeline.run.evaluate import EvaluateResult, evaluated
from pipeline.run.gate import STAGE, GateInputs, GateResult
from pipeline.run.train import part_name


@committed_stage(STAGE, GateResult, part=lambda inputs: part_name(inputs.target, inputs.attempt))
def run(ctx: StageContext, inputs: GateInputs, out: StageOutput) -> GateResult:
    threshold = ctx.config.gate.improvement_threshold if inputs.improvement_threshold is None else inputs.improvement_threshold
    ev = evaluated(ctx, inputs.target, inputs.attempt)
    if ev is None:
        raise NotFoundError(f"run {ctx.run_id}: evaluate has not completed for {inputs.target}")
    current = promotion.current(ctx.store, ctx.tenant, inputs.target)
    if ev.status != "ok":
        return GateResult(
            target=inputs.target, decision="skipped", deployed=False, reasons=[ev.reason or "evaluation skipped"],
            threshold_pct=threshold, production_sequence=current.sequence if current else None,
        )

    if (mine := _own_promotion(ctx, inputs.target, ev)) is not None:
        moved = f"; production has since moved to v{current.sequence}" if current and current.sequence != mine.sequence else ""
        return GateResult(
            target=inputs.target, decision="promoted", deployed=True,
            reasons=[f"promoted as v{mine.sequence} by an earlier attempt of this run, whose result was not committed{moved}"],
            improvement_pct=ev.improvement_pct, threshold_pct=threshold, heldout_n=ev.n,
            p_value=ev.paired_test.p_value if ev.paired_test else None,
            production_sequence=mine.sequence, artifact_prefix=mine.artifact_prefix,
        )

    reasons = decide(ev, threshold, ctx.config.gate.min_heldout_examples, ctx.config.gate.max_p_value)
    decision: str = "rejected" if reasons else "promoted"
    sequence = current.sequence if current else None
    if not reasons:
        baseline_sequence = ev.baseline.sequence if ev.baseline and ev.baseline.kind == "production" else None
        if (current.sequence if current else None) != baseline_sequence:
            decision = "conflict"
            reasons = [f"production changed since evaluation (now v{sequence}); re-evaluate against it"]
        else:
            try:
                pointer = promotion.promote(
                    ctx.store,
                    ctx.tenant,
                    inputs.target,
                    artifact_prefix=ev.candidate.artifact_prefix,
                    run_id=ctx.run_id,
                    metrics={
                        "primary_metric": ev.primary_metric,
                        "candidate": getattr(ev.candidate_metrics, ev.primary_metric),
                        "baseline": getattr(ev.baseline_metrics, ev.primary_metric),
                        "improvement_pct": ev.improvement_pct,
                        "heldout_n": ev.n,
                        "p_value": ev.paired_test.p_value,
                    },
                    reason=f"{ev.improvement_pct:+.1f}% {ev.primary_metric} over {ev.baseline.label} on {ev.n} held-out examples",
                    expected=current,
                )
                sequence = pointer.sequence
                reasons = [f"improvement {ev.improvement_pct:+.1f}% ≥ {threshold}% on {ev.n} examples (p={ev.paired_test.p_value:.3f})"]
            except ConflictError as exc:
                decision, reasons = "conflict", [str(exc)]
    return GateResult(
        target=inputs.target,
        decision=decision,
        deployed=decision == "promoted",
        reasons=reasons,
        improvement_pct=ev.improvement_pct,
        threshold_pct=threshold,
        heldout_n=ev.n,
        p_value=ev.paired_test.p_value if ev.paired_test else None,
        production_sequence=sequence,
        artifact_prefix=ev.candidate.artifact_prefix if decision == "promoted" else None,
    )


def _own_promotion(ctx: StageContext, target: str, ev: "EvaluateResult") -> "promotion.ProductionPointer | None":
    """This run's promotion of this candidate, if an earlier attempt of the gate made it."""
    if ev.candidate is None or ev.candidate.kind != "run" or not ev.candidate.artifact_prefix:
        return None
    for record in reversed(promotion.history(ctx.store, ctx.tenant, target)):
        if record.action == "promote" and record.run_id == ctx.run_id and record.artifact_prefix == ev.candidate.artifact_prefix:
            return record
    return None


def decide(ev: "EvaluateResult", threshold: float, min_n: int, max_p: float) -> list[str]:
    """Reasons to refuse; empty means promote."""
    reasons = []
    if ev.candidate is None or ev.candidate.kind != "run":
        reasons.append("only a candidate trained in this run can be promoted")
    if ev.dataset != "held-out":
        reasons.append("promotion needs the held-out evaluation, not a golden-set one")
    if ev.improvement_pct is None or ev.improvement_pct < threshold:
        reasons.append(f"improvement {ev.improvement_pct:+.1f}% is below the {threshold}% threshold")
    if ev.n < min_n:
        reasons.append(f"held-out set has {ev.n} examples; at least {min_n} are needed for the result to mean something")
    if ev.paired_test is not None and ev.paired_test.p_value > max_p:
        reasons.append(
            f"gain not distinguishable from noise: candidate-only wins {ev.paired_test.candidate_only_correct} vs "
            f"baseline-only {ev.paired_test.baseline_only_correct} (McNemar p={ev.paired_test.p_value:.3f} > {max_p})"
        )
    return reasons
