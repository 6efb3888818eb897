"""The `unified` module (pipeline/modules/unified.py): workflow executions become routing
experiences that join the routing trainset (label source `orchestration`), never its held-out
set; the report shows the rows used and the held-out accuracy beside routing's."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import dspy
import pytest
from dspy.utils import DummyLM

from pipeline.config import PipelineConfig, StorageConfig
from pipeline.modules import all_targets, facts, load_module
from pipeline.run import readers
from pipeline.run.context import StageContext, read_jsonl
from pipeline.stages import evaluate, plan, report, train
from pipeline.storage import open_store
from tests.test_stages import QUERIES, commit_harvest
from tests.test_workflow_module import demo_executions


@pytest.fixture
def ctx(tmp_path):
    config = PipelineConfig(storage=StorageConfig(url=f"file://{tmp_path / 'store'}"))
    config.training.strategy = "tiers"  # the DSPy optimizer path, as tests/test_stages.py
    return StageContext(config=config, store=open_store(config.storage), tenant="acme", run_id="r1")


@pytest.fixture
def lm(monkeypatch):
    """A DummyLM keyed by query: the gold agent for the routing queries, the first agent of the
    plan for the orchestration ones."""
    answers: dict[str, Any] = {q["query"]: {"recommended_agent": q["agent"]} for q in QUERIES}
    for e in demo_executions():
        answers[e["query"]] = {"recommended_agent": e["agent_sequence"][0]}

    @contextlib.contextmanager
    def fake_context(spec):
        with dspy.context(lm=DummyLM(answers), adapter=dspy.ChatAdapter()):
            yield None

    import pipeline.lm

    monkeypatch.setattr(pipeline.lm, "lm_context", fake_context)
    monkeypatch.setattr(pipeline.lm, "check_lm", lambda lm: None)
    return answers


def test_it_is_a_target_and_a_routing_program():
    assert "unified" in all_targets()
    declared = facts("unified")
    assert (declared.orchestration, declared.real_data, declared.adaptive) == ("routing", True, True)
    assert load_module("unified").label_field == "recommended_agent"


def test_orchestration_rows_train_and_are_never_held_out():
    executions = demo_executions()
    experiences = [{"span_id": f"s{i}", "query": q["query"], "label": q["agent"], "label_source": "outcome", "modality": q["modality"],
                    "context": ""} for i, q in enumerate(QUERIES[:100])]
    unified, routing = facts("unified"), facts("routing")
    orchestrated = unified.orchestrated(executions, PipelineConfig().reward, 0.6)
    assert routing.orchestrated(executions, PipelineConfig().reward, 0.6) == []
    u_train, _, u_heldout = unified.datasets(experiences, [], None, 0.3, 7, hybrid=False, orchestrated=orchestrated)
    r_train, _, r_heldout = routing.datasets(experiences, [], None, 0.3, 7, hybrid=False)
    assert u_heldout == r_heldout  # the same real routing labels grade both
    assert all(r["label_source"] != "orchestration" for r in u_heldout)
    derived = [r for r in u_train if r["label_source"] == "orchestration"]
    assert len(u_train) == len(r_train) + len(derived) and len(derived) == sum(1 for r in orchestrated if r["label"])
    held = {r["query"] for r in u_heldout}
    assert not held & {r["query"] for r in derived}
    assert unified.labelled(experiences, None, orchestrated) == experiences + [r for r in orchestrated if r["label"]]


def test_routing_and_unified_trained_side_by_side_and_reported(ctx, lm):
    executions = demo_executions()
    commit_harvest(ctx, QUERIES[:60], executions=executions)
    planned = plan.run(ctx, plan.PlanInputs(targets=["routing", "unified"]))
    by_target = {d.target: d for d in planned.decisions}
    assert by_target["unified"].real_examples > by_target["routing"].real_examples == 60

    results = {t: train.run(ctx, train.TrainInputs(target=t, optimizer="BootstrapFewShot")) for t in ("routing", "unified")}
    assert all(r.status == "ok" for r in results.values())
    routing, unified = results["routing"], results["unified"]
    assert routing.orchestration_train == 0 and unified.orchestration_train > 50
    assert unified.trainset_size == routing.trainset_size + unified.orchestration_train
    assert read_jsonl(ctx.store, unified.heldout_key) == read_jsonl(ctx.store, routing.heldout_key)
    trainset = read_jsonl(ctx.store, f"{unified.artifact_prefix}/trainset.jsonl")
    derived = [r for r in trainset if r["label_source"] == "orchestration"]
    assert len(derived) == unified.orchestration_train
    assert all(r["label"] == r["agent_sequence"][0] and r["orchestration_pattern"] for r in derived)
    metadata = ctx.store.get_json(f"{unified.artifact_prefix}/metadata.json")
    assert metadata["labels_by_source"]["orchestration"] == unified.orchestration_train

    for target in ("routing", "unified"):
        assert evaluate.run(ctx, evaluate.EvaluateInputs(target=target)).status == "ok"
    reported = report.run(ctx)
    summaries = {s.target: s for s in reported.targets}
    assert summaries["unified"].orchestration_train == unified.orchestration_train
    assert summaries["unified"].heldout_size == summaries["routing"].heldout_size == routing.heldout_size
    html = Path(reported.report_path).read_text()
    assert "Orchestration data in routing" in html and f"With {unified.orchestration_train} orchestration rows" in html
    assert "workflow executions" in html


def test_without_executions_unified_is_routing(ctx, lm):
    commit_harvest(ctx, QUERIES[:40])
    assert readers.executions(ctx) == []
    trained = train.run(ctx, train.TrainInputs(target="unified"))
    assert trained.status == "ok" and trained.orchestration_train == 0
