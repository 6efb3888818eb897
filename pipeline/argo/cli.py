"""`python -m pipeline.argo.cli`: Argo Workflows tooling that needs no cluster.

  run   execute a rendered Workflow, WorkflowTemplate or CronWorkflow on this machine
  lint  validate Argo workflow YAML offline: strict schema, references, parameter sizes

Each subcommand is a `register(subparsers)` function in SUBCOMMANDS that sets `handler`;
adding one is a function and a list entry.

Exit codes: 0 the workflow Succeeded; 1 it ran and Failed or Errored; 2 the input cannot be
run (malformed YAML, unsupported field, unknown template, missing parameter, bad arguments).
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import Callable, Sequence

import yaml

from pipeline.errors import ConfigError, run_main


def _pairs(values: Sequence[str] | None, flag: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values or []:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} expects NAME=VALUE, got {value!r}")
        pairs[key] = rest
    return pairs


def _parameter_file(path: str | None) -> dict[str, str]:
    if not path:
        return {}
    from pipeline.argo.expressions import param_string

    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read parameter file {path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"parameter file {path}: expected a mapping of parameter names to values")
    return {str(key): param_string(value) for key, value in doc.items()}


def _register_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run a Workflow, WorkflowTemplate or CronWorkflow locally",
        description=(
            "Run rendered Argo YAML on this machine: container templates become local processes "
            "(the command must be on PATH), artifacts resolve under --artifact-root. Writes an "
            "`argo get -o json`-shaped status document and per-node logs under --state-dir."
        ),
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="YAML file(s) holding the document to run")
    p.add_argument("--templates", nargs="+", default=[], metavar="FILE", help="files with the WorkflowTemplates that workflowTemplateRef names")
    p.add_argument("-p", "--parameter", action="append", metavar="NAME=VALUE", help="workflow parameter (repeatable), as `argo submit -p`")
    p.add_argument("-f", "--parameter-file", metavar="FILE", help="YAML mapping of workflow parameters, as `argo submit --parameter-file`")
    p.add_argument("--configmap", action="append", metavar="NAME=FILE", help="ConfigMap NAME from a ConfigMap manifest or a key: value YAML file")
    p.add_argument("--secret", action="append", metavar="NAME=PATH", help="Secret NAME from a Secret manifest, a key: value YAML file or a directory of files")
    p.add_argument("--artifact-root", type=Path, help="local directory standing in for the artifact repository (default: <state dir>/artifacts)")
    p.add_argument("--state-dir", type=Path, default=Path(".local/argo"), help="logs, status and mutex locks (default: .local/argo)")
    p.add_argument("--status-file", type=Path, help="where to write the status document (default: <state dir>/<workflow>/status.json)")
    p.add_argument("--name", help="which document to run when the files hold several")
    p.add_argument("--entrypoint", help="override spec.entrypoint, as `argo submit --entrypoint`")
    p.add_argument("--image-entrypoint", action="append", metavar="IMAGE=COMMAND",
                   help="the ENTRYPOINT of IMAGE (shell words), for templates that give no command (repeatable)")
    p.add_argument("--resume-suspended", action="store_true",
                   help="resume every suspend template without a duration at once, as `argo resume` right away would "
                        "(without it such a workflow is refused: no one can resume it here)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from pipeline.argo.executor import RunOptions, run

    parameters = {**_parameter_file(args.parameter_file), **_pairs(args.parameter, "-p")}
    options = RunOptions(
        files=[Path(f) for f in args.files],
        templates=[Path(f) for f in args.templates],
        parameters=parameters,
        configmaps={k: Path(v) for k, v in _pairs(args.configmap, "--configmap").items()},
        secrets={k: Path(v) for k, v in _pairs(args.secret, "--secret").items()},
        artifact_root=args.artifact_root,
        state_dir=args.state_dir,
        status_file=args.status_file,
        name=args.name,
        entrypoint=args.entrypoint,
        resume_suspended=args.resume_suspended,
        image_entrypoints={image: shlex.split(command) for image, command in _pairs(args.image_entrypoint, "--image-entrypoint").items()},
    )
    echo = None if args.quiet else (lambda line: print(line, flush=True))
    # SIGTERM (a CI cancel, `timeout`) stops the run like Ctrl-C: running processes are
    # terminated and the status document is written, instead of orphaning them.
    previous = signal.signal(signal.SIGTERM, _interrupt) if threading.current_thread() is threading.main_thread() else None
    try:
        result = run(options, echo=echo)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return result.exit_code


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _register_lint(sub: argparse._SubParsersAction) -> None:
    from pipeline.argo import lint

    p = sub.add_parser("lint", help="validate Argo workflow YAML offline", description=lint.__doc__.split("\n\n")[0])
    lint.add_arguments(p)
    p.set_defaults(handler=lint.handle)  # exit 0 clean, 1 findings, 2 unreadable input


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_register_run, _register_lint]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline.argo.cli", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in SUBCOMMANDS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_main(lambda: int(args.handler(args)))


if __name__ == "__main__":
    sys.exit(main())
