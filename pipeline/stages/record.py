"""record: the run record, written by the workflow's exit handler whether the run passed or
failed: its status, which stages committed, what failed, and what was deployed. It also
backfills the run's measured outcomes into the planning history, and then rebuilds the tenant's
history page (pipeline.run.tenant_index) with this run on it."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from pipeline.errors import AlreadyExistsError, ConfigError
from pipeline.layout import run_record_key
from pipeline.run import readers, tenant_index
from pipeline.run.context import StageContext
from pipeline.run.plan import feedback
from pipeline.run.record import RecordInputs, RunRecord

__all__ = ["RecordInputs", "RunRecord", "run"]


def run(ctx: StageContext, inputs: RecordInputs) -> RunRecord:
    key = run_record_key(ctx.tenant, ctx.run_id)
    try:
        failures = json.loads(inputs.failures) if inputs.failures.strip() else []
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--failures is not JSON: {exc.msg}") from exc
    if not isinstance(failures, list):
        raise ConfigError("--failures must be a JSON list")

    feedback(ctx)  # measured outcomes → the planning meta-models' history
    stages = readers.run_results(ctx)
    per_target = stages.pop("targets")
    targets = {target: sorted(results) for target, results in per_target.items()}
    deployed = sorted(target for target, results in per_target.items() if (results.get("gate") or {}).get("deployed"))
    record = RunRecord(
        tenant=ctx.tenant,
        run_id=ctx.run_id,
        status=inputs.status,
        stages_committed=sorted(stages),
        targets=targets,
        deployed=deployed,
        failures=[f if isinstance(f, dict) else {"message": str(f)} for f in failures],
        recorded_at=datetime.now(timezone.utc).isoformat(),
        record_key=key,
    )
    try:
        ctx.store.put_json_new(key, json.loads(record.model_dump_json(exclude={"index_location"})))
    except AlreadyExistsError:
        record = RunRecord.model_validate(ctx.store.get_json(key))  # a retried exit handler
    index = tenant_index.rebuild(ctx.config, ctx.store, ctx.tenant)
    return record.model_copy(update={"index_location": index.location})
