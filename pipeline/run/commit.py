"""The preamble every committing stage starts with, written once: find the stage's folder, and
if a result is committed there, return it instead of doing the work again; otherwise do the
work and commit what it returns.

    @committed_stage("train", TrainResult, part=train_part, other_inputs=...)
    def run(ctx, inputs, out): ...   # called as run(ctx, inputs)

Committed results are keyed on the inputs that produced them: `part` names the folder from
the inputs (a target and attempt id; an evaluation's programs and golden set), and a result
model with an `inputs` field records them. Where the folder is not keyed on every input (a
train attempt id is the operator's), `other_inputs` refuses a re-run whose inputs differ from
the committed result's, instead of silently returning a result of other inputs.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

from pydantic import BaseModel

from pipeline.errors import ConfigError
from pipeline.run.context import StageContext, StageOutput

R = TypeVar("R", bound=BaseModel)
Work = Callable[[StageContext, Any, StageOutput], R]


def committed_stage(
    stage: str,
    result: type[R],
    *,
    part: Callable[[Any], str | None] | None = None,
    other_inputs: Callable[[Any, str], str] | None = None,
) -> Callable[[Work[R]], Callable[..., R]]:
    """`part(inputs)`: the per-target folder. `other_inputs(inputs, difference)`: the refusal
    when the committed result was made from other inputs (prefixed with the run id)."""

    def decorate(work: Work[R]) -> Callable[..., R]:
        @functools.wraps(work)
        def run(ctx: StageContext, inputs: BaseModel | None = None) -> R:
            out = ctx.output(stage, part(inputs) if part is not None else None)
            recorded = "inputs" in result.model_fields and inputs is not None
            identity = inputs.model_dump(mode="json") if recorded else None
            done = out.read(result)
            if done is not None:
                before = getattr(done, "inputs", None)
                if other_inputs is not None and before is not None and before != identity:
                    raise ConfigError(f"run {ctx.run_id}: {other_inputs(inputs, difference(before, identity or {}))}")
                return done
            produced = work(ctx, inputs, out)
            if recorded and produced.inputs is None:  # type: ignore[attr-defined]
                produced = produced.model_copy(update={"inputs": identity})
            out.commit(produced)
            return produced

        return run

    return decorate


def difference(before: dict[str, Any], now: dict[str, Any]) -> str:
    """`key: old → new` for every input that changed."""
    changed = [f"{k}: {before.get(k)!r} → {now.get(k)!r}" for k in sorted(set(before) | set(now)) if before.get(k) != now.get(k)]
    return "; ".join(changed)
