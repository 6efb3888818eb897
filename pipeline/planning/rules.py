"""The seed's cold-start rules, on the count of labelled real examples:
< 20 → SYNTHETIC, 20–49 → HYBRID (real and synthetic mixed 1:1), ≥ 50 → PURE_REAL.

Guards hold whoever decides (rules or a model): with no labelled data and synthetic data
disabled there is nothing to train on, and retraining on exactly the data production was
trained on cannot change anything.
"""

from __future__ import annotations

from typing import Literal

Strategy = Literal["SKIP", "SYNTHETIC", "HYBRID", "PURE_REAL"]
STRATEGIES: tuple[Strategy, ...] = ("SKIP", "SYNTHETIC", "HYBRID", "PURE_REAL")
USES_SYNTHETIC: frozenset[str] = frozenset({"SYNTHETIC", "HYBRID"})

SYNTHETIC_BELOW = 20
HYBRID_BELOW = 50


def rule_strategy(n: int) -> tuple[Strategy, str]:
    """(strategy, the rule that chose it) for `n` labelled real examples."""
    if n < SYNTHETIC_BELOW:
        return "SYNTHETIC", f"fewer than {SYNTHETIC_BELOW} labelled real examples"
    if n < HYBRID_BELOW:
        return "HYBRID", f"{SYNTHETIC_BELOW}–{HYBRID_BELOW - 1} labelled real examples"
    return "PURE_REAL", f"at least {HYBRID_BELOW} labelled real examples"


def guard(n: int, data_hash: str, trained_on: str | None, synthetic_allowed: bool) -> str | None:
    """Why training cannot help whatever a model says, or None."""
    if n == 0 and not synthetic_allowed:
        return "no labelled data and synthetic data is disabled"
    if trained_on is not None and trained_on == data_hash:
        return "nothing would change: production was trained on exactly this data"
    return None


def allowed_strategies(n: int, synthetic_allowed: bool) -> list[Strategy]:
    """Training strategies the data and options allow (no real data: synthetic only)."""
    allowed: list[Strategy] = []
    if synthetic_allowed:
        allowed += ["SYNTHETIC", "HYBRID"] if n > 0 else ["SYNTHETIC"]
    if n > 0:
        allowed.append("PURE_REAL")
    return allowed


def synthetic_refusal(strategy: Strategy, n: int, synthetic_allowed: bool) -> str | None:
    """The rules' skip when their strategy needs synthetic data that is disabled."""
    if strategy == "SYNTHETIC" and not synthetic_allowed:
        return f"{n} labelled examples need synthetic data, which is disabled (use-synthetic-data)"
    return None
