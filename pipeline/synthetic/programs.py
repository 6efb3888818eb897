"""The DSPy programs of synthetic data generation: natural user queries written from real
backend content (one per generator kind), and the LLM choice of which backend schemas to sample.
The labels never come from here: the generators derive them from the content (generators.py)."""

from __future__ import annotations

from typing import Annotated, Literal

import annotated_types
import dspy

Intent = Literal["search", "summarize", "report"]  # the agent each leads to: patterns.target_agent

# The pattern keeps tiny models from echoing the "{query}" template of the prompt.
QUERY_PATTERN = r"^[A-Za-z][^{}\n]{7,199}$"


class GenerateUserQuery(dspy.Signature):
    """Write one realistic request a user of a multi-agent search system would type to get this
    content. Match the intent: search = find it, summarize = a short summary, report = an
    in-depth report. Do not copy the title verbatim."""

    title: str = dspy.InputField()
    topics: str = dspy.InputField(desc="comma-separated topics and entities of the content")
    content_kind: str = dspy.InputField(desc="video, image, audio, document or text")
    intent: Intent = dspy.InputField()
    query: str = dspy.OutputField(desc="the user's request, one sentence", pattern=QUERY_PATTERN)


class QueryGenerator(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.generate = dspy.Predict(GenerateUserQuery)

    def forward(self, title: str, topics: str, content_kind: str, intent: str) -> dspy.Prediction:
        return self.generate(title=title, topics=topics, content_kind=content_kind, intent=intent)


class GenerateCrossModalQuery(dspy.Signature):
    """Write one realistic request that can only be answered by combining two kinds of content:
    the primary item and the secondary item below (for example a video and the document that
    explains it). Mention what is wanted from each. Do not copy the titles verbatim."""

    primary_title: str = dspy.InputField()
    primary_kind: str = dspy.InputField(desc="video, image, audio, document or text")
    secondary_title: str = dspy.InputField()
    secondary_kind: str = dspy.InputField(desc="video, image, audio, document or text")
    shared_topics: str = dspy.InputField(desc="comma-separated topics both items are about; may be empty")
    query: str = dspy.OutputField(desc="the user's request, one sentence", pattern=QUERY_PATTERN)


class CrossModalQueryGenerator(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.generate = dspy.Predict(GenerateCrossModalQuery)

    def forward(self, primary_title: str, primary_kind: str, secondary_title: str, secondary_kind: str,
                shared_topics: str) -> dspy.Prediction:
        return self.generate(primary_title=primary_title, primary_kind=primary_kind, secondary_title=secondary_title,
                             secondary_kind=secondary_kind, shared_topics=shared_topics)


class GenerateWorkflowQuery(dspy.Signature):
    """Write one realistic request that needs several steps done in order: first find this
    content, then the follow-up step named (summarize it, or write an in-depth report on it).
    The request must ask for both. Do not copy the title verbatim."""

    title: str = dspy.InputField()
    topics: str = dspy.InputField(desc="comma-separated topics and entities of the content")
    content_kind: str = dspy.InputField(desc="video, image, audio, document or text")
    follow_up: Literal["summarize", "report"] = dspy.InputField()
    query: str = dspy.OutputField(desc="the user's request, one or two sentences", pattern=QUERY_PATTERN)


class WorkflowQueryGenerator(dspy.Module):
    def __init__(self) -> None:
        super().__init__()
        self.generate = dspy.Predict(GenerateWorkflowQuery)

    def forward(self, title: str, topics: str, content_kind: str, follow_up: str) -> dspy.Prediction:
        return self.generate(title=title, topics=topics, content_kind=content_kind, follow_up=follow_up)


class SelectProfiles(dspy.Signature):
    """Choose which backend schemas to sample real content from, to generate training examples
    for the optimizer whose task is described. Prefer schemas whose content fits the task and,
    among those, variety. Choose at most max_profiles."""

    optimizer: str = dspy.InputField()
    task: str = dspy.InputField(desc="what the optimizer learns")
    profiles: str = dspy.InputField(desc="one schema per line: name (modality): what it holds")
    max_profiles: int = dspy.InputField()
    selected: list[str] = dspy.OutputField(desc="names of the chosen schemas")
    reasoning: str = dspy.OutputField(desc="one short sentence")


class ProfileChooser(dspy.Module):
    """SelectProfiles with the answer constrained to the schemas that exist, and bounded: an
    unbounded list lets a small model repeat names until max_tokens cuts the JSON (measured)."""

    def __init__(self, names: list[str], max_profiles: int) -> None:
        super().__init__()
        choice = Annotated[list[Literal[tuple(names)]], annotated_types.Len(1, max(1, max_profiles))]  # type: ignore[misc]
        self.choose = dspy.Predict(SelectProfiles.with_updated_fields("selected", type_=choice))

    def forward(self, optimizer: str, task: str, profiles: str, max_profiles: int) -> dspy.Prediction:
        return self.choose(optimizer=optimizer, task=task, profiles=profiles, max_profiles=max_profiles)
