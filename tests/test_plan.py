"""plan: the seed's cold-start rules, skips, and forced training."""

import pytest

from pipeline.datasets import labelled_data_hash
from pipeline.stages.plan import decide


def rows(n):
    return [{"query": f"q{i}", "label": "document_agent"} for i in range(n)]


@pytest.mark.parametrize(
    "n, strategy",
    [(1, "SYNTHETIC"), (19, "SYNTHETIC"), (20, "HYBRID"), (49, "HYBRID"), (50, "PURE_REAL"), (500, "PURE_REAL")],
)
def test_cold_start_rules(n, strategy):
    d = decide("routing", rows(n), None, synthetic_allowed=True, force=False)
    assert d.train and d.strategy == strategy and d.decided_by.startswith("rules")


def test_skips_say_why():
    d = decide("routing", [], None, synthetic_allowed=False, force=False)
    assert not d.train and d.strategy == "SKIP" and "no labelled data" in d.reason
    d = decide("modality-video", rows(5), None, synthetic_allowed=False, force=False)
    assert not d.train and "synthetic data, which is disabled" in d.reason
    d = decide("routing", rows(80), labelled_data_hash(rows(80)), synthetic_allowed=True, force=False)
    assert not d.train and "nothing would change" in d.reason
    assert decide("routing", rows(81), labelled_data_hash(rows(80)), True, False).train


def test_force_training_overrides_a_skip_and_is_recorded():
    d = decide("routing", rows(80), labelled_data_hash(rows(80)), synthetic_allowed=True, force=True)
    assert d.train and d.forced and d.decided_by == "force-training" and "nothing would change" in d.reason
    d = decide("modality-video", rows(5), None, synthetic_allowed=False, force=True)
    assert d.train and d.forced and d.strategy == "PURE_REAL"
    d = decide("routing", [], None, synthetic_allowed=False, force=True)
    assert not d.train and d.forced
