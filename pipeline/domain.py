"""The routing domain's vocabulary: the agents a query can be routed to and the kinds of
content (modalities) queries are about. The span contract, the modules' label sets, the
content schemas and the configuration all take these from here."""

from __future__ import annotations

from typing import Literal

AGENTS: tuple[str, ...] = (
    "video_search_agent",
    "image_search_agent",
    "audio_analysis_agent",
    "document_agent",
    "text_search_agent",
    "summarizer_agent",
    "detailed_report_agent",
)
MODALITIES: tuple[str, ...] = ("video", "image", "audio", "document", "text")

AgentName = Literal[AGENTS]  # the catalog as a label set pydantic and DSPy can enforce
Modality = Literal[MODALITIES]
