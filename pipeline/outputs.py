"""What a `cogniverse-optimize` step leaves on its pod's disk for Argo, besides the store: the
result as one JSON file (`--result-file`) and one file per result field (`--outputs-dir`),
which output parameters read with `valueFrom.path`."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel


def write_outputs_dir(path: str | None, result: BaseModel) -> None:
    """One file per top-level field (scalars as text, `true`/`false` for booleans, the rest as
    compact JSON) plus result.json."""
    if not path:
        return
    target = Path(path)
    target.mkdir(parents=True, exist_ok=True)
    payload = json.loads(result.model_dump_json())
    (target / "result.json").write_text(json.dumps(payload, sort_keys=True) + "\n")
    if not isinstance(payload, dict):
        return
    for field, value in payload.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (int, float, str)):
            text = str(value)
        elif value is None:
            text = ""
        else:
            text = json.dumps(value, sort_keys=True, separators=(",", ":"))
        (target / field.replace("_", "-")).write_text(text)


def write_result_file(path: str | None, result: BaseModel) -> None:
    """Small JSON result at a path given on the command line: Argo lifts it into output parameters."""
    if not path:
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(result.model_dump_json(indent=2) + "\n")
