"""Pattern extraction from sampled content, the target-agent rules, and query checks."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

from pipeline.content import ContentItem, ContentProfile
from pipeline.synthetic.schemas import Patterns, Strategy

INTENTS = ("search", "search", "summarize", "report")  # search twice: it is most of the traffic
# What the user wants from the content → the agent that serves it; search goes to the agent of
# the content's schema.
INTENT_AGENTS = {"summarize": "summarizer_agent", "report": "detailed_report_agent"}
FOLLOW_UPS = ("summarize", "report")


def target_agent(intent: str, profile: ContentProfile) -> str:
    """routing/modality rule: search → the schema's agent, summarize/report → their agents."""
    return INTENT_AGENTS.get(intent, profile.agent)


def workflow_agents(follow_up: str, profile: ContentProfile) -> list[str]:
    """workflow rule: find with the schema's agent, then the follow-up step's agent."""
    return [profile.agent, INTENT_AGENTS[follow_up]]


def extract_patterns(items: Iterable[ContentItem], top: int = 10) -> Patterns:
    items = list(items)
    topics = Counter(t.lower() for item in items for t in item.topics)
    entities = Counter(e for item in items for e in item.entities)
    return Patterns(
        topics=dict(topics.most_common(top)),
        entities=dict(entities.most_common(top)),
        titles=[item.title for item in items[:5]],
    )


def topics_text(item: ContentItem, limit: int = 8) -> str:
    return ", ".join([*item.topics, *item.entities][:limit])


def mentioned(terms: Sequence[str], text: str) -> list[str]:
    """The terms that occur in `text` as whole words, case-insensitively."""
    lowered = text.lower()
    return [t for t in terms if t and re.search(rf"(?<!\w){re.escape(t.lower())}(?!\w)", lowered)]


def shared_topics(a: ContentItem, b: ContentItem) -> list[str]:
    b_terms = {t.lower() for t in [*b.topics, *b.entities]}
    return list(dict.fromkeys(t for t in [*a.topics, *a.entities] if t.lower() in b_terms))


def apply_strategies(items: list[ContentItem], strategies: Sequence[Strategy]) -> list[ContentItem]:
    """`entity_rich`: only items with topics or entities, the richest first (a stable sort keeps
    the backend's random order among equals). `diverse`: the sample as the backend returned it."""
    if "entity_rich" in strategies:
        rich = [item for item in items if item.topics or item.entities]
        return sorted(rich, key=lambda item: -(len(item.entities) + len(item.topics)))
    return items


def normalise(query: str) -> str:
    return " ".join("".join(c.lower() if c.isalnum() else " " for c in query).split())


def acceptable_query(query: str, titles: Sequence[str]) -> bool:
    """One natural request: 8–300 characters, at least 3 words, not a copied title."""
    if not 8 <= len(query) <= 300 or len(query.split()) < 3:
        return False
    return all(normalise(query) != normalise(title) for title in titles)
