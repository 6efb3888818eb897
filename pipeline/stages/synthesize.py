"""synthesize: labelled synthetic examples generated from the search backend's real content.

Each example's label follows from the content it was generated from (its schema, or the
summarize/report intent), so the LM only writes the wording. Examples are deduplicated against
real traffic and each other, and carry provenance; they are never used as evaluation data.
"""

from __future__ import annotations

import logging
import random
from typing import Any, Literal

from pydantic import BaseModel

from pipeline.content import SCHEMA_ROUTES, ContentItem, open_content_source
from pipeline.stages.base import StageContext, read_parquet

STAGE = "synthesize"
EXAMPLES_FILE = "examples.jsonl"
INTENTS = ("search", "search", "summarize", "report")  # search twice: it is most of the traffic

log = logging.getLogger(__name__)


class SynthesizeInputs(BaseModel):
    count: int = 40
    seed: int = 11


class SynthesizeResult(BaseModel):
    status: Literal["ok", "skipped"]
    reason: str | None = None
    source: str
    requested: int
    content_sampled: int
    generated: int
    rejected_duplicates: int
    rejected_invalid: int
    by_agent: dict[str, int]
    examples_key: str | None
    generator_model: str | None


def normalise(query: str) -> str:
    return " ".join("".join(c.lower() if c.isalnum() else " " for c in query).split())


def run(ctx: StageContext, inputs: SynthesizeInputs) -> SynthesizeResult:
    out = ctx.output(STAGE)
    if (done := out.committed()) is not None:
        return SynthesizeResult.model_validate(done)
    source = open_content_source(ctx.config.content)
    items = source.sample(inputs.count, inputs.seed) if inputs.count > 0 else []
    if not items:
        result = SynthesizeResult(
            status="skipped", reason="no synthetic data: the content source returned nothing", source=source.name,
            requested=inputs.count, content_sampled=0, generated=0, rejected_duplicates=0, rejected_invalid=0,
            by_agent={}, examples_key=None, generator_model=None,
        )
        out.commit(result)
        return result

    seen = {normalise(e["query"]) for e in _real_experiences(ctx)}
    rng = random.Random(inputs.seed)
    plan = [(item, rng.choice(INTENTS)) for item in items if item.schema_name in SCHEMA_ROUTES]
    spec = ctx.config.llm.for_teacher()
    examples, duplicates, invalid = [], 0, 0

    from pipeline.lm import lm_context
    from pipeline.synthesis import INTENT_AGENTS, QueryGenerator

    generator = QueryGenerator()
    with lm_context(spec):
        for item, intent in plan:
            modality, search_agent = SCHEMA_ROUTES[item.schema_name]
            try:
                query = str(generator(title=item.title, topics=_topics(item), content_kind=modality, intent=intent).query)
            except Exception as exc:  # an unparseable reply is one rejected example, not a failed stage
                if type(exc).__name__ in {"APIConnectionError", "LMUnavailableError"}:
                    raise
                log.warning("generation for %s failed: %s", item.id, exc)
                invalid += 1
                continue
            query = " ".join(query.split())
            if not 8 <= len(query) <= 300 or len(query.split()) < 3 or normalise(query) == normalise(item.title):
                invalid += 1
                continue
            key = normalise(query)
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            examples.append(
                {
                    "id": f"synthetic-{item.id}-{intent}",
                    "query": query,
                    "label": INTENT_AGENTS.get(intent, search_agent),
                    "label_source": "synthetic",
                    "modality": modality,
                    "context": "",
                    "provenance": {"kind": "synthetic", "source": source.name, "content_id": item.id, "intent": intent, "generator": spec.model},
                }
            )
    by_agent: dict[str, int] = {}
    for e in examples:
        by_agent[e["label"]] = by_agent.get(e["label"], 0) + 1
    key = out.put_jsonl(EXAMPLES_FILE, examples) if examples else None
    result = SynthesizeResult(
        status="ok" if examples else "skipped",
        reason=None if examples else "no synthetic data: every generated query was rejected",
        source=source.name,
        requested=inputs.count,
        content_sampled=len(items),
        generated=len(examples),
        rejected_duplicates=duplicates,
        rejected_invalid=invalid,
        by_agent=dict(sorted(by_agent.items())),
        examples_key=key,
        generator_model=spec.model,
    )
    out.commit(result)
    return result


def _topics(item: ContentItem) -> str:
    return ", ".join([*item.topics, *item.entities][:8])


def _real_experiences(ctx: StageContext) -> list[dict[str, Any]]:
    done = ctx.output("harvest").committed()
    if done and done.get("experiences_key"):
        return read_parquet(ctx.store, done["experiences_key"])
    return []
