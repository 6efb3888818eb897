"""Pieces shared by the modules: the agent label set, confidence clamping, the metric."""

from __future__ import annotations

import json
import math
from typing import Any

from pipeline.domain import AgentName

__all__ = ["AGENT_DESCRIPTIONS", "AgentName", "agent_match", "clamp_confidence", "context_text"]

AGENT_DESCRIPTIONS = (
    "video_search_agent: finds video clips and moments in videos; "
    "image_search_agent: finds photos, pictures, diagrams; "
    "audio_analysis_agent: podcasts, recordings, music, speech; "
    "document_agent: finds files such as PDFs, contracts, manuals, slides; "
    "text_search_agent: finds articles, posts and passages of text; "
    "summarizer_agent: short summaries, key points, tl;dr; "
    "detailed_report_agent: long, in-depth reports and analyses"
)


def clamp_confidence(value: Any) -> float:
    """Small models emit confidences like 1e15 or 'high': keep a number in [0, 1]."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    if math.isnan(number):
        return 0.0
    if number > 1.0 and number <= 100.0:
        number /= 100.0  # a percentage
    return min(1.0, max(0.0, number))


def agent_match(example: Any, pred: Any, trace: Any = None) -> float:
    """1.0 when the predicted agent is the labelled one. A plain `metric(example, pred)`."""
    return float(getattr(pred, "recommended_agent", None) == example.recommended_agent)


def context_text(raw: Any) -> str:
    """Render the span's routing.context (JSON: entities, relationships, enhanced_query) compactly."""
    if raw in (None, "", {}):
        return ""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            return raw[:300]
    if not isinstance(raw, dict):
        return str(raw)[:300]
    parts = []
    if raw.get("entities"):
        parts.append("entities: " + ", ".join(map(str, raw["entities"]))[:200])
    if raw.get("enhanced_query"):
        parts.append("enhanced query: " + str(raw["enhanced_query"])[:200])
    return "; ".join(parts)
