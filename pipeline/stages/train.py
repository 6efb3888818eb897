"""train: one module target → a compiled DSPy program (JSON state) + metadata + its held-out set.

The optimizer is chosen by trainset size (config tiers) unless forced. The held-out examples
are written next to the candidate so that evaluate grades candidate and production on exactly
the same data.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel

from pipeline.datasets import data_hash, labelled_data_hash, labelled_for_target, split_for_training
from pipeline.errors import ConfigError, NotFoundError
from pipeline.modules import load_module, parse_target
from pipeline.stages import annotate, harvest, synthesize
from pipeline.stages.base import StageContext, read_jsonl, read_parquet

STAGE = "train"
PROGRAM_FILE = "program.json"
METADATA_FILE = "metadata.json"
HELDOUT_FILE = "heldout.jsonl"
TRAINSET_FILE = "trainset.jsonl"

log = logging.getLogger(__name__)


class TrainInputs(BaseModel):
    target: str
    optimizer: str | None = None  # force one of pipeline.optimizers.OPTIMIZERS
    max_iterations: int = 100
    use_synthetic: bool = False
    strategy: str | None = None  # from plan; HYBRID caps synthetic examples at 1:1 with real ones


class TrainResult(BaseModel):
    status: Literal["ok", "skipped"]
    reason: str | None = None
    target: str
    optimizer: str | None = None
    trainset_size: int = 0
    real_train: int = 0
    synthetic_train: int = 0
    heldout_size: int = 0
    artifact_prefix: str | None = None
    heldout_key: str | None = None
    compile_seconds: float | None = None
    lm: str | None = None


def load_experiences(ctx: StageContext) -> list[dict[str, Any]]:
    """The run's experiences, with LLM labels if annotate ran (it is optional for a run)."""
    for stage in (annotate.STAGE, harvest.STAGE):
        done = ctx.output(stage).committed()
        if done is not None and done.get("experiences_key"):
            return read_parquet(ctx.store, done["experiences_key"])
        if done is not None and stage == harvest.STAGE:
            return []
    raise NotFoundError(f"run {ctx.run_id}: harvest has not completed; run `harvest` first")


def load_synthetic(ctx: StageContext, modality: str | None) -> list[dict[str, Any]]:
    done = ctx.output(synthesize.STAGE).committed()
    if done is None:
        raise NotFoundError(f"run {ctx.run_id}: --use-synthetic needs the synthesize stage to have completed")
    if not done.get("examples_key"):
        return []
    rows = read_jsonl(ctx.store, done["examples_key"])
    return [r for r in rows if modality is None or r.get("modality") == modality]


def run(ctx: StageContext, inputs: TrainInputs) -> TrainResult:
    module_name, modality = parse_target(inputs.target)
    out = ctx.output(STAGE, inputs.target)
    if (done := out.committed()) is not None:
        return TrainResult.model_validate(done)
    if inputs.max_iterations < 1:
        raise ConfigError("--max-iterations must be at least 1")

    tcfg = ctx.config.training
    experiences = load_experiences(ctx)
    real_train, heldout = split_for_training(experiences, modality, tcfg.heldout_fraction, tcfg.seed)
    synthetic = load_synthetic(ctx, modality) if inputs.use_synthetic else []
    if inputs.strategy == "HYBRID":
        synthetic = synthetic[: len(real_train)]
    train_rows = real_train + synthetic
    if len(train_rows) < tcfg.min_train_examples or not heldout:
        result = TrainResult(
            status="skipped",
            reason=(
                f"insufficient data: {len(train_rows)} training examples (minimum {tcfg.min_train_examples}) "
                f"and {len(heldout)} held-out examples for {inputs.target}"
            ),
            target=inputs.target,
            trainset_size=len(train_rows),
            real_train=len(real_train),
            synthetic_train=len(synthetic),
            heldout_size=len(heldout),
        )
        out.commit(result)
        return result

    from pipeline import optimizers
    from pipeline.lm import build_lm, lm_context

    spec = load_module(module_name)
    optimizer = optimizers.choose_optimizer(len(train_rows), tcfg.tiers, inputs.optimizer)
    trainset = [spec.build_example(r) for r in train_rows]
    # The optimizer's own validation data comes from training data, never the held-out set.
    valset: list = []
    if optimizer in ("MIPROv2", "GEPA"):
        cut = max(2, len(trainset) // 5)
        trainset, valset = trainset[:-cut], trainset[-cut:]
    lm_spec = ctx.config.llm.for_module(module_name)
    teacher_spec = ctx.config.llm.teacher
    with lm_context(lm_spec):
        outcome = optimizers.compile_program(
            optimizer,
            spec.program_factory(),
            trainset,
            valset,
            spec.metric,
            max_iterations=inputs.max_iterations,
            seed=tcfg.seed,
            max_bootstrapped_demos=tcfg.max_bootstrapped_demos,
            max_labeled_demos=tcfg.max_labeled_demos,
            teacher_lm=build_lm(teacher_spec) if teacher_spec else None,
        )

    from pipeline.provenance import git_revision, package_versions

    out.put_json(PROGRAM_FILE, outcome.program.dump_state())
    heldout_key = out.put_jsonl(HELDOUT_FILE, heldout)
    out.put_jsonl(TRAINSET_FILE, train_rows)
    out.put_json(
        METADATA_FILE,
        {
            "tenant": ctx.tenant,
            "run_id": ctx.run_id,
            "module": module_name,
            "modality": modality,
            "target": inputs.target,
            "optimizer": outcome.optimizer,
            "optimizer_settings": outcome.settings,
            "compile_seconds": round(outcome.seconds, 3),
            "sizes": {"train": len(train_rows), "real_train": len(real_train), "synthetic_train": len(synthetic), "heldout": len(heldout)},
            "strategy": inputs.strategy,
            "data_hashes": {
                "train": data_hash(train_rows),
                "heldout": data_hash(heldout),
                "real_labelled": labelled_data_hash(labelled_for_target(experiences, modality)),
            },
            "lm": lm_spec.model,
            "teacher_lm": ctx.config.llm.for_teacher().model,
            "git_revision": git_revision(),
            "versions": package_versions("dspy", "cogniverse-optimization"),
            "created_at": datetime.now(timezone.utc).isoformat(),
        },
    )
    result = TrainResult(
        status="ok",
        target=inputs.target,
        optimizer=outcome.optimizer,
        trainset_size=len(train_rows),
        real_train=len(real_train),
        synthetic_train=len(synthetic),
        heldout_size=len(heldout),
        artifact_prefix=out.prefix,
        heldout_key=heldout_key,
        compile_seconds=round(outcome.seconds, 3),
        lm=lm_spec.model,
    )
    out.commit(result)
    return result


def load_program(store: Any, module_name: str, artifact_prefix: str) -> Any:
    """A fresh program of the module with the saved JSON state loaded into it."""
    spec = load_module(module_name)
    program = spec.program_factory()
    key = f"{artifact_prefix}/{PROGRAM_FILE}"
    try:
        program.load_state(json.loads(store.get(key)))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        # A corrupted artifact is bad input (exit 2), like a malformed production record.
        what = f"missing key {exc.args[0]!r}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        raise ConfigError(f"{store.describe(key)} is not a valid {module_name} program state ({what})") from exc
    return program
