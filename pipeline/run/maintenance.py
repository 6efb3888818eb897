"""maintenance's contract: retention inputs and what a maintenance run deleted and kept."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from pipeline import contract


class MaintenanceInputs(BaseModel):
    retention_days: float = float(contract.RETENTION_DAYS)
    dry_run: bool = False


class MaintenanceResult(BaseModel):
    status: Literal["ok"]
    dry_run: bool
    retention_days: float
    runs_scanned: int
    runs_deleted: list[str]
    runs_kept_unknown_age: list[str]
    objects_deleted: int
    objects_kept_for_production: int
    temp_files_removed: int
    index_location: str | None = None  # the tenant's history page, rebuilt (None on a dry run)
