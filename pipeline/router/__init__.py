"""The router's side of the loop: use the promoted program, explore, and emit the span contract.

- `Router` (pipeline.router.router): `route(query, context) -> RoutingDecision` with the tenant's
  production program for a module target, epsilon-greedy exploration, and a traced decision;
  `record_outcome(decision, search_quality, agent_success, user_satisfaction)`.
- `ProductionPrograms` (.programs): the cache of production programs, refreshed when
  `production.json` changes.
- `EpsilonGreedy` (.exploration): ε 0.1, decay 0.995 per decision, floor 0.05.
- `RoutingTracer` (.tracer): the `cogniverse.routing` spans, to Phoenix over OTLP.

Importing this package is light: DSPy, the LM and OpenTelemetry load when first used.
"""

from pipeline.router.decision import RoutingDecision
from pipeline.router.exploration import EpsilonGreedy, NoExploration
from pipeline.router.programs import LoadedProgram, ProductionPrograms
from pipeline.router.router import Router
from pipeline.router.tracer import RoutingTracer, TracedSpan

__all__ = ["EpsilonGreedy", "LoadedProgram", "NoExploration", "ProductionPrograms", "Router", "RoutingDecision",
           "RoutingTracer", "TracedSpan"]
