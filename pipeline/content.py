"""Content the search backend holds, as the synthesize stage sees it.

Synthetic examples are grounded in real content: a source returns items sampled from the
backend, never invented ones. The bundled JSON Lines corpus is the embedded default; Vespa
plugs in behind the same `ContentSource` protocol.
"""

from __future__ import annotations

import json
import random
from importlib import resources
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ValidationError

from pipeline.config import ContentConfig
from pipeline.errors import ConfigError

# Backend schema → (modality, the agent that searches it).
SCHEMA_ROUTES: dict[str, tuple[str, str]] = {
    "video_frames": ("video", "video_search_agent"),
    "image_content": ("image", "image_search_agent"),
    "audio_transcripts": ("audio", "audio_analysis_agent"),
    "document_content": ("document", "document_agent"),
    "text_content": ("text", "text_search_agent"),
}


class ContentItem(BaseModel):
    id: str
    schema_name: str
    title: str
    text: str
    topics: list[str] = []
    entities: list[str] = []


class ContentSource(Protocol):
    name: str

    def sample(self, count: int, seed: int) -> list[ContentItem]:
        """Up to `count` distinct items; an empty list when the backend holds nothing."""


class JsonlCorpus:
    """A JSON Lines file of content items (`id`, `schema`, `title`, `text`, `topics`, `entities`)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.name = f"jsonl:{path}" if path else "bundled demo corpus"

    def _lines(self) -> list[str]:
        if self.path is None:
            return resources.files("pipeline.demo").joinpath("data/corpus.jsonl").read_text().splitlines()
        try:
            return self.path.read_text().splitlines()
        except FileNotFoundError as exc:
            raise ConfigError(f"content corpus not found: {self.path}") from exc

    def items(self) -> list[ContentItem]:
        items = []
        for number, line in enumerate(self._lines(), 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                raw["schema_name"] = raw.pop("schema")
                items.append(ContentItem.model_validate(raw))
            except (json.JSONDecodeError, KeyError, ValidationError) as exc:
                raise ConfigError(f"{self.name}, line {number}: not a content item ({exc})") from exc
        return items

    def sample(self, count: int, seed: int) -> list[ContentItem]:
        items = sorted(self.items(), key=lambda item: item.id)
        random.Random(seed).shuffle(items)
        return items[:count]


def open_content_source(config: ContentConfig) -> ContentSource:
    if config.source == "bundled":
        return JsonlCorpus()
    if config.source == "jsonl":
        if not config.path:
            raise ConfigError("content.source 'jsonl' needs content.path")
        return JsonlCorpus(Path(config.path))
    raise ConfigError(f"unknown content source {config.source!r}: use 'bundled' or 'jsonl'")
