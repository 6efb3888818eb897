"""Production pointers: which immutable artifact serves a (tenant, target), with an append-only history.

Layout (pipeline.layout): `production.json` is the one mutable object, swapped by
compare-and-swap; `history/{seq:06d}.json` are create-only copies of every record production
has held.

Order of writes, and why. Production is the source of truth and is swapped FIRST; the history
record of the new sequence is written AFTER the swap, byte for byte the same as production:
- A loser of a concurrent promotion fails at the CAS, before writing anything, so it can never
  leave an orphaned history record for a sequence production never held.
- A crash after the CAS but before the history write leaves production pointing at an artifact
  checked to exist; only the newest history record is missing. Every promote/rollback first
  writes the record of the production it is about to replace (create-only, idempotent), and
  `history()` merges the production record in, so the gap is harmless and heals itself.
- Hence the invariant: every sequence below production's is recorded in history.
- A retried CAS whose first attempt landed (response lost) fails against our own write:
  `_swap` re-reads production and reports success when it holds our (unique) record.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.errors import AlreadyExistsError, ConfigError, ConflictError, NotFoundError, PipelineError
from pipeline.layout import (
    HISTORY_NAME,
    PROGRAM_FILE,
    artifact_key,
    check_name,
    check_target,
    history_key,
    production_history_prefix,
    production_key,
    tenant_prefix,
)
from pipeline.storage import ObjectStore
from pipeline.tenant import validate_tenant_id

log = logging.getLogger(__name__)

MAX_PREVIOUS = 50


class ProductionPointer(BaseModel):
    """One production record. `previous` is the lineage a rollback restores, newest first:
    summaries of the records this one replaced (a rollback restores the restored record's
    lineage, so rolling back twice goes back two versions)."""

    model_config = ConfigDict(extra="forbid")

    tenant: str
    target: str
    sequence: int = Field(ge=1)
    artifact_prefix: str  # holds program.json + metadata.json: an immutable run artifact
    run_id: str
    metrics: dict[str, Any] = Field(default_factory=dict)
    promoted_at: str  # UTC, ISO 8601
    reason: str = ""
    action: Literal["promote", "rollback"] = "promote"
    restored_sequence: int | None = None  # for a rollback: the history record it restored
    previous: list[dict[str, Any]] = Field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "artifact_prefix": self.artifact_prefix,
            "run_id": self.run_id,
            "promoted_at": self.promoted_at,
            "action": self.action,
        }

    def to_bytes(self) -> bytes:
        return (self.model_dump_json(indent=2) + "\n").encode()


Expected = ProductionPointer | None | Literal["read"]


def current(store: ObjectStore, tenant: str, target: str) -> ProductionPointer | None:
    """The production pointer, or None when nothing was ever promoted."""
    return _read_production(store, tenant, target).record


def history(store: ObjectStore, tenant: str, target: str) -> list[ProductionPointer]:
    """Every record production has held, oldest first (including one whose history write was
    interrupted: it is taken from production itself)."""
    validate_tenant_id(tenant)
    records = {p.sequence: p for p in _read_history(store, tenant, target)}
    now = current(store, tenant, target)
    if now is not None:
        records.setdefault(now.sequence, now)
    return [records[s] for s in sorted(records)]


def promote(
    store: ObjectStore,
    tenant: str,
    target: str,
    *,
    artifact_prefix: str,
    run_id: str,
    metrics: dict[str, Any],
    reason: str,
    expected: Expected,
) -> ProductionPointer:
    """Point production at `artifact_prefix`. `expected` is the pointer the caller decided
    against (None = nothing in production yet; "read" = whatever is there now; required so a
    gate cannot forget to say what it compared with). Raises
    ConflictError if production is not `expected` or changed during the swap, NotFoundError
    if the artifact has no program.json."""
    validate_tenant_id(tenant)
    check_target("module target", target)
    check_name("run id", run_id)
    prefix = _check_artifact_prefix(tenant, artifact_prefix)
    if not store.exists(artifact_key(prefix, PROGRAM_FILE)):
        raise NotFoundError(f"artifact {store.describe(prefix)} has no {PROGRAM_FILE}: refusing to promote it")
    now = _read_production(store, tenant, target)
    _check_expected(tenant, target, expected, now.record)
    record = ProductionPointer(
        tenant=tenant,
        target=target,
        sequence=_next_sequence(store, tenant, target, now.record),
        artifact_prefix=prefix,
        run_id=run_id,
        metrics=metrics,
        promoted_at=_utc_now(),
        reason=reason,
        previous=_lineage_after(now.record),
    )
    return _swap(store, now, record)


def rollback(store: ObjectStore, tenant: str, target: str, *, to_sequence: int | None = None) -> ProductionPointer:
    """Restore the record production replaced last (or history record `to_sequence`) as a NEW
    sequence. Raises NotFoundError when there is nothing to roll back to."""
    validate_tenant_id(tenant)
    check_target("module target", target)
    now = _read_production(store, tenant, target)
    if now.record is None:
        raise NotFoundError(f"nothing in production for {tenant}/{target}: nothing to roll back")
    serving = now.record
    if to_sequence is None:
        if not serving.previous:
            raise NotFoundError(f"production {tenant}/{target} has no previous version to roll back to")
        to_sequence = int(serving.previous[0]["sequence"])
    elif to_sequence == serving.sequence:
        raise ConfigError(f"sequence {to_sequence} is what {tenant}/{target} serves now: nothing to roll back")
    target_record = _read_history_record(store, tenant, target, to_sequence)
    if not store.exists(artifact_key(target_record.artifact_prefix, PROGRAM_FILE)):
        raise NotFoundError(
            f"artifact {store.describe(target_record.artifact_prefix)} of sequence {to_sequence} is gone: cannot restore it"
        )
    record = ProductionPointer(
        tenant=tenant,
        target=target,
        sequence=serving.sequence + 1,
        artifact_prefix=target_record.artifact_prefix,
        run_id=target_record.run_id,
        metrics=target_record.metrics,
        promoted_at=_utc_now(),
        reason=f"rollback from sequence {serving.sequence} to sequence {to_sequence}",
        action="rollback",
        restored_sequence=to_sequence,
        previous=target_record.previous,
    )
    return _swap(store, now, record)


# ---------------------------------------------------------------- internals
@dataclass(frozen=True)
class _Production:
    """Production as read: the record (None when absent), its CAS version and its exact bytes."""

    record: ProductionPointer | None
    version: str | None
    data: bytes


def _read_production(store: ObjectStore, tenant: str, target: str) -> _Production:
    key = production_key(tenant, target)
    try:
        got = store.get_versioned(key)
    except NotFoundError:
        return _Production(None, None, b"")
    return _Production(_parse(store, key, got.data), got.version, got.data)


def _swap(store: ObjectStore, now: _Production, record: ProductionPointer) -> ProductionPointer:
    """CAS production from `now` to `record`, then append `record` to history."""
    if now.record is not None:
        # The record being replaced must be in history before production moves past it.
        _record_history(store, now.record, now.data)
    key = production_key(record.tenant, record.target)
    data = record.to_bytes()
    try:
        store.put_if(key, data, expected_version=now.version)
    except ConflictError as exc:  # AlreadyExistsError too: a concurrent first promotion won
        if not _holds(store, key, data):
            raise ConflictError(
                f"production {record.tenant}/{record.target} changed concurrently: "
                f"sequence {record.sequence} ({record.artifact_prefix}) lost the race"
            ) from exc
        # Our write landed but its response was lost and the client's retry then failed the
        # condition against our own write. The record is unique (promoted_at), so it is ours.
    try:
        _record_history(store, record, data)
    except PipelineError as exc:
        # The swap is committed and the caller must learn it won; the next promote/rollback
        # writes this record, and history() already shows it (see module docstring).
        log.warning(
            "production %s/%s is now sequence %d but its history record was not written: %s",
            record.tenant, record.target, record.sequence, exc,
        )
    return record


def _holds(store: ObjectStore, key: str, data: bytes) -> bool:
    try:
        return store.get(key) == data
    except NotFoundError:
        return False


def _record_history(store: ObjectStore, record: ProductionPointer, data: bytes) -> None:
    """Create-only and idempotent: a sequence's record can only come from the one production
    record that held that sequence, so an existing file already holds these bytes."""
    key = history_key(record.tenant, record.target, record.sequence)
    if store.exists(key):  # the usual case; skips a contended conditional write
        return
    try:
        store.put_new(key, data)
    except AlreadyExistsError:
        pass


def _check_expected(tenant: str, target: str, expected: Expected, now: ProductionPointer | None) -> None:
    if isinstance(expected, str):
        if expected != "read":
            raise ConfigError(f"expected must be a ProductionPointer, None or 'read', not {expected!r}")
        return
    if expected is None:
        if now is not None:
            raise ConflictError(
                f"production {tenant}/{target} expected empty but serves sequence {now.sequence} ({now.artifact_prefix})"
            )
        return
    if now is None or _identity(now) != _identity(expected):
        shown = "nothing" if now is None else f"sequence {now.sequence} ({now.artifact_prefix})"
        raise ConflictError(
            f"production {tenant}/{target} expected at sequence {expected.sequence} "
            f"({expected.artifact_prefix}) but serves {shown}"
        )


def _identity(p: ProductionPointer) -> tuple[Any, ...]:
    return (p.tenant, p.target, p.sequence, p.artifact_prefix, p.run_id, p.promoted_at)


def _next_sequence(store: ObjectStore, tenant: str, target: str, now: ProductionPointer | None) -> int:
    if now is not None:
        return now.sequence + 1
    # No production (first promotion, or production.json removed by hand): never reuse a
    # sequence that history already holds.
    return max((p.sequence for p in _read_history(store, tenant, target)), default=0) + 1


def _lineage_after(now: ProductionPointer | None) -> list[dict[str, Any]]:
    if now is None:
        return []
    return [now.summary(), *now.previous][:MAX_PREVIOUS]


def _read_history(store: ObjectStore, tenant: str, target: str) -> list[ProductionPointer]:
    records = []
    for key in store.list(production_history_prefix(tenant, target)):
        name = key.rsplit("/", 1)[-1]
        if HISTORY_NAME.fullmatch(name):
            records.append(_parse(store, key, store.get(key)))
    return sorted(records, key=lambda p: p.sequence)


def _read_history_record(store: ObjectStore, tenant: str, target: str, sequence: int) -> ProductionPointer:
    if sequence < 1:
        raise ConfigError(f"history sequence must be >= 1, not {sequence}")
    key = history_key(tenant, target, sequence)
    try:
        data = store.get(key)
    except NotFoundError as exc:
        raise NotFoundError(f"{tenant}/{target} has no history record {sequence} ({store.describe(key)})") from exc
    return _parse(store, key, data)


def _check_artifact_prefix(tenant: str, artifact_prefix: str) -> str:
    """A tenant's production may only point into that tenant's own tree."""
    prefix = artifact_prefix.strip("/")
    parts = prefix.split("/")
    own = tenant_prefix(tenant).split("/")
    if any(p in ("", ".", "..") for p in parts) or "\\" in prefix or parts[:len(own)] != own or len(parts) <= len(own):
        raise ConfigError(f"artifact prefix {artifact_prefix!r} must be a key prefix under {tenant_prefix(tenant)}/")
    return prefix


def _parse(store: ObjectStore, key: str, data: bytes) -> ProductionPointer:
    try:
        return ProductionPointer.model_validate_json(data)
    except ValidationError as exc:
        raise ConfigError(f"{store.describe(key)} is not a valid production record: {exc}") from exc


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat()
