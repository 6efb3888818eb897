"""`make run`: the whole loop on embedded defaults, and everything it starts is stopped.

A local Phoenix server (own venv, SQLite under .local/phoenix), the demo tenant seeded with
realistic routing traffic when its project is empty, a local object store under .local/store,
the local LM from the default config. Prints the gate decision, the improvement and where
the artifacts and the HTML report are.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

from pipeline.errors import PipelineError

DEMO_TENANT = "demo"
# Sized for ≤ 10 minutes on 2 cores with the default 270M model (see README, "make run").
DEMO_TARGETS = "routing,modality-video"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.local.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default=".local", help="where Phoenix's database and the object store live")
    parser.add_argument("--config", help="a pipeline config to use instead of the demo's (pipeline/demo/config.yaml)")
    parser.add_argument("--tenant", default=DEMO_TENANT)
    parser.add_argument("--targets", default=DEMO_TARGETS)
    parser.add_argument("--use-synthetic", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--synthetic-count", type=int, default=8)
    parser.add_argument("--max-iterations", type=int, default=1, help="optimizer budget (BootstrapFewShot: rounds)")
    args = parser.parse_args(argv)
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

    from pipeline.batch import BatchInputs, run_batch
    from pipeline.config import load_config
    from pipeline.demo.seed import seed_demo_tenant
    from pipeline.local.phoenix_server import LocalPhoenix
    from pipeline.stages.base import StageContext
    from pipeline.storage import open_store

    started = time.monotonic()
    workdir = Path(args.workdir).resolve()

    def say(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", flush=True)

    try:
        config = load_config(args.config or str(resources.files("pipeline.demo") / "config.yaml"))
        config.storage.url = f"file://{workdir / 'store'}"
        say(f"starting Phoenix (working dir {workdir / 'phoenix'})")
        with LocalPhoenix(working_dir=workdir / "phoenix") as phoenix:
            config.phoenix.endpoint = phoenix.url
            say(f"Phoenix ready at {phoenix.url}")
            # 48 h of traffic against a 24 h lookback: the window decides what a run sees.
            seeded = seed_demo_tenant(phoenix.url, args.tenant, hours=48)
            if seeded.skipped:
                say(f"demo traffic: {seeded.project} already has {seeded.existing} routing spans; not seeding")
            else:
                say(f"demo traffic: seeded {seeded.sent} routing spans over 48 h into {seeded.project} "
                    f"({seeded.malformed} deliberately malformed, {seeded.human_annotations} human annotations)")
            run_id = datetime.now(timezone.utc).strftime("demo-%Y%m%d-%H%M%S")
            ctx = StageContext(config=config, store=open_store(config.storage), tenant=args.tenant, run_id=run_id)
            say(f"run {run_id}: LM {config.llm.primary.model}, store {config.storage.url}")
            result = run_batch(
                ctx,
                BatchInputs(
                    targets=args.targets,
                    use_synthetic=args.use_synthetic,
                    synthetic_count=args.synthetic_count,
                    max_iterations=args.max_iterations,
                ),
                progress=say,
            )
        say("Phoenix stopped")
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code

    print()
    print(f"Run {result.run_id} of tenant {result.tenant} finished in {time.monotonic() - started:.0f}s.")
    for decided in result.gates:
        change = "—" if decided.improvement_pct is None else f"{decided.improvement_pct:+.1f}%"
        verdict = "PROMOTED" if decided.deployed else decided.decision.upper()
        print(f"  {decided.target:<16} improvement {change:>8}  gate: {verdict}")
        for reason in decided.reasons:
            print(f"      {reason}")
    trained = {g.target for g in result.gates}
    for summary in result.report.targets:
        if summary.target not in trained:
            print(f"  {summary.target:<16} not trained: {'; '.join(summary.reasons)}")
    if not any(g.deployed for g in result.gates):
        print("  Nothing was promoted: the candidates did not beat production by enough on held-out data.")
        print("  With the tiny default model that is the expected outcome; point the config at a stronger LM (README).")
    print(f"Artifacts: {workdir / 'store' / ctx.run_prefix}")
    print(f"Report:    {result.report.report_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
