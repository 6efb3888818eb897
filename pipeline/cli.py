"""`cogniverse-optimize`: one subcommand per stage. A thin layer: parse, call the stage's
`run(ctx, inputs)`, print and write its result; typed errors become exit codes through
pipeline.errors.run_main, as in every entry point.

Exit codes are the error classes' (pipeline.errors): `--help` lists them from there.
The run commands (submit, get, list, watch, outputs, logs) live in pipeline.runs.cli.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from datetime import datetime
from typing import Any, Callable

from pipeline import contract
from pipeline.errors import PipelineError, run_main

log = logging.getLogger("pipeline")


MAX_LOOKBACK_HOURS = contract.MAX_LOOKBACK_HOURS
MAX_RETENTION_DAYS = contract.MAX_RETENTION_DAYS
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


# --------------------------------------------------------------------- argument types
# Each refuses a bad value at parse time: argparse names the flag and exits 2, before any work.
def _number(kind: type = float, *, low: float | None = None, high: float | None = None,
            low_open: bool = False, high_open: bool = False) -> Callable[[str], Any]:
    """A finite int/float within [low, high] (an open end excludes the bound itself)."""
    left, right = "(" if low_open else "[", ")" if high_open else "]"
    bounds = f"{left}{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}{right}"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'a whole number' if kind is int else 'a number'}, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        too_low = low is not None and (value < low or (low_open and value == low))
        too_high = high is not None and (value > high or (high_open and value == high))
        if too_low or too_high:
            raise argparse.ArgumentTypeError(f"must be in {bounds}, got {text}")
        return value

    return parse


_count = _number(int, low=0)
_positive_int = _number(int, low=1)
_probability = _number(low=0.0, high=1.0)
_lookback_hours = _number(low=0.0, high=MAX_LOOKBACK_HOURS, low_open=True)
_percent = _number(low=0.0)


def _optional_positive_int(text: str) -> int | None:
    """A whole number >= 1, or "" for none (a workflow parameter cannot leave a flag out)."""
    return None if text == "" else _positive_int(text)


def _log_level(value: str) -> str:
    level = value.strip().upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(LOG_LEVELS)}, got {value!r}")
    return level


def _utc_time(value: str) -> datetime:
    """ISO 8601; a time without an offset is UTC. Far enough from year 1 that a lookback window
    before it still exists."""
    from datetime import timezone

    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO 8601 time such as 2026-12-01T00:00:00Z, got {value!r}") from None
    parsed = parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)
    if parsed.year < 1971:
        raise argparse.ArgumentTypeError(f"must be after 1971, got {value!r}")
    return parsed


def _text_file(value: str) -> str:
    """A readable UTF-8 text file (JSON Lines inputs): checked whole, in chunks, before any work."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0  # bytes before the chunk being decoded
    try:
        with open(value, "rb") as fh:
            while chunk := fh.read(1 << 20):
                decoder.decode(chunk)
                offset += len(chunk)
            decoder.decode(b"", final=True)
    except FileNotFoundError:
        raise argparse.ArgumentTypeError(f"{value}: no such file") from None
    except IsADirectoryError:
        raise argparse.ArgumentTypeError(f"{value} is a directory, not a file") from None
    except UnicodeDecodeError as exc:
        # "near": exc.start counts within the chunk, which may follow up to 3 held-back bytes
        raise argparse.ArgumentTypeError(f"{value} is not UTF-8 text ({exc.reason} near byte {offset + exc.start})") from None
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {value}: {exc.strerror or exc}") from None
    return value


def _output_path(value: str, *, directory: bool) -> str:
    """A path the command may create (its nearest existing ancestor is a directory) and, if it
    exists, of the right kind: checked before the work, not found out when writing after it."""
    from pathlib import Path

    path = Path(value)
    if path.exists() and path.is_dir() != directory:
        raise argparse.ArgumentTypeError(f"{value} is a {'file' if directory else 'directory'}, not a {'directory' if directory else 'file'}")
    ancestor = next((p for p in path.absolute().parents if p.exists()), None)
    if ancestor is not None and not ancestor.is_dir():
        raise argparse.ArgumentTypeError(f"{value}: {ancestor} is a file, not a directory")
    return value


def _output_file(value: str) -> str:
    return _output_path(value, directory=False)


def _output_dir(value: str) -> str:
    return _output_path(value, directory=True)


def _common(parser: argparse.ArgumentParser, *, run: bool = True) -> None:
    parser.add_argument("--config", help="pipeline configuration (YAML); default $COGNIVERSE_CONFIG, else embedded defaults")
    parser.add_argument("--tenant", required=True, help="tenant id (DNS label: lowercase letters, digits, '-')")
    if run:
        parser.add_argument("--run-id", required=True, help="run id: names the immutable run prefix in the store")
        parser.add_argument("--result-file", type=_output_file, help="also write the small JSON result here")
        parser.add_argument("--outputs-dir", type=_output_dir,
                            help="also write each result field to its own file here (for Argo output parameters)")


def _target(parser: argparse.ArgumentParser) -> None:
    from pipeline.modules import all_targets  # the registry: light, no DSPy

    parser.add_argument("--target", required=True, choices=all_targets(), metavar="TARGET",
                        help=f"module target: {', '.join(all_targets())}")


def _optimizer_choices(*, adaptive: bool = False) -> list[str]:
    from pipeline.optimizers import ADAPTIVE, AUTO, OPTIMIZERS

    return [AUTO, *((ADAPTIVE,) if adaptive else ()), *OPTIMIZERS]


def _exit_codes_epilog() -> str:
    """The exit codes, from the error classes (pipeline.errors): one source for this, the README
    and the workflows' retry expression."""
    from pipeline.errors import error_classes, exit_code_meanings

    import textwrap

    transient = {cls.exit_code for cls in error_classes() if cls.transient}
    rows = [(0, 'ok (also "skipped: insufficient data")')]
    rows += [(code, meaning + (" [transient: the workflows retry it]" if code in transient else ""))
             for code, meaning in exit_code_meanings().items()]
    rows.append((130, "interrupted"))
    lines = ["exit codes:"]
    for code, meaning in rows:
        lines.append(textwrap.fill(meaning, width=92, initial_indent=f"  {code:<4} ", subsequent_indent=" " * 7))
    return "\n".join(lines)


def _attempt(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--attempt", type=_attempt_id, default=contract.DEFAULT_ATTEMPT, help=help_text)


def _attempt_id(value: str) -> str:
    from pipeline.layout import check_name

    try:
        return check_name("attempt id", value)
    except PipelineError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _train_optimizer(value: str) -> str:
    from pipeline.optimizers import optimizer_choice

    try:
        return optimizer_choice(value, adaptive=True)
    except PipelineError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _optimizer(value: str) -> str:
    from pipeline.errors import ConfigError
    from pipeline.optimizers import optimizer_choice  # light: no DSPy

    try:
        return optimizer_choice(value)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def build_parser() -> argparse.ArgumentParser:
    from pipeline import __version__

    epilog = _exit_codes_epilog()
    parser = argparse.ArgumentParser(prog="cogniverse-optimize", description=__doc__.split("\n\n")[0], epilog=epilog,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}", help="print the version and exit")
    parser.add_argument("--log-level", type=_log_level, default=os.environ.get("COGNIVERSE_LOG_LEVEL", "WARNING"),
                        help=f"{', '.join(LOG_LEVELS)} (default $COGNIVERSE_LOG_LEVEL, else WARNING)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("harvest", help="Phoenix routing spans → experiences with rewards")
    _common(p)
    p.add_argument("--lookback-hours", type=_lookback_hours, default=contract.LOOKBACK_HOURS, help=f"window length, (0, {MAX_LOOKBACK_HOURS:g}]")
    p.add_argument("--min-confidence", type=_probability, default=contract.MIN_CONFIDENCE, help="trust unannotated decisions at or above this confidence, [0, 1]")
    p.add_argument("--end-time", type=_utc_time, help="window end (ISO 8601, UTC); default: the run's start")

    p = sub.add_parser("annotate", help="LLM annotations for low-confidence decisions, written back to Phoenix")
    _common(p)
    p.add_argument("--confidence-threshold", type=_probability, help="annotate decisions below this confidence, [0, 1] (default 0.6)")
    p.add_argument("--max-annotations", type=_count, help="at most this many per run, lowest confidence first")

    p = sub.add_parser("plan", help="per module target: train or skip, and with which data strategy")
    _common(p)
    p.add_argument("--targets", default="all", help="comma-separated targets, a module name (all its targets), or 'all'")
    p.add_argument("--use-synthetic-data", type=_bool, default=False, metavar="true|false",
                   help="plan synthetic (or hybrid) data for targets short of real examples (default false)")
    p.add_argument("--force-training", type=_bool, default=False, metavar="true|false",
                   help="train even below the data and annotation thresholds; recorded in the plan (default false)")
    p.add_argument("--optimizer", type=_optimizer, default="auto", choices=_optimizer_choices(), metavar="OPTIMIZER",
                   help="the optimizer each fan-out item trains with: auto (by trainset size), BootstrapFewShot, SIMBA, MIPROv2 or GEPA")
    p.add_argument("--annotation-threshold", type=_count, default=contract.ANNOTATION_THRESHOLD,
                   help="enough_annotations is false when this run's annotate wrote fewer LLM annotations (unless forced)")

    p = sub.add_parser("synthesize", help="synthetic labelled examples from the backend's content")
    _common(p)
    p.add_argument("--count", type=_count, help="synthetic examples to generate per generator (default: content.synthetic_count)")

    p = sub.add_parser("train", help="compile one module target's DSPy program")
    _common(p)
    _target(p)
    p.add_argument("--optimizer", type=_train_optimizer, choices=_optimizer_choices(adaptive=True), metavar="OPTIMIZER",
                   help="adaptive, BootstrapFewShot, SIMBA, MIPROv2 or GEPA (default or auto: training.strategy, adaptive unless configured)")
    p.add_argument("--max-iterations", type=_positive_int, default=contract.MAX_ITERATIONS,
                   help="the optimizer's iteration budget, >= 1 (README, \"Stages and the CLI\", says what each optimizer counts)")
    p.add_argument("--use-synthetic", type=_bool, default=False, metavar="true|false",
                   help="add the run's synthetic examples to the trainset (default false)")
    p.add_argument("--strategy", choices=["SYNTHETIC", "HYBRID", "PURE_REAL"], help="the plan's data strategy (HYBRID mixes 1:1)")
    p.add_argument("--golden-dataset", type=_text_file,
                   help="agent modules: this JSON Lines golden dataset instead of the tenant's (tenants/<t>/golden/<module>.jsonl)")
    _attempt(p, "train the run's data again, with other inputs, under this attempt id (default 1)")

    p = sub.add_parser("evaluate", help="candidate vs baseline on the same held-out (or golden) examples")
    _common(p)
    _target(p)
    p.add_argument("--candidate", default="run", help="run | production | unoptimized | <version>")
    p.add_argument("--baseline", default="production", help="run | production | unoptimized | <version>")
    p.add_argument("--golden", type=_text_file,
                   help="JSON Lines golden set instead of the held-out split: {query, expected_agent, modality?}; "
                        "agent modules: lines of the module's golden dataset schema")
    _attempt(p, "which train attempt is the run's candidate (default 1)")

    p = sub.add_parser("gate", help="promote the candidate if it is better enough")
    _common(p)
    _target(p)
    p.add_argument("--improvement-threshold", type=_percent, help=f"percent, >= 0 (default {contract.IMPROVEMENT_THRESHOLD_PCT:g})")
    _attempt(p, "which train/evaluate attempt to gate (default 1)")

    p = sub.add_parser("report", help="run manifest (JSON) and HTML report")
    _common(p)

    p = sub.add_parser("record", help="write the run record and rebuild the tenant's history page (an exit handler runs this whether the run passed or failed)")
    _common(p)
    p.add_argument("--status", required=True, help="the workflow's status, e.g. Succeeded, Failed, Error")
    p.add_argument("--failures", default="", help="JSON list of failed nodes, as Argo's {{workflow.failures}}")

    p = sub.add_parser("maintenance", help="delete runs older than the retention (keeping every production version's artifacts), rebuild the history page")
    _common(p)
    p.add_argument("--retention-days", type=_number(low=0.0, high=MAX_RETENTION_DAYS, low_open=True), default=float(contract.RETENTION_DAYS),
                   help=f"delete runs older than this many days, (0, {MAX_RETENTION_DAYS:g}] (default {contract.RETENTION_DAYS:g})")
    p.add_argument("--dry-run", type=_bool, default=False, metavar="true|false",
                   help="list what would be deleted without deleting it (default false)")

    p = sub.add_parser("predict", help="answer queries with the production program")
    _common(p, run=False)
    _target(p)
    p.add_argument("--input", required=True, type=_text_file, help="JSON Lines with a 'query' per line")
    p.add_argument("--output", required=True, type=_output_file, help="JSON Lines answers")
    p.add_argument("--version", default="production", help="production | unoptimized | <version>")

    p = sub.add_parser("rollback", help="restore the previous production version")
    _common(p, run=False)
    _target(p)
    p.add_argument("--to", type=_optional_positive_int,
                   help="a specific version from `history`; empty = the previous one (what a workflow passes by default)")

    p = sub.add_parser("history", help="production versions of a module target, newest first")
    _common(p, run=False)
    _target(p)

    p = sub.add_parser("batch", help="run the whole loop in this process (local runs)")
    _common(p, run=False)
    p.add_argument("--run-id", help="run id (default: batch-<UTC timestamp>)")
    p.add_argument("--targets", default="routing", help="comma-separated targets, or 'all' (default routing)")
    p.add_argument("--lookback-hours", type=_lookback_hours, default=contract.LOOKBACK_HOURS, help=f"harvest window length, (0, {MAX_LOOKBACK_HOURS:g}] (default {contract.LOOKBACK_HOURS:g})")
    p.add_argument("--min-confidence", type=_probability, default=contract.MIN_CONFIDENCE,
                   help=f"trust unannotated decisions at or above this confidence, [0, 1] (default {contract.MIN_CONFIDENCE:g})")
    p.add_argument("--max-annotations", type=_count, help="at most this many LLM annotations, lowest confidence first")
    p.add_argument("--use-synthetic", type=_bool, default=False, metavar="true|false", help="generate and train with synthetic examples (default false)")
    p.add_argument("--synthetic-count", type=_count, help="synthetic examples per generator (default: content.synthetic_count)")
    p.add_argument("--optimizer", type=_optimizer, choices=_optimizer_choices(), metavar="OPTIMIZER",
                   help="auto, BootstrapFewShot, SIMBA, MIPROv2 or GEPA (default: training.strategy)")
    p.add_argument("--max-iterations", type=_positive_int, default=contract.MAX_ITERATIONS, help=f"the optimizer's iteration budget, >= 1 (default {contract.MAX_ITERATIONS})")
    p.add_argument("--improvement-threshold", type=_percent, help="percent, >= 0 (default 5)")
    p.add_argument("--force-training", type=_bool, default=False, metavar="true|false",
                   help="train even below the data and annotation thresholds (default false)")
    p.add_argument("--result-file", type=_output_file, help="also write the batch's JSON result here")

    from pipeline.runs.cli import register as register_run_commands  # light: no kubernetes import

    register_run_commands(sub)
    for command in sub.choices.values():  # the exit codes on every subcommand's --help too
        command.epilog = epilog
        command.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def _context(args: argparse.Namespace, run_id: str | None = None) -> Any:
    from pipeline.config import load_config
    from pipeline.run.context import StageContext
    from pipeline.storage import open_store
    from pipeline.tenant import validate_tenant_id

    validate_tenant_id(args.tenant)  # before the tenant touches anything
    config = load_config(args.config)
    store = open_store(config.storage, attempts=config.retry_attempts, backoff_s=config.retry_backoff_s)
    return StageContext(config=config, store=store, tenant=args.tenant, run_id=run_id or args.run_id)


def _emit(result: Any, args: argparse.Namespace) -> None:
    from pipeline.errors import ConfigError
    from pipeline.outputs import write_outputs_dir, write_result_file

    print(result.model_dump_json(indent=2))
    try:
        write_result_file(getattr(args, "result_file", None), result)
        write_outputs_dir(getattr(args, "outputs_dir", None), result)
    except OSError as exc:  # e.g. no permission; the result itself is committed in the store
        raise ConfigError(f"cannot write the result to {exc.filename}: {exc.strerror or exc}") from exc


def _forced(optimizer: str | None) -> str | None:
    """`auto` (or nothing) means: chosen by trainset size."""
    from pipeline.optimizers import AUTO

    return None if optimizer in (None, AUTO) else optimizer


def _cmd_harvest(args: argparse.Namespace) -> Any:
    from pipeline.stages import harvest

    return harvest.run(_context(args), harvest.HarvestInputs(lookback_hours=args.lookback_hours, min_confidence=args.min_confidence, end_time=args.end_time))


def _cmd_annotate(args: argparse.Namespace) -> Any:
    from pipeline.stages import annotate

    return annotate.run(_context(args), annotate.AnnotateInputs(confidence_threshold=args.confidence_threshold, max_annotations=args.max_annotations))


def _cmd_plan(args: argparse.Namespace) -> Any:
    from pipeline.batch import resolve_targets
    from pipeline.stages import plan

    return plan.run(
        _context(args),
        plan.PlanInputs(
            targets=resolve_targets(args.targets), use_synthetic_data=args.use_synthetic_data, force_training=args.force_training,
            optimizer=args.optimizer, annotation_threshold=args.annotation_threshold,
        ),
    )


def _cmd_synthesize(args: argparse.Namespace) -> Any:
    from pipeline.stages import synthesize

    return synthesize.run(_context(args), synthesize.SynthesizeInputs(count=args.count))


def _cmd_train(args: argparse.Namespace) -> Any:
    from pipeline.stages import train

    return train.run(
        _context(args),
        train.TrainInputs(
            target=args.target, optimizer=_forced(args.optimizer), max_iterations=args.max_iterations, attempt=args.attempt,
            use_synthetic=args.use_synthetic, strategy=args.strategy, golden_dataset=args.golden_dataset,
        ),
    )


def _cmd_evaluate(args: argparse.Namespace) -> Any:
    from pipeline.stages import evaluate

    return evaluate.run(
        _context(args),
        evaluate.EvaluateInputs(target=args.target, candidate=args.candidate, baseline=args.baseline, golden_path=args.golden,
                                attempt=args.attempt),
    )


def _cmd_gate(args: argparse.Namespace) -> Any:
    from pipeline.stages import gate

    return gate.run(_context(args), gate.GateInputs(target=args.target, improvement_threshold=args.improvement_threshold,
                                                    attempt=args.attempt))


def _cmd_report(args: argparse.Namespace) -> Any:
    from pathlib import Path

    from pipeline.stages import report

    ctx = _context(args)
    result = report.run(ctx)
    if args.outputs_dir:  # the files Argo uploads as the step's artifacts
        target = Path(args.outputs_dir)
        target.mkdir(parents=True, exist_ok=True)
        (target / report.HTML_FILE).write_bytes(ctx.store.get(result.report_key))
        (target / report.MANIFEST_FILE).write_bytes(ctx.store.get(result.manifest_key))
    return result


def _cmd_record(args: argparse.Namespace) -> Any:
    from pipeline.stages import record

    return record.run(_context(args), record.RecordInputs(status=args.status, failures=args.failures))


def _cmd_maintenance(args: argparse.Namespace) -> Any:
    from pipeline.stages import maintenance

    return maintenance.run(_context(args), maintenance.MaintenanceInputs(retention_days=args.retention_days, dry_run=args.dry_run))


def _cmd_predict(args: argparse.Namespace) -> Any:
    from pipeline.stages import predict

    ctx = _context(args, run_id="predict")
    return predict.run(
        ctx.config,
        ctx.store,
        predict.PredictInputs(tenant=args.tenant, target=args.target, input_path=args.input, output_path=args.output, version=args.version),
    )


def _cmd_rollback(args: argparse.Namespace) -> Any:
    from pipeline import promotion
    from pipeline.modules import parse_target

    parse_target(args.target)
    ctx = _context(args, run_id="rollback")
    restored = promotion.rollback(ctx.store, args.tenant, args.target, to_sequence=args.to)
    from pipeline.run import tenant_index

    try:  # the rollback stands either way: the next run's exit handler or maintenance rebuilds the page
        tenant_index.rebuild(ctx.config, ctx.store, args.tenant)
    except PipelineError as exc:
        log.warning("rolled back, but the history page was not rebuilt: %s", exc)
    return restored


def _cmd_history(args: argparse.Namespace) -> Any:
    from pydantic import RootModel

    from pipeline import promotion
    from pipeline.modules import parse_target

    parse_target(args.target)
    ctx = _context(args, run_id="history")
    return RootModel(promotion.history(ctx.store, args.tenant, args.target))


def _cmd_batch(args: argparse.Namespace) -> Any:
    from pipeline.batch import BatchInputs, run_batch

    run_id = args.run_id or datetime.utcnow().strftime("batch-%Y%m%d-%H%M%S")
    ctx = _context(args, run_id=run_id)
    return run_batch(
        ctx,
        BatchInputs(
            targets=args.targets,
            lookback_hours=args.lookback_hours,
            min_confidence=args.min_confidence,
            max_annotations=args.max_annotations,
            use_synthetic=args.use_synthetic,
            synthetic_count=args.synthetic_count,
            optimizer=_forced(args.optimizer),
            max_iterations=args.max_iterations,
            improvement_threshold=args.improvement_threshold,
            force_training=args.force_training,
        ),
    )


COMMANDS: dict[str, Callable[[argparse.Namespace], Any]] = {
    "harvest": _cmd_harvest,
    "annotate": _cmd_annotate,
    "plan": _cmd_plan,
    "synthesize": _cmd_synthesize,
    "train": _cmd_train,
    "evaluate": _cmd_evaluate,
    "gate": _cmd_gate,
    "report": _cmd_report,
    "record": _cmd_record,
    "maintenance": _cmd_maintenance,
    "predict": _cmd_predict,
    "rollback": _cmd_rollback,
    "history": _cmd_history,
    "batch": _cmd_batch,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no cost-map fetch offline
    handler = getattr(args, "handler", None)
    if handler is not None:  # the run commands print their own output and say their exit code
        return run_main(lambda: int(handler(args)))
    return run_main(lambda: _execute(args))


def _execute(args: argparse.Namespace) -> int:
    result = COMMANDS[args.command](args)
    _emit(result, args)
    # A result can be a failure that is still an answer (a gate's "conflict"): printed and
    # written like any result, then its exit code.
    failure = result.failure() if hasattr(result, "failure") else None
    if failure is not None:
        raise failure
    return 0


if __name__ == "__main__":
    sys.exit(main())
