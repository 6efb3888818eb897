"""The `query_analysis` agent module: a user query → its intent, complexity, which searches it
needs, whether it spans several kinds of content, and its temporal pattern.

Data: the tenant's golden dataset (pipeline.modules.golden; `tenants/{t}/golden/query_analysis.jsonl`
or `train --golden-dataset FILE`), a line per query with the six output fields; lines with only
a `query` are unlabelled, for the teacher to label. Held-out: a seeded share of the labelled lines.

Metric: exact field agreement over the six fields (bootstrapping: all six). Evaluation and the
gate score that mean; `primary_intent` is the label of the per-label figures.
"""

from __future__ import annotations

from typing import Any, Literal

import dspy

from pipeline.modules import ModuleSpec
from pipeline.modules.golden import example_builder, field_agreement
from pipeline.modules.structured import StructuredProgram

Intent = Literal["search", "summarize", "analyze", "compare", "report", "question"]
Complexity = Literal["simple", "moderate", "complex"]
Temporal = Literal["none", "recent", "specific_date", "date_range", "recurring"]
FIELDS = ("primary_intent", "complexity_level", "needs_video_search", "needs_text_search", "multimodal_query", "temporal_pattern")


class AnalyzeQuery(dspy.Signature):
    """Analyze a search query before it is routed: what the user wants, how hard it is, which
    searches it needs, whether it spans several kinds of content, and what time it refers to."""

    query: str = dspy.InputField(desc="the user's request")
    primary_intent: Intent = dspy.OutputField(desc="what the user mainly wants done")
    complexity_level: Complexity = dspy.OutputField(desc="simple: one lookup; moderate: a few steps; complex: many steps or sources")
    needs_video_search: bool = dspy.OutputField(desc="true when videos must be searched")
    needs_text_search: bool = dspy.OutputField(desc="true when text or documents must be searched")
    multimodal_query: bool = dspy.OutputField(desc="true when the answer combines several kinds of content")
    temporal_pattern: Temporal = dspy.OutputField(desc="the time the query refers to")


def _finish(outputs: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    return {**{f: outputs.get(f) for f in FIELDS[:2]}, **{f: bool(outputs.get(f)) for f in FIELDS[2:5]},
            "temporal_pattern": outputs.get("temporal_pattern")}


def program() -> StructuredProgram:
    return StructuredProgram(AnalyzeQuery, _finish)


SPEC = ModuleSpec(
    name="query_analysis",
    real_data=False,
    adaptive=False,
    golden=True,
    program_factory=program,
    metric=field_agreement(FIELDS),
    build_example=example_builder(("query",), FIELDS),
    input_fields=("query",),
    label_field="primary_intent",
    outputs=FIELDS,
    metric_fields=FIELDS,
    exact_fields=FIELDS,
)
