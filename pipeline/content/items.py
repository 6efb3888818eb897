"""What a content source returns: items sampled from the backend and the schemas (profiles)
they come from, with the modality and agent each schema serves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pydantic import BaseModel

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
