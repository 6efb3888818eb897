"""Optimization quality benchmark (not a test; never in CI): does training really improve routing
on queries no training saw, and at what LM cost? Run with `make bench-quality`.

    python tests/benchmarks/quality.py [--lm local:smollm2-135m] [--lm gguf:/path/model.gguf]
        [--eval tests/benchmarks/data/routing_eval.jsonl] [--rows ...] [--limit N]

Data. The demo tenant's traffic is seeded into a local Phoenix once (48 h, fixed clock and seed)
and harvested by the real `harvest` stage; the routing trainset is the pipeline's own train
split of the trusted labels (human + outcome; the held-out split is left out, as in a run).
Every trained row below is the real `train` stage on that data, one attempt per optimizer.

Scoring. Each program answers every query of the evaluation set (written independently of the
demo data: tests/benchmarks/data/README.md; a test checks it shares no near-duplicate with the
training queries). Per LM × program: accuracy with its Wilson 95 % interval, macro-F1, the
paired difference against the unoptimized program with Newcombe's 95 % interval, ECE, LM calls
and tokens (compile and evaluation), wall time; for the composite program, the slice each tier
answered and the classifier's own accuracy on the LM's slice. Reference rows: the incumbent
router (the demo's keyword router, deterministic part) and a TF-IDF + logistic-regression
classifier trained on the same labelled rows. JSON goes to `<out>/quality-<lm>.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TQDM_DISABLE", "1")  # optimizers draw progress bars per batch: not in a results log

DEFAULT_EVAL = ROOT / "tests" / "benchmarks" / "data" / "routing_eval.jsonl"
TENANT = "demo"
RUN_ID = "bench-quality"
SEED_CLOCK = datetime(2026, 11, 30, tzinfo=timezone.utc)  # fixed: the same traffic every time
SEED_HOURS = 48
# Trained rows: (row name, train --optimizer). `adaptive` yields two rows: the DSPy program alone
# (its fast tier removed) and the composite the pipeline promotes.
TRAINED = {
    "BootstrapFewShot": "BootstrapFewShot",
    "SIMBA": "SIMBA",
    "MIPROv2": "MIPROv2",
    "adaptive": "adaptive",
}
DEFAULT_ROWS = ("incumbent", "classifier", "unoptimized-seed", "unoptimized", "BootstrapFewShot", "SIMBA", "adaptive")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lm", action="append", help="LM model string (repeatable); default local:smollm2-135m")
    parser.add_argument("--eval", type=Path, default=DEFAULT_EVAL, help="JSON Lines {query, expected_agent}")
    parser.add_argument("--rows", default=",".join(DEFAULT_ROWS),
                        help=f"comma-separated rows; known: incumbent, classifier, unoptimized-seed, unoptimized, {', '.join(TRAINED)}")
    parser.add_argument("--limit", type=int, help="score only the first N evaluation queries (a quick look, not a result)")
    parser.add_argument("--simba-steps", type=int, default=2, help="SIMBA's max_steps (each ~bsize × candidates LM calls)")
    parser.add_argument("--mipro-trials", type=int, default=4)
    parser.add_argument("--threads", type=int, default=max(1, os.cpu_count() or 1), help="llama.cpp threads")
    parser.add_argument("--workdir", type=Path, default=ROOT / ".local" / "bench-quality")
    parser.add_argument("--run-id", default=datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S"),
                        help="names the bench run in its store; reuse one to keep its trained programs (default: train afresh)")
    parser.add_argument("--out", type=Path, default=ROOT / ".local" / "bench")
    args = parser.parse_args(argv)
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    lms = args.lm or ["local:smollm2-135m"]

    evaluation = load_eval(args.eval)[: args.limit] if args.limit else load_eval(args.eval)
    experiences = harvested_experiences(args.workdir)
    args.out.mkdir(parents=True, exist_ok=True)
    for model in lms:
        started = time.monotonic()
        result = bench_lm(model, rows, evaluation, experiences, args)
        result["wall_seconds"] = round(time.monotonic() - started, 1)
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(model.split(":", 1)[-1]).name)[:60]
        path = args.out / f"quality-{name}.json"
        path.write_text(json.dumps(result, indent=2) + "\n")
        path.with_suffix(".md").write_text(markdown_table(result))
        print_table(result)
        print(f"written: {path}")
    return 0


# ---------------------------------------------------------------------------- data


def load_eval(path: Path) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            raw = json.loads(line)
            rows.append({"query": raw["query"], "label": raw["expected_agent"], "modality": raw.get("modality", "text"),
                         "kind": raw.get("kind"), "context": ""})
    return rows


def harvested_experiences(workdir: Path) -> list[dict[str, Any]]:
    """The demo tenant's experiences, harvested once by the real stage and kept in the bench store."""
    from pipeline.config import PipelineConfig
    from pipeline.stages import harvest
    from pipeline.run.context import StageContext, read_parquet
    from pipeline.storage import open_store

    config = PipelineConfig()
    config.storage.url = f"file://{workdir / 'store'}"
    ctx = StageContext(config, open_store(config.storage), TENANT, RUN_ID)
    done = ctx.output(harvest.STAGE).committed()
    if done is None:
        from pipeline.demo.seed import seed_demo_tenant
        from pipeline.local.phoenix_server import LocalPhoenix

        with LocalPhoenix(working_dir=workdir / "phoenix") as phoenix:
            seed_demo_tenant(phoenix.url, TENANT, now=SEED_CLOCK, hours=SEED_HOURS)
            config.phoenix.endpoint = phoenix.url
            ctx = StageContext(config, ctx.store, TENANT, RUN_ID)
            harvest.run(ctx, harvest.HarvestInputs(lookback_hours=SEED_HOURS, end_time=SEED_CLOCK))
        done = ctx.output(harvest.STAGE).committed()
    return read_parquet(ctx.store, done["experiences_key"])


# ---------------------------------------------------------------------------- one LM


def bench_lm(model: str, rows: list[str], evaluation: list[dict[str, Any]], experiences: list[dict[str, Any]],
             args: argparse.Namespace) -> dict[str, Any]:
    from pipeline.config import PipelineConfig
    from pipeline.datasets import split_for_training
    from pipeline.lm import LMMeter, lm_context
    from pipeline.run.context import StageContext
    from pipeline.run.train import load_program
    from pipeline.stages import harvest, train
    from pipeline.storage import open_store

    config = PipelineConfig()
    config.storage.url = f"file://{args.workdir / 'store'}"
    config.llm.primary.model = model
    config.llm.primary.n_threads = args.threads
    config.llm.primary.max_tokens = 160
    store = open_store(config.storage)
    lm_tag = re.sub(r"[^a-z0-9]+", "-", Path(model.split(":", 1)[-1]).name.lower()).strip("-")[:40] or "lm"
    run_id = f"q{args.run_id}-{lm_tag}".lower()[:63].rstrip("-.")
    ctx = StageContext(config, store, TENANT, run_id)
    if ctx.output(harvest.STAGE).committed() is None:  # the run reads the shared harvest
        source = StageContext(config, store, TENANT, RUN_ID).output(harvest.STAGE).committed()
        ctx.output(harvest.STAGE).commit(harvest.HarvestResult.model_validate(source))
    train_rows, heldout = split_for_training(experiences, None, config.training.heldout_fraction, config.training.seed)
    gold = [e["label"] for e in evaluation]
    result: dict[str, Any] = {
        "lm": model, "evaluation": {"file": str(args.eval), "n": len(evaluation), "by_agent": dict(Counter(gold))},
        "training": {"rows": len(train_rows), "labels_by_source": dict(Counter(r["label_source"] for r in train_rows)),
                     "by_agent": dict(Counter(r["label"] for r in train_rows)), "heldout_left_out": len(heldout)},
        "rows": {},
    }
    scored: dict[str, dict[str, Any]] = {}

    def record(name: str, answers: list[dict[str, Any]], **extra: Any) -> None:
        scored[name] = summarise(answers, gold, **extra)
        result["rows"][name] = scored[name]
        print(f"  {name:<28} accuracy {scored[name]['accuracy']:.1%}", flush=True)

    print(f"LM {model}: {len(train_rows)} training rows, {len(evaluation)} evaluation queries", flush=True)
    if "incumbent" in rows:
        from pipeline.demo.seed import keyword_route

        record("incumbent (keyword router)", [{"predicted": keyword_route(e["query"]), "confidence": 0.5} for e in evaluation],
               note="the demo router's deterministic part (no random slips); its logged choices are on the held-out split")
    if "classifier" in rows:
        from pipeline.textclf import TextClassifier

        t0 = time.monotonic()
        model_ = TextClassifier.fit([r["query"] for r in train_rows], [r["label"] for r in train_rows])
        answers = [{"predicted": label, "confidence": p} for label, p in model_.predict([e["query"] for e in evaluation])]
        record("classifier (TF-IDF + LR)", answers, compile_seconds=round(time.monotonic() - t0, 2))

    with lm_context(config.llm.primary) as lm:
        lm("Reply with OK.", max_tokens=4)  # load the model outside every timing

        def score_program(program: Any, **extra: Any) -> list[dict[str, Any]]:
            meter = LMMeter()
            out = []
            t0 = time.monotonic()
            with meter.watching():
                for e in evaluation:
                    try:
                        pred = program(query=e["query"], context="")
                        out.append({"predicted": pred.recommended_agent, "confidence": _confidence(pred),
                                    "tier": getattr(pred, "tier", None), "classifier": getattr(pred, "classifier_label", None)})
                    except Exception as exc:  # unparseable: wrong, as in evaluate
                        out.append({"predicted": None, "confidence": 0.0, "error": str(exc)[:200]})
            extra.update(eval_usage=meter.snapshot(), eval_seconds=round(time.monotonic() - t0, 1))
            return out, extra

        if "unoptimized-seed" in rows:
            import dspy

            from pipeline.lm import BOUNDED, SchemaJSONAdapter
            from tests.benchmarks.seed_program import SeedRoutingModule

            with dspy.context(adapter=SchemaJSONAdapter(BOUNDED)):  # with the prompt format it had
                answers, extra = score_program(SeedRoutingModule())
            record("unoptimized (seed program)", answers, **extra,
                   note="the previous routing program and prompt format: agent, confidence and reasoning generated by the LM")
        if "unoptimized" in rows:
            from pipeline.modules.routing import RoutingModule

            answers, extra = score_program(RoutingModule())
            record("unoptimized", answers, **extra)
        for name, optimizer in TRAINED.items():
            if name not in rows:
                continue
            max_iterations = {"SIMBA": args.simba_steps, "MIPROv2": args.mipro_trials}.get(name, 1)
            t0 = time.monotonic()
            trained = train.run(ctx, train.TrainInputs(target="routing", optimizer=optimizer, max_iterations=max_iterations,
                                                       attempt=name.lower()))
            compile_info = {"compile_lm_calls": trained.compile_lm_calls, "compile_tokens": trained.compile_tokens,
                            "compile_seconds": trained.compile_seconds, "train_stage_seconds": round(time.monotonic() - t0, 1),
                            "max_iterations": max_iterations}
            program = load_program(store, "routing", trained.artifact_prefix)
            if name == "adaptive":
                meta = store.get_json(f"{trained.artifact_prefix}/{train.METADATA_FILE}")
                compile_info["adaptive_report"] = {k: v for k, v in meta["optimizer_settings"].items() if k not in ("strategy",)}
                alone = load_program(store, "routing", trained.artifact_prefix)
                alone.set_learned({k: v for k, v in alone.learned.items() if k != "fast_tier"})
                answers, extra = score_program(alone, **compile_info)
                record("adaptive: DSPy program alone", answers, **extra)
                answers, extra = score_program(program, **compile_info)
                record("adaptive: composite (promoted)", answers, **extra)
            else:
                answers, extra = score_program(program, **compile_info)
                record(name, answers, **extra)

    base = scored.get("unoptimized")
    if base is not None:
        from pipeline.metrics import paired_difference

        for name, row in result["rows"].items():
            if name != "unoptimized":
                diff = paired_difference(row.pop("_right"), base["_right"])
                row["vs_unoptimized"] = diff.model_dump()
        base.pop("_right")
    for row in result["rows"].values():
        row.pop("_right", None)
    return result


def _confidence(pred: Any) -> float:
    from pipeline.modules.common import clamp_confidence

    return clamp_confidence(getattr(pred, "confidence", 0.0))


def summarise(answers: list[dict[str, Any]], gold: list[str], **extra: Any) -> dict[str, Any]:
    from pipeline.metrics import score_predictions, wilson_interval

    predicted = [a["predicted"] for a in answers]
    metrics = score_predictions(gold, predicted, [float(a.get("confidence") or 0.0) for a in answers], [0.0] * len(gold))
    right = [p == g for p, g in zip(predicted, gold)]
    low, high = wilson_interval(sum(right), len(gold))
    row: dict[str, Any] = {
        "accuracy": metrics.accuracy, "wilson_95": [round(low, 4), round(high, 4)], "macro_f1": metrics.macro_f1,
        "ece": metrics.ece, "mean_confidence": metrics.mean_confidence, "failures": metrics.failures,
        "predicted_counts": dict(Counter(p or "(none)" for p in predicted)), "_right": right, **extra,
    }
    tiers = [a.get("tier") for a in answers]
    if any(tiers):
        for tier in sorted({t for t in tiers if t}):
            members = [i for i, t in enumerate(tiers) if t == tier]
            slice_row = {"n": len(members), "share": round(len(members) / len(gold), 4),
                         "accuracy": round(sum(right[i] for i in members) / len(members), 4)}
            with_classifier = [i for i in members if answers[i].get("classifier")]
            if with_classifier:
                slice_row["classifier_accuracy_on_slice"] = round(
                    sum(answers[i]["classifier"] == gold[i] for i in with_classifier) / len(with_classifier), 4)
            row.setdefault("tiers", {})[tier] = slice_row
    return row


def print_table(result: dict[str, Any]) -> None:
    print(f"\n{result['lm']} — {result['evaluation']['n']} evaluation queries, {result['training']['rows']} training rows "
          f"{result['training']['labels_by_source']}")
    header = f"{'program':<32}{'acc':>7}{'95% CI':>15}{'mF1':>7}{'Δ vs unopt [95% CI]':>26}{'ECE':>7}{'compile calls':>15}{'eval calls':>12}{'tokens':>10}"
    print(header)
    for name, row in result["rows"].items():
        ci = f"{row['wilson_95'][0]:.2f}–{row['wilson_95'][1]:.2f}"
        diff = row.get("vs_unoptimized")
        delta = f"{100 * diff['difference']:+.1f} [{100 * diff['low']:+.1f}, {100 * diff['high']:+.1f}]" if diff else "—"
        usage = row.get("eval_usage") or {}
        tokens = (row.get("compile_tokens") or 0) + usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
        print(f"{name:<32}{row['accuracy']:>7.1%}{ci:>15}{row['macro_f1']:>7.2f}{delta:>26}{row['ece']:>7.3f}"
              f"{row.get('compile_lm_calls') if row.get('compile_lm_calls') is not None else '—':>15}"
              f"{usage.get('lm_calls', '—'):>12}{tokens or '—':>10}")
        for tier, info in (row.get("tiers") or {}).items():
            extra = f", classifier on this slice {info['classifier_accuracy_on_slice']:.1%}" if "classifier_accuracy_on_slice" in info else ""
            print(f"    tier {tier}: {info['n']} queries ({info['share']:.0%}), accuracy {info['accuracy']:.1%}{extra}")


def markdown_table(result: dict[str, Any]) -> str:
    """The results as the README shows them (computed from the run, never typed in)."""
    lines = [f"**{result['lm']}** — {result['evaluation']['n']} evaluation queries; "
             f"{result['training']['rows']} training rows {result['training']['labels_by_source']}",
             "",
             "| program | accuracy [95 % CI] | macro-F1 | Δ vs unoptimized [95 % CI] | ECE | compile LM calls | eval LM calls | tokens |",
             "|---|---|---|---|---|---|---|---|"]
    for name, row in result["rows"].items():
        diff = row.get("vs_unoptimized")
        delta = f"{100 * diff['difference']:+.1f} [{100 * diff['low']:+.1f}, {100 * diff['high']:+.1f}]" if diff else "—"
        usage = row.get("eval_usage") or {}
        tokens = (row.get("compile_tokens") or 0) + usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
        calls = row.get("compile_lm_calls")
        lines.append(f"| {name} | {100 * row['accuracy']:.1f} % [{100 * row['wilson_95'][0]:.1f}, {100 * row['wilson_95'][1]:.1f}] | "
                     f"{row['macro_f1']:.2f} | {delta} | {row['ece']:.3f} | {'—' if calls is None else calls} | "
                     f"{usage.get('lm_calls', '—')} | {tokens or '—'} |")
        for tier, info in (row.get("tiers") or {}).items():
            if len(row["tiers"]) > 1:
                mine = (f"; the classifier's own answers there: {100 * info['classifier_accuracy_on_slice']:.1f} %"
                        if "classifier_accuracy_on_slice" in info and tier == "lm" else "")
                lines.append(f"| ↳ {tier} tier | {info['n']} queries ({100 * info['share']:.0f} %), "
                             f"{100 * info['accuracy']:.1f} % right{mine} | | | | | | |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
