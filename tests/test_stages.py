"""Stages end to end on a local store with DSPy's DummyLM (no Phoenix: harvest's output is
committed from the bundled demo queries through harvest's own span → experience mapping)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import dspy
import pytest
from dspy.utils import DummyLM

from pipeline import promotion
from pipeline.config import PipelineConfig, StorageConfig
from pipeline.errors import NotFoundError
from pipeline.stages import evaluate, gate, harvest, predict, report, train
from pipeline.run.context import StageContext

QUERIES = [json.loads(line) for line in (Path(__file__).parents[1] / "pipeline/demo/data/queries.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture
def ctx(tmp_path):
    config = PipelineConfig(storage=StorageConfig(url=f"file://{tmp_path / 'store'}"))
    config.gate.min_heldout_examples = 10
    config.training.strategy = "tiers"  # these tests follow the DSPy optimizer path; adaptive has its own tests
    from pipeline.storage import open_store

    return StageContext(config=config, store=open_store(config.storage), tenant="acme", run_id="r1")


def answering(correct_share: float):
    """A DummyLM router that answers the gold agent for the first `correct_share` of queries
    (by position in the bundled data) and a wrong one for the rest."""
    answers = {}
    for i, q in enumerate(QUERIES):
        right = (i % 10) < correct_share * 10
        agent = q["agent"] if right else ("summarizer_agent" if q["agent"] != "summarizer_agent" else "video_search_agent")
        answers[q["query"]] = {"recommended_agent": agent, "confidence": 0.8 if right else 0.6, "reasoning": "because"}
    return answers


@pytest.fixture
def dummy_lm(monkeypatch):
    """Route every stage's LM through a DummyLM keyed by query text (mode 2 of DummyLM)."""
    holder = {"answers": answering(0.7)}

    @contextlib.contextmanager
    def fake_context(spec):
        lm = DummyLM(holder["answers"])
        with dspy.context(lm=lm, adapter=dspy.ChatAdapter()):
            yield lm

    import pipeline.lm

    monkeypatch.setattr(pipeline.lm, "lm_context", fake_context)
    monkeypatch.setattr(pipeline.lm, "check_lm", lambda lm: None)
    return holder


def commit_harvest(ctx: StageContext, rows: list[dict], *, confidence: float = 0.9,
                   executions: list[dict] | None = None) -> harvest.HarvestResult:
    """Commit harvest's output as if these queries had been traced and answered well (and, given
    `executions`, as if these workflow executions had been traced)."""
    out = ctx.output(harvest.STAGE)
    experiences = []
    for i, q in enumerate(rows):
        span = {
            "span_id": f"s{i:04d}",
            "trace_id": f"t{i:04d}",
            "start_time": f"2026-11-30T00:{i // 60 % 60:02d}:{i % 60:02d}+00:00",
            "routing.query": q["query"],
            "routing.chosen_agent": q["agent"],
            "routing.confidence": confidence,
            "routing.modality": q["modality"],
            "routing.processing_time": 0.5,
            "outcome.search_quality": 0.9,
            "outcome.agent_success": 1.0,
        }
        experience, problem = harvest.to_experience(span, None, ctx, min_confidence=0.7)
        assert problem is None
        experiences.append(experience)
    out.put_parquet(harvest.EXPERIENCES_FILE, experiences, schema=harvest.experience_schema())
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc)
    result = harvest.HarvestResult(
        status="ok", project="cogniverse-acme", window_start=now, window_end=now, spans_read=len(rows), duplicates=0,
        malformed={}, experiences=len(rows), labelled=len(rows), labels_by_source={"outcome": len(rows)},
        experiences_key=out.key(harvest.EXPERIENCES_FILE),
        executions=len(executions or []),
        executions_key=out.put_jsonl(harvest.EXECUTIONS_FILE, executions) if executions else None,
    )
    out.commit(result)
    return result


def test_to_experience_rejects_contract_violations(ctx):
    good = {"span_id": "a", "routing.query": "q", "routing.chosen_agent": "document_agent", "routing.confidence": 0.5,
            "outcome.search_quality": 1, "outcome.agent_success": 1}
    assert harvest.to_experience(good, None, ctx, 0.7)[1] is None
    for change, reason in [
        ({"routing.query": ""}, "missing routing.query"),
        ({"routing.confidence": 1.5}, "routing.confidence not in [0, 1]"),
        ({"routing.chosen_agent": "nobody"}, "unknown routing.chosen_agent"),
        ({"outcome.agent_success": None}, "missing outcome.search_quality or outcome.agent_success"),
    ]:
        assert harvest.to_experience({**good, **change}, None, ctx, 0.7)[1] == reason


def test_labels_come_from_annotations_then_trusted_outcomes(ctx):
    span = {"span_id": "a", "routing.query": "q", "routing.chosen_agent": "document_agent", "routing.confidence": 0.9,
            "outcome.search_quality": 1, "outcome.agent_success": 1, "outcome.user_satisfaction": 1}
    exp, _ = harvest.to_experience(span, None, ctx, 0.7)
    assert (exp["label"], exp["label_source"]) == ("document_agent", "outcome")
    exp, _ = harvest.to_experience({**span, "routing.confidence": 0.5}, None, ctx, 0.7)
    assert exp["label"] is None  # unsure decision, no annotation: not trusted
    exp, _ = harvest.to_experience(span, {"label": "summarizer_agent", "annotator_kind": "HUMAN"}, ctx, 0.7)
    assert (exp["label"], exp["label_source"]) == ("summarizer_agent", "human")


def test_train_skips_with_insufficient_data(ctx, dummy_lm):
    commit_harvest(ctx, QUERIES[:5])
    result = train.run(ctx, train.TrainInputs(target="routing"))
    assert result.status == "skipped" and "insufficient data" in result.reason
    assert evaluate.run(ctx, evaluate.EvaluateInputs(target="routing")).status == "skipped"
    assert gate.run(ctx, gate.GateInputs(target="routing")).decision == "skipped"
    assert promotion.current(ctx.store, "acme", "routing") is None


def test_train_evaluate_gate_report_without_a_gain_leaves_production_untouched(ctx, dummy_lm):
    commit_harvest(ctx, QUERIES[:60])
    trained = train.run(ctx, train.TrainInputs(target="routing"))
    assert trained.status == "ok" and trained.optimizer == "BootstrapFewShot"
    assert trained.heldout_size + trained.trainset_size == 60 and 15 <= trained.heldout_size <= 21
    heldout_n = trained.heldout_size
    state = json.loads(ctx.store.get(f"{trained.artifact_prefix}/program.json"))
    assert "predict" in state and "learned" in state
    metadata = ctx.store.get_json(f"{trained.artifact_prefix}/metadata.json")
    assert metadata["optimizer"] == "BootstrapFewShot" and metadata["sizes"]["heldout"] == heldout_n
    assert len(metadata["data_hashes"]["heldout"]) == 16

    evaluated = evaluate.run(ctx, evaluate.EvaluateInputs(target="routing"))
    assert evaluated.baseline.kind == "unoptimized" and evaluated.n == heldout_n
    # the DummyLM answers by query, so demos change nothing: the same accuracy on both sides
    assert evaluated.candidate_metrics.accuracy == evaluated.baseline_metrics.accuracy
    assert evaluated.improvement_pct == 0.0

    decided = gate.run(ctx, gate.GateInputs(target="routing"))
    assert decided.decision == "rejected" and not decided.deployed
    assert any("below the 5.0% threshold" in r for r in decided.reasons)
    assert promotion.current(ctx.store, "acme", "routing") is None

    reported = report.run(ctx)
    html = Path(reported.report_path).read_text()
    assert "routing" in html and "rejected" in html and "<svg" in html
    manifest = ctx.store.get_json(reported.manifest_key)
    assert manifest["summary"][0]["decision"] == "rejected"
    assert manifest["stages"]["targets"]["routing"]["evaluate"]["n"] == heldout_n


def test_gate_promotes_a_real_gain_and_predict_uses_it(ctx, dummy_lm, tmp_path):
    commit_harvest(ctx, QUERIES[:60])
    trained = train.run(ctx, train.TrainInputs(target="routing"))
    # the baseline evaluation sees a worse router than the candidate one
    dummy_lm["answers"] = answering(0.3)
    out = ctx.output(evaluate.STAGE, "routing")
    examples = [json.loads(l) for l in ctx.store.get(trained.heldout_key).decode().splitlines()]
    base = evaluate.resolve_program(ctx, "routing", "production", None)
    base_rows, _ = evaluate.predict_all(ctx, "routing", base, examples)
    dummy_lm["answers"] = answering(1.0)
    cand = evaluate.resolve_program(ctx, "routing", "run", ctx.output(train.STAGE, "routing").committed())
    with __import__("pipeline.lm", fromlist=["x"]).lm_context(None):
        cand_rows, _ = evaluate.predict_all(ctx, "routing", cand, examples)
    gold = [e["label"] for e in examples]
    from pipeline.metrics import mcnemar_one_sided, relative_improvement

    cm, bm = evaluate._score(gold, cand_rows), evaluate._score(gold, base_rows)
    improvement, basis = relative_improvement(cm.accuracy, bm.accuracy)
    out.commit(evaluate.EvaluateResult(
        status="ok", target="routing", dataset="held-out", n=len(examples), candidate=cand, baseline=base,
        candidate_metrics=cm, baseline_metrics=bm, improvement_pct=improvement, improvement_basis=basis,
        paired_test=mcnemar_one_sided([r["predicted"] == g for r, g in zip(cand_rows, gold)], [r["predicted"] == g for r, g in zip(base_rows, gold)]),
    ))
    assert cm.accuracy == 1.0 and bm.accuracy < 0.5

    decided = gate.run(ctx, gate.GateInputs(target="routing"))
    assert decided.decision == "promoted", decided.reasons
    pointer = promotion.current(ctx.store, "acme", "routing")
    assert pointer.sequence == 1 and pointer.artifact_prefix == trained.artifact_prefix

    queries = tmp_path / "in.jsonl"
    queries.write_text("".join(json.dumps({"query": q["query"]}) + "\n" for q in QUERIES[:3]))
    answered = predict.run(ctx.config, ctx.store, predict.PredictInputs(
        tenant="acme", target="routing", input_path=str(queries), output_path=str(tmp_path / "out.jsonl")))
    assert answered.answered == 3 and answered.program == "v1"
    rows = [json.loads(l) for l in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["recommended_agent"] for r in rows] == [q["agent"] for q in QUERIES[:3]]


def test_stage_rerun_returns_the_committed_result(ctx, dummy_lm):
    commit_harvest(ctx, QUERIES[:40])
    first = train.run(ctx, train.TrainInputs(target="routing"))
    dummy_lm["answers"] = {}  # any LM call now would fail: a re-run must not call it
    again = train.run(ctx, train.TrainInputs(target="routing"))
    assert again == first


def test_evaluate_needs_train_and_predict_needs_production(ctx, tmp_path, dummy_lm):
    with pytest.raises(NotFoundError):
        evaluate.run(ctx, evaluate.EvaluateInputs(target="routing"))
    queries = tmp_path / "in.jsonl"
    queries.write_text('{"query": "x"}\n')
    with pytest.raises(NotFoundError, match="no routing program in production"):
        predict.run(ctx.config, ctx.store, predict.PredictInputs(tenant="acme", target="routing", input_path=str(queries), output_path=str(tmp_path / "o.jsonl")))


def test_golden_set_evaluates_any_program(ctx, tmp_path, dummy_lm):
    golden = tmp_path / "golden.jsonl"
    golden.write_text("".join(json.dumps({"query": q["query"], "expected_agent": q["agent"], "modality": q["modality"]}) + "\n" for q in QUERIES[:20]))
    result = evaluate.run(ctx, evaluate.EvaluateInputs(target="routing", candidate="unoptimized", baseline="unoptimized", golden_path=str(golden)))
    assert result.n == 20 and result.dataset == str(golden)
    assert result.candidate_metrics.accuracy == pytest.approx(0.7, abs=0.1)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "x", "expected_agent": "nobody"}\n')
    from pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match="line 1"):
        evaluate.run(ctx, evaluate.EvaluateInputs(target="modality-video", golden_path=str(bad)))


def test_a_later_candidate_that_is_not_better_leaves_production_unchanged(ctx, dummy_lm, tmp_path):
    test_gate_promotes_a_real_gain_and_predict_uses_it(ctx, dummy_lm, tmp_path)
    before = ctx.store.get("tenants/acme/modules/routing/production.json")
    later = StageContext(config=ctx.config, store=ctx.store, tenant="acme", run_id="r2")
    commit_harvest(later, QUERIES[:60])
    dummy_lm["answers"] = answering(1.0)  # production already answers everything right
    assert train.run(later, train.TrainInputs(target="routing")).status == "ok"
    evaluated = evaluate.run(later, evaluate.EvaluateInputs(target="routing"))
    assert evaluated.baseline.kind == "production" and evaluated.baseline.sequence == 1
    assert evaluated.improvement_pct == 0.0
    decided = gate.run(later, gate.GateInputs(target="routing"))
    assert decided.decision == "rejected" and decided.production_sequence == 1
    assert ctx.store.get("tenants/acme/modules/routing/production.json") == before


def test_batch_plans_then_trains_only_what_the_plan_says(ctx, dummy_lm):
    from pipeline.batch import BatchInputs, run_batch

    commit_harvest(ctx, QUERIES[:60])
    result = run_batch(ctx, BatchInputs(targets="routing,modality-audio", max_iterations=1))
    decisions = {d.target: d for d in result.plan.decisions}
    assert decisions["routing"].strategy == "PURE_REAL" and decisions["routing"].train
    assert not decisions["modality-audio"].train and "disabled" in decisions["modality-audio"].reason
    assert [g.target for g in result.gates] == ["routing"]
    assert {t.target for t in result.report.targets} == {"routing"}
    # the plan's fan-out list is what a workflow engine iterates over
    plan_result = ctx.store.get_json(f"{ctx.run_prefix}/plan/result.json")
    assert plan_result["train"] == [{"target": "routing", "use_synthetic": False, "strategy": "PURE_REAL", "optimizer": "auto"}]
