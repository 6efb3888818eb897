"""The `workflow` module: a request (+ its upstream analysis) → the orchestration pattern and
the ordered agents that answer it.

Data: the orchestrator's workflow executions (harvest's `executions.jsonl`, rows built by
pipeline.executions): labelled from successful executions — orchestration beneficial (success
and satisfaction > 0.7) held out and trained on, unrated successes trained on, a parallel plan
below 0.5 parallel efficiency not at all — and, with synthetic data, the workflow generator's
find-then-summarize/report examples (sequential plans).

Metric (training), in [0, 1]: `0.5·[pattern right] + 0.5·sequence similarity`, where the
sequence similarity is, for a gold `parallel` plan (its agents run at once, order carries
nothing), the Jaccard overlap |P ∩ G| / |P ∪ G| of the agent sets, and otherwise the
normalised longest common subsequence LCS(P, G) / max(|P|, |G|) (order-aware: the right agents
in the wrong order score less); an empty predicted sequence scores 0 on that half. With a trace
(bootstrapping demos) only a fully right plan counts. Evaluation and the gate score the plan as
one label, `plan` (pipeline.orchestration.plan_label: pattern and sequence, a parallel plan's
agents sorted): accuracy is exact-plan accuracy.
"""

from __future__ import annotations

from typing import Any

import dspy

from pipeline.domain import AGENTS
from pipeline.modules import ModuleSpec
from pipeline.modules.common import AGENT_DESCRIPTIONS, AgentName
from pipeline.modules.structured import StructuredProgram
from pipeline.orchestration import PATTERNS, OrchestrationPattern, plan_label


class PlanWorkflow(dspy.Signature):
    """Plan how a multi-agent search system answers a request: the orchestration pattern and
    the agents to run, in order. sequential: each agent works on what the previous one found
    (find, then summarize or report on it); parallel: independent searches of different kinds of
    content run at once and their results are combined; conditional: the next agent runs only
    when the previous one's results call for it (nothing found, results too long). Plan as few
    agents as the request needs."""

    query: str = dspy.InputField(desc="the user's request")
    analysis: str = dspy.InputField(desc="upstream query analysis: the kinds of content and entities detected; may be empty")
    pattern: OrchestrationPattern = dspy.OutputField(desc="sequential, parallel or conditional")
    agent_sequence: list[AgentName] = dspy.OutputField(desc="the agents to run, in order; " + AGENT_DESCRIPTIONS)


def _finish(outputs: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    """Catalog agents only, each once, in the order given; the plan label; confidence 1 for a
    well-formed plan and 0 otherwise (the LM states no probability of its plan)."""
    raw = outputs.get("agent_sequence")
    agents = list(dict.fromkeys(a for a in (raw if isinstance(raw, list) else []) if a in AGENTS))
    pattern = outputs.get("pattern") if outputs.get("pattern") in PATTERNS else None
    plan = plan_label(pattern, agents) if pattern and agents else None
    return {"pattern": pattern, "agent_sequence": agents, "plan": plan, "confidence": 1.0 if plan else 0.0}


def program() -> StructuredProgram:
    return StructuredProgram(PlanWorkflow, _finish)


def build_example(record: dict[str, Any]) -> dspy.Example:
    return dspy.Example(
        query=record["query"], analysis=record.get("analysis") or "", pattern=record["pattern"],
        agent_sequence=list(record["agent_sequence"]), plan=record["label"],
    ).with_inputs("query", "analysis")


def lcs_length(a: list[str], b: list[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def sequence_similarity(predicted: list[str], gold: list[str], pattern: str) -> float:
    """Jaccard overlap for a gold parallel plan, normalised LCS otherwise (module docstring)."""
    if not predicted or not gold:
        return 0.0
    if pattern == "parallel":
        return len(set(predicted) & set(gold)) / len(set(predicted) | set(gold))
    return lcs_length(predicted, gold) / max(len(predicted), len(gold))


def workflow_match(example: Any, pred: Any, trace: Any = None) -> float:
    """0.5·[pattern right] + 0.5·sequence similarity; with a trace, 1 for a fully right plan else 0."""
    predicted = list(getattr(pred, "agent_sequence", None) or [])
    score = 0.5 * (getattr(pred, "pattern", None) == example.pattern) + 0.5 * sequence_similarity(
        predicted, list(example.agent_sequence), example.pattern)
    return float(score == 1.0) if trace is not None else score


SPEC = ModuleSpec(
    name="workflow",
    synthetic="workflow",
    adaptive=False,
    orchestration="workflow",
    program_factory=program,
    metric=workflow_match,
    build_example=build_example,
    input_fields=("query", "analysis"),
    label_field="plan",
    outputs=("pattern", "agent_sequence", "plan", "confidence"),
)
