"""CronWorkflow `daily-optimization-check`: the routing module only, daily 04:00 UTC, trained
only when the run wrote at least 20 LLM annotations."""

from __future__ import annotations

from hera.workflows import CronWorkflow

from workflows import common as c


def build() -> CronWorkflow:
    return c.optimization_cron(
        "daily-optimization-check",
        description="the routing module, trained when the run wrote at least 20 LLM annotations",
        schedule="0 4 * * *",
        optimizer_category="routing",
        optimizer_type="routing",
        annotation_threshold="20",
    )
