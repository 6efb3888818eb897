"""What the orchestrator's workflow executions (pipeline.orchestration) teach, as training rows:

- **workflow rows** (the `workflow` module): query + analysis → pattern and agent sequence,
  labelled from successful executions. Trust, by the learning signals: an execution where
  orchestration was beneficial (success and satisfaction > 0.7) is a `beneficial` label, fit to
  train and to hold out; a success the user did not rate is a `success` label, for training
  only; a parallel plan whose parallel efficiency is below 0.5 did not pay for running at once
  and is no label; a failure or a poor rating is no label either.
- **routing rows** (the `unified` module, the bidirectional step): each execution as a routing
  experience — the chosen agent is the first agent of its sequence, search quality its
  satisfaction (else its success), agent success the workflow's success, with the pattern and
  the sequence kept as metadata — labelled `orchestration` when it succeeded and its reward
  reaches `training.min_reward`. `orchestration` is not a trusted source
  (pipeline.datasets.TRUSTED_SOURCES): these rows train, and are never held out.
"""

from __future__ import annotations

from typing import Any

from pipeline.config import RewardConfig
from pipeline.orchestration import plan_label
from pipeline.reward import compute_reward

WORKFLOW_TRUSTED = frozenset({"beneficial"})  # the workflow module's held-out labels
MIN_PARALLEL_EFFICIENCY = 0.5  # a parallel plan below it is not a label
ORCHESTRATION_SOURCE = "orchestration"  # label_source of the routing rows derived from executions


def workflow_source(execution: dict[str, Any]) -> str:
    """`beneficial`, `success` or `none`: how far a workflow execution is trusted as a label."""
    if not execution["success"]:
        return "none"
    if execution["pattern"] == "parallel" and (execution.get("parallel_efficiency") or 0.0) < MIN_PARALLEL_EFFICIENCY:
        return "none"
    satisfaction = execution.get("user_satisfaction")
    if satisfaction is None:
        return "success"
    return "beneficial" if execution["orchestration_beneficial"] else "none"


def workflow_rows(executions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every execution as a workflow row; `label` (the plan, pipeline.orchestration.plan_label)
    is None where it teaches nothing."""
    rows = []
    for e in executions:
        source = workflow_source(e)
        rows.append({
            "span_id": e["span_id"],
            "timestamp": e["timestamp"],
            "query": e["query"],
            "analysis": e.get("analysis") or "",
            "pattern": e["pattern"],
            "agent_sequence": list(e["agent_sequence"]),
            "label": plan_label(e["pattern"], e["agent_sequence"]) if source != "none" else None,
            "label_source": source,
            "success": e["success"],
            "user_satisfaction": e.get("user_satisfaction"),
            "parallel_efficiency": e.get("parallel_efficiency"),
            "orchestration_beneficial": e["orchestration_beneficial"],
            "multi_agent_synergy": e["multi_agent_synergy"],
        })
    return rows


def routing_rows(executions: list[dict[str, Any]], reward: RewardConfig, min_reward: float) -> list[dict[str, Any]]:
    """Every execution as a routing experience (harvest's experience fields, plus the
    orchestration metadata); labelled `orchestration` when it succeeded with reward ≥ min_reward."""
    rows = []
    for e in executions:
        success = 1.0 if e["success"] else 0.0
        satisfaction = e.get("user_satisfaction")
        quality = satisfaction if satisfaction is not None else success
        value = compute_reward(quality, success, satisfaction, e.get("processing_time") or 0.0, reward)
        first = e["agent_sequence"][0]
        labelled = bool(e["success"]) and value >= min_reward
        rows.append({
            "span_id": e["span_id"],
            "trace_id": e.get("trace_id") or "",
            "timestamp": e["timestamp"],
            "query": e["query"],
            "chosen_agent": first,
            "confidence": None,  # the orchestrator states none
            "modality": None,
            "processing_time": e.get("processing_time") or 0.0,
            "context": "",
            "search_quality": quality,
            "agent_success": success,
            "user_satisfaction": satisfaction,
            "reward": value,
            "label": first if labelled else None,
            "label_source": ORCHESTRATION_SOURCE if labelled else "none",
            "label_score": None,
            "orchestration_pattern": e["pattern"],
            "agent_sequence": list(e["agent_sequence"]),
        })
    return rows
