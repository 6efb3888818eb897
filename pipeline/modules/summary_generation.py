"""The `summary_generation` agent module: a request and the content found for it → a short
summary of that content.

Data: the tenant's golden dataset (`tenants/{t}/golden/summary_generation.jsonl` or
`--golden-dataset`), a line per `query` + `content` with a reference `summary`; lines without
`summary` are unlabelled, for the teacher to summarise.

Metric (pipeline.modules.golden.text_metric): 0.6 · the judge's rubric (faithfulness, coverage,
clarity; on the teacher LM) + 0.4 · cheap checks (20–120 words; coverage of the content's key
terms). An answer scoring ≥ 0.6 counts as right in the paired test.
"""

from __future__ import annotations

from typing import Any

import dspy

from pipeline.modules import ModuleSpec
from pipeline.modules.golden import example_builder, text_metric
from pipeline.modules.structured import StructuredProgram

BOUNDS = (20, 120)
PASS = 0.6
TASK = "a short summary of the content that answers the request"
RUBRIC = ("faithfulness: every statement is supported by the content; coverage: the content's main points "
          "that matter for the request are there; clarity: a few clear sentences, no filler")


class SummarizeContent(dspy.Signature):
    """Summarize the content found for a search request in a few sentences: its main points
    that matter for the request, nothing the content does not say."""

    query: str = dspy.InputField(desc="the user's request")
    content: str = dspy.InputField(desc="the content found for it")
    summary: str = dspy.OutputField(desc="a summary of 20 to 120 words")


def _finish(outputs: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    return {"summary": str(outputs.get("summary") or "").strip()}


def program() -> StructuredProgram:
    return StructuredProgram(SummarizeContent, _finish)


SPEC = ModuleSpec(
    name="summary_generation",
    real_data=False,
    adaptive=False,
    golden=True,
    program_factory=program,
    metric=text_metric("summary", "content", TASK, RUBRIC, BOUNDS, PASS),
    build_example=example_builder(("query", "content"), ("summary",)),
    input_fields=("query", "content"),
    label_field="summary",
    outputs=("summary",),
    metric_fields=("summary",),
    pass_score=PASS,
)
