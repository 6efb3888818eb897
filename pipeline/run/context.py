"""What every stage shares: its context (config, store, tenant, run) and its output folder.

A stage writes its files under `tenants/{tenant}/runs/{run_id}/{stage}[/{part}]/` and commits
by writing `result.json` create-only, last. Until then a killed attempt's files may be
overwritten by a re-run; after it, the folder is immutable and a re-run returns the
committed result instead of doing the work twice (pipeline.run.commit).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from pipeline import layout
from pipeline.config import PipelineConfig
from pipeline.errors import AlreadyExistsError, ConfigError, ConflictError, NotFoundError
from pipeline.jsonlines import parse_jsonl
from pipeline.storage import ObjectStore
from pipeline.tenant import validate_tenant_id

R = TypeVar("R", bound=BaseModel)
# What a browser is served for a stage's file from an S3 web endpoint (by extension).
CONTENT_TYPES = {"html": "text/html; charset=utf-8", "json": "application/json"}


class Outcome(BaseModel):
    """How a stage that may find nothing to do ended: `skipped` says why in `reason`
    ("insufficient data: ..."), and is exit 0 like `ok`."""

    status: Literal["ok", "skipped"]
    reason: str | None = None


@dataclass(frozen=True)
class StageContext:
    config: PipelineConfig
    store: ObjectStore
    tenant: str
    run_id: str

    def __post_init__(self) -> None:
        validate_tenant_id(self.tenant)
        layout.check_name("run id", self.run_id)

    def output(self, stage: str, part: str | None = None) -> "StageOutput":
        return StageOutput(self, stage, part)

    @property
    def run_prefix(self) -> str:
        return layout.run_prefix(self.tenant, self.run_id)

    def run_started_at(self) -> datetime:
        """The run's fixed clock: written once by the first stage, so a re-run of the same run
        id reads the same lookback window instead of a shifted one."""
        key = layout.run_started_key(self.tenant, self.run_id)
        try:
            return datetime.fromisoformat(self.store.get_json(key)["started_at"])
        except NotFoundError:
            now = datetime.now(timezone.utc)
            try:
                self.store.put_json_new(key, {"started_at": now.isoformat(), "tenant": self.tenant, "run_id": self.run_id})
            except AlreadyExistsError:
                return datetime.fromisoformat(self.store.get_json(key)["started_at"])
            return now


class StageOutput:
    def __init__(self, ctx: StageContext, stage: str, part: str | None) -> None:
        self.ctx = ctx
        self.prefix = layout.stage_prefix(ctx.tenant, ctx.run_id, stage, part)

    def key(self, name: str) -> str:
        return layout.key(self.prefix, name)

    def committed(self) -> dict[str, Any] | None:
        try:
            return self.ctx.store.get_json(self.key(layout.RESULT_FILE))
        except NotFoundError:
            return None

    def read(self, model: type[R]) -> R | None:
        """The committed result as `model`, or None; a stored result of another shape is a
        corrupted object (exit 2), named."""
        done = self.committed()
        if done is None:
            return None
        try:
            return model.model_validate(done)
        except ValidationError as exc:
            where = self.ctx.store.describe(self.key(layout.RESULT_FILE))
            raise ConfigError(f"{where} is not a valid {model.__name__}: {exc}") from exc

    def put_bytes(self, name: str, data: bytes) -> str:
        if self.committed() is not None:
            raise ConflictError(f"{self.key(name)}: stage output already committed (immutable)")
        key = self.key(name)
        self.ctx.store.put_overwrite(key, data, content_type=CONTENT_TYPES.get(name.rpartition(".")[2]))
        return key

    def put_json(self, name: str, value: Any) -> str:
        return self.put_bytes(name, (json.dumps(value, indent=2, sort_keys=True, default=str) + "\n").encode())

    def put_jsonl(self, name: str, rows: list[dict[str, Any]]) -> str:
        return self.put_bytes(name, "".join(json.dumps(r, sort_keys=True, default=str) + "\n" for r in rows).encode())

    def put_parquet(self, name: str, rows: list[dict[str, Any]], schema: Any = None) -> str:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(rows, schema=schema)
        sink = io.BytesIO()
        pq.write_table(table, sink)
        return self.put_bytes(name, sink.getvalue())

    def commit(self, result: BaseModel) -> None:
        payload = json.loads(result.model_dump_json())
        try:
            self.ctx.store.put_json_new(self.key(layout.RESULT_FILE), payload)
        except AlreadyExistsError:
            pass  # a concurrent attempt committed first; its result stands


def read_parquet(store: ObjectStore, key: str) -> list[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(io.BytesIO(store.get(key))).to_pylist()
    except pa.ArrowException as exc:  # a corrupted stored object: exit 2, naming it
        raise ConfigError(f"{store.describe(key)} is not a readable Parquet file: {exc}") from exc


def read_jsonl(store: ObjectStore, key: str) -> list[dict[str, Any]]:
    """Rows of a stored JSON Lines object; a corrupted one is a ConfigError naming key and line."""
    try:
        text = store.get(key).decode()
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{store.describe(key)} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    return [row for _, row in parse_jsonl(text, store.describe(key))]
