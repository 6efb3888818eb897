"""synthesize's contract: its inputs, its result (one summary per generator), the reader."""

from __future__ import annotations

from pydantic import BaseModel

from pipeline.run.context import Outcome, StageContext
from pipeline.synthetic.schemas import Patterns, SelectionMode, Strategy

STAGE = "synthesize"


class SynthesizeInputs(BaseModel):
    count: int | None = None  # examples per generator, spread over its schemas; None = content.synthetic_count
    seed: int = 11
    optimizers: list[str] | None = None  # generators to run; None = content.generators, narrowed by the plan
    sample_size: int | None = None  # documents per generator; None = what `count` needs
    strategies: list[Strategy] = ["diverse"]


class GeneratorSummary(BaseModel):
    schema_name: str
    trained: bool  # its rows are in examples.jsonl, which routing and modality train on
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


class SynthesizeResult(Outcome):
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


def synthesized(ctx: StageContext) -> SynthesizeResult | None:
    return ctx.output(STAGE).read(SynthesizeResult)


class GeneratorFile(BaseModel):
    examples_key: str | None = None


class SynthesizedFiles(BaseModel):
    """What reading the synthetic examples needs of a committed result: where they are."""

    examples_key: str | None = None  # examples.jsonl
    generators: dict[str, GeneratorFile] = {}


def synthesized_files(ctx: StageContext) -> SynthesizedFiles | None:
    return ctx.output(STAGE).read(SynthesizedFiles)
