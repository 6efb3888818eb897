"""The `routing` module: query (+ extracted context) → the agent that should answer it."""

from __future__ import annotations

from typing import Any

import dspy

from pipeline.modules import ModuleSpec
from pipeline.modules.common import AGENT_DESCRIPTIONS, AgentName, agent_match, context_text
from pipeline.modules.program import ChoiceProgram


class RouteQuery(dspy.Signature):
    """Choose which agent of a multi-agent search system should answer the user's query."""

    query: str = dspy.InputField(desc="the user's request")
    context: str = dspy.InputField(desc="entities and an enhanced query extracted upstream; may be empty")
    recommended_agent: AgentName = dspy.OutputField(desc=AGENT_DESCRIPTIONS)


class RoutingModule(ChoiceProgram):
    """The routing program. Its confidence and reasoning come from the program (label
    probabilities, tiers), not from generated text: a small model's stated confidence is a
    constant, and generated reasoning costs seconds per query on a CPU."""

    def __init__(self) -> None:
        super().__init__(RouteQuery, "recommended_agent")


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
