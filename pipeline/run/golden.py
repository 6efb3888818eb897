"""Where a golden (agent) module's dataset is read from: the tenant's object in the store
(`tenants/{t}/golden/{module}.jsonl`, layout.golden_key) or a file given with `--golden-dataset`.
Parsing only: the module's schema check (pipeline.modules.golden.validate_rows) needs its
Signature, so train and evaluate run it; plan only counts lines and hashes them."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError, NotFoundError
from pipeline.jsonlines import parse_jsonl, read_jsonl_file
from pipeline.layout import golden_key
from pipeline.run.context import StageContext


def golden_lines(ctx: StageContext, module: str, path: str | None = None) -> tuple[list[tuple[int, Any]], str] | None:
    """((line number, value) of every line, where it was read), or None when the tenant has
    no golden dataset for the module (and no file was given)."""
    if path:
        return read_jsonl_file(Path(path), "golden dataset"), str(path)
    key = golden_key(ctx.tenant, module)
    try:
        data = ctx.store.get(key)
    except NotFoundError:
        return None
    where = ctx.store.describe(key)
    try:
        return parse_jsonl(data.decode(), where), where
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def golden_digest(lines: list[tuple[int, Any]]) -> str:
    """The dataset's content hash (what plan compares with what production was trained on)."""
    import json

    digest = hashlib.sha256()
    for _, row in lines:
        digest.update(json.dumps(row, sort_keys=True, default=str).encode() + b"\n")
    return digest.hexdigest()[:16]
