"""The LLM annotator: proposes the agent that should have answered a low-confidence decision.

Not a trained module (no SPEC): the annotate stage runs it as it is, after measuring it on the
run's human-labelled decisions. `inputs_of` is its example builder: what it sees of a decision.
"""

from __future__ import annotations

from typing import Any

import dspy

from pipeline.modules.common import AGENT_DESCRIPTIONS, AgentName, clamp_confidence, context_text
from pipeline.modules.structured import StructuredProgram


class AnnotateRoutingDecision(dspy.Signature):
    """Review a routing decision of a multi-agent search system and name the agent that should
    have answered the query, judging from the query and the observed outcome."""

    query: str = dspy.InputField(desc="the user's request")
    context: str = dspy.InputField(desc="entities and an enhanced query extracted upstream; may be empty")
    chosen_agent: str = dspy.InputField(desc="the agent the router picked")
    outcome: str = dspy.InputField(desc="how that choice went: search quality, success, satisfaction")
    correct_agent: AgentName = dspy.OutputField(desc=AGENT_DESCRIPTIONS)
    confidence: float = dspy.OutputField(ge=0.0, le=1.0, desc="probability between 0 and 1 that correct_agent is right")
    explanation: str = dspy.OutputField(desc="one short sentence")


def _finish(outputs: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "correct_agent": outputs["correct_agent"],
        "confidence": clamp_confidence(outputs["confidence"]),
        "explanation": str(outputs["explanation"])[:500],
    }


def program() -> StructuredProgram:
    return StructuredProgram(AnnotateRoutingDecision, _finish)


def inputs_of(experience: dict[str, Any]) -> dict[str, Any]:
    """What the annotator sees of one routing decision (a harvested experience)."""
    satisfaction = experience.get("user_satisfaction")
    outcome = (
        f"search quality {experience['search_quality']:.2f}, agent success {experience['agent_success']:.2f}, "
        f"user satisfaction {'not reported' if satisfaction is None else f'{satisfaction:.2f}'}"
    )
    return {
        "query": experience["query"],
        "context": context_text(experience.get("context")),
        "chosen_agent": experience["chosen_agent"],
        "outcome": outcome,
    }
