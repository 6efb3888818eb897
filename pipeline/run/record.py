"""record's contract: the run record the exit handler writes, whether the run passed or failed."""

from __future__ import annotations

from pydantic import BaseModel


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
    # the tenant's history page, rebuilt after the record is written (not part of record.json)
    index_location: str | None = None
