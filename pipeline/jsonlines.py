"""JSON Lines, the one way: a bad line is a ConfigError naming where it is and which line."""

from __future__ import annotations

import json
from typing import Any

from pipeline.errors import ConfigError


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
