"""predict: answer queries with the tenant's production program for a module target.

Input: JSON Lines with `query` (and `context` or `modality` as the module needs; for a
per-modality target the modality is implied). Output: the same rows plus
`recommended_agent`, `confidence`, `reasoning`, and the program version that answered.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.config import PipelineConfig
from pipeline.errors import ConfigError, NotFoundError
from pipeline.jsonlines import read_jsonl_file
from pipeline.modules import load_module, parse_target
from pipeline.run.predict import PredictInputs, PredictResult
from pipeline.run.train import load_program
from pipeline.storage import ObjectStore


def run(config: PipelineConfig, store: ObjectStore, inputs: PredictInputs) -> PredictResult:
    from pipeline import promotion

    module_name, modality = parse_target(inputs.target)
    spec = load_module(module_name)
    rows = _read_queries(Path(inputs.input_path), modality)
    if inputs.version == "unoptimized":
        program, label = spec.program_factory(), "unoptimized"
    else:
        pointer = None
        if inputs.version == "production":
            pointer = promotion.current(store, inputs.tenant, inputs.target)
            if pointer is None:
                raise NotFoundError(
                    f"tenant {inputs.tenant} has no {inputs.target} program in production; "
                    "use --version unoptimized to answer with the untrained program"
                )
        elif inputs.version.isdigit():
            pointer = next((p for p in promotion.history(store, inputs.tenant, inputs.target) if p.sequence == int(inputs.version)), None)
            if pointer is None:
                raise NotFoundError(f"{inputs.target} of tenant {inputs.tenant} has no version {inputs.version}")
        else:
            raise ConfigError(f"--version {inputs.version!r}: use production, unoptimized or a version number")
        program, label = load_program(store, module_name, pointer.artifact_prefix), f"v{pointer.sequence}"

    from pipeline.lm import lm_context

    answered = failed = 0
    out_path = Path(inputs.output_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".partial")
    try:
        with lm_context(config.llm.for_module(module_name)) as lm, tmp.open("w") as sink:
            from pipeline.lm import check_lm

            check_lm(lm)  # an unreachable LM fails before a single row is written
            for row in rows:
                args = {field: row.get(field, "") for field in spec.input_fields}
                try:
                    answer = spec.answer(program(**args))
                    answered += 1
                except Exception as exc:  # one unparseable reply must not lose the other answers
                    from pipeline.errors import is_lm_unreachable

                    if is_lm_unreachable(exc):
                        raise
                    answer = {"recommended_agent": None, "error": str(exc)[:300]}
                    failed += 1
                sink.write(json.dumps({**row, **answer, "program": f"{inputs.target} {label}"}) + "\n")
        tmp.replace(out_path)  # the output appears whole or not at all
    finally:
        tmp.unlink(missing_ok=True)  # a failed run leaves neither a partial nor an empty file behind
    return PredictResult(target=inputs.target, program=label, answered=answered, failed=failed, output_path=str(out_path))


def _read_queries(path: Path, modality: str | None) -> list[dict]:
    rows = []
    for number, row in read_jsonl_file(path, "input file"):
        if not isinstance(row, dict) or not isinstance(row.get("query"), str):
            raise ConfigError(f"{path}, line {number}: needs a string 'query'")
        if modality is not None:
            row.setdefault("modality", modality)
        rows.append(row)
    return rows
