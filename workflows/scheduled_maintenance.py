"""CronWorkflow `scheduled-maintenance`: retention and compaction of one tenant's store.

Saturdays 02:00 UTC with a one-hour deadline: it ends before the daily check (04:00) and long
after the weekly run (Sunday 03:00, six-hour deadline) has finished. It takes the tenant's
mutex too, so even a late or manual run never overlaps an optimization run of the tenant.

    cogniverse-optimize maintenance --tenant T --run-id R --outputs-dir D --retention-days N
"""

from __future__ import annotations

from hera.workflows import CronWorkflow, Parameter

from pipeline import contract
from workflows import common as c

RETENTION_DAYS = contract.parameter_text(contract.RETENTION_DAYS)
DEADLINE_S = 3600


def build(image: str = c.DEFAULT_IMAGE) -> CronWorkflow:
    with c.cron(
        "scheduled-maintenance",
        "0 2 * * 6",
        "delete runs and artifacts older than the retention, compact the tenant's store",
        entrypoint="maintenance",
        arguments=[
            Parameter(name="tenant-id", value="default", description="tenant id (DNS label)"),
            Parameter(name="retention-days", value=RETENTION_DAYS,
                      description="keep runs younger than this; runs behind a production version are kept"),
        ],
        **c.pod_spec(DEADLINE_S),
    ) as cron:
        c.stage(
            "maintenance",
            [*c.run_args("maintenance", tenant=c.TENANT), "--retention-days", "{{workflow.parameters.retention-days}}"],
            image=image, size=c.SMALL, deadline_s=DEADLINE_S - 300, inputs=(),
        )
    return cron
