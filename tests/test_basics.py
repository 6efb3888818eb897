"""Tenant ids, rewards, metrics, splits: the small pure pieces."""

import math

import pytest

from pipeline.config import RewardConfig
from pipeline.datasets import split_for_training, stratified_split
from pipeline.errors import InvalidTenantError
from pipeline.metrics import expected_calibration_error, mcnemar_one_sided, relative_improvement, score_predictions
from pipeline.reward import compute_reward
from pipeline.tenant import validate_tenant_id


@pytest.mark.parametrize("tenant", ["default", "acme", "a", "tenant-42", "x" * 63])
def test_valid_tenant_ids(tenant):
    assert validate_tenant_id(tenant) == tenant


@pytest.mark.parametrize("tenant", ["../x", "a/b", "x" * 64, "x" * 200, "", "Acme", "-a", "a-", "a_b", "a.b", " a"])
def test_invalid_tenant_ids_are_rejected(tenant):
    with pytest.raises(InvalidTenantError):
        validate_tenant_id(tenant)


def test_reward_uses_the_seed_weights():
    assert compute_reward(1.0, 1.0, 1.0, 0.0) == 1.0
    assert compute_reward(0.5, 1.0, 0.0, 0.0) == pytest.approx(0.4 * 0.5 + 0.3)


def test_reward_renormalises_when_satisfaction_is_missing():
    # 0.4·q + 0.3·s scaled by 1.0/0.7
    assert compute_reward(0.5, 1.0, None, 0.0) == pytest.approx((0.2 + 0.3) / 0.7, abs=1e-6)
    assert compute_reward(1.0, 1.0, None, 0.0) == 1.0


def test_reward_time_penalty_grows_then_caps():
    cfg = RewardConfig()
    assert compute_reward(1.0, 1.0, 1.0, 5.0, cfg) == pytest.approx(1.0 - 0.1)
    assert compute_reward(1.0, 1.0, 1.0, 500.0, cfg) == pytest.approx(1.0 - cfg.max_time_penalty)
    assert compute_reward(0.0, 0.0, 0.0, 500.0, cfg) == 0.0


def test_scores_on_a_known_confusion():
    gold = ["a", "a", "b", "b"]
    pred = ["a", "b", "b", None]
    m = score_predictions(gold, pred, [0.9, 0.8, 0.6, 0.0], [0.1, 0.2, 0.3, 0.4])
    assert m.accuracy == 0.5
    assert m.failures == 1
    assert m.per_agent["a"].precision == 1.0 and m.per_agent["a"].recall == 0.5
    assert m.per_agent["b"].precision == 0.5 and m.per_agent["b"].recall == 0.5
    assert m.macro_f1 == pytest.approx((2 / 3 + 0.5) / 2, abs=1e-4)
    assert m.confusion == {"a": {"a": 1, "b": 1}, "b": {"b": 1, "(unparsed)": 1}}
    assert m.latency_p50_s == pytest.approx(0.25)


def test_ece_is_zero_when_calibrated_and_large_when_overconfident():
    assert expected_calibration_error([1.0, 1.0], [True, True]) == 0.0
    assert expected_calibration_error([0.95] * 4, [False] * 4) == pytest.approx(0.95)


def test_relative_improvement_and_zero_baseline():
    assert relative_improvement(0.55, 0.5) == (10.0, "relative")
    assert relative_improvement(0.2, 0.0) == (20.0, "percentage_points")


def test_mcnemar_one_sided():
    assert mcnemar_one_sided([True] * 5, [False] * 5).p_value == pytest.approx(1 / 32)
    same = mcnemar_one_sided([True, False], [True, False])
    assert same.p_value == 1.0 and same.candidate_only_correct == 0
    mixed = mcnemar_one_sided([True, True, False], [False, False, True])
    assert mixed.p_value == pytest.approx(sum(math.comb(3, k) for k in (2, 3)) / 8)


def _rows(n, label, source="outcome", modality="text"):
    return [{"span_id": f"{label}-{source}-{i}", "query": f"q {i}", "label": label, "label_source": source, "modality": modality} for i in range(n)]


def test_stratified_split_is_deterministic_and_stratified():
    rows = _rows(10, "a") + _rows(20, "b") + _rows(1, "c")
    train1, held1 = stratified_split(rows, 0.3, seed=1)
    train2, held2 = stratified_split(list(reversed(rows)), 0.3, seed=1)
    assert [r["span_id"] for r in held1] == [r["span_id"] for r in held2]
    assert sum(r["label"] == "a" for r in held1) == 3 and sum(r["label"] == "b" for r in held1) == 6
    assert not any(r["label"] == "c" for r in held1)  # a single example stays in training
    assert len(train1) + len(held1) == len(rows)


def test_only_trusted_labels_are_held_out_and_modality_filters():
    llm = [{**r, "query": f"llm {r['query']}"} for r in _rows(10, "a", source="llm")]
    rows = _rows(10, "a") + llm + _rows(6, "b", modality="video") + [{**_rows(1, "b")[0], "label": None}]
    train, held = split_for_training(rows, None, 0.5, seed=3)
    assert all(r["label_source"] != "llm" for r in held)
    assert sum(r["label_source"] == "llm" for r in train) == 10
    # an LLM label on a query that is held out would leak it into training: dropped
    echo = {**llm[0], "span_id": "echo", "query": held[0]["query"]}
    train, held = split_for_training(rows + [echo], None, 0.5, seed=3)
    assert "echo" not in {r["span_id"] for r in train + held}
    assert all(r["label"] for r in train + held)
    train_v, held_v = split_for_training(rows, "video", 0.5, seed=3)
    assert {r["modality"] for r in train_v + held_v} == {"video"} and len(train_v + held_v) == 6


def test_a_repeated_query_never_lands_on_both_sides_of_the_split():
    rows = [{"span_id": f"s{i}", "query": f"query {i % 20}" + ("?" if i % 3 else ""), "label": "a" if i % 2 else "b",
             "label_source": "outcome"} for i in range(80)]
    train, held = stratified_split(rows, 0.3, seed=5)
    assert held and train and len(train) + len(held) == 80
    normalise = lambda q: q.rstrip("?")  # noqa: E731 - the split's normalisation drops punctuation
    assert not {normalise(r["query"]) for r in train} & {normalise(r["query"]) for r in held}
