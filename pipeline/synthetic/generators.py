"""The generator registry: one generator per optimizer/module, each turning sampled backend
content into examples of its module's schema.

A generator decides which schemas suit it (its selection rule), pairs content with an intent
(its jobs), and labels each job by the module's rules; the LM only writes the wording of the
query (pipeline.synthetic.programs). `trained` generators write the shared examples.jsonl that
routing and modality train on; the others write their own file, which a module may train on
(cross_modal: pipeline.modules.cross_modal; workflow: pipeline.modules.workflow).
"""

from __future__ import annotations

import json
import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel

from pipeline.domain import MODALITIES
from pipeline.content import ContentItem, ContentProfile
from pipeline.errors import ConfigError
from pipeline.orchestration import analysis_text, plan_label
from pipeline.synthetic import patterns as pt
from pipeline.synthetic.schemas import (
    CrossModalExample,
    ModalityExample,
    Provenance,
    RoutingExample,
    SyntheticDataRequest,
    WorkflowExample,
)


@dataclass(frozen=True)
class Job:
    """One example to write: the content it is grounded in, the intent, and its labels."""

    items: tuple[ContentItem, ...]
    profiles: tuple[ContentProfile, ...]
    intent: str
    labels: dict[str, Any] = field(default_factory=dict)

    @property
    def example_id(self) -> str:
        refs = "+".join(f"{item.schema_name}.{item.id}" for item in self.items)
        return f"{refs}-{self.intent}"


class Generator(ABC):
    name: ClassVar[str]
    schema: ClassVar[type[BaseModel]]
    trained: ClassVar[bool]
    task: ClassVar[str]  # what the module learns; shown to the LLM profile selector
    items_per_job: ClassVar[int] = 1
    min_modalities: ClassVar[int] = 1
    rule: ClassVar[str]  # why its rule picks what it picks

    # ------------------------------------------------------------ profile selection (rules)
    def select(self, candidates: list[ContentProfile], request: SyntheticDataRequest) -> tuple[list[str], str]:
        """One schema per modality first (coverage), in modality order, then the rest; at most
        `max_profiles`. Nothing when fewer modalities are available than the module needs."""
        modalities = {p.modality for p in candidates}
        if len(modalities) < self.min_modalities:
            return [], (f"{self.name} needs content of {self.min_modalities} modalities; "
                        f"available: {', '.join(sorted(modalities)) or 'none'}")
        order = sorted(candidates, key=lambda p: (MODALITIES.index(p.modality), p.name))
        firsts, rest, seen = [], [], set()
        for profile in order:
            (rest if profile.modality in seen else firsts).append(profile)
            seen.add(profile.modality)
        limit = max(request.max_profiles, self.min_modalities)
        chosen = [p.name for p in (firsts + rest)[:limit]]
        scope = f"modalities {', '.join(request.modalities)}" if request.modalities else "every modality"
        return chosen, f"rules: {self.rule}; scope: {scope}; chose {', '.join(chosen)}"

    # ------------------------------------------------------------ sizes
    def sample_size(self, request: SyntheticDataRequest) -> int:
        """Documents to sample: the request's, else enough for `count` jobs."""
        return request.vespa_sample_size or request.count * self.items_per_job

    # ------------------------------------------------------------ jobs, writing, examples
    @abstractmethod
    def jobs(self, items: list[ContentItem], profiles: dict[str, ContentProfile], rng: random.Random,
             wanted: int) -> list[Job]:
        """At most `wanted` jobs from the sampled items (whose schemas are in `profiles`)."""

    @abstractmethod
    def example(self, job: Job, query: str, provenance: Provenance) -> BaseModel:
        """The module-schema example for a job whose query the LM wrote."""

    def program(self) -> Any:
        from pipeline.synthetic.programs import QueryGenerator

        return QueryGenerator()

    def write(self, program: Any, job: Job) -> str:
        item, profile = job.items[0], job.profiles[0]
        return str(program(title=item.title, topics=pt.topics_text(item), content_kind=profile.modality,
                           intent=job.intent).query)


class PerItemGenerator(Generator):
    """One job per sampled item, labelled by `job`."""

    def jobs(self, items: list[ContentItem], profiles: dict[str, ContentProfile], rng: random.Random,
             wanted: int) -> list[Job]:
        jobs = []
        for item in items:
            if item.schema_name in profiles and len(jobs) < wanted:
                jobs.append(self.job(item, profiles[item.schema_name], rng))
        return jobs

    def job(self, item: ContentItem, profile: ContentProfile, rng: random.Random) -> Job:
        """The intent and labels for one item: a random intent; the agent follows from the
        intent (summarize/report) or the item's schema (search)."""
        intent = rng.choice(pt.INTENTS)
        return Job((item,), (profile,), intent, {"label": pt.target_agent(intent, profile)})


class RoutingGenerator(PerItemGenerator):
    name = "routing"
    schema = RoutingExample
    trained = True
    task = "route a user's query (with entities extracted upstream) to the agent that should answer it"
    rule = "one schema per modality, so every search agent and the summarize/report agents get examples"

    def example(self, job: Job, query: str, provenance: Provenance) -> BaseModel:
        item, profile = job.items[0], job.profiles[0]
        entities = pt.mentioned(item.entities, query)
        return RoutingExample(
            id=f"synthetic-routing-{job.example_id}", query=query, provenance=provenance,
            context=json.dumps({"entities": entities}) if entities else "", entities=entities,
            modality=profile.modality, label=job.labels["label"],
        )


class ModalityGenerator(PerItemGenerator):
    name = "modality"
    schema = ModalityExample
    trained = True
    task = "given a query about one modality's content, choose the agent that should answer it"
    rule = "the schemas of the modalities being trained with synthetic data"

    def example(self, job: Job, query: str, provenance: Provenance) -> BaseModel:
        item, profile = job.items[0], job.profiles[0]
        return ModalityExample(
            id=f"synthetic-modality-{job.example_id}", query=query, provenance=provenance,
            modality=profile.modality, label=job.labels["label"],
            modality_features={"topics": pt.mentioned(item.topics, query), "entities": pt.mentioned(item.entities, query)},
        )


class CrossModalGenerator(Generator):
    name = "cross_modal"
    schema = CrossModalExample
    trained = False
    task = "recognise queries that need two modalities combined, and which modality leads"  # module cross_modal
    items_per_job = 2
    min_modalities = 2
    rule = "schemas of at least two modalities, one per modality, so content can be paired across them"

    def jobs(self, items: list[ContentItem], profiles: dict[str, ContentProfile], rng: random.Random,
             wanted: int) -> list[Job]:
        """Pairs of items of different modalities, the pair sharing most topics first."""
        usable = [item for item in items if item.schema_name in profiles]
        jobs, paired = [], set()
        for primary in usable:
            if len(jobs) >= wanted:
                break
            p_profile = profiles[primary.schema_name]
            partners = [other for other in usable
                        if profiles[other.schema_name].modality != p_profile.modality
                        and frozenset((primary.id, other.id)) not in paired]
            if not partners:
                continue
            rng.shuffle(partners)
            secondary = max(partners, key=lambda other: len(pt.shared_topics(primary, other)))
            paired.add(frozenset((primary.id, secondary.id)))
            s_profile = profiles[secondary.schema_name]
            jobs.append(Job((primary, secondary), (p_profile, s_profile), "combine",
                            {"agent": p_profile.agent, "secondary_agent": s_profile.agent,
                             "shared_topics": pt.shared_topics(primary, secondary)}))
        return jobs

    def program(self) -> Any:
        from pipeline.synthetic.programs import CrossModalQueryGenerator

        return CrossModalQueryGenerator()

    def write(self, program: Any, job: Job) -> str:
        (a, b), (pa, pb) = job.items, job.profiles
        return str(program(primary_title=a.title, primary_kind=pa.modality, secondary_title=b.title,
                           secondary_kind=pb.modality, shared_topics=", ".join(job.labels["shared_topics"][:6])).query)

    def example(self, job: Job, query: str, provenance: Provenance) -> BaseModel:
        pa, pb = job.profiles
        return CrossModalExample(
            id=f"synthetic-cross_modal-{job.example_id}", query=query, provenance=provenance,
            primary_modality=pa.modality, secondary_modality=pb.modality, agent=job.labels["agent"],
            secondary_agent=job.labels["secondary_agent"], shared_topics=job.labels["shared_topics"],
            modalities=sorted({pa.modality, pb.modality}), label=pa.modality,
        )


class WorkflowGenerator(PerItemGenerator):
    name = "workflow"
    schema = WorkflowExample
    trained = False
    task = "plan the pattern and ordered agents a multi-step request needs (find, then summarize or report)"  # module workflow
    rule = "one schema per modality: a follow-up step (summarize, report) applies to any content"

    def job(self, item: ContentItem, profile: ContentProfile, rng: random.Random) -> Job:
        follow_up = rng.choice(pt.FOLLOW_UPS)
        return Job((item,), (profile,), f"find-then-{follow_up}",
                   {"follow_up": follow_up, "agent_sequence": pt.workflow_agents(follow_up, profile)})

    def program(self) -> Any:
        from pipeline.synthetic.programs import WorkflowQueryGenerator

        return WorkflowQueryGenerator()

    def write(self, program: Any, job: Job) -> str:
        item, profile = job.items[0], job.profiles[0]
        return str(program(title=item.title, topics=pt.topics_text(item), content_kind=profile.modality,
                           follow_up=job.labels["follow_up"]).query)

    def example(self, job: Job, query: str, provenance: Provenance) -> BaseModel:
        modality, agents = job.profiles[0].modality, job.labels["agent_sequence"]
        return WorkflowExample(
            id=f"synthetic-workflow-{job.example_id}", query=query, provenance=provenance, modality=modality,
            analysis=analysis_text({"modalities": [modality]}), pattern="sequential", agent_sequence=agents,
            label=plan_label("sequential", agents),
        )


REGISTRY: dict[str, Generator] = {
    g.name: g for g in (RoutingGenerator(), ModalityGenerator(), CrossModalGenerator(), WorkflowGenerator())
}


def get_generator(name: str) -> Generator:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown synthetic data generator {name!r}; known: {', '.join(REGISTRY)}") from None
