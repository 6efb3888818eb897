"""Benchmarks (not tests): harvest throughput vs a bare Phoenix read, CLI start-up per stage,
and the wall time of the demo (`make run`). Run with `make bench`; numbers go to stdout and
to .local/bench/results.json.

    python tests/benchmarks/bench.py [--spans 2000] [--skip-demo]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

# What each stage's CLI process imports before it does any work (its lazy imports included).
STAGE_IMPORTS = {
    "harvest": "pipeline.stages.harvest, pipeline.phoenix_io",
    "annotate": "pipeline.stages.annotate, pipeline.phoenix_io, pipeline.lm, pipeline.modules.annotator",
    "synthesize": "pipeline.stages.synthesize, pipeline.lm, pipeline.synthetic.programs",
    "train": "pipeline.stages.train, pipeline.lm, pipeline.optimizers, pipeline.modules.routing",
    "evaluate": "pipeline.stages.evaluate, pipeline.lm, pipeline.modules.routing, pipeline.promotion",
    "gate": "pipeline.stages.gate, pipeline.promotion",
    "report": "pipeline.stages.report",
}


def bench_startup(repeats: int = 3) -> dict[str, float]:
    results = {}
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    for stage, modules in STAGE_IMPORTS.items():
        code = f"import pipeline.cli, {modules}"
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT)
            times.append(time.perf_counter() - started)
        results[stage] = round(statistics.median(times), 3)
    return results


def bench_harvest(spans: int) -> dict[str, float]:
    from pipeline import phoenix_io
    from pipeline.config import PipelineConfig, StorageConfig
    from pipeline.local.phoenix_server import LocalPhoenix
    from pipeline.stages import harvest
    from pipeline.run.context import StageContext
    from pipeline.storage import open_store

    with tempfile.TemporaryDirectory() as tmp, LocalPhoenix(working_dir=Path(tmp) / "phoenix") as phoenix:
        now = datetime.now(timezone.utc)
        records = [
            {
                "routing.query": f"find the clip number {i} about the match",
                "routing.chosen_agent": "video_search_agent",
                "routing.confidence": 0.9,
                "routing.modality": "video",
                "routing.processing_time": 0.4,
                "routing.context": json.dumps({"entities": ["match"]}),
                "outcome.search_quality": 0.9,
                "outcome.agent_success": True,
                "outcome.user_satisfaction": 0.8 if i % 3 else None,
                "start_time": now - timedelta(minutes=1 + i % 600),
            }
            for i in range(spans)
        ]
        started = time.perf_counter()
        phoenix_io.send_routing_spans(phoenix.url, "cogniverse-bench", records)
        phoenix_io.wait_for_span_count(phoenix.url, "cogniverse-bench", spans, timeout_s=600)
        ingest_s = time.perf_counter() - started

        from phoenix.client import Client

        client = Client(base_url=phoenix.url)
        started = time.perf_counter()
        listed = client.spans.get_spans(project_identifier="cogniverse-bench", limit=spans + 10, timeout=120)
        bare_s = time.perf_counter() - started
        assert len(listed) == spans, len(listed)
        # The dataframe call needs pandas, which only the server's venv has: time it there.
        from pipeline.local.phoenix_server import phoenix_python

        code = (
            "import time; from phoenix.client import Client; c = Client(base_url=%r); t = time.perf_counter(); "
            "f = c.spans.get_spans_dataframe(project_identifier='cogniverse-bench', limit=%d, timeout=120); "
            "print(len(f), time.perf_counter() - t)" % (phoenix.url, spans + 10)
        )
        out = subprocess.run([str(phoenix_python()), "-c", code], capture_output=True, text=True, check=True).stdout.split()
        assert int(out[0]) == spans, out
        dataframe_s = float(out[1])

        config = PipelineConfig(storage=StorageConfig(url=f"file://{tmp}/store"))
        config.phoenix.endpoint = phoenix.url
        ctx = StageContext(config=config, store=open_store(config.storage), tenant="bench", run_id="b1")
        started = time.perf_counter()
        result = harvest.run(ctx, harvest.HarvestInputs(lookback_hours=24, end_time=now + timedelta(minutes=1)))
        harvest_s = time.perf_counter() - started
        assert result.experiences == spans, result
    return {
        "spans": spans,
        "phoenix_ingest_spans_per_s": round(spans / ingest_s, 1),
        "bare_client_get_spans_s": round(bare_s, 3),
        "bare_client_spans_per_s": round(spans / bare_s, 1),
        "bare_dataframe_read_s": round(dataframe_s, 3),
        "bare_dataframe_spans_per_s": round(spans / dataframe_s, 1),
        "harvest_stage_s": round(harvest_s, 3),
        "harvest_spans_per_s": round(spans / harvest_s, 1),
    }


def bench_demo() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pipeline.local.demo", "--workdir", tmp], check=True, cwd=ROOT)
        return {"make_run_wall_s": round(time.perf_counter() - started, 1)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=2000)
    parser.add_argument("--skip-demo", action="store_true")
    args = parser.parse_args()
    results = {"measured_at": datetime.now(timezone.utc).isoformat(), "cpu_count": os.cpu_count()}
    results["cli_startup_s"] = bench_startup()
    print(json.dumps(results, indent=2), flush=True)
    results["harvest"] = bench_harvest(args.spans)
    print(json.dumps(results["harvest"], indent=2), flush=True)
    if not args.skip_demo:
        results["demo"] = bench_demo()
    out = ROOT / ".local/bench/results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
