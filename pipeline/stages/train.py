"""train: one module target → a compiled DSPy program (JSON state) + metadata + its held-out set.

The default strategy is `adaptive` (pipeline.adaptive: a fast text classifier, retrieved demos
and a head over the LM's label probabilities, within an LM-call budget); `--optimizer` forces a
DSPy optimizer, and `training.strategy: tiers` picks one by trainset size. The held-out examples
are written next to the candidate so that evaluate grades candidate and production on exactly
the same data.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel

from pipeline import contract
from pipeline.datasets import data_hash, labelled_data_hash, labelled_for_target, split_for_training
from pipeline.errors import ConfigError, NotFoundError
from pipeline.layout import check_name
from pipeline.modules import load_module, parse_target
from pipeline.optimizers import ADAPTIVE
from pipeline.stages import annotate, harvest, synthesize
from pipeline.stages.base import StageContext, read_jsonl, read_parquet

STAGE = "train"
PROGRAM_FILE = "program.json"
METADATA_FILE = "metadata.json"
HELDOUT_FILE = "heldout.jsonl"
TRAINSET_FILE = "trainset.jsonl"
DEFAULT_ATTEMPT = contract.DEFAULT_ATTEMPT


log = logging.getLogger(__name__)


class TrainInputs(BaseModel):
    target: str
    # `adaptive` (the default strategy: pipeline.adaptive) or a DSPy optimizer of
    # pipeline.optimizers.OPTIMIZERS; None = `training.strategy`, whose `tiers` picks a DSPy
    # optimizer by trainset size.
    optimizer: str | None = None
    max_iterations: int = contract.MAX_ITERATIONS
    use_synthetic: bool = False
    strategy: str | None = None  # from plan; HYBRID caps synthetic examples at 1:1 with real ones
    attempt: str = DEFAULT_ATTEMPT  # another attempt id retrains the run's data with other inputs


class TrainResult(BaseModel):
    status: Literal["ok", "skipped"]
    reason: str | None = None
    target: str
    attempt: str = DEFAULT_ATTEMPT
    optimizer: str | None = None
    trainset_size: int = 0
    real_train: int = 0
    synthetic_train: int = 0
    heldout_size: int = 0
    artifact_prefix: str | None = None
    heldout_key: str | None = None
    compile_seconds: float | None = None
    compile_lm_calls: int | None = None
    compile_tokens: int | None = None
    dev_accuracy: float | None = None  # the chosen program's score on the dev split (adaptive)
    lm: str | None = None
    inputs: dict[str, Any] | None = None  # what produced this result: a re-run with others is refused


def part_name(target: str, attempt: str = DEFAULT_ATTEMPT) -> str:
    """The store folder of one attempt at one target: `routing`, `routing.2`."""
    return target if attempt == DEFAULT_ATTEMPT else f"{target}.{check_name('attempt id', attempt)}"


def committed_train(ctx: StageContext, target: str, attempt: str = DEFAULT_ATTEMPT) -> TrainResult | None:
    done = ctx.output(STAGE, part_name(target, attempt)).committed()
    return None if done is None else TrainResult.model_validate(done)


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


def resolve_strategy(ctx: StageContext, inputs: TrainInputs) -> str | None:
    """`adaptive`, a DSPy optimizer name (canonical spelling), or None (choose by size)."""
    from pipeline.optimizers import OPTIMIZERS

    wanted = inputs.optimizer if inputs.optimizer not in (None, "", "auto") else ctx.config.training.strategy
    if wanted == "tiers":
        return None
    if wanted.lower() == ADAPTIVE:
        return ADAPTIVE
    by_lower = {name.lower(): name for name in OPTIMIZERS}
    if wanted.lower() not in by_lower:
        raise ConfigError(f"unknown optimizer {wanted!r}; known: {ADAPTIVE}, {', '.join(OPTIMIZERS)}")
    return by_lower[wanted.lower()]


def run(ctx: StageContext, inputs: TrainInputs) -> TrainResult:
    module_name, modality = parse_target(inputs.target)
    out = ctx.output(STAGE, part_name(inputs.target, inputs.attempt))
    identity = inputs.model_dump(mode="json")
    if (done := out.committed()) is not None:
        previous = TrainResult.model_validate(done)
        if previous.inputs is not None and previous.inputs != identity:
            raise ConfigError(
                f"run {ctx.run_id}: attempt {inputs.attempt!r} of {inputs.target} was trained with other inputs "
                f"({_difference(previous.inputs, identity)}); pass --attempt <new id> to train again"
            )
        return previous
    if inputs.max_iterations < 1:
        raise ConfigError("--max-iterations must be at least 1")
    chosen = resolve_strategy(ctx, inputs)

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
            attempt=inputs.attempt,
            trainset_size=len(train_rows),
            real_train=len(real_train),
            synthetic_train=len(synthetic),
            heldout_size=len(heldout),
            inputs=identity,
        )
        out.commit(result)
        return result

    from pipeline import optimizers
    from pipeline.lm import LMMeter, build_lm, check_lm, lm_context, raise_if_tripped

    spec = load_module(module_name)
    optimizer = chosen or optimizers.choose_optimizer(len(train_rows), tcfg.tiers, None)
    lm_spec = ctx.config.llm.for_module(module_name)
    teacher_spec = ctx.config.llm.teacher
    meter = LMMeter()
    with lm_context(lm_spec) as lm:
        check_lm(lm)  # an unreachable LM is exit 4 now, not after an optimizer swallowed every failure
        teacher = build_lm(teacher_spec) if teacher_spec else None
        if teacher is not None:
            check_lm(teacher)
        if optimizer == ADAPTIVE:
            from pipeline import adaptive

            outcome = adaptive.compile_adaptive(spec, train_rows, adaptive_settings(ctx), meter=meter, progress=log.info)
            program, settings, seconds = outcome.program, {"strategy": ADAPTIVE, **outcome.report}, outcome.report["compile"]["seconds"]
            dev_accuracy = (outcome.report.get("chosen") or {}).get("dev_accuracy")
        else:
            trainset = [spec.build_example(r) for r in train_rows]
            # The optimizer's own validation data comes from training data, never the held-out set.
            valset: list = []
            if optimizer in ("MIPROv2", "GEPA"):
                cut = max(2, len(trainset) // 5)
                trainset, valset = trainset[:-cut], trainset[-cut:]
            with meter.watching():
                compiled = optimizers.compile_program(
                    optimizer,
                    spec.program_factory(),
                    trainset,
                    valset,
                    spec.metric,
                    max_iterations=inputs.max_iterations,
                    seed=tcfg.seed,
                    max_bootstrapped_demos=tcfg.max_bootstrapped_demos,
                    max_labeled_demos=tcfg.max_labeled_demos,
                    teacher_lm=teacher,
                )
            program, settings, seconds, dev_accuracy = compiled.program, compiled.settings, compiled.seconds, None
        raise_if_tripped(lm)
        if teacher is not None:
            raise_if_tripped(teacher)
    spent = meter.snapshot()

    from pipeline.provenance import git_revision, package_versions

    out.put_json(PROGRAM_FILE, program.dump_state())
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
            "attempt": inputs.attempt,
            "optimizer": optimizer,
            "optimizer_settings": settings,
            "compile_seconds": round(seconds, 3),
            "compile_usage": spent,
            "sizes": {"train": len(train_rows), "real_train": len(real_train), "synthetic_train": len(synthetic), "heldout": len(heldout)},
            "strategy": inputs.strategy,
            "labels_by_source": _by_source(train_rows),
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
        attempt=inputs.attempt,
        optimizer=optimizer,
        trainset_size=len(train_rows),
        real_train=len(real_train),
        synthetic_train=len(synthetic),
        heldout_size=len(heldout),
        artifact_prefix=out.prefix,
        heldout_key=heldout_key,
        compile_seconds=round(seconds, 3),
        compile_lm_calls=spent["lm_calls"],
        compile_tokens=spent["prompt_tokens"] + spent["completion_tokens"],
        dev_accuracy=dev_accuracy,
        lm=lm_spec.model,
        inputs=identity,
    )
    out.commit(result)
    return result


def adaptive_settings(ctx: StageContext) -> Any:
    from pipeline.adaptive import Settings

    tcfg = ctx.config.training
    a = tcfg.adaptive
    return Settings(lm_call_budget=a.lm_call_budget, dev_size=a.dev_size, retrieval_k=a.retrieval_k, fast_tier=a.fast_tier,
                    head_c=a.head_c, cv_folds=a.cv_folds, min_gain=a.min_gain, rungs=tuple(a.rungs),
                    max_bootstrapped_demos=tcfg.max_bootstrapped_demos, max_labeled_demos=tcfg.max_labeled_demos, seed=tcfg.seed)


def _by_source(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        source = row.get("label_source") or "unknown"
        counts[source] = counts.get(source, 0) + 1
    return dict(sorted(counts.items()))


def _difference(before: dict[str, Any], now: dict[str, Any]) -> str:
    changed = [f"{k}: {before.get(k)!r} → {now.get(k)!r}" for k in sorted(set(before) | set(now)) if before.get(k) != now.get(k)]
    return "; ".join(changed)


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
