"""Learned planning: cold-start rules, XGBoost meta-models trained from history, their storage,
and the history that several plan runs build (stage results committed as a run would)."""

from __future__ import annotations

import json
import random

import pytest

from pipeline.config import MetaModelParams, PipelineConfig, PlanningConfig, StorageConfig
from pipeline.errors import AlreadyExistsError
from pipeline.planning import history, planner, registry
from pipeline.planning.context import FEATURES, build_context
from pipeline.layout import decision_key, model_pointer_key, outcome_key
from pipeline.layout import planning_history_prefix as history_prefix
from pipeline.planning.models import TrainingDecisionModel, TrainingStrategyModel
from pipeline.planning.rules import rule_strategy
from pipeline.stages import evaluate, gate, plan, train
from pipeline.run.context import StageContext
from pipeline.storage import open_store
from tests.test_stages import QUERIES, commit_harvest, dummy_lm  # noqa: F401  (dummy_lm is a fixture)

PARAMS = MetaModelParams(n_estimators=30, max_depth=3, nthread=1)
TRUE_MIN = 30  # in the synthetic world, training helps only with at least this many labelled examples
TARGETS = ["routing", "modality-video", "modality-image", "modality-audio", "modality-document", "modality-text"]


def make_ctx(tmp_path, run_id: str, store=None, **planning) -> StageContext:
    config = PipelineConfig(storage=StorageConfig(url=f"file://{tmp_path / 'store'}"),
                            planning=PlanningConfig(model=PARAMS, **planning))
    return StageContext(config=config, store=store or open_store(config.storage), tenant="acme", run_id=run_id)


# ---------------------------------------------------------------- a synthetic world
def world_context(rng: random.Random) -> dict:
    n = rng.randint(0, 120)
    return {
        "real_sample_count": n,
        "new_real_examples": rng.randint(0, n),
        "synthetic_sample_count": rng.choice([0, 8, 40]),
        "success_rate": rng.random(),
        "mean_confidence": rng.uniform(0.4, 1.0),
        "days_since_last_training": rng.uniform(0, 30),
        "production_score": rng.choice([None, rng.random()]),
        "data_quality": rng.random(),
        "diversity": rng.random(),
    }


def world_improvement(context: dict, rng: random.Random) -> float:
    return 12.0 + rng.gauss(0, 2) if context["real_sample_count"] >= TRUE_MIN else rng.gauss(0, 1.5)


def world_best_strategy(context: dict) -> str:
    return rule_strategy(context["real_sample_count"])[0] if context["real_sample_count"] >= TRUE_MIN else "SKIP"


def world_history(count: int, seed: int) -> tuple[list[dict], list[float], list[str]]:
    """`count` records of rules-driven runs: the rules always train, with their strategy."""
    rng = random.Random(seed)
    contexts = [world_context(rng) for _ in range(count)]
    improvements = [world_improvement(c, rng) for c in contexts]
    strategies = [rule_strategy(c["real_sample_count"])[0] for c in contexts]
    return contexts, improvements, strategies


def write_history(store, contexts, improvements, strategies, runs_prefix="h") -> None:
    for i, (c, imp, s) in enumerate(zip(contexts, improvements, strategies)):
        run_id = f"{runs_prefix}{i:04d}"
        history.record_decisions(store, [history.DecisionRecord(
            tenant="acme", run_id=run_id, target="routing", run_started_at=f"2026-11-01T00:00:{i % 60:02d}+00:00",
            context=c, train=True, strategy=s, forced=False, decided_by="rules", strategy_decided_by="rules", synthetic_allowed=True,
        )])
        store.put_json_new(outcome_key("acme", run_id, "routing"), history.OutcomeRecord(
            run_id=run_id, target="routing", status="measured", improvement_pct=imp, trained=True, recorded_at="x").model_dump())


# ---------------------------------------------------------------- rules
def test_cold_start_plan_uses_the_rules_and_says_so(tmp_path):
    ctx = make_ctx(tmp_path, "r1")
    commit_harvest(ctx, [q for q in QUERIES if q["modality"] == "video"][:25] + [q for q in QUERIES if q["modality"] == "audio"][:5])
    result = plan.run(ctx, plan.PlanInputs(targets=["routing", "modality-video", "modality-audio", "modality-image"], use_synthetic_data=True))
    d = {x.target: x for x in result.decisions}
    assert (d["routing"].strategy, d["modality-video"].strategy, d["modality-audio"].strategy) == ("HYBRID", "HYBRID", "SYNTHETIC")
    assert d["modality-image"].strategy == "SYNTHETIC" and d["modality-image"].real_examples == 0
    for x in result.decisions:
        assert x.decided_by.startswith("rules: cold start, 0/10 history records")
        assert x.strategy_decided_by.startswith("rules: cold start, 0/20 history records")
        assert x.expected_improvement_pct is None and x.p_beneficial is None
        assert set(FEATURES) <= set(x.context)
    assert result.models["decision"].status == "cold-start" and result.history.decisions == 0
    video = d["modality-video"].context
    assert video["real_sample_count"] == 25 and video["experiences"] == 25 and video["new_real_examples"] == 25
    assert video["success_rate"] == 1.0 and video["mean_confidence"] == 0.9 and video["data_quality"] == 1.0
    assert video["synthetic_sample_count"] == 8  # the default budget of 40 spread over 5 modalities
    assert video["production_score"] is None and video["days_since_last_training"] == 365.0
    assert 0 < video["diversity"] <= 1
    # the plan's JSON is the stage output; the fan-out list keeps its shape
    stored = ctx.store.get_json(f"{ctx.run_prefix}/plan/result.json")
    assert stored["train"][0] == {"target": "routing", "use_synthetic": True, "strategy": "HYBRID", "optimizer": "auto"}
    assert stored["decisions"][0]["context"]["real_sample_count"] == 30


def test_synthetic_count_is_what_the_runs_synthesize_stage_produced(tmp_path):
    ctx = make_ctx(tmp_path, "r1")
    commit_harvest(ctx, by_modality({"video": 3}))
    out = ctx.output("synthesize")
    key = out.put_jsonl("examples.jsonl", [{"query": f"s{i}", "label": "video_search_agent", "modality": "video" if i < 3 else "audio"} for i in range(5)])
    ctx.store.put_json_new(out.key("result.json"), {"status": "ok", "examples_key": key})  # only what plan reads of it
    result = plan.run(ctx, plan.PlanInputs(targets=["routing", "modality-video", "modality-image"], use_synthetic_data=True))
    assert [d.context["synthetic_sample_count"] for d in result.decisions] == [5, 3, 0]


def test_hybrid_without_synthetic_data_trains_on_real_data_only(tmp_path):
    d = plan.decide("routing", [{"query": f"q{i}", "label": "document_agent"} for i in range(30)], None, False, False)
    assert d.train and d.strategy == "PURE_REAL" and "real data only" in d.reason


# ---------------------------------------------------------------- the meta-models
def test_models_recover_a_known_threshold_better_than_the_rules():
    contexts, improvements, strategies = world_history(80, seed=1)
    labels = [TrainingStrategyModel.label(s, i, 5.0) for s, i in zip(strategies, improvements)]
    decision = TrainingDecisionModel.fit(contexts, improvements, beneficial_pct=5.0, max_abs_pct=100.0, params=PARAMS)
    strategy = TrainingStrategyModel.fit(contexts, labels, params=PARAMS)

    rng = random.Random(99)
    heldout = [world_context(rng) for _ in range(300)]
    truth = [c["real_sample_count"] >= TRUE_MIN for c in heldout]
    predicted = [decision.predict(c) for c in heldout]
    model_acc = sum((p >= 0.5) == t for (p, _), t in zip(predicted, truth)) / len(heldout)
    rules_acc = sum(truth) / len(heldout)  # the rules train whenever there is data
    assert model_acc >= 0.93 and model_acc > rules_acc + 0.1, (model_acc, rules_acc)
    helped = [e for (_, e), t in zip(predicted, truth) if t]
    useless = [e for (_, e), t in zip(predicted, truth) if not t]
    assert sum(helped) / len(helped) > 8 and abs(sum(useless) / len(useless)) < 3  # expected improvement, in percent

    best = [world_best_strategy(c) for c in heldout]
    chosen = [max(p, key=p.get) for p in strategy.predict_many(heldout)]
    strategy_acc = sum(a == b for a, b in zip(chosen, best)) / len(heldout)
    rules_strategy_acc = sum(rule_strategy(c["real_sample_count"])[0] == b for c, b in zip(heldout, best)) / len(heldout)
    assert strategy_acc >= 0.9 and strategy_acc > rules_strategy_acc + 0.1, (strategy_acc, rules_strategy_acc)


def test_a_history_too_small_is_reported_and_the_rules_decide(tmp_path):
    ctx = make_ctx(tmp_path, "now")
    contexts, improvements, strategies = world_history(9, seed=2)
    write_history(ctx.store, contexts, improvements, strategies)
    entries = history.load(ctx.store, "acme")
    models = planner.prepare_models(ctx.store, "acme", entries, ctx.config.planning)
    assert models.decision is None and models.strategy is None
    assert models.statuses["decision"].label == "rules: cold start, 9/10 history records"
    assert models.statuses["strategy"].label == "rules: cold start, 9/20 history records"
    assert registry.current(ctx.store, "acme", "decision") is None

    contexts, improvements, strategies = world_history(3, seed=3)
    write_history(ctx.store, contexts, improvements, strategies, runs_prefix="k")
    entries = history.load(ctx.store, "acme")
    models = planner.prepare_models(ctx.store, "acme", entries, ctx.config.planning)
    assert models.statuses["decision"].label == "model v1 (trained on 12 records)" and models.decision is not None
    assert models.statuses["strategy"].status == "cold-start" and models.strategy is None
    # unchanged history: the saved version is loaded, not retrained
    again = planner.prepare_models(ctx.store, "acme", entries, ctx.config.planning)
    assert again.statuses["decision"].status == "loaded" and again.statuses["decision"].version == 1
    d = plan.decide("routing", [{"query": f"q{i}", "label": "document_agent"} for i in range(5)], None, True, False,
                    features=contexts[0], models=again)
    assert d.decided_by == "model v1 (trained on 12 records)" and d.p_beneficial is not None
    assert d.strategy_decided_by.startswith("rules: cold start, 12/20 history records")


def test_round_trip_through_the_object_store(store):
    contexts, improvements, strategies = world_history(40, seed=4)
    labels = [TrainingStrategyModel.label(s, i, 5.0) for s, i in zip(strategies, improvements)]
    decision = TrainingDecisionModel.fit(contexts, improvements, beneficial_pct=5.0, max_abs_pct=100.0, params=PARAMS)
    strategy = TrainingStrategyModel.fit(contexts, labels, params=PARAMS)
    first = registry.publish(store, "acme", decision)
    assert first.version == 1 and first.records == 40
    loaded = registry.load(store, registry.current(store, "acme", "decision"))
    assert [loaded.predict(c) for c in contexts[:10]] == [decision.predict(c) for c in contexts[:10]]
    assert loaded.features == FEATURES and loaded.metadata["version"] == 1
    raw = json.loads(store.get(f"{first.prefix}/classifier.json"))  # XGBoost's own JSON model format
    assert "learner" in raw and raw["learner"]["feature_names"] == list(FEATURES)
    s_pointer = registry.publish(store, "acme", strategy)
    s_loaded = registry.load(store, s_pointer)
    assert s_loaded.predict_many(contexts[:10]) == strategy.predict_many(contexts[:10])
    assert s_loaded.classes == ("SKIP", "SYNTHETIC", "HYBRID", "PURE_REAL")

    second = registry.publish(store, "acme", TrainingDecisionModel.fit(
        contexts + contexts[:5], improvements + improvements[:5], beneficial_pct=5.0, max_abs_pct=100.0, params=PARAMS))
    assert second.version == 2 and registry.current(store, "acme", "decision").version == 2
    assert registry.versions(store, "acme", "decision") == [1, 2]
    with pytest.raises(AlreadyExistsError):  # versions are immutable
        store.put_new(f"{first.prefix}/classifier.json", b"{}")
    # a model trained on fewer records never replaces the current one
    smaller = registry.publish(store, "acme", TrainingDecisionModel.fit(
        contexts[:20], improvements[:20], beneficial_pct=5.0, max_abs_pct=100.0, params=PARAMS))
    assert smaller.version == 3 and registry.current(store, "acme", "decision").version == 2
    assert not any(k.endswith(".pkl") for k in store.list("tenants/acme/planning"))


def test_context_counts_what_production_has_not_seen(tmp_path):
    from datetime import datetime, timedelta, timezone

    now = datetime(2026, 12, 1, tzinfo=timezone.utc)
    exps = [{"query": f"Q {i}", "label": "video_search_agent", "label_source": "outcome" if i % 2 else "llm",
             "reward": 0.9 if i < 6 else 0.1, "confidence": 0.5} for i in range(8)]
    c = build_context("modality-video", "video", exps + [{"query": "x", "label": None, "reward": 0.0, "confidence": 0.5}], exps,
                      min_reward=0.6, malformed_rate=0.2, has_production=True, production_queries={"q 1", "q 2"},
                      production_score=0.7, last_trained_at=now - timedelta(days=3), now=now, synthetic_count=0,
                      never_trained_days=365)
    assert (c.experiences, c.real_sample_count, c.new_real_examples) == (9, 8, 6)
    assert c.success_rate == round(6 / 9, 4) and c.data_quality == round(0.5 * 0.8, 4) and c.days_since_last_training == 3.0
    assert c.diversity == 0.0  # one label only: no diversity
    unknown = build_context("routing", None, exps, exps, min_reward=0.6, malformed_rate=0, has_production=True,
                            production_queries=None, production_score=None, last_trained_at=None, now=now,
                            synthetic_count=0, never_trained_days=365)
    assert unknown.new_real_examples is None


# ---------------------------------------------------------------- several runs
def by_modality(counts: dict[str, int]) -> list[dict]:
    rows = []
    for modality, n in counts.items():
        rows += [q for q in QUERIES if q["modality"] == modality][:n]
    return rows


def commit_outcomes(ctx: StageContext, result: plan.PlanResult) -> None:
    """What the run's train → evaluate → gate would commit, in a world where training helps
    (+12 %) only with at least TRUE_MIN labelled examples."""
    for item in result.train:
        n = next(d.real_examples for d in result.decisions if d.target == item.target)
        if n < 8:
            ctx.output(train.STAGE, item.target).commit(train.TrainResult(status="skipped", reason="insufficient data", target=item.target))
            continue
        ctx.output(train.STAGE, item.target).commit(train.TrainResult(status="ok", target=item.target, trainset_size=n))
        gain = 12.0 if n >= TRUE_MIN else 0.0
        ctx.output(evaluate.STAGE, item.target).commit(evaluate.EvaluateResult(
            status="ok", target=item.target, dataset="held-out", n=30, improvement_pct=gain, improvement_basis="relative"))
        ctx.output(gate.STAGE, item.target).commit(gate.GateResult(
            target=item.target, decision="promoted" if gain else "rejected", deployed=False, reasons=[], threshold_pct=5.0))


def test_several_runs_build_a_history_and_train_the_models_from_it(tmp_path):
    modalities = ["video", "image", "audio", "document", "text"]
    results = {}
    store = None
    for r in range(1, 7):
        ctx = make_ctx(tmp_path, f"run{r}", store, exploration_rate=0.0)
        store = ctx.store
        counts = {m: (13 * r + 11 * i) % 56 + 4 for i, m in enumerate(modalities)}  # 4..59 per modality
        commit_harvest(ctx, by_modality(counts))
        result = plan.run(ctx, plan.PlanInputs(targets=TARGETS, use_synthetic_data=True))
        results[r] = result
        assert len(history.load(store, "acme", run_id=f"run{r}")) == len(TARGETS)
        if r % 2:  # odd runs record their outcome right away; the next plan backfills the others
            commit_outcomes(ctx, result)
            fed = plan.feedback(ctx)
            assert fed.recorded == result.train_count and fed.pending == 0
        else:
            commit_outcomes(ctx, result)

    first, third, last = results[1], results[3], results[6]
    assert all(d.decided_by.startswith("rules: cold start, 0/10") for d in first.decisions)
    assert results[2].history.backfilled == 0 and results[3].history.backfilled == results[2].train_count
    assert third.history.measured == 12 and third.models["decision"].label == "model v1 (trained on 12 records)"
    assert all(d.decided_by == "model v1 (trained on 12 records)" for d in third.decisions if not d.forced)

    # the models follow the history: retrained as it grows, strategy model once 20 records exist
    assert last.models["decision"].status == "trained" and last.models["decision"].version > 1
    assert last.models["decision"].trained_on == last.history.measured >= 20
    assert last.models["strategy"].status == "trained" and last.models["strategy"].version >= 1
    for d in last.decisions:
        assert d.decided_by.startswith("model v") and d.strategy_decided_by.startswith("model v")
        assert d.expected_improvement_pct is not None
    # what they learnt: train where the world rewards it, skip where it does not
    right = [d.train == (d.real_examples >= TRUE_MIN) for r in (4, 5, 6) for d in results[r].decisions]
    rules_right = [d.real_examples >= TRUE_MIN for r in (4, 5, 6) for d in results[r].decisions]  # the rules always train
    assert sum(right) >= len(right) - 1 and sum(right) > sum(rules_right), (sum(right), sum(rules_right), len(right))

    # nothing is counted twice: one decision and at most one outcome per (run, target)
    keys = store.list(history_prefix("acme"))
    assert len([k for k in keys if not k.endswith(".outcome.json")]) == 6 * len(TARGETS)
    rerun = plan.run(make_ctx(tmp_path, "run6", store, exploration_rate=0.0), plan.PlanInputs(targets=TARGETS, use_synthetic_data=True))
    assert rerun == last and store.list(history_prefix("acme")) == keys
    pointer = store.get_json(model_pointer_key("acme", "decision"))
    assert pointer["version"] == last.models["decision"].version
    assert store.exists(decision_key("acme", "run6", "routing"))


def test_force_training_overrides_a_model_skip_and_is_recorded(tmp_path):
    ctx = make_ctx(tmp_path, "now", exploration_rate=0.0)
    contexts, improvements, strategies = world_history(30, seed=5)
    write_history(ctx.store, contexts, improvements, strategies)
    commit_harvest(ctx, by_modality({"video": 6}))
    result = plan.run(ctx, plan.PlanInputs(targets=["modality-video"], use_synthetic_data=False, force_training=True))
    d = result.decisions[0]
    assert d.train and d.forced and d.decided_by == "force-training" and d.strategy == "PURE_REAL"
    assert "P(training helps)=" in d.reason and d.p_beneficial < 0.5
    record = ctx.store.get_json(decision_key("acme", "now", "modality-video"))
    assert record["forced"] and record["train"] and record["decided_by"] == "force-training"


def test_exploration_trains_some_model_skips_and_says_so(tmp_path):
    ctx = make_ctx(tmp_path, "now")
    contexts, improvements, strategies = world_history(30, seed=6)
    write_history(ctx.store, contexts, improvements, strategies)
    models = planner.prepare_models(ctx.store, "acme", history.load(ctx.store, "acme"), ctx.config.planning)
    small = {**contexts[0], "real_sample_count": 6, "new_real_examples": 6}
    rows = [{"query": f"q{i}", "label": "document_agent"} for i in range(6)]
    keys = [f"acme/run{i}/modality-video" for i in range(200)]
    models.exploration_rate = 0.0
    assert not any(plan.decide("modality-video", rows, None, True, False, features=small, models=models, explore_key=k).train for k in keys)
    models.exploration_rate = 0.1
    decided = [plan.decide("modality-video", rows, None, True, False, features=small, models=models, explore_key=k) for k in keys]
    explored = [d for d in decided if d.train]
    assert 8 <= len(explored) <= 35 and all(d.explored and not d.forced for d in explored)
    assert explored[0].decided_by == "model v1 (trained on 30 records), exploring" and "exploration" in explored[0].reason
    again = plan.decide("modality-video", rows, None, True, False, features=small, models=models, explore_key=keys[decided.index(explored[0])])
    assert again.train  # the same run and target always decide the same


def test_outcomes_come_from_the_runs_real_stage_results(tmp_path, dummy_lm):
    from pipeline.batch import BatchInputs, run_batch

    ctx = make_ctx(tmp_path, "r1")
    ctx.config.gate.min_heldout_examples = 10
    commit_harvest(ctx, QUERIES[:60])
    result = run_batch(ctx, BatchInputs(targets="routing", max_iterations=1))
    assert result.plan.train_count == 1
    # the batch records its own outcome after its gates (plan.feedback)
    assert history.load(ctx.store, "acme")[0].outcome.status == "measured"
    later = make_ctx(tmp_path, "r2", ctx.store)
    commit_harvest(later, QUERIES[:70])
    planned = plan.run(later, plan.PlanInputs(targets=["routing"]))
    assert planned.history.backfilled == 0 and planned.history.measured == 1
    outcome = ctx.store.get_json(outcome_key("acme", "r1", "routing"))
    assert outcome["status"] == "measured" and outcome["improvement_pct"] == 0.0 and outcome["gate_decision"] == "rejected"
    assert planned.decisions[0].context["days_since_last_training"] < 1  # r1 compiled routing moments ago
    assert plan.feedback(ctx).recorded == 0  # already on record: never written twice
