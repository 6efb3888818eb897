"""What a stage reads of its run beyond one stage's result: the experiences, the synthetic
examples, every committed result (the report's and the record's view), and the files of a
trained program's artifact. Typed where a stage decides on them; raw where they are copied
(the report's manifest keeps the results as committed)."""

from __future__ import annotations

from typing import Any

from pipeline import contract, layout
from pipeline.errors import NotFoundError
from pipeline.run import annotate, harvest, synthesize
from pipeline.run.context import StageContext, read_jsonl, read_parquet
from pipeline.storage import ObjectStore


def experiences(ctx: StageContext) -> list[dict[str, Any]]:
    """The run's experiences, with LLM labels if annotate ran (it is optional for a run)."""
    labelled = annotate.annotated(ctx)
    if labelled is not None and labelled.experiences_key:
        return read_parquet(ctx.store, labelled.experiences_key)
    harvested = harvest.harvested(ctx)
    if harvested is None:
        raise NotFoundError(f"run {ctx.run_id}: harvest has not completed; run `harvest` first")
    return read_parquet(ctx.store, harvested.experiences_key) if harvested.experiences_key else []


def executions(ctx: StageContext) -> list[dict[str, Any]]:
    """The run's workflow executions (harvest's `executions.jsonl`, pipeline.orchestration's
    model), oldest first; [] when the window had none. A row that is not the model is a
    corrupted object (exit 2)."""
    from pydantic import ValidationError

    from pipeline.errors import ConfigError
    from pipeline.orchestration import WorkflowExecution

    harvested = harvest.harvested(ctx)
    if harvested is None:
        raise NotFoundError(f"run {ctx.run_id}: harvest has not completed; run `harvest` first")
    if not harvested.executions_key:
        return []
    rows = []
    for number, row in enumerate(read_jsonl(ctx.store, harvested.executions_key), 1):
        try:
            rows.append(WorkflowExecution.model_validate(row).model_dump(mode="json"))
        except ValidationError as exc:
            raise ConfigError(f"{ctx.store.describe(harvested.executions_key)}, line {number}: not a workflow execution "
                              f"({exc.errors()[0]['loc']}: {exc.errors()[0]['msg']})") from exc
    return rows


def synthetic(ctx: StageContext, modality: str | None, generator: str | None = None) -> list[dict[str, Any]]:
    """The run's synthetic examples (of one modality, if given). `generator`: a generator whose
    rows have their own file; None = examples.jsonl, the rows routing and modality train on."""
    done = synthesize.synthesized_files(ctx)
    if done is None:
        raise NotFoundError(f"run {ctx.run_id}: --use-synthetic needs the synthesize stage to have completed")
    if generator is None:
        key = done.examples_key
    else:
        summary = done.generators.get(generator)
        key = summary.examples_key if summary is not None else None
    if not key:
        return []
    rows = read_jsonl(ctx.store, key)
    return [r for r in rows if modality is None or r.get("modality") == modality]


def run_results(ctx: StageContext) -> dict[str, Any]:
    """All committed stage results of the run, as committed: keyed by stage, and the
    per-target stages' under `targets`, by part (target and attempt)."""
    stages: dict[str, Any] = {}
    for stage in contract.BEFORE_TARGETS:
        result = ctx.output(stage).committed()
        if result is not None:
            stages[stage] = result
    targets: dict[str, dict[str, Any]] = {}
    for stage in contract.PER_TARGET:
        prefix = layout.stage_prefix(ctx.tenant, ctx.run_id, stage) + "/"
        for key in ctx.store.list(prefix):
            part, _, name = key[len(prefix):].partition("/")
            if name == layout.RESULT_FILE:
                targets.setdefault(part, {})[stage] = ctx.store.get_json(key)
    stages["targets"] = dict(sorted(targets.items()))
    return stages


def artifact_json(store: ObjectStore, artifact_prefix: str, name: str) -> Any | None:
    """A JSON file of a trained program's artifact, or None when it has none."""
    try:
        return store.get_json(layout.artifact_key(artifact_prefix, name))
    except NotFoundError:
        return None


def artifact_rows(store: ObjectStore, artifact_prefix: str, name: str) -> list[dict[str, Any]] | None:
    """A JSON Lines file of a trained program's artifact, or None when it has none."""
    try:
        return read_jsonl(store, layout.artifact_key(artifact_prefix, name))
    except NotFoundError:
        return None
