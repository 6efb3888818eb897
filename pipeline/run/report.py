"""report's contract: the per-target summary and the report's result (what the workflow
outputs `improvements`, `deployed` and `report-location` are read from)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

STAGE = "report"


class TargetSummary(BaseModel):
    target: str
    trained: bool
    optimizer: str | None = None
    improvement_pct: float | None = None
    candidate_accuracy: float | None = None
    baseline_accuracy: float | None = None
    baseline: str | None = None
    decision: str | None = None
    deployed: bool = False
    reasons: list[str] = []
    heldout_size: int | None = None
    orchestration_train: int | None = None  # training rows derived from workflow executions (workflow, unified)
    # Golden (agent) modules: the primary metric (the module metric's mean) per side, and the
    # student before/after distillation.
    primary_metric: str = "accuracy"
    candidate_score: float | None = None
    baseline_score: float | None = None
    distillation: dict[str, Any] | None = None


class ReportResult(BaseModel):
    tenant: str
    run_id: str
    targets: list[TargetSummary]
    improvements: dict[str, float | None]  # per target, percent; None where nothing was evaluated
    deployed: list[str]
    any_deployed: bool
    manifest_key: str
    report_key: str
    report_location: str  # full URL in the store
    report_path: str | None  # a local file path when the store is local
