"""record: the run record, written by the workflow's exit handler whether the run passed or
failed: its status, which stages committed, what failed, and what was deployed. It also
backfills the run's measured outcomes into the planning history."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from pydantic import BaseModel

from pipeline.errors import AlreadyExistsError, ConfigError
from pipeline.layout import run_record_key
from pipeline.stages.base import StageContext


class RecordInputs(BaseModel):
    status: str
    failures: str = ""  # Argo's {{workflow.failures}}: a JSON list, or empty


class RunRecord(BaseModel):
    tenant: str
    run_id: str
    status: str
    stages_committed: list[str]
    targets: dict[str, list[str]]
    deployed: list[str]
    failures: list[dict]
    recorded_at: str
    record_key: str


def run(ctx: StageContext, inputs: RecordInputs) -> RunRecord:
    from pipeline.stages.report import collect

    key = run_record_key(ctx.tenant, ctx.run_id)
    try:
        failures = json.loads(inputs.failures) if inputs.failures.strip() else []
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--failures is not JSON: {exc.msg}") from exc
    if not isinstance(failures, list):
        raise ConfigError("--failures must be a JSON list")
    from pipeline.stages import plan

    plan.feedback(ctx)  # measured outcomes → the planning meta-models' history
    stages = collect(ctx)
    targets = {target: sorted(results) for target, results in stages.pop("targets").items()}
    deployed = sorted(
        target for target in targets
        if (ctx.output("gate", target).committed() or {}).get("deployed")
    )
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
        ctx.store.put_json_new(key, json.loads(record.model_dump_json()))
    except AlreadyExistsError:
        return RunRecord.model_validate(ctx.store.get_json(key))  # a retried exit handler
    return record
