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
    training). Deterministic for the same rows and seed, whatever their input order."""
    by_label: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r.get("span_id") or r.get("id") or r["query"]):
        by_label[row[label_key]].append(row)
    rng = random.Random(seed)
    train, heldout = [], []
    for label in sorted(by_label):
        group = by_label[label]
        rng.shuffle(group)
        n_heldout = int(round(len(group) * fraction)) if len(group) > 1 else 0
        heldout.extend(group[:n_heldout])
        train.extend(group[n_heldout:])
    return train, heldout


def split_for_training(
    experiences: list[dict[str, Any]], modality: str | None, fraction: float, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train rows, held-out rows): trusted labels split stratified; LLM labels join training."""
    rows = labelled_for_target(experiences, modality)
    trusted = [r for r in rows if r.get("label_source") in TRUSTED_SOURCES]
    other = [r for r in rows if r.get("label_source") not in TRUSTED_SOURCES]
    train, heldout = stratified_split(trusted, fraction, seed)
    return train + other, heldout


def data_hash(rows: list[dict[str, Any]]) -> str:
    """Content hash recorded in the artifact metadata: which data built this program."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def labelled_data_hash(rows: list[dict[str, Any]]) -> str:
    """Order-independent hash of (query, label) pairs: did the labelled data change?"""
    return data_hash(sorted(({"q": r["query"], "l": r["label"]} for r in rows), key=lambda r: (r["q"], r["l"])))
