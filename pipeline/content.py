"""Content the search backend holds, as the synthesize stage sees it.

Synthetic examples are grounded in real content: a source returns items sampled from the
backend, never invented ones. The bundled JSON Lines corpus is the embedded default; Vespa
(`pipeline.vespa_source`) plugs in behind the same `ContentSource` protocol.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
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
SCHEMA_DESCRIPTIONS: dict[str, str] = {
    "video_frames": "frames and descriptions of videos: recordings, tutorials, broadcasts, security footage",
    "image_content": "photos, pictures, diagrams and screenshots with their descriptions",
    "audio_transcripts": "transcripts of podcasts, calls, meetings, recordings and radio",
    "document_content": "files such as PDFs, contracts, manuals, reports and slides",
    "text_content": "articles, posts, messages and passages of text",
}


class ContentItem(BaseModel):
    id: str
    schema_name: str
    title: str
    text: str
    topics: list[str] = []
    entities: list[str] = []
    source_id: str | None = None  # the backend's own id of the item, e.g. a Vespa document id


class ContentProfile(BaseModel):
    """A backend schema content can be sampled from, and what it is for."""

    name: str
    modality: str
    agent: str
    description: str = ""


class ContentSource(Protocol):
    name: str

    def profiles(self) -> list[ContentProfile]:
        """The schemas this source can sample, with the modality and agent each serves."""

    def sample(self, count: int, seed: int, schemas: Sequence[str] | None = None) -> list[ContentItem]:
        """Up to `count` distinct items, spread evenly over `schemas` (None: a sample of
        everything); an empty list when the backend holds nothing."""


def spread(count: int, names: Sequence[str]) -> dict[str, int]:
    """`count` split as evenly as possible over `names`, the remainder to the first ones."""
    if not names:
        return {}
    base, extra = divmod(max(0, count), len(names))
    return {name: base + (1 if i < extra else 0) for i, name in enumerate(names)}


def known_profile(name: str) -> ContentProfile | None:
    if name not in SCHEMA_ROUTES:
        return None
    modality, agent = SCHEMA_ROUTES[name]
    return ContentProfile(name=name, modality=modality, agent=agent, description=SCHEMA_DESCRIPTIONS.get(name, ""))


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

    def profiles(self) -> list[ContentProfile]:
        present = {item.schema_name for item in self.items()}
        return [profile for name in SCHEMA_ROUTES if name in present and (profile := known_profile(name))]

    def sample(self, count: int, seed: int, schemas: Sequence[str] | None = None) -> list[ContentItem]:
        items = sorted(self.items(), key=lambda item: item.id)
        random.Random(seed).shuffle(items)
        if schemas is None:
            return items[:count]
        picked: list[ContentItem] = []
        for name, quota in spread(count, list(schemas)).items():
            picked.extend([item for item in items if item.schema_name == name][:quota])
        return picked


def open_content_source(config: ContentConfig) -> ContentSource:
    if config.source == "bundled":
        return JsonlCorpus()
    if config.source == "jsonl":
        if not config.path:
            raise ConfigError("content.source 'jsonl' needs content.path")
        return JsonlCorpus(Path(config.path))
    if config.source == "vespa":
        from pipeline.vespa_source import VespaContentSource  # lazy: pyvespa only when configured

        return VespaContentSource(config.vespa)
    raise ConfigError(f"unknown content source {config.source!r}: use 'bundled', 'jsonl' or 'vespa'")
