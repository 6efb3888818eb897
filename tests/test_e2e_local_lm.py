"""End to end: the real `batch-optimization` YAML through the local Argo executor, on embedded
defaults — seeded Phoenix traffic, the local object store, the real local LM (a real DSPy
compile and evaluation). Slow: minutes on 2 cores."""

from __future__ import annotations

import json
import os
import sys
from importlib import resources
from pathlib import Path

import pytest
import yaml

from pipeline import promotion
from pipeline.argo.executor import RunOptions, run
from pipeline.config import load_config
from pipeline.demo.seed import seed_demo_tenant
from pipeline.storage import open_store

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def test_batch_workflow_runs_through_the_local_executor(phoenix_url, tmp_path, monkeypatch):
    tenant = "e2e"
    assert seed_demo_tenant(phoenix_url, tenant, hours=48).sent > 0
    config = load_config(str(resources.files("pipeline.demo") / "config.yaml"))
    config.phoenix.endpoint = phoenix_url
    config.storage.url = f"file://{tmp_path / 'store'}"
    config.training.heldout_fraction = 0.2  # a shorter evaluation than the demo's; the gate still judges n
    config.max_annotations_per_run = 3
    config.content.synthetic_count = 3
    configmap = tmp_path / "configmap"
    configmap.mkdir()
    (configmap / "config.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json")))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")

    result = run(
        RunOptions(
            files=[REPO / "workflows/batch-optimization.yaml"],
            templates=[REPO / "workflows/module-optimization.yaml"],
            parameters={"tenant-id": tenant, "optimizer-type": "routing", "max-iterations": "1"},
            configmaps={"cogniverse-optimization-config": configmap},
            artifact_root=tmp_path / "store",
            state_dir=tmp_path / "argo",
        ),
        echo=lambda line: None,
    )
    assert result.phase == "Succeeded", result.message
    nodes = result.status["status"]["nodes"].values()
    ran = {n["templateName"] for n in nodes if n["type"] == "Pod" and n["phase"] == "Succeeded"}
    assert {"harvest", "annotate", "plan", "train", "evaluate", "gate", "report", "record"} <= ran
    outputs = {p["name"]: p["value"] for p in result.status["status"]["outputs"]["parameters"]}

    store = open_store(config.storage)
    run_prefix = f"tenants/{tenant}/runs/{result.name}"
    evaluation = store.get_json(f"{run_prefix}/evaluate/routing/result.json")
    assert evaluation["status"] == "ok" and evaluation["lm"] == "local:smollm2-135m"
    assert evaluation["baseline"]["kind"] == "unoptimized" and evaluation["n"] > 0
    assert json.loads(outputs["improvements"]) == {"routing": evaluation["improvement_pct"]}
    # the gate's decision follows from the measured numbers, never the other way round
    should_promote = (
        evaluation["improvement_pct"] >= config.gate.improvement_threshold
        and evaluation["n"] >= config.gate.min_heldout_examples
        and evaluation["paired_test"]["p_value"] <= config.gate.max_p_value
    )
    assert outputs["deployed"] == ("true" if should_promote else "false")
    assert (promotion.current(store, tenant, "routing") is not None) == should_promote

    assert json.dumps(store.get_json(f"{run_prefix}/train/routing/program.json"))  # DSPy JSON state
    report_path = Path(outputs["report-location"].removeprefix("file://"))
    html = report_path.read_text()
    cand, base = evaluation["candidate_metrics"], evaluation["baseline_metrics"]
    assert f"{100 * cand['accuracy']:.1f}%" in html and f"{100 * base['accuracy']:.1f}%" in html
    # the report step's key-only S3 artifacts, resolved under the artifact root
    assert list((tmp_path / "store").rglob("report.html")) and list((tmp_path / "store").rglob("manifest.json"))
    record = store.get_json(f"{run_prefix}/run/record.json")  # written by the exit handler
    assert record["status"] == "Succeeded" and "harvest" in record["stages_committed"]
    # the exit handler rebuilt the tenant's history page with this run on it
    index = store.get_json(f"tenants/{tenant}/index.json")
    (row,) = index["runs"]
    assert (row["run_id"], row["status"], row["report"]) == (result.name, "Succeeded", f"runs/{result.name}/report/report.html")
    assert store.exists(f"tenants/{tenant}/{row['report']}") and store.exists(f"tenants/{tenant}/index.html")
    assert any((result.run_dir / "logs").iterdir())
