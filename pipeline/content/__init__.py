"""Content the search backend holds, as the synthesize stage sees it.

Synthetic examples are grounded in real content: a source returns items sampled from the
backend, never invented ones. The bundled JSON Lines corpus is the embedded default
(`corpus`); Vespa (`vespa`) plugs in behind the same `ContentSource` protocol (`items`).
"""

from __future__ import annotations

from pathlib import Path

from pipeline.config import ContentConfig
from pipeline.content.corpus import JsonlCorpus
from pipeline.content.items import (
    SCHEMA_DESCRIPTIONS,
    SCHEMA_ROUTES,
    ContentItem,
    ContentProfile,
    ContentSource,
    known_profile,
    spread,
)
from pipeline.errors import ConfigError

__all__ = ["SCHEMA_DESCRIPTIONS", "SCHEMA_ROUTES", "ContentItem", "ContentProfile", "ContentSource", "JsonlCorpus",
           "known_profile", "open_content_source", "spread"]


def open_content_source(config: ContentConfig) -> ContentSource:
    if config.source == "bundled":
        return JsonlCorpus()
    if config.source == "jsonl":
        if not config.path:
            raise ConfigError("content.source 'jsonl' needs content.path")
        return JsonlCorpus(Path(config.path))
    if config.source == "vespa":
        from pipeline.content.vespa import VespaContentSource  # lazy: pyvespa only when configured

        return VespaContentSource(config.vespa)
    raise ConfigError(f"unknown content source {config.source!r}: use 'bundled', 'jsonl' or 'vespa'")
