"""harvest: the tenant's routing spans in Phoenix → routing experiences with a reward (Parquet),
and its orchestration spans → workflow executions (JSON Lines of pipeline.orchestration's model).

Labels are attached here, by trust: an existing annotation (human or LLM) names the correct
agent; otherwise a decision made with confidence ≥ `min_confidence` whose outcome earned a
reward ≥ `training.min_reward` is taken as correct; anything else stays unlabelled and, if
its confidence is low, is a candidate for the annotate stage.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from typing import Any

from pipeline.domain import AGENTS, MODALITIES
from pipeline.layout import EXECUTIONS_FILE, EXPERIENCES_FILE
from pipeline.reward import compute_reward
from pipeline.run.commit import committed_stage
from pipeline.run.context import StageContext, StageOutput
from pipeline.run.harvest import ANNOTATION_NAME, STAGE, HarvestInputs, HarvestResult, experience_schema


@committed_stage(STAGE, HarvestResult)
def run(ctx: StageContext, inputs: HarvestInputs, out: StageOutput) -> HarvestResult:
    from pipeline import phoenix_io  # lazy: only harvest/annotate talk to Phoenix

    cfg = ctx.config
    end = inputs.end_time or ctx.run_started_at()
    start = end - timedelta(hours=inputs.lookback_hours)
    project = cfg.phoenix.project_for(ctx.tenant)
    spans = phoenix_io.fetch_routing_spans(
        cfg.phoenix.endpoint,
        project,
        start,
        end,
        page_size=cfg.phoenix.page_size,
        timeout_s=cfg.phoenix.timeout_s,
        attempts=cfg.retry_attempts,
        backoff_s=cfg.retry_backoff_s,
    )
    unique: dict[str, dict[str, Any]] = {}
    for span in spans:
        unique.setdefault(span["span_id"], span)
    duplicates = len(spans) - len(unique)

    annotations = (
        phoenix_io.fetch_annotations(cfg.phoenix.endpoint, project, list(unique), name=ANNOTATION_NAME)
        if unique
        else {}
    )
    experiences: list[dict[str, Any]] = []
    malformed: dict[str, int] = {}
    for span_id, span in unique.items():
        experience, problem = to_experience(span, annotations.get(span_id), ctx, inputs.min_confidence)
        if problem:
            malformed[problem] = malformed.get(problem, 0) + 1
        else:
            experiences.append(experience)
    experiences.sort(key=lambda e: (e["timestamp"], e["span_id"]))

    by_source: dict[str, int] = {}
    for e in experiences:
        by_source[e["label_source"]] = by_source.get(e["label_source"], 0) + 1
    key = out.put_parquet(EXPERIENCES_FILE, experiences, schema=experience_schema()) if experiences else None

    orchestration = phoenix_io.fetch_orchestration_spans(
        cfg.phoenix.endpoint,
        project,
        start,
        end,
        page_size=cfg.phoenix.page_size,
        timeout_s=cfg.phoenix.timeout_s,
        attempts=cfg.retry_attempts,
        backoff_s=cfg.retry_backoff_s,
    )
    executions, orchestration_malformed, orchestration_duplicates = _executions(orchestration)
    executions_key = out.put_jsonl(EXECUTIONS_FILE, executions) if executions else None
    found = bool(experiences or executions)
    return HarvestResult(
        status="ok" if found else "skipped",
        reason=None if found else f"insufficient data: no valid routing or orchestration spans in {project} for the window",
        project=project,
        window_start=start,
        window_end=end,
        spans_read=len(spans),
        duplicates=duplicates,
        malformed=dict(sorted(malformed.items())),
        experiences=len(experiences),
        labelled=sum(1 for e in experiences if e["label"]),
        labels_by_source=dict(sorted(by_source.items())),
        experiences_key=key,
        orchestration_spans_read=len(orchestration),
        orchestration_duplicates=orchestration_duplicates,
        orchestration_malformed=orchestration_malformed,
        executions=len(executions),
        executions_key=executions_key,
    )


def _executions(spans: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, int], int]:
    """(executions oldest first, malformed counts by reason, duplicates) of orchestration spans."""
    from pipeline.orchestration import execution_from_span

    unique: dict[str, dict[str, Any]] = {}
    for span in spans:
        unique.setdefault(span["span_id"], span)
    executions, malformed = [], {}
    for span in unique.values():
        execution, problem = execution_from_span(span)
        if execution is None:
            malformed[problem] = malformed.get(problem, 0) + 1
        else:
            executions.append(execution.model_dump(mode="json"))
    executions.sort(key=lambda e: (e["timestamp"], e["span_id"]))
    return executions, dict(sorted(malformed.items())), len(spans) - len(unique)


def to_experience(
    span: dict[str, Any], annotation: dict[str, Any] | None, ctx: StageContext, min_confidence: float
) -> tuple[dict[str, Any], str | None]:
    """One span → (experience, None), or ({}, reason) when the span breaks the contract."""
    query = span.get("routing.query")
    if not isinstance(query, str) or not query.strip():
        return {}, "missing routing.query"
    agent = span.get("routing.chosen_agent")
    if agent not in AGENTS:
        return {}, "unknown routing.chosen_agent"
    confidence = _number(span.get("routing.confidence"))
    if confidence is None or not 0.0 <= confidence <= 1.0:
        return {}, "routing.confidence not in [0, 1]"
    modality = span.get("routing.modality") or "text"
    if modality not in MODALITIES:
        return {}, "unknown routing.modality"
    quality = _number(span.get("outcome.search_quality"))
    success = _number(span.get("outcome.agent_success"))
    if quality is None or success is None:
        return {}, "missing outcome.search_quality or outcome.agent_success"
    satisfaction = _number(span.get("outcome.user_satisfaction"))
    processing_time = _number(span.get("routing.processing_time")) or 0.0
    reward = compute_reward(quality, success, satisfaction, processing_time, ctx.config.reward)

    label, source, label_score = None, "none", None
    if annotation and annotation.get("label") in AGENTS:
        label = annotation["label"]
        source = "human" if str(annotation.get("annotator_kind", "")).upper() == "HUMAN" else "llm"
        label_score = _number(annotation.get("score"))
    elif confidence >= min_confidence and reward >= ctx.config.training.min_reward:
        label, source = agent, "outcome"

    context = span.get("routing.context")
    if isinstance(context, (dict, list)):
        context = json.dumps(context, sort_keys=True)
    return {
        "span_id": span["span_id"],
        "trace_id": span.get("trace_id") or "",
        "timestamp": _iso(span.get("start_time")),
        "query": query.strip(),
        "chosen_agent": agent,
        "confidence": confidence,
        "modality": modality,
        "processing_time": processing_time,
        "context": context if isinstance(context, str) else "",
        "search_quality": quality,
        "agent_success": success,
        "user_satisfaction": satisfaction,
        "reward": reward,
        "label": label,
        "label_source": source,
        "label_score": label_score,
    }, None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and not math.isnan(value):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value or "")
