"""WorkflowTemplate `module-optimization`: one optimization run of one tenant, its stages in
the order of pipeline.contract.STAGE_ORDER (tests/argo/test_workflows.py checks the DAGs keep it).

    main:      harvest → annotate → routing | dspy (one runs, by optimizer-category) → report
    optimize:  plan → synthesize? → train-targets (fan-out over the plan's `train` list)
    optimize-target (per target):  train → evaluate → gate
    onExit:    record (the run record, whether the run passed or failed)

Parameters → CLI flags:
- tenant-id → every stage's `--tenant`; the run id (`--run-id`) is `{{workflow.name}}`.
- lookback-hours, min-confidence → `harvest --lookback-hours/--min-confidence`.
- optimizer-category `routing`: optimizer-type (all | a module: routing, modality, cross_modal,
  workflow, unified — pipeline.modules' registry — | comma-separated targets) → `plan
  --targets`; the optimizer is chosen per target by trainset size.
- optimizer-category `dspy`: optimizer-type (BootstrapFewShot | SIMBA | MIPROv2 | GEPA) →
  `train --optimizer`, for `plan --targets all`; `auto` chooses by trainset size.
- use-synthetic-data, force-training → `plan --use-synthetic-data/--force-training`; the plan
  marks per target whether synthetic data is used (→ `train --use-synthetic`, `--strategy`).
  `synthesize` runs when use-synthetic-data is true and something is to be trained.
- max-iterations → `train --max-iterations`; improvement-threshold → `gate --improvement-threshold`.
- annotation-threshold → `plan --annotation-threshold`: the plan compares it with what this
  run's annotate committed (→ `enough-annotations`); training is skipped (the fan-out does not
  run) when that is false, unless force-training; it is also skipped when the plan trains
  nothing (train-count 0). Report and record run regardless.

`when` conditions read only enum-constrained parameters (optimizer-category,
use-synthetic-data, the `optimizer` inputs) and outputs the plan validated (train-count,
enough-annotations): a free-text parameter inside `when` could close its quotes and rewrite the
condition (`x" == "x" || "y`). The optimizer reaches the per-target DAG through the plan's
fan-out items, which the plan validated.

Exit codes the steps act on (pipeline.errors): the "unreachable" ones are retried with backoff
(common.transient_retry); everything else fails the step at once. A gate that lost a promotion
race exits 6 after committing `decision: conflict`: its step fails (red, not retried), the
report still runs and lists the conflict.

Workflow outputs (`argo get NAME -o json | jq .status.outputs.parameters`): `improvements`
(JSON map target → percent, null where nothing was evaluated), `deployed` (true when any
target was promoted), `report-location` (URL of the HTML report in the store).
"""

from __future__ import annotations

from hera.workflows import DAG, Parameter, Task, WorkflowTemplate

from pipeline.contract import previous
from workflows import common as c

AUTO = c.AUTO  # the optimizer input when the optimizer is chosen by trainset size

# Outputs of the plan step, which validated its inputs (typed CLI arguments).
ENOUGH_ANNOTATIONS = '"{{tasks.plan.outputs.parameters.enough-annotations}}" == "true"'
SOMETHING_TO_TRAIN = "{{tasks.plan.outputs.parameters.train-count}} > 0"
FINISHED = "({0}.Succeeded || {0}.Skipped || {0}.Failed)"


def build(image: str = c.DEFAULT_IMAGE) -> WorkflowTemplate:
    with WorkflowTemplate(
        name=c.TEMPLATE_NAME,
        labels=c.LABELS,
        annotations={"workflows.argoproj.io/description": "Improve a tenant's routing modules from its Phoenix traces."},
        entrypoint="main",
        on_exit="record",
        arguments=c.workflow_parameters(),
        artifact_repository_ref=c.ARTIFACT_REPOSITORY,
        **c.pod_spec(c.WORKFLOW_DEADLINE_S),
    ) as template:
        with DAG(name="main"):
            tenant = {"tenant-id": c.TENANT}
            Task(name="harvest", template="harvest", arguments={
                **tenant,
                "lookback-hours": "{{workflow.parameters.lookback-hours}}",
                "min-confidence": "{{workflow.parameters.min-confidence}}",
            })
            Task(name="annotate", template="annotate", arguments=tenant, depends=previous("annotate"))
            # `annotated` is shown on the optimize node; the plan reads the same count from the
            # store to decide enough-annotations (a validated output, unlike a raw comparison).
            annotated = "{{tasks.annotate.outputs.parameters.annotated}}"
            Task(name="routing", template="optimize", depends="annotate",
                 when='"{{workflow.parameters.optimizer-category}}" == "routing"',
                 arguments={**tenant, "targets": "{{workflow.parameters.optimizer-type}}", "optimizer": AUTO,
                            "annotated": annotated})
            Task(name="dspy", template="optimize", depends="annotate",
                 when='"{{workflow.parameters.optimizer-category}}" == "dspy"',
                 arguments={**tenant, "targets": "all", "optimizer": "{{workflow.parameters.optimizer-type}}",
                            "annotated": annotated})
            # The report covers whatever finished, also when one target's training failed.
            Task(name="report", template="report", arguments=tenant,
                 depends=f"{FINISHED.format('routing')} && {FINISHED.format('dspy')}")
        with DAG(
            name="optimize",
            inputs=[Parameter(name="tenant-id"), Parameter(name="targets"), c.enum_input("optimizer", c.OPTIMIZER_CHOICES),
                    Parameter(name="annotated")],
            parallelism=3,  # at most three training pods at a time
        ):
            tenant = {"tenant-id": "{{inputs.parameters.tenant-id}}"}
            Task(name="plan", template="plan", arguments={
                **tenant,
                "targets": "{{inputs.parameters.targets}}",
                "use-synthetic-data": "{{workflow.parameters.use-synthetic-data}}",
                "force-training": "{{workflow.parameters.force-training}}",
                "optimizer": "{{inputs.parameters.optimizer}}",
                "annotation-threshold": "{{workflow.parameters.annotation-threshold}}",
            })
            Task(name="synthesize", template="synthesize", arguments=tenant, depends=previous("synthesize"),
                 when=f'{SOMETHING_TO_TRAIN} && {ENOUGH_ANNOTATIONS} && "{{{{workflow.parameters.use-synthetic-data}}}}" == "true"')
            Task(
                name="train-targets", template="optimize-target", depends="plan && synthesize",
                with_param="{{tasks.plan.outputs.parameters.train}}",
                when=f"{SOMETHING_TO_TRAIN} && {ENOUGH_ANNOTATIONS}",
                arguments={
                    **tenant,
                    "target": "{{item.target}}",
                    "use-synthetic": "{{item.use_synthetic}}",
                    "strategy": "{{item.strategy}}",
                    "optimizer": "{{item.optimizer}}",
                },
            )

        with DAG(
            name="optimize-target",
            inputs=[
                *(Parameter(name=n) for n in ("tenant-id", "target", "use-synthetic", "strategy")),
                c.enum_input("optimizer", c.OPTIMIZER_CHOICES),
            ],
        ):
            per_target = {
                "tenant-id": "{{inputs.parameters.tenant-id}}",
                "target": "{{inputs.parameters.target}}",
            }
            training = {
                **per_target,
                "max-iterations": "{{workflow.parameters.max-iterations}}",
                "use-synthetic": "{{inputs.parameters.use-synthetic}}",
                "strategy": "{{inputs.parameters.strategy}}",
            }
            Task(name="train", template="train", arguments=training,
                 when=f'"{{{{inputs.parameters.optimizer}}}}" == "{AUTO}"')
            Task(name="train-with-optimizer", template="train-with-optimizer",
                 arguments={**training, "optimizer": "{{inputs.parameters.optimizer}}"},
                 when=f'"{{{{inputs.parameters.optimizer}}}}" != "{AUTO}"')
            Task(name="evaluate", template="evaluate", arguments=per_target, depends="train && train-with-optimizer")
            Task(name="gate", template="gate", depends=previous("gate"),
                 arguments={**per_target, "improvement-threshold": "{{workflow.parameters.improvement-threshold}}"})

        c.stage(
            "harvest",
            [*c.run_args("harvest"), "--lookback-hours", "{{inputs.parameters.lookback-hours}}",
             "--min-confidence", "{{inputs.parameters.min-confidence}}"],
            image=image, size=c.MEDIUM, deadline_s=1800,
            inputs=("tenant-id", "lookback-hours", "min-confidence"),
            outputs=(c.output("experiences"), c.output("labelled")),
        )
        c.stage(
            "annotate", c.run_args("annotate"), image=image, size=c.LM, deadline_s=3600,
            outputs=(c.output("annotated", description="LLM annotations written this run (the annotation-threshold gate)"),),
        )
        c.stage(
            "plan",
            [*c.run_args("plan"), "--targets", "{{inputs.parameters.targets}}",
             "--use-synthetic-data", "{{inputs.parameters.use-synthetic-data}}",
             "--force-training", "{{inputs.parameters.force-training}}",
             "--optimizer", "{{inputs.parameters.optimizer}}",
             "--annotation-threshold", "{{inputs.parameters.annotation-threshold}}"],
            image=image, size=c.SMALL, deadline_s=600,
            inputs=("tenant-id", "targets", "use-synthetic-data", "force-training",
                    c.enum_input("optimizer", c.OPTIMIZER_CHOICES), "annotation-threshold"),
            outputs=(
                c.output("train", description="JSON list of {target, use_synthetic, strategy, optimizer}: the fan-out"),
                c.output("train-count"),
                c.output("enough-annotations", description="true when training may run: annotations >= annotation-threshold, or forced"),
            ),
        )
        c.stage(
            "synthesize", c.run_args("synthesize"), image=image, size=c.LM, deadline_s=3600,
            outputs=(c.output("generated"),),
        )
        train_args = [
            *c.run_args("train"), "--target", "{{inputs.parameters.target}}",
            "--max-iterations", "{{inputs.parameters.max-iterations}}",
            "--use-synthetic", "{{inputs.parameters.use-synthetic}}", "--strategy", "{{inputs.parameters.strategy}}",
        ]
        train_inputs = ("tenant-id", "target", "max-iterations", "use-synthetic", "strategy")
        train_outputs = (c.output("status"), c.output("optimizer"))
        c.stage(
            "train", train_args, image=image, size=c.TRAIN, deadline_s=3 * 3600,
            inputs=train_inputs, outputs=train_outputs,
        )
        # The CLI has no "choose by size" value for --optimizer: forcing one is another template.
        c.stage(
            "train-with-optimizer", [*train_args, "--optimizer", "{{inputs.parameters.optimizer}}"],
            image=image, size=c.TRAIN, deadline_s=3 * 3600,
            inputs=(*train_inputs, "optimizer"), outputs=train_outputs,
        )
        c.stage(
            "evaluate", [*c.run_args("evaluate"), "--target", "{{inputs.parameters.target}}"],
            image=image, size=c.LM, deadline_s=3600,
            inputs=("tenant-id", "target"), outputs=(c.output("status"), c.output("improvement-pct")),
        )
        c.stage(
            "gate",
            [*c.run_args("gate"), "--target", "{{inputs.parameters.target}}",
             "--improvement-threshold", "{{inputs.parameters.improvement-threshold}}"],
            image=image, size=c.SMALL, deadline_s=600,
            inputs=("tenant-id", "target", "improvement-threshold"),
            outputs=(c.output("decision"), c.output("deployed"), c.output("improvement-pct")),
        )
        c.stage(
            "report", c.run_args("report"), image=image, size=c.SMALL, deadline_s=600,
            outputs=(
                c.output("improvements", default="{}", global_name="improvements",
                         description="JSON map target → improvement percent (null: not evaluated)"),
                c.output("any-deployed", default="false", global_name="deployed",
                         description="true when any target was promoted to production"),
                c.output("report-location", default="", global_name="report-location",
                         description="URL of the HTML report in the object store"),
            ),
            artifacts=(c.report_artifact("report", "report.html"), c.report_artifact("manifest", "manifest.json")),
        )
        # The exit handler is called without arguments: it reads the tenant from the workflow.
        c.stage(
            "record",
            [*c.run_args("record", tenant=c.TENANT), "--status", "{{workflow.status}}", "--failures", "{{workflow.failures}}"],
            image=image, size=c.SMALL, deadline_s=300, inputs=(),
        )
    return template
