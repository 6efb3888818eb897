"""`make run`: the batch workflow, exactly as rendered for Argo, run on this machine.

A local Phoenix server (own venv, SQLite under .local/phoenix) is started and the demo tenant
seeded with routing traffic when its project is empty; then the local Argo executor runs
`workflows/batch-optimization.yaml` (with the `module-optimization` WorkflowTemplate) — every
stage a `cogniverse-optimize` process, as a pod would run it — against a local object store
under .local/store and the local LM of the demo configuration. Prints the gate decisions, the
improvements and where the artifacts, report, status document and logs are, and stops
everything it started.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from pipeline.errors import run_main

if TYPE_CHECKING:
    from pipeline.argo.executor import RunResult
    from pipeline.config import PipelineConfig

DEMO_TENANT = "demo"
# Sized for ≤ 10 minutes on 2 cores with the default 135M model (see README, "make run").
DEMO_TARGETS = "routing,modality-video"
DEMO_HOURS = 48
REPO = Path(__file__).resolve().parents[2]
CONFIGMAP = "cogniverse-optimization-config"  # the name the workflows mount (workflows/common.py)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.local.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default=".local", help="where Phoenix's database, the store and the run state live")
    parser.add_argument("--config", help="a pipeline config to use instead of the demo's (pipeline/demo/config.yaml)")
    parser.add_argument("--tenant", default=DEMO_TENANT)
    parser.add_argument("--targets", default=DEMO_TARGETS, help="the workflow's optimizer-type")
    parser.add_argument("--use-synthetic", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--max-iterations", type=int, default=1, help="optimizer budget (BootstrapFewShot: rounds)")
    parser.add_argument("--workflows", type=Path, default=REPO / "workflows", help="the rendered workflow YAML")
    args = parser.parse_args(argv)
    return run_main(lambda: _demo(args))


def _demo(args: argparse.Namespace) -> int:
    from pipeline.argo.executor import RunOptions
    from pipeline.argo.executor import run as run_workflow
    from pipeline.config import load_config
    from pipeline.demo.seed import seed_demo_tenant
    from pipeline.local.phoenix_server import LocalPhoenix
    from pipeline.tenant import validate_tenant_id

    started = time.monotonic()
    workdir = Path(args.workdir).resolve()

    def say(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", flush=True)

    validate_tenant_id(args.tenant)
    config = load_config(args.config or str(resources.files("pipeline.demo") / "config.yaml"))
    config.storage.url = f"file://{workdir / 'store'}"
    # The steps run `cogniverse-optimize` from PATH, as the image's entrypoint would be.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    say(f"starting Phoenix (working dir {workdir / 'phoenix'})")
    with LocalPhoenix(working_dir=workdir / "phoenix") as phoenix:
        config.phoenix.endpoint = phoenix.url
        say(f"Phoenix ready at {phoenix.url}")
        # 48 h of traffic, all of it in the run's lookback window: enough trusted labels for a
        # held-out set the gate can decide on (≥ 60 routing examples).
        seeded = seed_demo_tenant(phoenix.url, args.tenant, hours=DEMO_HOURS)
        if seeded.skipped:
            say(f"demo traffic: {seeded.project} already has {seeded.existing} routing spans; not seeding")
        else:
            say(f"demo traffic: seeded {seeded.sent} routing spans over 48 h into {seeded.project} "
                f"({seeded.malformed} deliberately malformed, {seeded.human_annotations} human annotations) and "
                f"{seeded.orchestrations_sent} orchestration spans ({seeded.orchestrations_malformed} malformed)")
        configmap = workdir / "configmap"
        configmap.mkdir(parents=True, exist_ok=True)
        (configmap / "config.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
        say(f"LM {config.llm.primary.model}; store {config.storage.url}")
        say(f"argo (local): submit {args.workflows / 'batch-optimization.yaml'}")
        result = run_workflow(
            RunOptions(
                files=[args.workflows / "batch-optimization.yaml"],
                templates=[args.workflows / "module-optimization.yaml"],
                parameters={
                    "tenant-id": args.tenant,
                    "optimizer-category": "routing",
                    "optimizer-type": args.targets,
                    "use-synthetic-data": "true" if args.use_synthetic else "false",
                    "max-iterations": str(args.max_iterations),
                    "lookback-hours": str(DEMO_HOURS),  # the whole seeded window
                },
                configmaps={CONFIGMAP: configmap},
                artifact_root=workdir / "store",
                state_dir=workdir / "argo",
            ),
            # a Retry node repeats its Pod's line: show the pods only
            echo=lambda line: None if " (Retry " in line else say(f"  {line}"),
        )
    say("Phoenix stopped")

    print()
    print(f"Workflow {result.name} {result.phase} in {time.monotonic() - started:.0f}s{f': {result.message}' if result.message else ''}")
    _print_outcome(config, args.tenant, result)
    print(f"Status:    {result.status_file}   (the shape of `argo get {result.name} -o json`)")
    print(f"Logs:      {result.run_dir / 'logs'}")
    return 0 if result.phase == "Succeeded" else 1


def _print_outcome(config: PipelineConfig, tenant: str, result: RunResult) -> None:
    """The run's gate decisions and evaluations, read from the store it wrote (the run id is the
    workflow's name)."""
    import json

    from pipeline.run import readers
    from pipeline.run.context import StageContext
    from pipeline.storage import open_store

    ctx = StageContext(config=config, store=open_store(config.storage), tenant=tenant, run_id=result.name)
    stages = readers.run_results(ctx)
    outputs = {p["name"]: p.get("value") for p in result.status.get("status", {}).get("outputs", {}).get("parameters", [])}
    for results in stages["targets"].values():
        decided = results.get("gate")
        if decided is None:
            continue
        change = "—" if decided.get("improvement_pct") is None else f"{decided['improvement_pct']:+.1f}%"
        verdict = "PROMOTED" if decided["deployed"] else decided["decision"].upper()
        print(f"  {decided['target']:<16} improvement {change:>8}  gate: {verdict}")
        if "evaluate" in results:
            _print_evaluation(results["evaluate"])
        for reason in decided["reasons"]:
            print(f"      {reason}")
    for decision in (stages.get("plan") or {}).get("decisions", []):
        if not decision["train"]:
            print(f"  {decision['target']:<16} not trained: {decision['reason']}")
    if outputs.get("deployed") != "true":
        print(f"  Nothing was promoted: no candidate beat production by enough on held-out data (LM {config.llm.primary.model}).")
    print(f"Outputs:   {json.dumps(outputs)}")
    print(f"Artifacts: {ctx.store.local_path(ctx.run_prefix)}")
    location = outputs.get("report-location") or ""
    if location.startswith("file://"):
        print(f"Report:    {location[len('file://'):]}")
    elif location:
        print(f"Report:    {location}")
    from pipeline.layout import tenant_index_key

    history = ctx.store.local_path(tenant_index_key(ctx.tenant))  # rebuilt by the exit handler
    if history is not None and history.is_file():
        print(f"History:   {history}")


def _print_evaluation(ev: dict) -> None:
    """Candidate and baseline side by side, with the intervals and the LM calls behind them."""
    if ev.get("status") != "ok":
        return
    cand, base = ev["candidate_metrics"], ev["baseline_metrics"]
    ci = ev.get("candidate_interval") or {}
    bi = ev.get("baseline_interval") or {}
    print(f"      {ev['baseline']['label']}: {base['accuracy']:.1%} [{bi.get('low', 0):.0%}–{bi.get('high', 1):.0%}]  →  "
          f"candidate {cand['accuracy']:.1%} [{ci.get('low', 0):.0%}–{ci.get('high', 1):.0%}] on {ev['n']} held-out examples; "
          f"LM calls {ev.get('lm_calls', {}).get('candidate', '?')} + {ev.get('lm_calls', {}).get('baseline', '?')}")
    for tier in ev.get("candidate_tiers") or []:
        mine = f", the classifier's own answers there {tier['classifier_accuracy']:.1%}" if tier.get("classifier_accuracy") is not None and tier["tier"] == "lm" else ""
        print(f"        {tier['tier']} tier answered {tier['n']} ({tier['accuracy']:.1%} right{mine})")
    if ev.get("incumbent"):
        inc = ev["incumbent"]
        print(f"      the production router itself on the {inc['n']} human-labelled examples: {inc['accuracy']:.1%}")


if __name__ == "__main__":
    sys.exit(main())
