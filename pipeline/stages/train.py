"""train: one module target → a compiled DSPy program (JSON state) + metadata + its held-out set.

The default strategy is `adaptive` (pipeline.adaptive: a fast text classifier, retrieved demos
and a head over the LM's label probabilities, within an LM-call budget); `--optimizer` forces a
DSPy optimizer, and `training.strategy: tiers` picks one by trainset size. The held-out examples
are written next to the candidate so that evaluate grades candidate and production on exactly
the same data.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from pipeline.datasets import data_hash, labelled_data_hash
from pipeline.errors import ConfigError
from pipeline.layout import HELDOUT_FILE, INTEGRATION_FILE, METADATA_FILE, PROGRAM_FILE, TRAINSET_FILE, golden_key
from pipeline.modules import facts, load_module, parse_target
from pipeline.optimizers import ADAPTIVE
from pipeline.run import readers
from pipeline.run.commit import committed_stage
from pipeline.run.context import StageContext, StageOutput
from pipeline.run.train import STAGE, TrainInputs, TrainResult, train_part

log = logging.getLogger(__name__)


def resolve_strategy(ctx: StageContext, inputs: TrainInputs, adaptive: bool = True) -> str | None:
    """`adaptive`, a DSPy optimizer name (canonical spelling), or None (choose by size). A
    module `adaptive` does not apply to (not a single-label choice) is compiled by size when
    adaptive is only the configured default, and refused when it is asked for."""
    from pipeline.optimizers import OPTIMIZERS

    forced = inputs.optimizer not in (None, "", "auto")
    wanted = inputs.optimizer if forced else ctx.config.training.strategy
    if wanted == "tiers":
        return None
    if wanted.lower() == ADAPTIVE:
        if not adaptive:
            if forced:
                raise ConfigError(f"{inputs.target}: the adaptive strategy trains single-label modules only; use a DSPy optimizer")
            return None
        return ADAPTIVE
    by_lower = {name.lower(): name for name in OPTIMIZERS}
    if wanted.lower() not in by_lower:
        raise ConfigError(f"unknown optimizer {wanted!r}; known: {ADAPTIVE}, {', '.join(OPTIMIZERS)}")
    return by_lower[wanted.lower()]


@committed_stage(
    STAGE, TrainResult, part=train_part,
    other_inputs=lambda inputs, changed: (
        f"attempt {inputs.attempt!r} of {inputs.target} was trained with other inputs ({changed}); "
        "pass --attempt <new id> to train again"
    ),
)
def run(ctx: StageContext, inputs: TrainInputs, out: StageOutput) -> TrainResult:
    module_name, modality = parse_target(inputs.target)
    if inputs.max_iterations < 1:
        raise ConfigError("--max-iterations must be at least 1")
    module = facts(module_name)
    chosen = resolve_strategy(ctx, inputs, module.adaptive)
    if module.golden:
        return _train_golden(ctx, inputs, out, module_name, chosen)
    if inputs.golden_dataset:
        raise ConfigError(f"--golden-dataset: {inputs.target} is not trained from a golden dataset")

    tcfg = ctx.config.training
    experiences = readers.experiences(ctx)
    executions = readers.executions(ctx) if module.orchestration else []
    orchestrated = module.orchestrated(executions, ctx.config.reward, tcfg.min_reward)
    synthetic = readers.synthetic(ctx, modality, module.synthetic) if inputs.use_synthetic else []
    real_train, synthetic, heldout = module.datasets(experiences, synthetic, modality, tcfg.heldout_fraction, tcfg.seed,
                                                     hybrid=inputs.strategy == "HYBRID", orchestrated=orchestrated)
    train_rows = real_train + synthetic
    derived = {r["span_id"] for r in orchestrated}
    orchestration_train = sum(1 for r in real_train if r.get("span_id") in derived)
    if len(train_rows) < tcfg.min_train_examples or not heldout:
        return TrainResult(
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
            orchestration_train=orchestration_train,
            heldout_size=len(heldout),
        )

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
            "sizes": {"train": len(train_rows), "real_train": len(real_train), "synthetic_train": len(synthetic),
                      "orchestration_train": orchestration_train, "heldout": len(heldout)},
            "strategy": inputs.strategy,
            "labels_by_source": _by_source(train_rows),
            "data_hashes": {
                "train": data_hash(train_rows),
                "heldout": data_hash(heldout),
                "real_labelled": labelled_data_hash(module.labelled(experiences, modality, orchestrated)),
            },
            "lm": lm_spec.model,
            "teacher_lm": ctx.config.llm.for_teacher().model,
            "git_revision": git_revision(),
            "versions": package_versions("dspy", "cogniverse-optimization"),
            "created_at": datetime.now(timezone.utc).isoformat(),
        },
    )
    return TrainResult(
        status="ok",
        target=inputs.target,
        attempt=inputs.attempt,
        optimizer=optimizer,
        trainset_size=len(train_rows),
        real_train=len(real_train),
        synthetic_train=len(synthetic),
        orchestration_train=orchestration_train,
        heldout_size=len(heldout),
        artifact_prefix=out.prefix,
        heldout_key=heldout_key,
        compile_seconds=round(seconds, 3),
        compile_lm_calls=spent["lm_calls"],
        compile_tokens=spent["prompt_tokens"] + spent["completion_tokens"],
        dev_accuracy=dev_accuracy,
        lm=lm_spec.model,
    )


def _train_golden(ctx: StageContext, inputs: TrainInputs, out: StageOutput, module_name: str, chosen: str | None) -> TrainResult:
    """A golden (agent) module: its golden rows, checked against its Signature before any LM
    call, split into train and held-out (seeded); with `llm.teacher`, up to
    `training.num_teacher_examples` unlabelled queries labelled by the teacher (cached in the
    store) join the training rows; the student (the module's LM) is compiled with the DSPy
    optimizer. Writes program.json and integration.json (what a non-DSPy agent loads)."""
    from pipeline.modules.golden import split_heldout, validate_rows
    from pipeline.run.golden import golden_digest, golden_lines

    tcfg = ctx.config.training
    found = golden_lines(ctx, module_name, inputs.golden_dataset)
    if found is None:
        return TrainResult(status="skipped", target=inputs.target, attempt=inputs.attempt,
                           reason=f"insufficient data: no golden dataset for {module_name} "
                                  f"({ctx.store.describe(golden_key(ctx.tenant, module_name))}, or --golden-dataset)")
    lines, where = found
    spec = load_module(module_name)
    labelled, unlabelled = validate_rows(spec, lines, where)  # exit 2 naming line and field, before any LM call
    golden_train, heldout = split_heldout(labelled, tcfg.heldout_fraction, tcfg.seed)
    teacher_spec = ctx.config.llm.teacher
    wanted = unlabelled[: tcfg.num_teacher_examples] if teacher_spec is not None else []
    if len(golden_train) + len(wanted) < tcfg.min_train_examples or not heldout:
        return TrainResult(
            status="skipped", target=inputs.target, attempt=inputs.attempt, trainset_size=len(golden_train),
            heldout_size=len(heldout),
            reason=(f"insufficient data: {len(golden_train)} labelled golden training rows + {len(wanted)} for the teacher "
                    f"(minimum {tcfg.min_train_examples}) and {len(heldout)} held-out rows for {inputs.target} in {where}"),
        )

    from pipeline import lm as lmlib
    from pipeline import optimizers
    from pipeline.modules.golden import integration_artifact, judging

    lm_spec = ctx.config.llm.for_module(module_name)
    meter, teacher_meter = lmlib.LMMeter(), lmlib.LMMeter()
    with lmlib.lm_context(lm_spec) as lm:
        lmlib.check_lm(lm)
        teacher = lmlib.build_lm(teacher_spec) if teacher_spec is not None else None
        if teacher is not None:
            lmlib.check_lm(teacher)
        teacher_rows, distillation = _teacher_labels(ctx, spec, wanted, teacher, teacher_spec, teacher_meter)
        train_rows = golden_train + teacher_rows
        if not train_rows:
            return TrainResult(status="skipped", target=inputs.target, attempt=inputs.attempt, heldout_size=len(heldout),
                               reason="insufficient data: the teacher labelled none of the unlabelled queries", distillation=distillation)
        optimizer = chosen or optimizers.choose_optimizer(len(train_rows), tcfg.tiers, None)
        trainset = [spec.build_example(r) for r in train_rows]
        valset: list = []
        if optimizer in ("MIPROv2", "GEPA"):
            cut = max(2, len(trainset) // 5)
            trainset, valset = trainset[:-cut], trainset[-cut:]
        judge_adapter = lmlib.adapter_for(teacher) if teacher is not None else None
        with meter.watching(), judging(teacher, judge_adapter):
            compiled = optimizers.compile_program(
                optimizer, spec.program_factory(), trainset, valset, spec.metric, max_iterations=inputs.max_iterations,
                seed=tcfg.seed, max_bootstrapped_demos=tcfg.max_bootstrapped_demos, max_labeled_demos=tcfg.max_labeled_demos,
                teacher_lm=teacher,
            )
        lmlib.raise_if_tripped(lm)
        if teacher is not None:
            lmlib.raise_if_tripped(teacher)
    spent = meter.snapshot()
    distillation = {**distillation, "golden_rows": len(labelled), "golden_train": len(golden_train), "heldout": len(heldout),
                    "unlabelled": len(unlabelled), "student": lm_spec.model, "compile_lm_calls": spent["lm_calls"],
                    "source": where}

    from pipeline.provenance import git_revision, package_versions

    program = compiled.program
    out.put_json(PROGRAM_FILE, program.dump_state())
    out.put_json(INTEGRATION_FILE, integration_artifact(program, lm_spec, module_name))
    heldout_key = out.put_jsonl(HELDOUT_FILE, heldout)
    out.put_jsonl(TRAINSET_FILE, train_rows)
    out.put_json(METADATA_FILE, {
        "tenant": ctx.tenant, "run_id": ctx.run_id, "module": module_name, "modality": None, "target": inputs.target,
        "attempt": inputs.attempt, "optimizer": optimizer, "optimizer_settings": compiled.settings,
        "compile_seconds": round(compiled.seconds, 3), "compile_usage": spent, "teacher_usage": teacher_meter.snapshot(),
        "sizes": {"train": len(train_rows), "golden_train": len(golden_train), "teacher_train": len(teacher_rows), "heldout": len(heldout)},
        "strategy": inputs.strategy, "labels_by_source": _by_source(train_rows), "distillation": distillation,
        "data_hashes": {"train": data_hash(train_rows), "heldout": data_hash(heldout), "golden": golden_digest(lines)},
        "lm": lm_spec.model, "teacher_lm": teacher_spec.model if teacher_spec is not None else None,
        "git_revision": git_revision(), "versions": package_versions("dspy", "cogniverse-optimization"),
        "created_at": datetime.now(timezone.utc).isoformat(),
    })
    return TrainResult(
        status="ok", target=inputs.target, attempt=inputs.attempt, optimizer=optimizer, trainset_size=len(train_rows),
        real_train=len(golden_train), synthetic_train=len(teacher_rows), heldout_size=len(heldout), artifact_prefix=out.prefix,
        heldout_key=heldout_key, compile_seconds=round(compiled.seconds, 3), compile_lm_calls=spent["lm_calls"],
        compile_tokens=spent["prompt_tokens"] + spent["completion_tokens"], lm=lm_spec.model, distillation=distillation,
    )


def _teacher_labels(ctx: StageContext, spec: Any, wanted: list[dict[str, Any]], teacher: Any, teacher_spec: Any,
                    meter: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The teacher's labels of the unlabelled rows (its answers checked against the module's
    schema; one that does not fit is dropped), read from the store's cache where it answered before."""
    if teacher is None:
        return [], {"teacher": None, "asked": 0, "teacher_labelled": 0, "teacher_calls": 0, "cache_hits": 0, "rejected": 0}
    import dspy

    from pipeline import lm as lmlib
    from pipeline.errors import is_lm_unreachable
    from pipeline.modules.golden import validate_rows
    from pipeline.teacher_cache import TeacherCache

    cache = TeacherCache(ctx.store, ctx.tenant, spec.name, teacher_spec)
    outputs = tuple(spec.program_factory().predict.signature.output_fields)
    program = spec.program_factory()
    rows, hits, rejected, failed = [], 0, 0, 0
    with dspy.context(lm=teacher, adapter=lmlib.adapter_for(teacher)), meter.watching():
        for row in wanted:
            inputs = {name: row[name] for name in spec.input_fields}
            labels = cache.get(inputs)
            if labels is not None:
                hits += 1
            else:
                try:
                    pred = program(**inputs)
                except Exception as exc:  # an unparseable reply labels nothing; an LM that is gone stops the stage
                    if is_lm_unreachable(exc):
                        raise
                    failed += 1
                    continue
                labels = {name: getattr(pred, name, None) for name in outputs}
                labels = {name: value for name, value in labels.items() if value is not None}
                cache.put(inputs, labels)
            try:
                [checked], _ = validate_rows(spec, [(row["line"], {**inputs, **labels})], "teacher label")
            except (ConfigError, ValueError):
                rejected += 1
                continue
            rows.append({**checked, "label_source": "teacher"})
    batch = cache.flush()
    return rows, {"teacher": teacher_spec.model, "asked": len(wanted), "teacher_labelled": len(rows), "teacher_calls": meter.calls,
                  "cache_hits": hits, "rejected": rejected, "failed": failed, "cache_batch": batch}


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
