"""gate's contract: its inputs, its decision (and the exit code a lost race is), the reader."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from pipeline.errors import ConflictError
from pipeline.run.context import StageContext
from pipeline.run.train import DEFAULT_ATTEMPT, part_name

STAGE = "gate"


class GateInputs(BaseModel):
    target: str
    attempt: str = DEFAULT_ATTEMPT  # the train/evaluate attempt whose candidate is gated
    improvement_threshold: float | None = None  # percent; default from config


class GateResult(BaseModel):
    target: str
    decision: Literal["promoted", "rejected", "skipped", "conflict"]
    deployed: bool
    reasons: list[str]
    improvement_pct: float | None = None
    threshold_pct: float
    heldout_n: int = 0
    p_value: float | None = None
    production_sequence: int | None = None
    artifact_prefix: str | None = None

    def failure(self) -> ConflictError | None:
        """A lost race is exit 6 once this result is committed and printed: the step fails
        visibly instead of passing green, and Argo does not retry it (6 is not transient; a
        retry would only repeat the committed answer). Re-run to evaluate against the new
        production."""
        if self.decision != "conflict":
            return None
        return ConflictError(f"gate {self.target}: conflict: {'; '.join(self.reasons)}")


def gated(ctx: StageContext, target: str, attempt: str = DEFAULT_ATTEMPT) -> GateResult | None:
    return ctx.output(STAGE, part_name(target, attempt)).read(GateResult)
