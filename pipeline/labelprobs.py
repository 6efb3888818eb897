"""The model's probability for each label, read from the token log-probabilities of its reply.

Constrained decoding guarantees the reply parses, but the label it emits says nothing about how
sure the model was. The server's `top_logprobs` at the first token of the label value are the
model's own (pre-grammar) distribution over continuations; the alternatives that start a label
of the set, renormalised, are its distribution over labels. That distribution is what the
routing program's confidence, its bias correction and its calibration are built on.
"""

from __future__ import annotations

import math
from typing import Any, Sequence


def _entries(logprobs: Any) -> list[dict[str, Any]]:
    """The per-token entries of an OpenAI-shaped `logprobs` object (dict or attribute style)."""
    if logprobs is None:
        return []
    content = logprobs.get("content") if isinstance(logprobs, dict) else getattr(logprobs, "content", None)
    out = []
    for entry in content or ():
        if not isinstance(entry, dict):
            entry = {"token": getattr(entry, "token", ""), "logprob": getattr(entry, "logprob", 0.0),
                     "top_logprobs": [{"token": getattr(t, "token", ""), "logprob": getattr(t, "logprob", 0.0)}
                                      for t in getattr(entry, "top_logprobs", None) or ()]}
        out.append(entry)
    return out


def label_distribution(logprobs: Any, field: str, labels: Sequence[str]) -> dict[str, float] | None:
    """P(label) for the JSON string field `field`, or None when the reply's log-probabilities do
    not show that field's value (no logprobs returned, a provider without them, another shape).

    Labels that no alternative starts get no mass: they were not among the top alternatives."""
    marker = f'"{field}":"'
    text = ""
    for entry in _entries(logprobs):
        before = text
        text += str(entry.get("token", ""))
        at = text.find(marker)
        if at < 0 or len(text) <= at + len(marker):
            continue  # the value has not started inside this token yet
        start = at + len(marker)
        if before.find(marker) not in (-1, at):
            return None
        mass = dict.fromkeys(labels, 0.0)
        for alt in entry.get("top_logprobs") or ():
            candidate = before + str(alt.get("token", ""))
            if candidate.find(marker) != at or len(candidate) <= start:
                continue  # this alternative changes the key or does not start the value
            piece = candidate[start:].split('"', 1)
            prefix, closed = piece[0], len(piece) > 1
            hits = [label for label in labels if (label == prefix if closed else label.startswith(prefix))]
            for label in hits:
                mass[label] += math.exp(float(alt.get("logprob", -math.inf))) / len(hits)
        total = sum(mass.values())
        if total <= 0.0:
            return None
        return {label: value / total for label, value in mass.items()}
    return None
