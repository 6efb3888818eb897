"""The `cross_modal` module (pipeline/modules/cross_modal.py): one file plus the cross-modal
generator's examples make a target that plan, train, evaluate and predict drive from its spec."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from typing import Any

import dspy
import pytest
from dspy.utils import DummyLM

from pipeline.config import PipelineConfig, StorageConfig
from pipeline.modules import all_targets, facts, load_module, module_names, parse_target
from pipeline.modules.cross_modal import build_example, fusion_match, program
from pipeline.run import readers
from pipeline.run.context import StageContext, read_jsonl
from pipeline.stages import evaluate, plan, predict, synthesize, train
from pipeline.storage import open_store
from tests.test_stages import QUERIES, commit_harvest


def answer(primary: str = "video", weights: dict[str, Any] | None = None, fuse: bool = True) -> dict[str, Any]:
    return {"fuse": fuse, "primary_modality": primary, "fusion_weights": weights or {"video": 0.7, "document": 0.3}}


def test_it_is_a_target_found_from_its_file_without_importing_dspy():
    assert "cross_modal" in module_names() and "cross_modal" in all_targets()
    assert parse_target("cross_modal") == ("cross_modal", None)
    declared = facts("cross_modal")
    assert (declared.real_data, declared.synthetic, declared.adaptive, declared.per_modality) == (False, "cross_modal", False, False)
    assert load_module("cross_modal").label_field == "primary_modality"
    code = "import sys, pipeline.modules as m; m.all_targets(); m.facts('cross_modal'); print('dspy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_the_weights_are_normalised_over_the_detected_modalities_and_the_primary_weight_is_the_confidence():
    lm = DummyLM([answer("video", {"video": 3, "document": 1, "audio": 5}), answer("document", {"video": 0, "document": -2})])
    with dspy.context(lm=lm, adapter=dspy.ChatAdapter()):
        first = program()(query="the launch video and its press kit", modalities=["document", "video"])
        second = program()(query="the manual and the demo clip", modalities=["document", "video"])
    assert first.fuse is True and first.primary_modality == "video"
    assert first.fusion_weights == {"document": 0.25, "video": 0.75} and first.confidence == 0.75
    assert second.fusion_weights == {"document": 0.5, "video": 0.5} and second.confidence == 0.5  # no usable weight: equal


def test_the_metric_scores_the_fuse_decision_and_the_leading_modality():
    example = build_example({"query": "q", "modalities": ["video", "document"], "fuse": True, "label": "video"})
    assert example.inputs().toDict() == {"query": "q", "modalities": ["document", "video"]}  # sorted: the order tells nothing
    right = dspy.Prediction(fuse=True, primary_modality="video")
    half = dspy.Prediction(fuse=True, primary_modality="document")
    assert (fusion_match(example, right), fusion_match(example, half)) == (1.0, 0.5)
    assert (fusion_match(example, right, trace=[]), fusion_match(example, half, trace=[])) == (1.0, 0.0)  # bootstrapping: all or nothing


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


def test_plan_synthesize_train_evaluate_and_predict_follow_the_spec(ctx, lm, tmp_path):
    commit_harvest(ctx, QUERIES[:40])  # routing traffic: nothing in it labels a cross-modal decision
    planned = plan.run(ctx, plan.PlanInputs(targets=["cross_modal"], use_synthetic_data=True))
    [decision] = planned.decisions
    assert decision.real_examples == 0 and decision.train and decision.strategy == "SYNTHETIC"

    # the plan trains cross_modal with synthetic data: its own generator runs, though not configured
    lm["lm"] = DummyLM([{"query": f"show the clip and the matching notes about topic {i} please"} for i in range(200)])
    synthesized = synthesize.run(ctx, synthesize.SynthesizeInputs(count=30))
    assert "cross_modal" in synthesized.generators and "cross_modal" not in ctx.config.content.generators
    rows = readers.synthetic(ctx, None, "cross_modal")
    assert len(rows) == synthesized.generators["cross_modal"].generated >= 20
    assert all(r["label"] == r["primary_modality"] and r["fuse"] and len(r["modalities"]) == 2 for r in rows)

    lm["lm"] = DummyLM({"[[ ## query ## ]]": answer("video")})
    trained = train.run(ctx, train.TrainInputs(target="cross_modal", use_synthetic=True, strategy="SYNTHETIC"))
    assert trained.status == "ok" and trained.real_train == 0 and trained.optimizer == "BootstrapFewShot"  # adaptive does not apply
    heldout = read_jsonl(ctx.store, trained.heldout_key)
    assert trained.synthetic_train + trained.heldout_size == len(rows) and {r["module"] for r in heldout} == {"cross_modal"}

    evaluated = evaluate.run(ctx, evaluate.EvaluateInputs(target="cross_modal"))
    share = sum(r["label"] == "video" for r in heldout) / len(heldout)
    assert evaluated.status == "ok" and evaluated.n == len(heldout)
    assert evaluated.candidate_metrics.accuracy == pytest.approx(share, abs=1e-4)

    queries = tmp_path / "queries.jsonl"
    queries.write_text(json.dumps({"query": "the talk and its slides", "modalities": ["video", "document"]}) + "\n")
    answers = tmp_path / "answers.jsonl"
    predict.run(ctx.config, ctx.store, predict.PredictInputs(tenant="acme", target="cross_modal", input_path=str(queries),
                                                             output_path=str(answers), version="unoptimized"))
    [row] = [json.loads(line) for line in answers.read_text().splitlines()]
    assert (row["fuse"], row["primary_modality"], row["fusion_weights"], row["confidence"]) == (
        True, "video", {"video": 0.7, "document": 0.3}, 0.7)


def test_adaptive_asked_for_is_refused_for_it(ctx, lm):
    from pipeline.errors import ConfigError

    commit_harvest(ctx, QUERIES[:10])
    with pytest.raises(ConfigError, match="single-label"):
        train.run(ctx, train.TrainInputs(target="cross_modal", optimizer="adaptive"))
