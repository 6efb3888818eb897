"""train's contract: its inputs, its result, where an attempt's artifact lives, the reader, and
the loader of a trained program from its artifact (what evaluate, predict and production use)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from pipeline import contract
from pipeline.errors import ConfigError
from pipeline.layout import PROGRAM_FILE, artifact_key, check_name
from pipeline.modules import load_module, parse_target
from pipeline.run.context import Outcome, StageContext
from pipeline.storage import ObjectStore

STAGE = "train"
DEFAULT_ATTEMPT = contract.DEFAULT_ATTEMPT


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
    golden_dataset: str | None = None  # golden modules: this file instead of the tenant's golden dataset in the store


class TrainResult(Outcome):
    target: str
    attempt: str = DEFAULT_ATTEMPT
    optimizer: str | None = None
    trainset_size: int = 0
    real_train: int = 0
    synthetic_train: int = 0
    orchestration_train: int = 0  # training rows derived from workflow executions (workflow, unified)
    heldout_size: int = 0
    artifact_prefix: str | None = None
    heldout_key: str | None = None
    compile_seconds: float | None = None
    compile_lm_calls: int | None = None
    compile_tokens: int | None = None
    dev_accuracy: float | None = None  # the chosen program's score on the dev split (adaptive)
    lm: str | None = None
    # Golden modules: where the golden rows came from and the teacher–student distillation
    # (teacher, queries it labelled, its LM calls, cache hits, labels rejected by the schema).
    distillation: dict[str, Any] | None = None
    inputs: dict[str, Any] | None = None  # what produced this result: a re-run with others is refused


def part_name(target: str, attempt: str = DEFAULT_ATTEMPT) -> str:
    """The store folder of one attempt at one target: `routing`, `routing.2` (train's, and the
    evaluation and gate of that attempt)."""
    return target if attempt == DEFAULT_ATTEMPT else f"{target}.{check_name('attempt id', attempt)}"


def train_part(inputs: TrainInputs) -> str:
    parse_target(inputs.target)  # an unknown target is named as such, before it names a folder
    return part_name(inputs.target, inputs.attempt)


def trained(ctx: StageContext, target: str, attempt: str = DEFAULT_ATTEMPT) -> TrainResult | None:
    return ctx.output(STAGE, part_name(target, attempt)).read(TrainResult)


def load_program(store: ObjectStore, module_name: str, artifact_prefix: str) -> Any:
    """A fresh program of the module with the saved JSON state loaded into it."""
    spec = load_module(module_name)
    program = spec.program_factory()
    key = artifact_key(artifact_prefix, PROGRAM_FILE)
    try:
        program.load_state(json.loads(store.get(key)))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        # A corrupted artifact is bad input (exit 2), like a malformed production record.
        what = f"missing key {exc.args[0]!r}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        raise ConfigError(f"{store.describe(key)} is not a valid {module_name} program state ({what})") from exc
    return program
