"""`RoutingDecision`: what `Router.route` answers, and what its span records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class RoutingDecision:
    agent: str  # where the query goes (the program's choice, or the explored one)
    confidence: float  # the router's confidence in `agent`
    reasoning: str
    explored: bool  # True: epsilon-greedy sent it to a random other agent
    program_version: str  # "v3" (production's history sequence), or "unoptimized"
    recommended_agent: str  # the program's own choice
    recommended_confidence: float
    query: str
    tenant: str
    target: str
    modality: str | None = None
    context: Any = None
    tier: str | None = None  # which tier of the program answered: "classifier" or "lm"
    span_id: str | None = None  # the decision's span in Phoenix, when traced
    trace_id: str | None = None
    started_at: datetime | None = None
