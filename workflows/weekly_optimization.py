"""CronWorkflow `weekly-optimization`: every module target of the default tenant, Sundays
03:00 UTC, trained only when the run wrote at least 50 LLM annotations."""

from __future__ import annotations

from hera.workflows import CronWorkflow

from workflows import common as c


def build() -> CronWorkflow:
    return c.optimization_cron(
        "weekly-optimization",
        description="every module target, trained when the run wrote at least 50 LLM annotations",
        schedule="0 3 * * 0",
        optimizer_category="routing",
        optimizer_type="all",
        annotation_threshold="50",
    )
