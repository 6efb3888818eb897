"""The `modality` module: query + the modality it is about → agent. Trained once per modality."""

from __future__ import annotations

from typing import Any

import dspy

from pipeline.domain import Modality
from pipeline.modules import ModuleSpec
from pipeline.modules.common import AGENT_DESCRIPTIONS, AgentName, agent_match
from pipeline.modules.program import ChoiceProgram



class RouteByModality(dspy.Signature):
    """Given a query about content of one modality, choose the agent that should answer it."""

    query: str = dspy.InputField(desc="the user's request")
    modality: Modality = dspy.InputField(desc="the kind of content the query is about")
    recommended_agent: AgentName = dspy.OutputField(desc=AGENT_DESCRIPTIONS)


class ModalityRoutingModule(ChoiceProgram):
    def __init__(self) -> None:
        super().__init__(RouteByModality, "recommended_agent")


def build_example(record: dict[str, Any]) -> dspy.Example:
    return dspy.Example(
        query=record["query"], modality=record["modality"], recommended_agent=record["label"]
    ).with_inputs("query", "modality")


SPEC = ModuleSpec(
    name="modality",
    per_modality=True,
    program_factory=ModalityRoutingModule,
    metric=agent_match,
    build_example=build_example,
    input_fields=("query", "modality"),
    label_field="recommended_agent",
)
