"""The quality benchmark's evaluation set (tests/benchmarks/data/routing_eval.jsonl) is fit to
measure generalisation: big enough, balanced, and sharing no near-duplicate with any query the
training data can contain (the demo's labelled queries, from which its traffic is seeded)."""

from __future__ import annotations

import difflib
import json
from collections import Counter
from pathlib import Path

from pipeline.domain import AGENTS, MODALITIES
from pipeline.demo.seed import load_queries
from pipeline.textclf import TfidfFeatures, normalise

EVAL = Path(__file__).parent / "benchmarks" / "data" / "routing_eval.jsonl"
NEAR_DUPLICATE = 0.8


def _eval_rows() -> list[dict]:
    return [json.loads(line) for line in EVAL.read_text().splitlines() if line.strip()]


def test_the_evaluation_set_is_big_balanced_and_well_formed():
    rows = _eval_rows()
    assert len(rows) >= 280
    counts = Counter(r["expected_agent"] for r in rows)
    assert set(counts) == set(AGENTS) and min(counts.values()) >= 40
    assert all(r["modality"] in MODALITIES and isinstance(r["query"], str) and r["query"].strip() for r in rows)
    assert len({normalise(r["query"]) for r in rows}) == len(rows)  # no repeated query
    lengths = sorted(len(r["query"].split()) for r in rows)
    assert lengths[0] <= 3 and lengths[-1] >= 25  # terse and long phrasings both present


def test_no_evaluation_query_is_a_near_duplicate_of_a_training_query():
    evaluation = [r["query"] for r in _eval_rows()]
    training = [q["query"] for q in load_queries()]
    features = TfidfFeatures.fit(evaluation + training)
    similarity = (features.transform(evaluation) @ features.transform(training).T).toarray()
    worst = similarity.max(axis=1)
    close = [(evaluation[i], training[int(similarity[i].argmax())], round(float(worst[i]), 3))
             for i in range(len(evaluation)) if worst[i] >= NEAR_DUPLICATE]
    assert close == [], f"TF-IDF cosine ≥ {NEAR_DUPLICATE}: {close[:5]}"
    # and by characters, for paraphrases TF-IDF weighs differently
    by_text = [(e, t) for e in evaluation for t in training
               if difflib.SequenceMatcher(None, normalise(e), normalise(t)).quick_ratio() >= NEAR_DUPLICATE
               and difflib.SequenceMatcher(None, normalise(e), normalise(t)).ratio() >= NEAR_DUPLICATE]
    assert by_text == [], f"character similarity ≥ {NEAR_DUPLICATE}: {by_text[:5]}"
