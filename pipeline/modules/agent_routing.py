"""The `agent_routing` agent module: a user query → the workflow that should answer it, the
agent that leads it, and the router's confidence.

Data: the tenant's golden dataset (`tenants/{t}/golden/agent_routing.jsonl` or `--golden-dataset`),
a line per query with `recommended_workflow` and `primary_agent` (and optionally
`routing_confidence`, a number in [0, 1], which is checked but not scored: a label has no true
confidence). Unlabelled lines (only `query`) are for the teacher.

Metric: exact agreement on `recommended_workflow` and `primary_agent` (bootstrapping: both).
"""

from __future__ import annotations

from typing import Any, Literal

import dspy

from pipeline.modules import ModuleSpec
from pipeline.modules.common import AGENT_DESCRIPTIONS, AgentName, clamp_confidence
from pipeline.modules.golden import example_builder, field_agreement
from pipeline.modules.structured import StructuredProgram

Workflow = Literal["direct_search", "multi_agent_search", "summarization", "detailed_analysis"]
SCORED = ("recommended_workflow", "primary_agent")
OUTPUTS = (*SCORED, "routing_confidence")


class RouteToWorkflow(dspy.Signature):
    __doc__ = ("Choose how a search request is answered: the workflow, the agent that leads it, and how confident "
               f"the choice is. Agents: {AGENT_DESCRIPTIONS}.")

    query: str = dspy.InputField(desc="the user's request")
    recommended_workflow: Workflow = dspy.OutputField(
        desc="direct_search: one agent answers; multi_agent_search: several searches combined; "
             "summarization: a short summary of what is found; detailed_analysis: an in-depth report")
    primary_agent: AgentName = dspy.OutputField(desc="the agent that leads the answer")
    routing_confidence: float = dspy.OutputField(desc="confidence in the choice, from 0 to 1")


def _finish(outputs: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    confidence = clamp_confidence(outputs.get("routing_confidence"))
    return {"recommended_workflow": outputs.get("recommended_workflow"), "primary_agent": outputs.get("primary_agent"),
            "routing_confidence": confidence, "confidence": confidence}


def program() -> StructuredProgram:
    return StructuredProgram(RouteToWorkflow, _finish)


SPEC = ModuleSpec(
    name="agent_routing",
    real_data=False,
    adaptive=False,
    golden=True,
    program_factory=program,
    metric=field_agreement(SCORED),
    build_example=example_builder(("query",), OUTPUTS),
    input_fields=("query",),
    label_field="primary_agent",
    outputs=OUTPUTS,
    metric_fields=SCORED,
    exact_fields=SCORED,
)
