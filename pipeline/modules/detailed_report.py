"""The `detailed_report` agent module: a request and the content found for it → an in-depth
report (findings, the evidence for each, what is missing).

Data: the tenant's golden dataset (`tenants/{t}/golden/detailed_report.jsonl` or
`--golden-dataset`), a line per `query` + `content` with a reference `report`; lines without
`report` are unlabelled, for the teacher to write.

Metric (pipeline.modules.golden.text_metric): 0.6 · the judge's rubric (faithfulness, coverage,
clarity; on the teacher LM) + 0.4 · cheap checks (80–600 words; coverage of the content's key
terms). An answer scoring ≥ 0.6 counts as right in the paired test.
"""

from __future__ import annotations

from typing import Any

import dspy

from pipeline.modules import ModuleSpec
from pipeline.modules.golden import example_builder, text_metric
from pipeline.modules.structured import StructuredProgram

BOUNDS = (80, 600)
PASS = 0.6
TASK = "a detailed report on the content for the request: findings, the evidence for each, open questions"
RUBRIC = ("faithfulness: every finding is supported by the content; coverage: every main point of the content "
          "that matters for the request is analysed; clarity: organised in sections a reader can follow")


class WriteReport(dspy.Signature):
    """Write a detailed report on the content found for a search request: the findings that
    matter for the request, the evidence in the content for each, and what remains open."""

    query: str = dspy.InputField(desc="the user's request")
    content: str = dspy.InputField(desc="the content found for it")
    report: str = dspy.OutputField(desc="a structured report of 80 to 600 words")


def _finish(outputs: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    return {"report": str(outputs.get("report") or "").strip()}


def program() -> StructuredProgram:
    return StructuredProgram(WriteReport, _finish)


SPEC = ModuleSpec(
    name="detailed_report",
    real_data=False,
    adaptive=False,
    golden=True,
    program_factory=program,
    metric=text_metric("report", "content", TASK, RUBRIC, BOUNDS, PASS),
    build_example=example_builder(("query", "content"), ("report",)),
    input_fields=("query", "content"),
    label_field="report",
    outputs=("report",),
    metric_fields=("report",),
    pass_score=PASS,
)
