"""The run subcommands of `cogniverse-optimize`: submit, get, list, watch, outputs, logs.

Parsing and printing only; the work is in pipeline.runs.backend and the two backends. Each
handler prints its own output and returns the exit code (errors are raised as pipeline.errors
classes and mapped by pipeline.cli, in one place).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError

COMMANDS = ("submit", "get", "list", "watch", "outputs", "logs")
PHASES = ("Pending", "Running", "Succeeded", "Failed", "Error")


def _backend_options(p: argparse.ArgumentParser) -> None:
    where = p.add_argument_group("where the workflows are (a cluster by default)")
    where.add_argument("--local", action="store_true",
                       help="the local Argo executor's state on this machine instead of a cluster")
    where.add_argument("--state-dir", type=Path, default=Path(".local/argo"),
                       help="with --local: the executor's state directory (default: .local/argo, as `make run`)")
    where.add_argument("-n", "--namespace",
                       help="Kubernetes namespace (default: the kubeconfig context's, or the pod's own in a cluster)")
    where.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config; in a pod: its service account)")
    where.add_argument("--context", help="kubeconfig context (default: its current-context)")


def _pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    found = {}
    for value in values or []:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} expects NAME=VALUE, got {value!r}")
        found[key] = rest
    return found


def backend(args: argparse.Namespace) -> Any:
    if args.local:
        from pipeline.runs.local import LocalBackend

        return LocalBackend(
            state_dir=args.state_dir,
            workflows_dir=getattr(args, "workflows", None),
            configmaps={k: Path(v) for k, v in _pairs(getattr(args, "configmap", None), "--configmap").items()},
            secrets={k: Path(v) for k, v in _pairs(getattr(args, "secret", None), "--secret").items()},
            artifact_root=getattr(args, "artifact_root", None),
            image_entrypoints=_pairs(getattr(args, "image_entrypoint", None), "--image-entrypoint"),
        )
    from pipeline.runs.kube import KubernetesBackend

    return KubernetesBackend(namespace=args.namespace, kubeconfig=args.kubeconfig, context=args.context)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("submit", help="start a workflow from the WorkflowTemplate, a CronWorkflow or a file (as `argo submit`)",
                       description="Create a Workflow as `argo submit --from workflowtemplate/NAME | cronwf/NAME` or "
                                   "`argo submit FILE` would, with its parameters checked against what it declares.")
    p.add_argument("file", nargs="?", type=Path, help="a Workflow manifest (YAML) to submit, as `argo submit FILE`")
    p.add_argument("--from", dest="source", metavar="KIND/NAME",
                   help="workflowtemplate/NAME or cronwf/NAME: submit from that object, as `argo submit --from`")
    p.add_argument("-p", "--parameter", action="append", metavar="NAME=VALUE",
                   help="a workflow parameter (repeatable); unknown names and values outside an enum are refused")
    p.add_argument("-l", "--labels", default="", metavar="K=V[,K=V]", help="labels for the workflow, as `argo submit -l`")
    p.add_argument("--generate-name", metavar="PREFIX", help="metadata.generateName (default: the template's or cron's name + '-')")
    p.add_argument("--name", help="metadata.name: a fixed name instead of a generated one")
    p.add_argument("--entrypoint", help="override spec.entrypoint")
    p.add_argument("--watch", action="store_true", help="then watch it to the end; the exit code says how it ended (0, or 10)")
    p.add_argument("-o", "--output", choices=("text", "name", "json"), default="text",
                   help="what to print: a summary (text), the workflow's name only (name), or the created object (json)")
    _backend_options(p)
    local = p.add_argument_group("with --local")
    local.add_argument("--workflows", type=Path, metavar="DIR",
                       help="the rendered YAML holding the WorkflowTemplates and CronWorkflows (default: $COGNIVERSE_WORKFLOWS, "
                            "./workflows, else the repository's)")
    local.add_argument("--configmap", action="append", metavar="NAME=PATH",
                       help="ConfigMap NAME from a manifest, a key: value YAML file or a directory (repeatable)")
    local.add_argument("--secret", action="append", metavar="NAME=PATH",
                       help="Secret NAME from a manifest, a key: value YAML file or a directory (repeatable)")
    local.add_argument("--artifact-root", type=Path, metavar="DIR",
                       help="the directory standing in for the artifact repository (default: <state dir>/artifacts)")
    local.add_argument("--image-entrypoint", action="append", metavar="IMAGE=COMMAND",
                       help="the ENTRYPOINT of IMAGE, for templates that give no command (repeatable)")
    p.set_defaults(handler=_submit)

    p = sub.add_parser("get", help="a workflow's phase, progress, parameters, outputs and nodes (as `argo get`)")
    p.add_argument("name", help="the workflow's name, or @latest")
    p.add_argument("-o", "--output", choices=("text", "json"), default="text",
                   help="text, or the whole object as JSON (as `argo get -o json`)")
    _backend_options(p)
    p.set_defaults(handler=_get)

    p = sub.add_parser("list", help="workflows, newest first, by label, tenant or phase (as `argo list`)")
    p.add_argument("-l", "--selector", metavar="SELECTOR", help="a label selector, e.g. workflow-type=optimization")
    p.add_argument("--tenant", help="only this tenant's runs (its tenant-id label or parameter)")
    p.add_argument("--phase", action="append", choices=PHASES, help="only workflows in this phase (repeatable)")
    p.add_argument("-o", "--output", choices=("text", "name", "json"), default="text",
                   help="a table (text), names only (name), or the objects as a JSON list (json)")
    _backend_options(p)
    p.set_defaults(handler=_list)

    p = sub.add_parser("watch", help="follow a workflow to its end, a line per change; exit 0 Succeeded, 10 Failed or Error")
    p.add_argument("name", help="the workflow's name, or @latest")
    _backend_options(p)
    p.set_defaults(handler=_watch)

    p = sub.add_parser("outputs", help="the workflow's output parameters as a JSON object, values JSON-decoded")
    p.add_argument("name", help="the workflow's name, or @latest")
    p.add_argument("--raw", action="store_true", help="values as the strings Argo stores, not JSON-decoded")
    _backend_options(p)
    p.set_defaults(handler=_outputs)

    p = sub.add_parser("logs", help="the pod logs of a node, or of every pod of the workflow (as `argo logs`)")
    p.add_argument("name", help="the workflow's name, or @latest")
    p.add_argument("node", nargs="?", help="a node's display name, name, id or pod name (a DAG or steps node: every pod below it)")
    _backend_options(p)
    p.set_defaults(handler=_logs)


def _say(line: str) -> None:
    print(line, flush=True)


def _submit(args: argparse.Namespace) -> int:
    from pipeline.runs import backend as runs
    from pipeline.runs import display
    from pipeline.runs.labels import parse_labels
    from pipeline.runs.manifest import SubmitRequest, parse_parameters
    from pipeline.runs.model import run_info

    if (args.file is None) == (args.source is None):
        raise ConfigError("submit needs exactly one of FILE or --from workflowtemplate/NAME | cronwf/NAME")
    if args.file is not None and not args.file.is_file():
        raise ConfigError(f"{args.file}: no such file")
    request = SubmitRequest(
        source=args.source, file=args.file, parameters=parse_parameters(args.parameter), labels=parse_labels(args.labels),
        generate_name=args.generate_name, name=args.name, entrypoint=args.entrypoint,
    )
    where = backend(args)
    created = where.submit(request)
    name = str(created["metadata"]["name"])
    if args.output == "name":
        print(name)
    elif args.output == "json":
        print(json.dumps(created, indent=2))
    else:
        print(display.get_view(run_info(created)))
    if args.watch:
        runs.watch(where, name, _say)
    return 0


def _get(args: argparse.Namespace) -> int:
    from pipeline.runs import backend as runs
    from pipeline.runs import display
    from pipeline.runs.model import outputs

    info = runs.get(backend(args), runs.check_name(args.name))
    if args.output == "json":
        print(json.dumps(info.raw, indent=2))
    else:
        print(display.get_view(info, outputs(info.raw)))
    return 0


def _list(args: argparse.Namespace) -> int:
    from pipeline.runs import backend as runs
    from pipeline.runs import display

    infos = runs.list_runs(backend(args), args.selector, tenant=args.tenant, phases=set(args.phase or ()))
    if args.output == "json":
        print(json.dumps([i.raw for i in infos], indent=2))
    elif args.output == "name":
        for info in infos:
            print(info.name)
    else:
        print(display.list_view(infos))
    return 0


def _watch(args: argparse.Namespace) -> int:
    from pipeline.runs import backend as runs

    runs.watch(backend(args), runs.check_name(args.name), _say)
    return 0


def _outputs(args: argparse.Namespace) -> int:
    from pipeline.runs import backend as runs
    from pipeline.runs.model import outputs

    info = runs.get(backend(args), runs.check_name(args.name))
    if not info.completed:
        print(f"note: workflow {info.name} is {info.phase}: its outputs may not all be set yet", file=sys.stderr)
    print(json.dumps(outputs(info.raw, raw=args.raw), indent=2))
    return 0


def _logs(args: argparse.Namespace) -> int:
    from pipeline.runs import backend as runs

    found = runs.logs(backend(args), runs.check_name(args.name), args.node)
    for index, (header, text) in enumerate(found):
        if len(found) > 1 or args.node is None:
            print(f"{'' if index == 0 else chr(10)}==> {header} <==")
        sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    sys.stdout.flush()
    return 0
