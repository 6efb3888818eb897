"""JSON Lines, the one way: a bad line is a ConfigError naming where it is and which line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError


def read_jsonl_file(path: Path, what: str) -> list[tuple[int, Any]]:
    """(line number, value) of a local JSON Lines file; `what` names it when it is missing."""
    try:
        text = path.read_text()
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} not found: {path}") from exc
    return parse_jsonl(text, str(path))


def parse_jsonl(text: str, where: str) -> list[tuple[int, Any]]:
    """(line number, value) of every non-blank line of `text`; `where` names the file or object."""
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}, line {number}: not JSON ({exc.msg})") from exc
    return rows
