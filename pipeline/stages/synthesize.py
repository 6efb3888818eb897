"""synthesize: labelled synthetic examples generated from the search backend's real content.

The generators of `content.generators` (pipeline.synthetic) run against the content source of
`content.source` (bundled corpus, a JSON Lines file, or Vespa). When the run's plan is
committed, it narrows the work: a trained module's generator runs only if the plan trains that
module with synthetic data, and the `modality` generator samples only the modalities the plan
wants; a module trained from its own generator's file (cross_modal) gets that generator when
the plan trains it with synthetic data. Each example's label follows from the content it was generated from (its schema, or the
summarize/report intent), so the LM only writes the wording. Examples are deduplicated against
real traffic and each other and carry provenance; they are never used as evaluation data.

Outputs: `examples.jsonl` — the rows of the trained modules (routing, modality), what `train`
reads — and `examples-<generator>.jsonl` for the others. An empty backend gives a "skipped: no
synthetic data" result; an unreachable one fails the stage. Nothing is ever made up.
"""

from __future__ import annotations

import logging
from typing import Any

from pipeline.content import open_content_source
from pipeline.layout import EXAMPLES_FILE, generator_examples_file
from pipeline.modules import facts, parse_target
from pipeline.run.commit import committed_stage
from pipeline.run.context import StageContext, StageOutput, read_parquet
from pipeline.run.harvest import harvested
from pipeline.run.plan import fan_out
from pipeline.run.synthesize import STAGE, GeneratorSummary, SynthesizeInputs, SynthesizeResult
from pipeline.synthetic import LMScope, SyntheticDataRequest, generate, get_generator
from pipeline.synthetic.patterns import normalise
from pipeline.synthetic.selection import by_agent, generators_to_run

log = logging.getLogger(__name__)


@committed_stage(STAGE, SynthesizeResult)
def run(ctx: StageContext, inputs: SynthesizeInputs, out: StageOutput) -> SynthesizeResult:
    content = ctx.config.content
    if inputs.count is None:
        inputs = inputs.model_copy(update={"count": content.synthetic_count})
    source = open_content_source(content)
    wants = None if inputs.optimizers is not None else _plan_wants(ctx)
    # A module with its own generator (pipeline.modules: `synthetic`) gets it when the plan trains it with synthetic data.
    own = [facts(module).synthetic for module in wants or {} if facts(module).synthetic]
    runs, not_run = generators_to_run([*(inputs.optimizers if inputs.optimizers is not None else content.generators), *own], wants)
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
        key = examples_key if trained else (out.put_jsonl(generator_examples_file(name), response.data) if response.data else None)
        summaries[name] = GeneratorSummary(
            schema_name=response.schema_name, trained=trained, modalities=runs[name],
            selected_profiles=response.selected_profiles, profile_selection=response.profile_selection,
            reasoning=response.profile_selection_reasoning, content_sampled=response.metadata.sampled,
            generated=response.count, rejected_duplicates=response.metadata.rejected_duplicates,
            rejected_invalid=response.metadata.rejected_invalid, by_agent=by_agent(response.data),
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
    return SynthesizeResult(
        status="ok" if produced else "skipped",
        reason=reason,
        source=source.name,
        requested=inputs.count,
        content_sampled=sampled,
        generated=len(trained_rows),
        rejected_duplicates=sum(s.rejected_duplicates for s in summaries.values()),
        rejected_invalid=sum(s.rejected_invalid for s in summaries.values()),
        by_agent=by_agent(trained_rows),
        examples_key=examples_key,
        generator_model=spec.model if any(r.metadata.generator_lm for r in responses.values()) else None,
        generators=summaries,
        not_run=not_run,
    )


def _plan_wants(ctx: StageContext) -> dict[str, list[str] | None] | None:
    """From the run's committed plan: module → modalities trained with synthetic data (None =
    the module is not per modality). None when no plan is committed."""
    items = fan_out(ctx)
    if items is None:
        return None
    wants: dict[str, list[str] | None] = {}
    for item in items:
        if not item.use_synthetic:
            continue
        module, modality = parse_target(item.target)
        if modality:
            modalities = wants.setdefault(module, [])
            if modalities is not None and modality not in modalities:
                modalities.append(modality)
        else:
            wants[module] = None
    return wants


def _real_experiences(ctx: StageContext) -> list[dict[str, Any]]:
    done = harvested(ctx)
    if done is not None and done.experiences_key:
        return read_parquet(ctx.store, done.experiences_key)
    return []
