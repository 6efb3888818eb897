"""Three runs of the demo tenant through the real stages (train, evaluate, gate, report, record),
at DummyLM cost: what the history page tests read.

The LM is DSPy's DummyLM, keyed by query; which share of the queries it answers right depends on
the program being evaluated (a stand-in for programs of different quality on one LM):
unoptimized 30 %, run 1's candidate 60 %, run 2's 60 %, run 3's 90 %. So run 1 is promoted
(v1), run 2 rejected (no gain over v1, which it measures), run 3 promoted (v2, after measuring
v1). The runs start one after the other, on the real clock (promotions are stamped with it).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import dspy
from dspy.utils import DummyLM

from pipeline.config import PipelineConfig, StorageConfig
from pipeline.run.context import StageContext
from pipeline.storage import open_store
from tests.test_stages import QUERIES, answering, commit_harvest

TENANT = "demo"
RUNS = ("run-1", "run-2", "run-3")
CANDIDATE_SHARE = {"run-1": 0.6, "run-2": 0.6, "run-3": 0.9}
UNOPTIMIZED_SHARE = 0.3


def history_config(root: Path) -> PipelineConfig:
    config = PipelineConfig(storage=StorageConfig(url=f"file://{root}"))
    config.gate.min_heldout_examples = 10
    config.training.strategy = "tiers"  # BootstrapFewShot on the DummyLM: no log-probabilities needed
    config.phoenix.endpoint = "http://phoenix.example:6006"
    return config


def build_history(root: Path, monkeypatch: Any, *, record: bool = True) -> tuple[PipelineConfig, Any]:
    """The three runs in a local store under `root`; returns (config, store)."""
    import pipeline.lm
    from pipeline.stages import evaluate, gate, record as record_stage, report, train

    answers: dict[str, Any] = answering(UNOPTIMIZED_SHARE)  # changed in place: the DummyLM holds it
    shares: dict[str, float] = {}  # artifact prefix → share of right answers

    @contextlib.contextmanager
    def fake_context(spec):
        lm = DummyLM(answers)
        with dspy.context(lm=lm, adapter=dspy.ChatAdapter()):
            yield lm

    real_predict_all = evaluate.predict_all

    def predict_all(ctx, module_name, ref, examples, *args, **kwargs):
        answers.update(answering(shares.get(ref.artifact_prefix or "", UNOPTIMIZED_SHARE)))
        return real_predict_all(ctx, module_name, ref, examples, *args, **kwargs)

    monkeypatch.setattr(pipeline.lm, "lm_context", fake_context)
    monkeypatch.setattr(pipeline.lm, "check_lm", lambda lm: None)
    monkeypatch.setattr(evaluate, "predict_all", predict_all)

    config = history_config(root)
    store = open_store(config.storage)
    for i, run_id in enumerate(RUNS):
        ctx = StageContext(config=config, store=store, tenant=TENANT, run_id=run_id)
        ctx.run_started_at()  # what the first stage of a real run writes
        commit_harvest(ctx, QUERIES[i * 60:(i + 1) * 60])
        answers.update(answering(UNOPTIMIZED_SHARE))
        trained = train.run(ctx, train.TrainInputs(target="routing", max_iterations=1))
        assert trained.status == "ok", trained
        shares[trained.artifact_prefix] = CANDIDATE_SHARE[run_id]
        evaluate.run(ctx, evaluate.EvaluateInputs(target="routing"))
        gate.run(ctx, gate.GateInputs(target="routing"))
        report.run(ctx)
        if record:
            record_stage.run(ctx, record_stage.RecordInputs(status="Succeeded"))
    return config, store
