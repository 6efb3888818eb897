"""The `routing` module: query (+ extracted context) → the agent that should answer it."""

from __future__ import annotations

from typing import Any

import dspy

from pipeline.modules import ModuleSpec
from pipeline.modules.common import AGENT_DESCRIPTIONS, AgentName, agent_match, clamp_confidence, context_text


class RouteQuery(dspy.Signature):
    """Choose which agent of a multi-agent search system should answer the user's query."""

    query: str = dspy.InputField(desc="the user's request")
    context: str = dspy.InputField(desc="entities and an enhanced query extracted upstream; may be empty")
    recommended_agent: AgentName = dspy.OutputField(desc=AGENT_DESCRIPTIONS)
    confidence: float = dspy.OutputField(ge=0.0, le=1.0, desc="probability between 0 and 1 that the agent is right")
    reasoning: str = dspy.OutputField(desc="one short sentence")


class RoutingModule(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.route = dspy.Predict(RouteQuery)

    def forward(self, query: str, context: str = "") -> dspy.Prediction:
        pred = self.route(query=query, context=context)
        return dspy.Prediction(
            recommended_agent=pred.recommended_agent,
            confidence=clamp_confidence(pred.confidence),
            reasoning=pred.reasoning,
        )


def build_example(record: dict[str, Any]) -> dspy.Example:
    return dspy.Example(
        query=record["query"],
        context=context_text(record.get("context")),
        recommended_agent=record["label"],
    ).with_inputs("query", "context")


SPEC = ModuleSpec(
    name="routing",
    program_factory=RoutingModule,
    metric=agent_match,
    build_example=build_example,
    input_fields=("query", "context"),
    label_field="recommended_agent",
)
