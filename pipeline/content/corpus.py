"""The bundled demo corpus and JSON Lines corpora: content items from a file."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from pipeline.content.items import SCHEMA_ROUTES, ContentItem, ContentProfile, known_profile, spread
from pipeline.errors import ConfigError


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
