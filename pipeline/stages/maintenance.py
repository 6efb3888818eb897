"""maintenance: retention of a tenant's old runs, and clean-up of what killed writers left.

A run older than the retention is deleted, except the artifacts that any production version,
current or in history, points to: rollback must always find its program. A run's age is its
recorded start (`run/started.json`); a run without one is kept and counted, never guessed at.
Compaction removes what a killed local writer can leave behind (temp files). Then the tenant's
history page is rebuilt, so it no longer lists the deleted runs. Lock files stay:
the local store's locks are OS locks on them, released by the kernel when a writer dies, and
deleting one a waiter holds open would let two writers in.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pipeline.errors import ConfigError, NotFoundError
from pipeline.layout import run_id_of, run_started_key, runs_prefix, tenant_prefix
from pipeline.run import tenant_index
from pipeline.run.context import StageContext
from pipeline.run.maintenance import MaintenanceInputs, MaintenanceResult

STALE_TEMP_S = 3600.0  # a temp file this old belongs to no live write


def run(ctx: StageContext, inputs: MaintenanceInputs) -> MaintenanceResult:
    from pipeline import promotion
    from pipeline.modules import all_targets

    if inputs.retention_days < 1:
        raise ConfigError("--retention-days must be at least 1")
    cutoff = datetime.now(timezone.utc) - timedelta(days=inputs.retention_days)
    by_run: dict[str, list[str]] = {}
    for key in ctx.store.list(runs_prefix(ctx.tenant)):
        by_run.setdefault(run_id_of(ctx.tenant, key), []).append(key)

    protected: set[str] = set()
    for target in all_targets():
        for pointer in promotion.history(ctx.store, ctx.tenant, target):
            protected.add(pointer.artifact_prefix.rstrip("/") + "/")

    deleted_runs, unknown, deleted, kept = [], [], 0, 0
    for run_id, run_keys in sorted(by_run.items()):
        if run_id == ctx.run_id:
            continue
        started = _started_at(ctx, run_id)
        if started is None:
            unknown.append(run_id)
            continue
        if started >= cutoff:
            continue
        doomed = [k for k in run_keys if not any(k.startswith(p) for p in protected)]
        kept += len(run_keys) - len(doomed)
        # the start record goes last: a maintenance run killed midway finds the run again
        start = run_started_key(ctx.tenant, run_id)
        doomed.sort(key=lambda k: k == start)
        if not inputs.dry_run:
            for key in doomed:
                ctx.store.delete(key)
        deleted += len(doomed)
        deleted_runs.append(run_id)

    return MaintenanceResult(
        status="ok",
        dry_run=inputs.dry_run,
        retention_days=inputs.retention_days,
        runs_scanned=len(by_run),
        runs_deleted=deleted_runs,
        runs_kept_unknown_age=unknown,
        objects_deleted=deleted,
        objects_kept_for_production=kept,
        temp_files_removed=0 if inputs.dry_run else _compact_local(ctx),
        index_location=None if inputs.dry_run else tenant_index.rebuild(ctx.config, ctx.store, ctx.tenant).location,
    )


def _started_at(ctx: StageContext, run_id: str) -> datetime | None:
    try:
        return datetime.fromisoformat(ctx.store.get_json(run_started_key(ctx.tenant, run_id))["started_at"])
    except (NotFoundError, ConfigError, KeyError, ValueError):  # ConfigError: a folder no run id names
        return None


def _compact_local(ctx: StageContext) -> int:
    """Temp files older than an hour under the tenant (local store only: S3 writes are atomic
    and leave nothing behind)."""
    root = ctx.store.local_path(tenant_prefix(ctx.tenant))
    if root is None or not root.is_dir():
        return 0
    removed = 0
    now = time.time()
    for path in root.rglob("*"):
        if path.is_file() and path.name.startswith(".tmp-"):
            if now - path.stat().st_mtime > STALE_TEMP_S:
                path.unlink(missing_ok=True)
                removed += 1
    return removed
