"""Choose a DSPy optimizer for a trainset size and run it under one iteration budget.

Tiers (seed defaults, thresholds from `OptimizerTiers`): < 100 examples BootstrapFewShot,
< 500 SIMBA, < 1000 MIPROv2, else GEPA. `max_iterations` bounds every optimizer:

- BootstrapFewShot: `max_rounds = min(max_iterations, BOOTSTRAP_MAX_ROUNDS)` bootstrap
  attempts per training example (teacher calls ≤ len(trainset) · max_rounds). Later rounds
  only re-ask the same examples at a higher temperature; with a weak model and the seed's
  default of 100 iterations, uncapped rounds would cost ~100 calls per example.
- SIMBA: `max_steps = max_iterations` mini-batch steps.
- MIPROv2: `auto=None`, `num_trials = max_iterations` Optuna trials over
  `num_candidates = clamp(max_iterations, 3, 6)` instruction and demo-set candidates.
- GEPA: `max_full_evals = max_iterations`, i.e. a budget of
  max_iterations · (len(trainset) + len(valset)) metric calls.

Runs inside whatever `dspy.context(lm=..., adapter=...)` the caller set; never configures DSPy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from pipeline.config import OptimizerTiers
from pipeline.errors import ConfigError

if TYPE_CHECKING:
    import dspy

OPTIMIZERS: tuple[str, ...] = ("BootstrapFewShot", "SIMBA", "MIPROv2", "GEPA")
AUTO = "auto"  # no forced optimizer: the configured `training.strategy` (adaptive, or by trainset size)
ADAPTIVE = "adaptive"  # pipeline.adaptive: the default strategy, not a DSPy optimizer


def optimizer_choice(value: str, *, adaptive: bool = False) -> str:
    """`auto`, (with `adaptive`) `adaptive`, or the canonical name of an optimizer (any case);
    ConfigError otherwise."""
    choices = {name.lower(): name for name in (AUTO, *((ADAPTIVE,) if adaptive else ()), *OPTIMIZERS)}
    name = choices.get(value.strip().lower())
    if name is None:
        raise ConfigError(f"unknown optimizer {value!r}: use {', '.join(choices.values())}")
    return name

BOOTSTRAP_MAX_ROUNDS = 3
SIMBA_MAX_BSIZE = 32  # SIMBA's default mini-batch; it asserts bsize <= len(trainset)
SIMBA_NUM_CANDIDATES = 6  # SIMBA's default
MIPRO_MIN_CANDIDATES = 3  # fewer than 3 sets leaves MIPROv2 no bootstrapped demo set at all
MIPRO_MAX_CANDIDATES = 6  # what MIPROv2's auto="light" uses
MIPRO_MINIBATCH_SIZE = 35  # MIPROv2's default; minibatching only pays off on a larger valset
GEPA_REFLECTION_MINIBATCH = 3  # GEPA's default

Metric = Callable[..., Any]


@dataclass
class CompileOutcome:
    program: "dspy.Module"
    optimizer: str
    settings: dict[str, Any]  # JSON-serialisable parameters actually used, for the metadata file
    seconds: float


def choose_optimizer(trainset_size: int, tiers: OptimizerTiers, forced: str | None = None) -> str:
    """The optimizer for a trainset of this size; `forced` (any case) overrides the tiers."""
    if forced is not None:
        by_lower = {name.lower(): name for name in OPTIMIZERS}
        name = by_lower.get(forced.strip().lower())
        if name is None:
            raise ConfigError(f"unknown optimizer {forced!r}; known: {', '.join(OPTIMIZERS)}")
        return name
    if trainset_size < tiers.bootstrap_below:
        return "BootstrapFewShot"
    if trainset_size < tiers.simba_below:
        return "SIMBA"
    if trainset_size < tiers.mipro_below:
        return "MIPROv2"
    return "GEPA"


def feedback_metric_for(metric: Metric) -> Callable[..., "dspy.Prediction"]:
    """Wrap a plain `metric(example, pred, trace)` into GEPA's five-argument metric with text
    feedback naming the expected and the predicted label fields."""
    import dspy

    def feedback_metric(gold: Any, pred: Any, trace: Any = None, pred_name: Any = None, pred_trace: Any = None):
        score = float(metric(gold, pred, trace))
        labels = gold.labels()
        expected = ", ".join(f"{k}={v!r}" for k, v in labels.items())
        if pred is None:
            return dspy.Prediction(score=score, feedback=f"Score {score:g}: no output; expected {expected}.")
        got = ", ".join(f"{k}={getattr(pred, k, None)!r}" for k in labels)
        if score >= 1.0:
            feedback = f"Correct (score {score:g}): {got}."
        else:
            feedback = f"Score {score:g}: expected {expected}, got {got}."
        reasoning = getattr(pred, "reasoning", None)
        if reasoning:
            feedback += f" The program's reasoning was: {str(reasoning)[:300]}"
        return dspy.Prediction(score=score, feedback=feedback)

    return feedback_metric


def compile_program(
    optimizer: str,
    program: "dspy.Module",
    trainset: list["dspy.Example"],
    valset: list["dspy.Example"],
    metric: Metric,
    *,
    max_iterations: int,
    seed: int,
    max_bootstrapped_demos: int,
    max_labeled_demos: int,
    teacher_lm: Any = None,
    num_threads: int = 1,
) -> CompileOutcome:
    """Run `optimizer` on `program` and return the compiled program with the settings used."""
    import dspy

    if optimizer not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {optimizer!r}; known: {', '.join(OPTIMIZERS)}")
    if max_iterations < 1:
        raise ConfigError(f"max_iterations must be at least 1, not {max_iterations}")
    if not trainset:
        raise ConfigError(f"{optimizer} needs a non-empty trainset")
    if optimizer in ("MIPROv2", "GEPA") and not valset:
        raise ConfigError(f"{optimizer} needs a non-empty valset")
    if dspy.settings.lm is None:
        raise ConfigError("compile_program must run inside dspy.context(lm=...)")

    run = {"BootstrapFewShot": _bootstrap, "SIMBA": _simba, "MIPROv2": _mipro, "GEPA": _gepa}[optimizer]
    started = time.monotonic()
    compiled, settings = run(
        program,
        list(trainset),
        list(valset),
        metric,
        max_iterations=max_iterations,
        seed=seed,
        max_bootstrapped_demos=max_bootstrapped_demos,
        max_labeled_demos=max_labeled_demos,
        teacher_lm=teacher_lm,
        num_threads=num_threads,
    )
    seconds = time.monotonic() - started
    _strip_run_state(compiled, program)
    settings = {
        "optimizer": optimizer,
        "max_iterations": max_iterations,
        "seed": seed,
        "trainset_size": len(trainset),
        "valset_size": len(valset),
        "num_threads": num_threads,
        "teacher_lm": getattr(teacher_lm, "model", None),
        **settings,
    }
    return CompileOutcome(program=compiled, optimizer=optimizer, settings=settings, seconds=seconds)


def _bootstrap(program, trainset, valset, metric, *, max_iterations, seed, max_bootstrapped_demos,
               max_labeled_demos, teacher_lm, num_threads):
    from dspy.teleprompt import BootstrapFewShot

    settings = {
        "max_bootstrapped_demos": max_bootstrapped_demos,
        "max_labeled_demos": max_labeled_demos,
        "max_rounds": min(max_iterations, BOOTSTRAP_MAX_ROUNDS),
    }
    teleprompter = BootstrapFewShot(
        metric=metric, teacher_settings={"lm": teacher_lm} if teacher_lm is not None else None, **settings
    )
    # BootstrapFewShot has no seed: its sampling uses fixed Random(0) internally.
    return teleprompter.compile(program, trainset=trainset), settings


def _simba(program, trainset, valset, metric, *, max_iterations, seed, max_bootstrapped_demos,
           max_labeled_demos, teacher_lm, num_threads):
    from dspy.teleprompt import SIMBA

    settings = {
        "bsize": min(SIMBA_MAX_BSIZE, len(trainset)),
        "num_candidates": SIMBA_NUM_CANDIDATES,
        "max_steps": max_iterations,
        "max_demos": max_bootstrapped_demos,
    }
    teleprompter = SIMBA(
        metric=metric,
        # The teacher writes the rules and samples one trajectory per example; a copy, because
        # SIMBA sets a rollout id on the teacher LM it is given.
        prompt_model=teacher_lm,
        teacher_settings={"lm": teacher_lm.copy()} if teacher_lm is not None else None,
        num_threads=num_threads,
        **settings,
    )
    return teleprompter.compile(program, trainset=trainset, seed=seed), settings


def _mipro(program, trainset, valset, metric, *, max_iterations, seed, max_bootstrapped_demos,
           max_labeled_demos, teacher_lm, num_threads):
    from dspy.teleprompt import MIPROv2

    num_candidates = min(MIPRO_MAX_CANDIDATES, max(MIPRO_MIN_CANDIDATES, max_iterations))
    if max_bootstrapped_demos == 0:
        # Sets beyond the first three draw randint(1, max_bootstrapped_demos), which fails at 0.
        num_candidates = MIPRO_MIN_CANDIDATES
    minibatch = len(valset) > MIPRO_MINIBATCH_SIZE
    settings = {
        "auto": None,
        "num_candidates": num_candidates,
        "num_trials": max_iterations,
        "max_bootstrapped_demos": max_bootstrapped_demos,
        "max_labeled_demos": max_labeled_demos,
        "minibatch": minibatch,
        "minibatch_size": MIPRO_MINIBATCH_SIZE,
    }
    teleprompter = MIPROv2(
        metric=metric,
        prompt_model=teacher_lm,  # None: MIPROv2 uses the context LM
        teacher_settings={"lm": teacher_lm} if teacher_lm is not None else None,
        max_bootstrapped_demos=max_bootstrapped_demos,
        max_labeled_demos=max_labeled_demos,
        auto=None,
        num_candidates=num_candidates,
        num_threads=num_threads,
        seed=seed,
        track_stats=False,
    )
    # 3.4.1 never asks for permission to run (its `requires_permission_to_run` is deprecated).
    compiled = teleprompter.compile(
        program,
        trainset=trainset,
        valset=valset,
        num_trials=max_iterations,
        seed=seed,
        minibatch=minibatch,
        minibatch_size=MIPRO_MINIBATCH_SIZE,
    )
    return compiled, settings


def _gepa(program, trainset, valset, metric, *, max_iterations, seed, max_bootstrapped_demos,
          max_labeled_demos, teacher_lm, num_threads):
    import dspy
    from dspy.teleprompt import GEPA

    reflection_lm = teacher_lm if teacher_lm is not None else dspy.settings.lm
    settings = {
        "max_full_evals": max_iterations,
        "max_metric_calls": max_iterations * (len(trainset) + len(valset)),
        "reflection_minibatch_size": min(GEPA_REFLECTION_MINIBATCH, len(trainset)),
        "reflection_lm": getattr(reflection_lm, "model", None),
    }
    teleprompter = GEPA(
        metric=feedback_metric_for(metric),
        max_full_evals=max_iterations,
        reflection_minibatch_size=settings["reflection_minibatch_size"],
        reflection_lm=reflection_lm,
        num_threads=num_threads,
        seed=seed,
        track_stats=False,
    )
    return teleprompter.compile(program, trainset=trainset, valset=valset), settings


def _strip_run_state(compiled: "dspy.Module", original: "dspy.Module") -> None:
    """Leave only the program: optimizers hang run logs and candidate programs on it (MIPROv2's
    trial_logs, SIMBA's candidate_programs) and may pin LMs on predictors (SIMBA's set_lm).
    Predictor LMs go back to what the input program had, so the artifact runs on the caller's LM."""
    for attr in set(vars(compiled)) - set(vars(original)) - {"_compiled"}:
        delattr(compiled, attr)
    original_lms = {name: predictor.lm for name, predictor in original.named_predictors()}
    for name, predictor in compiled.named_predictors():
        predictor.lm = original_lms.get(name)
