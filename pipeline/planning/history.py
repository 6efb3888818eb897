"""The tenant's planning history: what each run decided per target, and what it measured.

Two create-only files per (run, target) (pipeline.layout):
- the decision, written by the run's plan stage from its committed result, with the context
  it saw; a re-run of the run writes nothing new (the key exists);
- the outcome, written once the run's train/evaluate results say what training achieved:
  by the plan stage of any later run (for every earlier decision still without one) or by
  `backfill` called right after the run's gates. Whoever writes first wins; the file never
  changes and each (run, target) counts exactly once when the meta-models are trained.
A decision to skip has no outcome (nothing was measured); a run that died before evaluating
stays pending until it is resumed.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel

from pipeline.errors import AlreadyExistsError, NotFoundError
from pipeline.layout import DECISION_SUFFIX, OUTCOME_SUFFIX, decision_key, outcome_key, planning_history_prefix, result_key
from pipeline.storage import ObjectStore


class DecisionRecord(BaseModel):
    tenant: str
    run_id: str
    target: str
    run_started_at: str  # the run's fixed clock (ISO 8601, UTC)
    context: dict[str, Any]  # the features the decision saw
    train: bool
    strategy: str
    forced: bool
    decided_by: str
    explored: bool = False
    strategy_decided_by: str
    synthetic_allowed: bool
    p_beneficial: float | None = None
    expected_improvement_pct: float | None = None


class OutcomeRecord(BaseModel):
    run_id: str
    target: str
    status: Literal["measured", "train-skipped", "evaluate-skipped"]
    improvement_pct: float  # 0 when training produced nothing to compare
    trained: bool  # a candidate program was compiled
    gate_decision: str | None = None
    detail: str = ""
    recorded_at: str


class HistoryEntry(BaseModel):
    decision: DecisionRecord
    outcome: OutcomeRecord | None = None

    @property
    def pending(self) -> bool:
        return self.decision.train and self.outcome is None


def record_decisions(store: ObjectStore, records: list[DecisionRecord]) -> int:
    """Write each decision create-only; returns how many were new."""
    written = 0
    for record in records:
        key = decision_key(record.tenant, record.run_id, record.target)
        if store.exists(key):
            continue
        try:
            store.put_json_new(key, record.model_dump())
            written += 1
        except AlreadyExistsError:
            pass
    return written


def load(store: ObjectStore, tenant: str, run_id: str | None = None) -> list[HistoryEntry]:
    """Every decision (of `run_id` only, if given) with its outcome when known, oldest run first."""
    keys = store.list(planning_history_prefix(tenant, run_id))
    outcomes = {k for k in keys if k.endswith(OUTCOME_SUFFIX)}
    entries = []
    for key in keys:
        if key in outcomes or not key.endswith(DECISION_SUFFIX):
            continue
        decision = DecisionRecord.model_validate(store.get_json(key))
        okey = outcome_key(tenant, decision.run_id, decision.target)
        outcome = OutcomeRecord.model_validate(store.get_json(okey)) if okey in outcomes else None
        entries.append(HistoryEntry(decision=decision, outcome=outcome))
    entries.sort(key=lambda e: (e.decision.run_started_at, e.decision.run_id, e.decision.target))
    return entries


def backfill(store: ObjectStore, tenant: str, entries: list[HistoryEntry], *, run_id: str | None = None, exclude_run: str | None = None) -> int:
    """Fill in the outcome of every pending decision (of `run_id` only, if given) whose run has
    measured it; updates `entries` in place and returns how many outcomes were written."""
    written = 0
    for entry in entries:
        d = entry.decision
        if not entry.pending or (run_id is not None and d.run_id != run_id) or d.run_id == exclude_run:
            continue
        outcome = measure(store, tenant, d.run_id, d.target)
        if outcome is None:
            continue
        key = outcome_key(tenant, d.run_id, d.target)
        try:
            store.put_json_new(key, outcome.model_dump())
            written += 1
        except AlreadyExistsError:
            outcome = OutcomeRecord.model_validate(store.get_json(key))  # another writer was first: theirs stands
        entry.outcome = outcome
    return written


def measure(store: ObjectStore, tenant: str, run_id: str, target: str) -> OutcomeRecord | None:
    """What the run's training of `target` achieved, from its committed stage results; None
    while they are not all there."""
    trained = _committed(store, tenant, run_id, "train", target)
    if trained is None:
        return None
    now = datetime.now(timezone.utc).isoformat()
    if trained.get("status") != "ok":
        return OutcomeRecord(run_id=run_id, target=target, status="train-skipped", improvement_pct=0.0, trained=False,
                             detail=str(trained.get("reason") or ""), recorded_at=now)
    evaluated = _committed(store, tenant, run_id, "evaluate", target)
    if evaluated is None:
        return None
    gated = _committed(store, tenant, run_id, "gate", target)
    gate_decision = gated.get("decision") if gated else None
    if evaluated.get("status") != "ok" or evaluated.get("improvement_pct") is None:
        return OutcomeRecord(run_id=run_id, target=target, status="evaluate-skipped", improvement_pct=0.0, trained=True,
                             gate_decision=gate_decision, detail=str(evaluated.get("reason") or ""), recorded_at=now)
    return OutcomeRecord(
        run_id=run_id, target=target, status="measured", improvement_pct=float(evaluated["improvement_pct"]), trained=True,
        gate_decision=gate_decision, detail=f"{evaluated.get('improvement_basis') or 'relative'} change of "
        f"{evaluated.get('primary_metric')} on {evaluated.get('n')} held-out examples", recorded_at=now,
    )


def _committed(store: ObjectStore, tenant: str, run_id: str, stage: str, target: str) -> dict[str, Any] | None:
    try:
        return store.get_json(result_key(tenant, run_id, stage, target))
    except NotFoundError:
        return None
