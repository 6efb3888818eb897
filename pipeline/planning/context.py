"""The modeling context of one target in one run: what the meta-models see (the seed's
`ModelingContext`, computed from the run's experiences and the tenant's history).

Missing values (no experiences, nothing in production) stay None in JSON and become NaN for
XGBoost, which learns a default branch for them instead of reading a made-up number.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from pipeline.domain import AGENTS
from pipeline.datasets import TRUSTED_SOURCES

# Order matters: it is the column order of every model, saved with each model version.
FEATURES: tuple[str, ...] = (
    "real_sample_count",
    "new_real_examples",
    "synthetic_sample_count",
    "success_rate",
    "mean_confidence",
    "days_since_last_training",
    "production_score",
    "data_quality",
    "diversity",
)


class ModelingContext(BaseModel):
    """Features of one target (see FEATURES) plus what identifies it."""

    target: str
    modality: str | None
    experiences: int  # all of the target's experiences in the run, labelled or not
    real_sample_count: int  # labelled real examples
    new_real_examples: int | None  # labelled examples production was not trained on (None: unknown)
    synthetic_sample_count: int  # synthetic examples available (or expected) for the target
    success_rate: float | None  # share of experiences whose reward reached training.min_reward
    mean_confidence: float | None  # mean routing confidence of the experiences
    days_since_last_training: float  # config planning.never_trained_days when never trained
    production_score: float | None  # production's primary metric when promoted; None: nothing in production
    data_quality: float  # share of trusted labels × share of well-formed spans
    diversity: float  # normalised label entropy × share of distinct queries

    def features(self) -> dict[str, float | int | None]:
        return {name: getattr(self, name) for name in FEATURES}


def vector(features: dict[str, Any], names: tuple[str, ...] | list[str] = FEATURES) -> list[float]:
    """One row for XGBoost: named features in `names` order, None or absent → NaN."""
    row = []
    for name in names:
        value = features.get(name)
        row.append(math.nan if value is None else float(value))
    return row


def build_context(
    target: str,
    modality: str | None,
    experiences: list[dict[str, Any]],
    labelled: list[dict[str, Any]],
    *,
    min_reward: float,
    malformed_rate: float,
    has_production: bool,
    production_queries: set[str] | None,
    production_score: float | None,
    last_trained_at: datetime | None,
    now: datetime,
    synthetic_count: int,
    never_trained_days: float,
) -> ModelingContext:
    """`experiences` are the target's (already filtered by modality), `labelled` the labelled
    ones among them; `production_queries` the normalised queries production was trained and
    evaluated on (None when unknown or nothing is in production)."""
    n_exp = len(experiences)
    n = len(labelled)
    success = sum(1 for e in experiences if (e.get("reward") or 0.0) >= min_reward) / n_exp if n_exp else None
    confidence = sum(float(e.get("confidence") or 0.0) for e in experiences) / n_exp if n_exp else None
    trusted = sum(1 for r in labelled if r.get("label_source") in TRUSTED_SOURCES) / n if n else 0.0
    if not has_production:
        new: int | None = n
    elif production_queries is None:
        new = None
    else:
        new = sum(1 for r in labelled if normalise(r["query"]) not in production_queries)
    if last_trained_at is None:
        days = never_trained_days
    else:
        days = max(0.0, (now - last_trained_at).total_seconds() / 86400.0)
    return ModelingContext(
        target=target,
        modality=modality,
        experiences=n_exp,
        real_sample_count=n,
        new_real_examples=new,
        synthetic_sample_count=synthetic_count,
        success_rate=_round(success),
        mean_confidence=_round(confidence),
        days_since_last_training=round(days, 3),
        production_score=_round(production_score),
        data_quality=round(trusted * (1.0 - malformed_rate), 4),
        diversity=round(label_entropy([r["label"] for r in labelled]) * distinct_share([r["query"] for r in labelled]), 4),
    )


def label_entropy(labels: list[str]) -> float:
    """Shannon entropy of the labels over the agent catalog, normalised to [0, 1]."""
    if not labels:
        return 0.0
    counts = Counter(labels)
    total = len(labels)
    entropy = -sum(c / total * math.log(c / total) for c in counts.values())
    return entropy / math.log(len(AGENTS))


def distinct_share(queries: list[str]) -> float:
    return len({normalise(q) for q in queries}) / len(queries) if queries else 0.0


def normalise(query: str) -> str:
    return " ".join(query.lower().split())


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)
