"""The LLM annotator: proposes the agent that should have answered a low-confidence decision."""

from __future__ import annotations

from typing import Any

import dspy

from pipeline.modules.common import AGENT_DESCRIPTIONS, AgentName, clamp_confidence, context_text


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


class RoutingAnnotator(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.annotate = dspy.Predict(AnnotateRoutingDecision)

    def forward(self, experience: dict[str, Any]) -> dspy.Prediction:
        satisfaction = experience.get("user_satisfaction")
        outcome = (
            f"search quality {experience['search_quality']:.2f}, agent success {experience['agent_success']:.2f}, "
            f"user satisfaction {'not reported' if satisfaction is None else f'{satisfaction:.2f}'}"
        )
        pred = self.annotate(
            query=experience["query"],
            context=context_text(experience.get("context")),
            chosen_agent=experience["chosen_agent"],
            outcome=outcome,
        )
        return dspy.Prediction(
            correct_agent=pred.correct_agent,
            confidence=clamp_confidence(pred.confidence),
            explanation=str(pred.explanation)[:500],
        )
