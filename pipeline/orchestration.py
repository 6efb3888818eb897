"""The orchestrator's vocabulary: its root span, its patterns, and one workflow execution as
harvest reads it from a `cogniverse.orchestration` span (README, "The span contract").

A workflow execution is one multi-agent answer: the orchestrator planned a pattern and an
ordered agent sequence for a query, ran it, and recorded each agent's outcome, the overall
success, the user's satisfaction, the time it took and, for parallel plans, how much the
agents overlapped. Its learning signals are derived here, once, for every reader:

- `orchestration_beneficial`: success and user satisfaction > 0.7 (a rated good answer);
- `multi_agent_synergy`: a successful plan of more than one agent;
- `parallel_efficiency` and `pattern` as recorded.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, computed_field

from pipeline.contract import ORCHESTRATION_PATTERNS as PATTERNS
from pipeline.contract import ORCHESTRATION_SPAN as ORCHESTRATION_SPAN_NAME
from pipeline.domain import AGENTS, AgentName

__all__ = ["ORCHESTRATION_SPAN_NAME", "PATTERNS", "AgentOutcome", "OrchestrationPattern", "WorkflowExecution",
           "analysis_text", "execution_from_span", "plan_label"]
OrchestrationPattern = Literal[PATTERNS]
BENEFICIAL_SATISFACTION = 0.7  # satisfaction above it (with success) makes orchestration beneficial


class AgentOutcome(BaseModel):
    """One agent's part in an execution."""

    agent: AgentName
    success: bool
    processing_time: float | None = Field(default=None, ge=0)


class WorkflowExecution(BaseModel):
    """One harvested `cogniverse.orchestration` span (the JSON Lines rows harvest writes)."""

    span_id: str
    trace_id: str = ""
    timestamp: str
    query: str
    analysis: str = ""  # the upstream query analysis (modalities, entities), rendered; may be empty
    pattern: OrchestrationPattern
    agent_sequence: list[AgentName] = Field(min_length=1)
    agent_outcomes: list[AgentOutcome] = []
    success: bool
    user_satisfaction: float | None = Field(default=None, ge=0, le=1)
    processing_time: float = Field(default=0.0, ge=0)
    parallel_efficiency: float | None = Field(default=None, ge=0, le=1)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def orchestration_beneficial(self) -> bool:
        return self.success and self.user_satisfaction is not None and self.user_satisfaction > BENEFICIAL_SATISFACTION

    @computed_field  # type: ignore[prop-decorator]
    @property
    def multi_agent_synergy(self) -> bool:
        return self.success and len(self.agent_sequence) > 1


def plan_label(pattern: str, agents: list[str] | tuple[str, ...]) -> str:
    """The plan as one comparable label: `sequential: a > b`, `parallel: a + b` (the agents of a
    parallel plan run at once, so their order is not part of the plan and they are sorted)."""
    if pattern == "parallel":
        return f"parallel: {' + '.join(sorted(agents))}"
    return f"{pattern}: {' > '.join(agents)}"


def execution_from_span(span: dict[str, Any]) -> tuple[WorkflowExecution | None, str | None]:
    """One flattened `cogniverse.orchestration` span (pipeline.phoenix_io) → (execution, None),
    or (None, reason) when it breaks the span contract; harvest counts the reasons."""
    query = span.get("orchestration.query")
    if not isinstance(query, str) or not query.strip():
        return None, "missing orchestration.query"
    pattern = span.get("orchestration.pattern")
    if pattern not in PATTERNS:
        return None, "unknown orchestration.pattern"
    agents = span.get("orchestration.agent_sequence")
    if isinstance(agents, tuple):
        agents = list(agents)
    if not isinstance(agents, list) or not agents or any(a not in AGENTS for a in agents):
        return None, "orchestration.agent_sequence not a list of catalog agents"
    success = _number(span.get("outcome.success"))
    if success is None or not 0.0 <= success <= 1.0:
        return None, "missing outcome.success"
    satisfaction = _number(span.get("outcome.user_satisfaction"))
    if satisfaction is not None and not 0.0 <= satisfaction <= 1.0:
        return None, "outcome.user_satisfaction not in [0, 1]"
    efficiency = _number(span.get("orchestration.parallel_efficiency"))
    if efficiency is not None and not 0.0 <= efficiency <= 1.0:
        return None, "orchestration.parallel_efficiency not in [0, 1]"
    processing_time = _number(span.get("orchestration.processing_time"))
    if processing_time is not None and processing_time < 0:
        return None, "orchestration.processing_time negative"
    outcomes = span.get("outcome.agent_outcomes")
    if outcomes is None:
        outcomes = []
    try:
        parsed = [AgentOutcome.model_validate(o) for o in outcomes] if isinstance(outcomes, list) else None
    except ValidationError:
        parsed = None
    if parsed is None:
        return None, "outcome.agent_outcomes not a list of {agent, success}"
    return WorkflowExecution(
        span_id=span["span_id"],
        trace_id=span.get("trace_id") or "",
        timestamp=str(span.get("start_time") or ""),
        query=query.strip(),
        analysis=analysis_text(span.get("orchestration.analysis")),
        pattern=pattern,
        agent_sequence=agents,
        agent_outcomes=parsed,
        success=success >= 0.5,
        user_satisfaction=satisfaction,
        processing_time=processing_time or 0.0,
        parallel_efficiency=efficiency,
    ), None


def analysis_text(raw: Any) -> str:
    """The query analysis (`{"modalities": [...], "entities": [...], "intent": ...}`) as one
    compact line, what the workflow module reads; a string stays as it is."""
    if raw in (None, "", {}):
        return ""
    if not isinstance(raw, dict):
        return str(raw)[:300]
    parts = []
    for key in sorted(raw):
        value = raw[key]
        if isinstance(value, (list, tuple)):
            value = ", ".join(map(str, value))
        if value not in (None, ""):
            parts.append(f"{key}: {value}")
    return "; ".join(parts)[:300]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and not math.isnan(value):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return None if math.isnan(number) else number
    return None
