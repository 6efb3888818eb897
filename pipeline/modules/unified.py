"""The `unified` module: the routing module trained on routing traffic *and* the orchestrator's
workflow executions — the bidirectional step, orchestration teaching routing.

Each workflow execution becomes a routing experience (pipeline.executions.routing_rows): the
chosen agent is the first agent of its sequence, search quality its user satisfaction (its
success when unrated), agent success the workflow's success; the pattern and the sequence are
kept as metadata (`orchestration_pattern`, `agent_sequence`). A successful one whose reward
reaches `training.min_reward` is labelled with its first agent, label_source `orchestration`.
Those rows join the routing training rows with that provenance and are never held out (nor is
a training row's query a held-out query): the held-out set is the routing module's own, real
routing labels only (human and outcome), so `unified` and `routing` trained in the same run are
graded on the same examples, and the report shows the orchestration rows used and both held-out
accuracies — whether orchestration data helped.
"""

from __future__ import annotations

from pipeline.modules import ModuleSpec
from pipeline.modules.common import agent_match
from pipeline.modules.program import ChoiceProgram
from pipeline.modules.routing import RouteQuery, build_example


class UnifiedRoutingModule(ChoiceProgram):
    """The routing program (same Signature, same strategy), under its own target and production."""

    def __init__(self) -> None:
        super().__init__(RouteQuery, "recommended_agent")


SPEC = ModuleSpec(
    name="unified",
    orchestration="routing",
    program_factory=UnifiedRoutingModule,
    metric=agent_match,
    build_example=build_example,
    input_fields=("query", "context"),
    label_field="recommended_agent",
)
