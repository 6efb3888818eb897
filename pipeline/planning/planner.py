"""Rules or meta-models, whichever the tenant's history allows, for each target.

- Train or skip: TrainingDecisionModel once `min_history_decision` decisions have a measured
  outcome, the seed's rules before that (which train whenever the guards allow).
- Strategy: TrainingStrategyModel once `min_history_strategy` outcomes exist (its most likely
  strategy among those the data and options allow), the seed's rules before that.
- Guards (no data at all, unchanged data) hold whoever decides; `force` overrides a skip and
  is recorded as forced. Models are retrained at plan time whenever the history has grown
  since the current version was trained.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from pipeline.config import PlanningConfig
from pipeline.planning import registry
from pipeline.planning.context import FEATURES
from pipeline.planning.history import HistoryEntry
from pipeline.planning.models import TrainingDecisionModel, TrainingStrategyModel
from pipeline.planning.rules import Strategy, allowed_strategies, guard, rule_strategy, synthetic_refusal
from pipeline.storage import ObjectStore


class ModelStatus(BaseModel):
    kind: Literal["decision", "strategy"]
    status: Literal["cold-start", "loaded", "trained"]
    records: int  # decisions with a measured outcome in the history
    min_records: int
    version: int | None = None
    trained_on: int | None = None
    train_accuracy: float | None = None

    @property
    def label(self) -> str:
        if self.status == "cold-start":
            return f"rules: cold start, {self.records}/{self.min_records} history records"
        return f"model v{self.version} (trained on {self.trained_on} records)"


@dataclass
class Models:
    decision: TrainingDecisionModel | None = None
    strategy: TrainingStrategyModel | None = None
    statuses: dict[str, ModelStatus] = field(default_factory=dict)
    train_probability: float = 0.5
    exploration_rate: float = 0.0

    @classmethod
    def cold(cls, records: int = 0, config: PlanningConfig | None = None) -> "Models":
        config = config or PlanningConfig()
        return cls(statuses={
            "decision": ModelStatus(kind="decision", status="cold-start", records=records, min_records=config.min_history_decision),
            "strategy": ModelStatus(kind="strategy", status="cold-start", records=records, min_records=config.min_history_strategy),
        }, train_probability=config.train_probability, exploration_rate=config.exploration_rate)


class Decision(BaseModel):
    train: bool
    strategy: Strategy
    forced: bool = False
    explored: bool = False  # the model said skip; trained anyway to keep measuring (exploration_rate)
    decided_by: str
    strategy_decided_by: str
    reason: str
    p_beneficial: float | None = None
    expected_improvement_pct: float | None = None
    strategy_probabilities: dict[str, float] | None = None


def measured(entries: list[HistoryEntry]) -> list[HistoryEntry]:
    return [e for e in entries if e.outcome is not None]


def prepare_models(store: ObjectStore, tenant: str, entries: list[HistoryEntry], config: PlanningConfig) -> Models:
    """Load each meta-model, retraining it first when the history has grown past it; cold
    start for a kind whose minimum is not reached."""
    usable = measured(entries)
    models = Models(train_probability=config.train_probability, exploration_rate=config.exploration_rate)
    for kind, minimum in (("decision", config.min_history_decision), ("strategy", config.min_history_strategy)):
        if len(usable) < minimum:
            models.statuses[kind] = ModelStatus(kind=kind, status="cold-start", records=len(usable), min_records=minimum)
            continue
        pointer = registry.current(store, tenant, kind)
        model = registry.load(store, pointer) if pointer is not None and pointer.records >= len(usable) else None
        status: Literal["loaded", "trained"] = "loaded"
        if model is None or tuple(model.metadata["features"]) != FEATURES:
            model = _fit(kind, usable, config)
            pointer = registry.publish(store, tenant, model)
            status = "trained"
        setattr(models, kind, model)
        models.statuses[kind] = ModelStatus(
            kind=kind, status=status, records=len(usable), min_records=minimum, version=pointer.version,
            trained_on=pointer.records, train_accuracy=model.metadata.get("train_accuracy"),
        )
    return models


def _fit(kind: str, usable: list[HistoryEntry], config: PlanningConfig) -> TrainingDecisionModel | TrainingStrategyModel:
    contexts = [e.decision.context for e in usable]
    improvements = [e.outcome.improvement_pct for e in usable]  # type: ignore[union-attr]
    if kind == "decision":
        return TrainingDecisionModel.fit(
            contexts, improvements, beneficial_pct=config.beneficial_improvement_pct,
            max_abs_pct=config.max_abs_improvement_pct, params=config.model,
        )
    labels = [TrainingStrategyModel.label(e.decision.strategy, i, config.beneficial_improvement_pct) for e, i in zip(usable, improvements)]
    return TrainingStrategyModel.fit(contexts, labels, params=config.model)


def decide(
    features: dict[str, Any], n: int, data_hash: str, trained_on: str | None, synthetic_allowed: bool, force: bool, models: Models,
    explore_key: str = "",
) -> Decision:
    """One target's decision. `n` = labelled real examples, `data_hash` their hash,
    `trained_on` the hash production was trained on (None: nothing in production),
    `explore_key` what identifies this decision (tenant/run/target) for exploration."""
    dstatus, sstatus = models.statuses["decision"], models.statuses["strategy"]
    rule_choice, rule = rule_strategy(n)
    if not synthetic_allowed and rule_choice == "HYBRID":
        rule_choice, rule = "PURE_REAL", f"{rule}, real data only (synthetic data disabled)"
    allowed = allowed_strategies(n, synthetic_allowed)

    # Strategy: the model's most likely allowed strategy, or the rules'.
    probabilities = models.strategy.predict_proba(features) if models.strategy is not None else None
    if probabilities is not None:
        strategy: Strategy = max(allowed, key=lambda s: probabilities[s]) if allowed else "SKIP"
        strategy_by = sstatus.label
        strategy_why = f"strategy {strategy} most likely to help among {', '.join(allowed) or 'none'}"
    else:
        strategy, strategy_by, strategy_why = rule_choice, f"{sstatus.label}: {rule}", rule

    # Train or skip.
    p_beneficial = expected = None
    explored = False
    skip_reason = guard(n, data_hash, trained_on, synthetic_allowed)
    if models.decision is not None:
        p_beneficial, expected = (round(v, 4) for v in models.decision.predict(features))
        decided_by = dstatus.label
        verdict = f"P(training helps)={p_beneficial:.2f}, expected {expected:+.1f}%"
        if skip_reason is None and p_beneficial < models.train_probability:
            if explore_key and allowed and _draw(explore_key) < models.exploration_rate:
                explored = True
                decided_by = f"{decided_by}, exploring"
                verdict = f"{verdict} < {models.train_probability:.2f}, trained anyway to keep measuring (exploration)"
            else:
                skip_reason = f"{verdict} < {models.train_probability:.2f}"
    else:
        decided_by = f"{dstatus.label}: {rule}"
        verdict = rule
        if skip_reason is None and probabilities is not None and max(probabilities, key=probabilities.get) == "SKIP":
            skip_reason = f"the strategy model rates SKIP most likely (P={probabilities['SKIP']:.2f})"
            decided_by = sstatus.label
    if skip_reason is None and probabilities is None:
        skip_reason = synthetic_refusal(strategy, n, synthetic_allowed)

    common = dict(p_beneficial=p_beneficial, expected_improvement_pct=expected, strategy_probabilities=probabilities)
    if skip_reason is None:
        reason = verdict if strategy_why == verdict else f"{verdict}; {strategy_why}"
        return Decision(train=True, strategy=strategy, explored=explored, decided_by=decided_by, strategy_decided_by=strategy_by,
                        reason=reason, **common)
    if not force:
        return Decision(train=False, strategy="SKIP", decided_by=decided_by, strategy_decided_by=strategy_by, reason=skip_reason, **common)
    if not allowed:
        return Decision(train=False, strategy="SKIP", forced=True, decided_by="rules: no data", strategy_decided_by=strategy_by,
                        reason=f"forced, but {skip_reason}", **common)
    if strategy not in allowed:
        strategy = allowed[-1]  # PURE_REAL when there is real data, else SYNTHETIC
    return Decision(train=True, strategy=strategy, forced=True, decided_by="force-training", strategy_decided_by=strategy_by,
                    reason=f"forced despite: {skip_reason}", **common)


def _draw(key: str) -> float:
    """A uniform number in [0, 1) fixed by `key`."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64
