"""Classification metrics for routing programs: accuracy, macro-F1, per-agent scores,
calibration (ECE), latency, and the paired test the gate uses. Pure Python + math."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from pydantic import BaseModel


class AgentScore(BaseModel):
    precision: float
    recall: float
    f1: float
    support: int


class ProgramMetrics(BaseModel):
    n: int
    accuracy: float
    macro_f1: float
    per_agent: dict[str, AgentScore]
    ece: float
    mean_confidence: float
    latency_mean_s: float
    latency_p50_s: float
    latency_p95_s: float
    failures: int  # replies that could not be parsed: counted as wrong
    confusion: dict[str, dict[str, int]]  # gold → predicted → count
    mean_score: float | None = None  # golden (agent) modules: the module metric's mean, their primary metric


def score_predictions(gold: list[str], predicted: list[str | None], confidence: list[float], latency_s: list[float]) -> ProgramMetrics:
    n = len(gold)
    if n == 0:
        raise ValueError("cannot score an empty evaluation set")
    correct = [g == p for g, p in zip(gold, predicted)]
    labels = sorted(set(gold) | {p for p in predicted if p})
    per_agent: dict[str, AgentScore] = {}
    for label in labels:
        tp = sum(1 for g, p in zip(gold, predicted) if g == label and p == label)
        fp = sum(1 for g, p in zip(gold, predicted) if g != label and p == label)
        fn = sum(1 for g, p in zip(gold, predicted) if g == label and p != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_agent[label] = AgentScore(precision=round(precision, 4), recall=round(recall, 4), f1=round(f1, 4), support=tp + fn)
    gold_labels = sorted(set(gold))
    macro_f1 = sum(per_agent[label].f1 for label in gold_labels) / len(gold_labels)
    confusion: dict[str, dict[str, int]] = {}
    for g, p in zip(gold, predicted):
        row = confusion.setdefault(g, {})
        row[p or "(unparsed)"] = row.get(p or "(unparsed)", 0) + 1
    return ProgramMetrics(
        n=n,
        accuracy=round(sum(correct) / n, 4),
        macro_f1=round(macro_f1, 4),
        per_agent=per_agent,
        ece=round(expected_calibration_error(confidence, correct), 4),
        mean_confidence=round(sum(confidence) / n, 4),
        latency_mean_s=round(sum(latency_s) / n, 4),
        latency_p50_s=round(_quantile(latency_s, 0.5), 4),
        latency_p95_s=round(_quantile(latency_s, 0.95), 4),
        failures=sum(1 for p in predicted if p is None),
        confusion=confusion,
    )


def expected_calibration_error(confidence: list[float], correct: list[bool], bins: int = 10) -> float:
    """Σ_b |B|/n · |accuracy(B) − mean confidence(B)| over equal-width confidence bins."""
    n = len(confidence)
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        members = [i for i, c in enumerate(confidence) if (lo <= c < hi) or (b == bins - 1 and c == 1.0)]
        if members:
            acc = sum(correct[i] for i in members) / len(members)
            conf = sum(confidence[i] for i in members) / len(members)
            total += len(members) / n * abs(acc - conf)
    return total


def relative_improvement(candidate: float, baseline: float) -> tuple[float, str]:
    """The seed's improvement: relative change of the primary metric, in percent. A zero
    baseline has no relative change; then the change in percentage points is reported."""
    if baseline > 0:
        return round(100.0 * (candidate - baseline) / baseline, 3), "relative"
    return round(100.0 * (candidate - baseline), 3), "percentage_points"


class PairedTest(BaseModel):
    candidate_only_correct: int
    baseline_only_correct: int
    p_value: float  # one-sided exact McNemar: P(candidate wins this often | no real difference)


def mcnemar_one_sided(candidate_correct: list[bool], baseline_correct: list[bool]) -> PairedTest:
    wins = sum(1 for c, b in zip(candidate_correct, baseline_correct) if c and not b)
    losses = sum(1 for c, b in zip(candidate_correct, baseline_correct) if b and not c)
    n = wins + losses
    p = 1.0 if n == 0 else sum(math.comb(n, k) for k in range(wins, n + 1)) / 2**n
    return PairedTest(candidate_only_correct=wins, baseline_only_correct=losses, p_value=round(p, 6))


def label_counts(rows: list[dict[str, Any]], key: str = "label") -> dict[str, int]:
    return dict(sorted(Counter(r[key] for r in rows).items()))


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


Z_95 = 1.959964  # two-sided 95 % normal quantile


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a proportion: honest at small n and near 0 or 1, unlike ±1.96·se."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


class PairedDifference(BaseModel):
    """Accuracy of A minus accuracy of B on the same examples, with Newcombe's 95 % interval for
    paired proportions (method 10: Wilson intervals of each side, combined through the
    correlation of the paired outcomes)."""

    n: int
    difference: float
    low: float
    high: float
    a_only: int  # examples only A got right
    b_only: int

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0.0 or self.high < 0.0


def paired_difference(a_correct: list[bool], b_correct: list[bool]) -> PairedDifference:
    if len(a_correct) != len(b_correct):
        raise ValueError("paired outcomes must have the same length")
    n = len(a_correct)
    both = sum(1 for a, b in zip(a_correct, b_correct) if a and b)
    a_only = sum(1 for a, b in zip(a_correct, b_correct) if a and not b)
    b_only = sum(1 for a, b in zip(a_correct, b_correct) if b and not a)
    neither = n - both - a_only - b_only
    if n == 0:
        return PairedDifference(n=0, difference=0.0, low=-1.0, high=1.0, a_only=0, b_only=0)
    p1, p2 = (both + a_only) / n, (both + b_only) / n
    l1, u1 = wilson_interval(both + a_only, n)
    l2, u2 = wilson_interval(both + b_only, n)
    denominator = (both + a_only) * (b_only + neither) * (both + b_only) * (a_only + neither)
    phi = (both * neither - a_only * b_only) / math.sqrt(denominator) if denominator > 0 else 0.0
    delta = p1 - p2
    low = delta - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    high = delta + math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return PairedDifference(n=n, difference=round(delta, 4), low=round(max(-1.0, low), 4), high=round(min(1.0, high), 4),
                            a_only=a_only, b_only=b_only)
