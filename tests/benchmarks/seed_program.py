"""The routing program before the quality benchmark existed, kept so its baseline stays
measurable: the LM generates the agent, a confidence and a reasoning sentence.
(No `from __future__ import annotations`: DSPy reads these annotations as types.)"""

import dspy

from pipeline.modules.common import AGENT_DESCRIPTIONS, AgentName, clamp_confidence


class SeedRouteQuery(dspy.Signature):
    """Choose which agent of a multi-agent search system should answer the user's query."""

    query: str = dspy.InputField(desc="the user's request")
    context: str = dspy.InputField(desc="entities and an enhanced query extracted upstream; may be empty")
    recommended_agent: AgentName = dspy.OutputField(desc=AGENT_DESCRIPTIONS)
    confidence: float = dspy.OutputField(ge=0.0, le=1.0, desc="probability between 0 and 1 that the agent is right")
    reasoning: str = dspy.OutputField(desc="one short sentence")


class SeedRoutingModule(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.route = dspy.Predict(SeedRouteQuery)

    def forward(self, query: str, context: str = "") -> dspy.Prediction:
        pred = self.route(query=query, context=context)
        return dspy.Prediction(recommended_agent=pred.recommended_agent, confidence=clamp_confidence(pred.confidence))
