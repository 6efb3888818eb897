"""Workflow `batch-optimization`: one run of `module-optimization`, submitted by hand.

    argo submit workflows/batch-optimization.yaml -p tenant-id=acme [-p optimizer-type=routing ...]

Every parameter is listed with its template default so that `-p` overrides any of them and
`argo submit --help`-style discovery works from this file alone.
"""

from __future__ import annotations

from hera.workflows import Workflow

from workflows import common as c


def build() -> Workflow:
    return Workflow(
        generate_name="batch-optimization-",
        labels=c.LABELS,
        workflow_template_ref=c.m.WorkflowTemplateRef(name=c.TEMPLATE_NAME),
        arguments=c.workflow_parameters(),
    )
