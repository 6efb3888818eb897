"""The synthetic data service: request → profiles → real content → patterns → labelled jobs →
queries written by the LM → checked, deduplicated examples with provenance."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import time
from typing import Any

from pipeline.config import LMSpec
from pipeline.content import ContentSource
from pipeline.synthetic.generators import get_generator
from pipeline.synthetic.patterns import acceptable_query, apply_strategies, extract_patterns, normalise
from pipeline.synthetic.profiles import is_lm_outage, select_profiles
from pipeline.synthetic.schemas import GenerationMetadata, Provenance, SyntheticDataRequest, SyntheticDataResponse

log = logging.getLogger(__name__)


class LMScope:
    """Enters `lm_context(spec)` on first use only: a run whose backend returns nothing never
    loads the model. `with LMScope(spec) as lm: ... lm.ensure()`."""

    def __init__(self, spec: LMSpec) -> None:
        self.spec = spec
        self._stack = contextlib.ExitStack()
        self._active = False

    def ensure(self) -> None:
        if not self._active:
            from pipeline import lm as lm_module  # looked up at call time (tests swap lm_context)

            self._stack.enter_context(lm_module.lm_context(self.spec))
            self._active = True

    def __enter__(self) -> "LMScope":
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
        self._active = False


def generate(
    request: SyntheticDataRequest,
    source: ContentSource,
    lm: LMScope,
    *,
    seen: set[str] | None = None,
    profile_selection: str = "rules",
) -> SyntheticDataResponse:
    """Examples of `request.optimizer`'s schema from `source`'s real content. `seen` holds the
    normalised queries to avoid (real traffic, earlier examples) and grows with every example."""
    started = time.monotonic()
    generator = get_generator(request.optimizer)
    seen = set() if seen is None else seen
    candidates = [p for p in source.profiles() if request.modalities is None or p.modality in request.modalities]
    if profile_selection == "llm" and candidates:
        lm.ensure()
    selection = select_profiles(generator, candidates, request, profile_selection)
    by_name = {p.name: p for p in candidates if p.name in selection.names}

    items = []
    if selection.names:
        seed = _derived_seed(request.seed, generator.name)
        items = source.sample(generator.sample_size(request), seed, schemas=selection.names)
    items = apply_strategies(items, request.strategies)
    rng = random.Random(_derived_seed(request.seed, f"jobs:{generator.name}"))
    jobs = generator.jobs(items, by_name, rng, request.count)

    data: list[dict[str, Any]] = []
    duplicates = invalid = 0
    if jobs:
        lm.ensure()
        program = generator.program()
        for job in jobs:
            try:
                query = generator.write(program, job)
            except Exception as exc:  # an unparseable reply is one rejected example, not a failed stage
                if is_lm_outage(exc):
                    raise
                log.warning("%s: generation for %s failed: %s", generator.name, job.example_id, exc)
                invalid += 1
                continue
            query = " ".join(query.split())
            if not acceptable_query(query, [item.title for item in job.items]):
                invalid += 1
                continue
            key = normalise(query)
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            provenance = Provenance(
                generator=request.optimizer, backend=source.name, schemas=[item.schema_name for item in job.items],
                doc_ids=[item.source_id or item.id for item in job.items], intent=job.intent,
                generator_lm=lm.spec.model, tenant=request.tenant,
            )
            data.append(generator.example(job, query, provenance).model_dump(mode="json"))
    return SyntheticDataResponse(
        optimizer=request.optimizer,
        schema_name=generator.schema.__name__,
        count=len(data),
        selected_profiles=selection.names,
        profile_selection=selection.mode,
        profile_selection_reasoning=selection.reasoning,
        data=data,
        metadata=GenerationMetadata(
            backend=source.name,
            sampled=len(items),
            rejected_duplicates=duplicates,
            rejected_invalid=invalid,
            patterns=extract_patterns(items),
            generator_lm=lm.spec.model if jobs or selection.mode != "rules" else None,
            seconds=round(time.monotonic() - started, 3),
        ),
    )


def _derived_seed(seed: int, name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:8], "big")
