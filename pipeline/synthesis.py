"""DSPy generator of natural user queries from real backend content."""

from __future__ import annotations

from typing import Literal

import dspy

Intent = Literal["search", "summarize", "report"]

# What the user wants from the item → the agent that serves it (search depends on the schema).
INTENT_AGENTS = {"summarize": "summarizer_agent", "report": "detailed_report_agent"}


class GenerateUserQuery(dspy.Signature):
    """Write one realistic request a user of a multi-agent search system would type to get this
    content. Match the intent: search = find it, summarize = a short summary, report = an
    in-depth report. Do not copy the title verbatim."""

    title: str = dspy.InputField()
    topics: str = dspy.InputField(desc="comma-separated topics and entities of the content")
    content_kind: str = dspy.InputField(desc="video, image, audio, document or text")
    intent: Intent = dspy.InputField()
    # The pattern keeps tiny models from echoing the "{query}" template of the prompt.
    query: str = dspy.OutputField(desc="the user's request, one sentence", pattern=r"^[A-Za-z][^{}\n]{7,199}$")


class QueryGenerator(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.generate = dspy.Predict(GenerateUserQuery)

    def forward(self, title: str, topics: str, content_kind: str, intent: str) -> dspy.Prediction:
        return self.generate(title=title, topics=topics, content_kind=content_kind, intent=intent)
