"""The loop end to end on the real local LM: seeded Phoenix traffic → harvest → annotate →
synthesize → train (a real DSPy compile) → evaluate → gate → report. Slow: minutes on 2 cores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline import promotion
from pipeline.batch import BatchInputs, run_batch
from pipeline.config import PipelineConfig, StorageConfig
from pipeline.demo.seed import seed_demo_tenant
from pipeline.stages.base import StageContext
from pipeline.storage import open_store

pytestmark = pytest.mark.slow


def test_batch_on_the_local_lm(phoenix_url, tmp_path):
    tenant = "e2e"
    seeded = seed_demo_tenant(phoenix_url, tenant, hours=48)
    assert seeded.sent > 0
    config = PipelineConfig(storage=StorageConfig(url=f"file://{tmp_path / 'store'}"))
    config.phoenix.endpoint = phoenix_url
    # sized like the demo (pipeline/demo/config.yaml), with a smaller held-out set to stay quick
    config.training.heldout_fraction = 0.2
    config.training.max_bootstrapped_demos = 2
    config.training.max_labeled_demos = 4
    ctx = StageContext(config=config, store=open_store(config.storage), tenant=tenant, run_id="e2e-1")

    result = run_batch(ctx, BatchInputs(targets="routing", max_annotations=3, use_synthetic=True, synthetic_count=3, max_iterations=1))

    assert result.harvest.experiences > 100 and result.harvest.malformed
    assert result.annotate.annotated + result.annotate.failed == 3
    [decided] = result.gates
    evaluation = json.loads(ctx.store.get(f"{ctx.run_prefix}/evaluate/routing/result.json"))
    assert evaluation["status"] == "ok" and evaluation["lm"] == "local:smollm2-135m"
    assert evaluation["baseline"]["kind"] == "unoptimized"
    cand, base = evaluation["candidate_metrics"], evaluation["baseline_metrics"]
    assert cand["n"] == base["n"] == evaluation["n"] > 0
    # the gate's decision follows from the measured numbers, never the other way round
    should_promote = (
        evaluation["improvement_pct"] >= 5.0
        and evaluation["n"] >= config.gate.min_heldout_examples
        and evaluation["paired_test"]["p_value"] <= config.gate.max_p_value
    )
    assert decided.deployed == should_promote
    pointer = promotion.current(ctx.store, tenant, "routing")
    assert (pointer is not None) == should_promote

    state = json.loads(ctx.store.get(f"{ctx.run_prefix}/train/routing/program.json"))
    assert json.dumps(state)  # JSON state, loadable without pickle
    html = Path(result.report.report_path).read_text()
    assert f"{100 * cand['accuracy']:.1f}%" in html and f"{100 * base['accuracy']:.1f}%" in html
