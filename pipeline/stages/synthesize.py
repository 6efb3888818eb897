"""synthesize: labelled synthetic examples generated from the search backend's real content.

The generators of `content.generators` (pipeline.synthetic) run against the content source of
`content.source` (bundled corpus, a JSON Lines file, or Vespa). When the run's plan is
committed, it narrows the work: a trained module's generator runs only if the plan trains that
module with synthetic data, and the `modality` generator samples only the modalities the plan
wants. Each example's label follows from the content it was generated from (its schema, or the
summarize/report intent), so the LM only writes the wording. Examples are deduplicated against
real traffic and each other and carry provenance; they are never used as evaluation data.

Outputs: `examples.jsonl` — the rows of the trained modules (routing, modality), what `train`
reads — and `examples-<generator>.jsonl` for the others. An empty backend gives a "skipped: no
synthetic data" result; an unreachable one fails the stage. Nothing is ever made up.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel

from pipeline.content import open_content_source
from pipeline.errors import ConfigError
from pipeline.stages.base import StageContext, read_parquet
from pipeline.synthetic.patterns import normalise
from pipeline.synthetic.schemas import Patterns, SelectionMode, Strategy

STAGE = "synthesize"
EXAMPLES_FILE = "examples.jsonl"

log = logging.getLogger(__name__)

__all__ = ["EXAMPLES_FILE", "STAGE", "GeneratorSummary", "SynthesizeInputs", "SynthesizeResult", "normalise", "run"]


class SynthesizeInputs(BaseModel):
    count: int | None = None  # examples per generator, spread over its schemas; None = content.synthetic_count
    seed: int = 11
    optimizers: list[str] | None = None  # generators to run; None = content.generators, narrowed by the plan
    sample_size: int | None = None  # documents per generator; None = what `count` needs
    strategies: list[Strategy] = ["diverse"]


class GeneratorSummary(BaseModel):
    schema_name: str
    trained: bool  # its rows are in examples.jsonl, for a module this project trains
    modalities: list[str] | None  # the plan's restriction, if any
    selected_profiles: list[str]
    profile_selection: SelectionMode
    reasoning: str
    content_sampled: int
    generated: int
    rejected_duplicates: int
    rejected_invalid: int
    by_agent: dict[str, int]
    examples_key: str | None
    patterns: Patterns
    seconds: float


class SynthesizeResult(BaseModel):
    status: Literal["ok", "skipped"]
    reason: str | None = None
    source: str
    requested: int
    content_sampled: int
    generated: int  # rows in examples.jsonl (trained modules); every generator's in `generators`
    rejected_duplicates: int
    rejected_invalid: int
    by_agent: dict[str, int]
    examples_key: str | None
    generator_model: str | None
    generators: dict[str, GeneratorSummary] = {}
    not_run: dict[str, str] = {}  # generator → why it did not run


def run(ctx: StageContext, inputs: SynthesizeInputs) -> SynthesizeResult:
    out = ctx.output(STAGE)
    if (done := out.committed()) is not None:
        return SynthesizeResult.model_validate(done)

    from pipeline.synthetic import LMScope, SyntheticDataRequest, generate, get_generator

    content = ctx.config.content
    if inputs.count is None:
        inputs = inputs.model_copy(update={"count": content.synthetic_count})
    source = open_content_source(content)
    runs, not_run = _what_to_run(ctx, inputs)
    seen = {normalise(e["query"]) for e in _real_experiences(ctx) if e.get("query")}
    spec = ctx.config.llm.for_teacher()

    responses = {}
    if inputs.count > 0:
        with LMScope(spec) as lm:
            for name, modalities in runs.items():
                request = SyntheticDataRequest(
                    optimizer=name, count=inputs.count, vespa_sample_size=inputs.sample_size,
                    strategies=inputs.strategies, max_profiles=content.max_profiles, tenant=ctx.tenant,
                    modalities=modalities, seed=inputs.seed,
                )
                responses[name] = generate(request, source, lm, seen=seen, profile_selection=content.profile_selection)
                meta = responses[name].metadata
                log.info("synthesize %s: %d examples from %d documents of %s", name, responses[name].count,
                         meta.sampled, ", ".join(responses[name].selected_profiles) or "no schema")

    trained_rows = [row for name, r in responses.items() if get_generator(name).trained for row in r.data]
    examples_key = out.put_jsonl(EXAMPLES_FILE, trained_rows) if trained_rows else None
    summaries = {}
    for name, response in responses.items():
        trained = get_generator(name).trained
        key = examples_key if trained else (out.put_jsonl(f"examples-{name}.jsonl", response.data) if response.data else None)
        summaries[name] = GeneratorSummary(
            schema_name=response.schema_name, trained=trained, modalities=runs[name],
            selected_profiles=response.selected_profiles, profile_selection=response.profile_selection,
            reasoning=response.profile_selection_reasoning, content_sampled=response.metadata.sampled,
            generated=response.count, rejected_duplicates=response.metadata.rejected_duplicates,
            rejected_invalid=response.metadata.rejected_invalid, by_agent=_by_agent(response.data),
            examples_key=key if response.data else None, patterns=response.metadata.patterns,
            seconds=response.metadata.seconds,
        )

    sampled = sum(s.content_sampled for s in summaries.values())
    produced = sum(s.generated for s in summaries.values())
    if not runs:
        reason = "no synthetic data: " + ("; ".join(f"{k}: {v}" for k, v in not_run.items()) or "no generator configured")
    elif sampled == 0:
        reason = "no synthetic data: the content source returned nothing"
    elif produced == 0:
        reason = "no synthetic data: every generated query was rejected"
    else:
        reason = None
    result = SynthesizeResult(
        status="ok" if produced else "skipped",
        reason=reason,
        source=source.name,
        requested=inputs.count,
        content_sampled=sampled,
        generated=len(trained_rows),
        rejected_duplicates=sum(s.rejected_duplicates for s in summaries.values()),
        rejected_invalid=sum(s.rejected_invalid for s in summaries.values()),
        by_agent=_by_agent(trained_rows),
        examples_key=examples_key,
        generator_model=spec.model if any(r.metadata.generator_lm for r in responses.values()) else None,
        generators=summaries,
        not_run=not_run,
    )
    out.commit(result)
    return result


def _what_to_run(ctx: StageContext, inputs: SynthesizeInputs) -> tuple[dict[str, list[str] | None], dict[str, str]]:
    """Generator → the modalities it is restricted to (None: all), and why others do not run."""
    from pipeline.synthetic import get_generator

    names = list(dict.fromkeys(inputs.optimizers if inputs.optimizers is not None else ctx.config.content.generators))
    for name in names:
        get_generator(name)  # unknown names fail before any work
    wants = None if inputs.optimizers is not None else _plan_wants(ctx)
    runs: dict[str, list[str] | None] = {}
    not_run: dict[str, str] = {}
    for name in names:
        if wants is not None and get_generator(name).trained:
            if name not in wants:
                not_run[name] = "the plan trains no target of this module with synthetic data"
                continue
            runs[name] = wants[name]
        else:
            runs[name] = None
    return runs, not_run


def _plan_wants(ctx: StageContext) -> dict[str, list[str] | None] | None:
    """From the run's committed plan: module → modalities trained with synthetic data (None =
    the module is not per modality). None when no plan is committed."""
    done = ctx.output("plan").committed()
    if done is None:
        return None
    wants: dict[str, list[str] | None] = {}
    for item in done.get("train") or []:
        if not isinstance(item, dict) or not item.get("use_synthetic"):
            continue
        module, _, modality = str(item.get("target", "")).partition("-")
        if not module:
            raise ConfigError(f"run {ctx.run_id}: plan result has a train item without a target")
        if modality:
            modalities = wants.setdefault(module, [])
            if modalities is not None and modality not in modalities:
                modalities.append(modality)
        else:
            wants[module] = None
    return wants


def _by_agent(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        agent = row.get("label") or row.get("agent")
        if agent:
            counts[agent] = counts.get(agent, 0) + 1
    return dict(sorted(counts.items()))


def _real_experiences(ctx: StageContext) -> list[dict[str, Any]]:
    done = ctx.output("harvest").committed()
    if done and done.get("experiences_key"):
        return read_parquet(ctx.store, done["experiences_key"])
    return []
