"""The `workflow` module (pipeline/modules/workflow.py): query + analysis → orchestration pattern
and agent sequence, trained on the run's successful workflow executions, driven from its spec
through plan, train, evaluate and predict (DummyLM)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from datetime import datetime, timezone
from typing import Any

import dspy
import pytest
from dspy.utils import DummyLM

from pipeline.config import PipelineConfig, StorageConfig
from pipeline.demo.seed import load_queries, simulate_orchestration
from pipeline.executions import routing_rows, workflow_rows, workflow_source
from pipeline.modules import all_targets, facts, load_module, parse_target
from pipeline.modules.workflow import build_example, program, sequence_similarity, workflow_match
from pipeline.orchestration import execution_from_span
from pipeline.run import readers
from pipeline.run.context import StageContext, read_jsonl
from pipeline.stages import evaluate, plan, predict, train
from pipeline.storage import open_store
from tests.test_stages import QUERIES, commit_harvest

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def demo_executions(count: int = 120) -> list[dict[str, Any]]:
    """The demo orchestrator's executions, as harvest would read them back (no Phoenix needed)."""
    executions = []
    for i, (record, _) in enumerate(simulate_orchestration(load_queries(), "acme", NOW, 48, 7, count=count)):
        span = {**record, "span_id": f"o{i:015d}", "trace_id": f"{i:032d}", "start_time": record["start_time"].isoformat()}
        execution, problem = execution_from_span(span)
        if execution is not None:
            executions.append(execution.model_dump(mode="json"))
    return executions


def answer(pattern: str = "sequential", agents: list[str] | None = None) -> dict[str, Any]:
    return {"pattern": pattern, "agent_sequence": agents or ["video_search_agent", "summarizer_agent"]}


def test_it_is_a_target_found_from_its_file_without_importing_dspy():
    assert "workflow" in all_targets() and parse_target("workflow") == ("workflow", None)
    declared = facts("workflow")
    assert (declared.real_data, declared.synthetic, declared.adaptive, declared.orchestration) == (True, "workflow", False, "workflow")
    spec = load_module("workflow")
    assert spec.label_field == "plan" and spec.input_fields == ("query", "analysis")
    code = "import sys, pipeline.modules as m; m.all_targets(); m.facts('workflow'); print('dspy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_the_metric_is_half_pattern_half_sequence_similarity():
    gold = build_example({"query": "q", "analysis": "", "pattern": "sequential",
                          "agent_sequence": ["video_search_agent", "summarizer_agent"], "label": "x"})
    def score(pattern, agents, trace=None):
        return workflow_match(gold, dspy.Prediction(pattern=pattern, agent_sequence=agents), trace)

    assert score("sequential", ["video_search_agent", "summarizer_agent"]) == 1.0
    assert score("parallel", ["video_search_agent", "summarizer_agent"]) == 0.5  # right agents, wrong pattern
    assert score("sequential", ["summarizer_agent", "video_search_agent"]) == 0.75  # LCS 1 of 2: order matters
    assert score("sequential", ["video_search_agent"]) == 0.75  # a step left out
    assert score("sequential", ["video_search_agent", "summarizer_agent", "document_agent"]) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert score("sequential", []) == 0.5
    assert score("sequential", ["video_search_agent"], trace=[]) == 0.0  # bootstrapping: all or nothing
    # a parallel plan's agents run at once: order is no part of it (Jaccard overlap of the sets)
    assert sequence_similarity(["a", "b"], ["b", "a"], "parallel") == 1.0
    assert sequence_similarity(["a", "c"], ["b", "a"], "parallel") == pytest.approx(1 / 3)
    assert sequence_similarity(["a", "c"], ["b", "a"], "sequential") == 0.5


def test_the_program_keeps_catalog_agents_once_and_labels_the_plan():
    lm = DummyLM([answer("parallel", ["video_search_agent", "image_search_agent", "video_search_agent"])])
    with dspy.context(lm=lm, adapter=dspy.ChatAdapter()):
        pred = program()(query="the keynote clip and photos of the booth", analysis="modalities: image, video")
    assert pred.agent_sequence == ["video_search_agent", "image_search_agent"]
    assert pred.plan == "parallel: image_search_agent + video_search_agent" and pred.confidence == 1.0


def test_executions_become_workflow_rows_by_their_learning_signals():
    base = {"span_id": "s", "timestamp": "t", "query": "q", "analysis": "", "agent_sequence": ["video_search_agent", "summarizer_agent"],
            "pattern": "sequential", "success": True, "user_satisfaction": 0.9, "parallel_efficiency": None,
            "orchestration_beneficial": True, "multi_agent_synergy": True}
    assert workflow_source(base) == "beneficial"
    assert workflow_source({**base, "user_satisfaction": None, "orchestration_beneficial": False}) == "success"
    assert workflow_source({**base, "user_satisfaction": 0.5, "orchestration_beneficial": False}) == "none"
    assert workflow_source({**base, "success": False, "orchestration_beneficial": False}) == "none"
    assert workflow_source({**base, "pattern": "parallel", "parallel_efficiency": 0.4}) == "none"  # parallel did not pay
    assert workflow_source({**base, "pattern": "parallel", "parallel_efficiency": 0.7}) == "beneficial"
    [row] = workflow_rows([base])
    assert row["label"] == "sequential: video_search_agent > summarizer_agent" and row["multi_agent_synergy"]


@pytest.fixture
def ctx(tmp_path):
    config = PipelineConfig(storage=StorageConfig(url=f"file://{tmp_path / 'store'}"))
    return StageContext(config=config, store=open_store(config.storage), tenant="acme", run_id="r1")


@pytest.fixture
def lm(monkeypatch):
    """Every stage's LM is `holder["lm"]`, set by the test per stage."""
    holder: dict[str, Any] = {"lm": None}

    @contextlib.contextmanager
    def fake_context(spec):
        with dspy.context(lm=holder["lm"], adapter=dspy.ChatAdapter()):
            yield holder["lm"]

    import pipeline.lm

    monkeypatch.setattr(pipeline.lm, "lm_context", fake_context)
    monkeypatch.setattr(pipeline.lm, "check_lm", lambda lm: None)
    return holder


def test_plan_train_evaluate_and_predict_follow_the_spec(ctx, lm, tmp_path):
    executions = demo_executions()
    commit_harvest(ctx, QUERIES[:20], executions=executions)
    assert readers.executions(ctx) == executions
    rows = workflow_rows(executions)
    labelled = [r for r in rows if r["label"]]
    planned = plan.run(ctx, plan.PlanInputs(targets=["workflow"]))
    [decision] = planned.decisions
    assert decision.train and decision.real_examples == len(labelled) >= 50

    lm["lm"] = DummyLM({"[[ ## query ## ]]": answer("sequential", ["video_search_agent", "summarizer_agent"])})
    trained = train.run(ctx, train.TrainInputs(target="workflow", strategy=decision.strategy))
    assert trained.status == "ok" and trained.optimizer == "BootstrapFewShot"  # adaptive does not apply
    heldout = read_jsonl(ctx.store, trained.heldout_key)
    assert {r["label_source"] for r in heldout} == {"beneficial"}  # unrated successes train only
    assert trained.real_train + trained.heldout_size == len(labelled) and trained.orchestration_train == trained.real_train
    assert {r["pattern"] for r in heldout} == {"sequential", "parallel", "conditional"}  # stratified by pattern

    evaluated = evaluate.run(ctx, evaluate.EvaluateInputs(target="workflow"))
    share = sum(r["label"] == "sequential: video_search_agent > summarizer_agent" for r in heldout) / len(heldout)
    assert evaluated.status == "ok" and evaluated.n == len(heldout)
    assert evaluated.candidate_metrics.accuracy == pytest.approx(share, abs=1e-4)
    # the module's metric gives partial credit: the mean of 0.5·pattern + 0.5·sequence similarity
    always = dspy.Prediction(pattern="sequential", agent_sequence=["video_search_agent", "summarizer_agent"])
    expected = sum(workflow_match(build_example(r), always) for r in heldout) / len(heldout)
    assert evaluated.score_metric == "workflow_match"
    assert evaluated.candidate_score == evaluated.baseline_score == pytest.approx(expected, abs=1e-4)
    assert evaluated.candidate_score > evaluated.candidate_metrics.accuracy

    queries = tmp_path / "queries.jsonl"
    queries.write_text(json.dumps({"query": "find the keynote and summarize it", "analysis": "modalities: video"}) + "\n")
    answers = tmp_path / "answers.jsonl"
    predict.run(ctx.config, ctx.store, predict.PredictInputs(tenant="acme", target="workflow", input_path=str(queries),
                                                             output_path=str(answers), version="unoptimized"))
    [row] = [json.loads(line) for line in answers.read_text().splitlines()]
    assert (row["pattern"], row["agent_sequence"], row["plan"], row["confidence"]) == (
        "sequential", ["video_search_agent", "summarizer_agent"], "sequential: video_search_agent > summarizer_agent", 1.0)


def test_without_executions_there_is_nothing_to_train(ctx, lm):
    commit_harvest(ctx, QUERIES[:20])
    trained = train.run(ctx, train.TrainInputs(target="workflow"))
    assert trained.status == "skipped" and "insufficient data" in trained.reason and trained.real_train == 0


def test_adaptive_asked_for_is_refused_for_it(ctx, lm):
    from pipeline.errors import ConfigError

    commit_harvest(ctx, QUERIES[:10], executions=demo_executions(40))
    with pytest.raises(ConfigError, match="single-label"):
        train.run(ctx, train.TrainInputs(target="workflow", optimizer="adaptive"))


def test_unified_rows_from_executions():
    from pipeline.config import RewardConfig

    rows = routing_rows(demo_executions(), RewardConfig(), 0.6)
    assert all(r["chosen_agent"] == r["agent_sequence"][0] for r in rows)
    labelled = [r for r in rows if r["label"]]
    assert labelled and all(r["label_source"] == "orchestration" and r["agent_success"] == 1.0 for r in labelled)
    assert {r["orchestration_pattern"] for r in rows} == {"sequential", "parallel", "conditional"}
