"""harvest's contract: its inputs, its result, the experiences file's schema, and the reader."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from pipeline import contract
from pipeline.run.context import Outcome, StageContext

STAGE = "harvest"
ANNOTATION_NAME = "routing_annotation"  # the Phoenix annotation naming the correct agent (annotate writes it)


class HarvestInputs(BaseModel):
    lookback_hours: float = contract.LOOKBACK_HOURS
    min_confidence: float = contract.MIN_CONFIDENCE
    end_time: datetime | None = None  # default: the run's start, fixed per run id


class HarvestResult(Outcome):
    project: str
    window_start: datetime
    window_end: datetime
    spans_read: int
    duplicates: int
    malformed: dict[str, int]
    experiences: int
    labelled: int
    labels_by_source: dict[str, int]
    experiences_key: str | None
    # The orchestrator's `cogniverse.orchestration` spans, read the same way (paged,
    # deduplicated by span id, contract breaks counted per reason) into workflow executions.
    orchestration_spans_read: int = 0
    orchestration_duplicates: int = 0
    orchestration_malformed: dict[str, int] = {}
    executions: int = 0
    executions_key: str | None = None


def harvested(ctx: StageContext) -> HarvestResult | None:
    return ctx.output(STAGE).read(HarvestResult)


def experience_schema() -> Any:
    """The Parquet schema of the experiences harvest writes (and annotate rewrites, labelled)."""
    import pyarrow as pa

    return pa.schema(
        [
            ("span_id", pa.string()),
            ("trace_id", pa.string()),
            ("timestamp", pa.string()),
            ("query", pa.string()),
            ("chosen_agent", pa.string()),
            ("confidence", pa.float64()),
            ("modality", pa.string()),
            ("processing_time", pa.float64()),
            ("context", pa.string()),
            ("search_quality", pa.float64()),
            ("agent_success", pa.float64()),
            ("user_satisfaction", pa.float64()),
            ("reward", pa.float64()),
            ("label", pa.string()),
            ("label_source", pa.string()),
            ("label_score", pa.float64()),
        ]
    )
