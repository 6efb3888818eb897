"""Request, response and example types of synthetic data generation (as the seed's
`SyntheticDataRequest`/`SyntheticDataResponse`), one example schema per optimizer/module."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.domain import AgentName, Modality
from pipeline.orchestration import OrchestrationPattern

Optimizer = Literal["modality", "cross_modal", "routing", "workflow"]
# diverse = the backend's random sample as is; entity_rich = items with topics/entities first
Strategy = Literal["diverse", "entity_rich"]
SelectionMode = Literal["rules", "llm", "llm-fallback"]


class Provenance(BaseModel):
    """Where a synthetic example came from. `kind` is always synthetic: such examples train,
    they are never evaluation data."""

    kind: Literal["synthetic"] = "synthetic"
    generator: Optimizer
    backend: str  # the content source, e.g. vespa:http://host:8080
    schemas: list[str]  # backend schema of each document used (two for cross-modal)
    doc_ids: list[str]  # the backend's document ids
    intent: str
    generator_lm: str
    tenant: str


class _Example(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    query: str
    provenance: Provenance


class RoutingExample(_Example):
    """module `routing`: (query, context) → agent. `context` is rendered like a span's
    routing.context (entities of the content the query mentions)."""

    module: Literal["routing"] = "routing"
    context: str = ""
    entities: list[str] = []
    modality: Modality
    label: AgentName
    label_source: Literal["synthetic"] = "synthetic"


class ModalityExample(_Example):
    """module `modality`: (query, modality) → agent, trained per modality."""

    module: Literal["modality"] = "modality"
    modality: Modality
    label: AgentName
    label_source: Literal["synthetic"] = "synthetic"
    modality_features: dict[str, list[str]] = {}  # topics/entities of the content the query mentions


class CrossModalExample(_Example):
    """module `cross_modal`: (query, the modalities detected) → fuse them?, which leads. Every
    generated query needs both items' modalities, so `fuse` is always true here."""

    module: Literal["cross_modal"] = "cross_modal"
    primary_modality: Modality
    secondary_modality: Modality
    agent: AgentName  # searches the primary modality
    secondary_agent: AgentName
    shared_topics: list[str] = []
    modalities: list[Modality] = []  # the two modalities, sorted: what a detector would report
    fuse: bool = True
    label: Modality  # what the module is scored on: the primary modality
    label_source: Literal["synthetic"] = "synthetic"


class WorkflowExample(_Example):
    """module `workflow`: (query, analysis) → pattern and the ordered agents that serve it. The
    generator writes find-then-summarize/report requests: sequential plans."""

    module: Literal["workflow"] = "workflow"
    modality: Modality
    analysis: str = ""  # what a query analysis would report: the content's modality
    pattern: OrchestrationPattern = "sequential"
    agent_sequence: list[AgentName]
    label: str  # what the module is scored on: the plan (pipeline.orchestration.plan_label)
    label_source: Literal["synthetic"] = "synthetic"


class SyntheticDataRequest(BaseModel):
    optimizer: Optimizer
    count: int = Field(ge=1, le=10000)  # examples wanted, spread evenly over the selected schemas
    vespa_sample_size: int | None = Field(default=None, ge=1, le=10000)  # documents; None = what `count` needs
    strategies: list[Strategy] = ["diverse"]
    max_profiles: int = Field(default=5, ge=1, le=10)
    tenant: str = "default"
    modalities: list[Modality] | None = None  # restrict the schemas to these modalities (the plan's)
    seed: int = 11


class Patterns(BaseModel):
    """What the sampled content is about: the most frequent topics and entities, some titles."""

    topics: dict[str, int] = {}
    entities: dict[str, int] = {}
    titles: list[str] = []


class GenerationMetadata(BaseModel):
    backend: str
    sampled: int  # documents sampled from the backend
    rejected_duplicates: int  # same as a real query or an earlier synthetic one
    rejected_invalid: int  # unparseable, too short, or the title copied
    patterns: Patterns
    generator_lm: str | None
    seconds: float


class SyntheticDataResponse(BaseModel):
    optimizer: Optimizer
    schema_name: str  # the example class the data follows
    count: int
    selected_profiles: list[str]
    profile_selection: SelectionMode
    profile_selection_reasoning: str
    data: list[dict[str, Any]]
    metadata: GenerationMetadata
