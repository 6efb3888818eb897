"""Training and held-out data for one module target, built from a run's experiences.

Held-out examples come only from labels we trust for measurement (a human annotation, or a
confident decision whose outcome was good). LLM annotations and synthetic examples are used
for training only: a model must not be graded against labels produced by a model.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from typing import Any

TRUSTED_SOURCES = frozenset({"human", "outcome"})


def labelled_for_target(experiences: list[dict[str, Any]], modality: str | None) -> list[dict[str, Any]]:
    rows = [e for e in experiences if e.get("label")]
    if modality is not None:
        rows = [e for e in rows if e.get("modality") == modality]
    return rows


def stratified_split(
    rows: list[dict[str, Any]], fraction: float, seed: int, label_key: str = "label"
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per label, a seeded shuffle and `fraction` of it held out (a label seen once stays in
    training). Rows with the same query (normalised: users re-ask) stay on one side, so a
    held-out query is never also a training query. Deterministic for the same rows and seed,
    whatever their input order."""
    from pipeline.textclf import normalise

    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r.get("span_id") or r.get("id") or r["query"]):
        groups[normalise(row["query"])].append(row)
    by_label: dict[str, list[list[dict[str, Any]]]] = defaultdict(list)
    for key in sorted(groups):
        members = groups[key]
        by_label[members[0][label_key]].append(members)  # the group goes where its first row's label does
    rng = random.Random(seed)
    train, heldout = [], []
    for label in sorted(by_label):
        label_groups = by_label[label]
        rng.shuffle(label_groups)
        n_heldout = int(round(len(label_groups) * fraction)) if len(label_groups) > 1 else 0
        for group in label_groups[:n_heldout]:
            heldout.extend(group)
        for group in label_groups[n_heldout:]:
            train.extend(group)
    return train, heldout


def split_for_training(
    experiences: list[dict[str, Any]], modality: str | None, fraction: float, seed: int, *,
    trusted: frozenset[str] = TRUSTED_SOURCES, label_key: str = "label",
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train rows, held-out rows): labels of a `trusted` source split stratified (by
    `label_key`); the other labels (LLM, orchestration-derived) join training, never on a
    held-out query."""
    rows = labelled_for_target(experiences, modality)
    other = [r for r in rows if r.get("label_source") not in trusted]
    train, heldout = stratified_split([r for r in rows if r.get("label_source") in trusted], fraction, seed, label_key)
    from pipeline.textclf import normalise

    held_queries = {normalise(r["query"]) for r in heldout}
    return train + [r for r in other if normalise(r["query"]) not in held_queries], heldout


def data_hash(rows: list[dict[str, Any]]) -> str:
    """Content hash recorded in the artifact metadata: which data built this program."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def labelled_data_hash(rows: list[dict[str, Any]]) -> str:
    """Order-independent hash of (query, label) pairs: did the labelled data change?"""
    return data_hash(sorted(({"q": r["query"], "l": r["label"]} for r in rows), key=lambda r: (r["q"], r["l"])))
