"""WorkflowTemplate `module-rollback`: restore a tenant's previous production version of one
module target (or a given one), then list the versions.

    argo submit --from workflowtemplate/module-rollback -p tenant-id=acme -p target=routing [-p to=3]
    cogniverse-optimize submit --from workflowtemplate/module-rollback -p tenant-id=acme -p target=routing

    rollback:  cogniverse-optimize rollback --tenant T --target X [--to N]   (N = "" → the previous one)
    history:   cogniverse-optimize history --tenant T --target X             (the versions after it)

It takes the tenant's mutex, like every optimization and maintenance run: a rollback never
races a gate's promotion of the same tenant. The rollback step is never retried: a retry after
a landed swap whose response was lost would roll back a second version. Exit 7 = nothing to
roll back to (no earlier production version).
"""

from __future__ import annotations

from hera.workflows import Parameter, Step, Steps, WorkflowTemplate

from pipeline.modules import all_targets
from workflows import common as c

NAME = "module-rollback"
DEADLINE_S = 900


def build(image: str = c.DEFAULT_IMAGE) -> WorkflowTemplate:
    target = "{{workflow.parameters.target}}"
    with WorkflowTemplate(
        name=NAME,
        labels=c.LABELS,
        annotations={"workflows.argoproj.io/description":
                     "Restore a tenant's previous (or a given) production version of one module target."},
        entrypoint="main",
        arguments=[
            Parameter(name="tenant-id", description="tenant id (DNS label); required"),
            Parameter(name="target", enum=list(all_targets()), description="the module target to roll back"),
            Parameter(name="to", value="", description="the version (sequence from `history`) to restore; empty = the previous one"),
        ],
        **c.pod_spec(DEADLINE_S),
    ) as template:
        with Steps(name="main"):
            Step(name="rollback", template="rollback")
            Step(name="history", template="history")
        c.stage(
            "rollback",
            ["rollback", "--tenant", c.TENANT, "--target", target, "--to", "{{workflow.parameters.to}}"],
            image=image, size=c.SMALL, deadline_s=DEADLINE_S - 300, inputs=(), retry=False,
        )
        c.stage(
            "history",
            ["history", "--tenant", c.TENANT, "--target", target],
            image=image, size=c.SMALL, deadline_s=DEADLINE_S - 300, inputs=(),
        )
    return template
