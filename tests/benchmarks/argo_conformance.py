"""Run a directory of Argo's example workflows through the local executor and classify each.

    .venv/bin/python tests/benchmarks/argo_conformance.py DIR [--json OUT] [--timeout S] [--jobs N]

DIR holds Argo's `examples/` files (not part of this repository: fetch them from the
argoproj/argo-workflows repository). Every Workflow and CronWorkflow document is run, and every
WorkflowTemplate or ClusterWorkflowTemplate that has an entrypoint (`argo submit --from`); the
WorkflowTemplate and ClusterWorkflowTemplate documents of all files are passed as `--templates`
and their ConfigMap/Secret documents are used as the cluster would use applied objects.

Each run is one of:
  Succeeded            phase Succeeded, and the example is meant to succeed
  Failed-as-designed   phase Failed/Error, and EXPECTED_FAILURES says why the example fails
  random               the example's outcome is random by design (RANDOM): any finished phase
  refused              the loader refused it (exit 2) naming the field or reference
  failed-unexpectedly  phase Failed/Error, or Succeeded where EXPECTED_FAILURES expects failure
  crashed              a traceback or an exit code other than 0, 1, 2
  hung                 still running after the per-run timeout

The goal's denominator excludes, with the reason, every example that needs something this
machine does not have (NEEDS: network, cluster objects or APIs, image content) and every stored
file that is not a valid Argo v4.0.5 document (checked here against Argo's v4.0.5 JSON schema:
the index holds some files in versions older than v4 that use fields v4 removed). A run
conforms when it is Succeeded, Failed-as-designed or random.

Images: the examples' images are not available. Two shims are put first on PATH, for these runs
only: `cowsay` (prints its arguments, as `echo "$*"`) and `argosay`, a re-implementation of the
interface of Argo's test image script (test/e2e/images/argosay/v2/argosay: no arguments prints
"hello argo"; `echo [MSG [FILE]]`, `cat FILE`, `sleep N`, `exit [N]`, `assert_contains FILE
TEXT`). Templates that rely on the argosay image's ENTRYPOINT are run with
`--image-entrypoint argoproj/argosay:v2=argosay` (and v1). Everything else must be on this
machine already (sh, python3, sleep, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

RUNNABLE = ("Workflow", "CronWorkflow")
LIBRARY = ("WorkflowTemplate", "ClusterWorkflowTemplate")

# Examples meant to end Failed, from reading each one.
EXPECTED_FAILURES: dict[str, str] = {
    "exit-handlers.yaml": "the entrypoint exits 1 on purpose; the exit handler reports it",
    "dag-continue-on-fail.yaml": "E fails and nothing handles it (D handles B's failure)",
    "dag-disable-failFast.yaml": "C fails after its retries; failFast: false only lets B, D, E finish",
    "dag-task-level-timeout.yaml": "B's 10s timeout kills its 15s sleep",
    "timeouts-step.yaml": "activeDeadlineSeconds 10 kills `sleep 1d`",
    "timeouts-workflow.yaml": "the workflow's activeDeadlineSeconds 30 stops `sleep 1d`",
    "pod-gc-strategy.yaml": "its `fail` step exits 1 on purpose",
    "loops-arbitrary-sequential-steps.yaml": "the fourth item exits 1 and failFast stops the loop",
}

# Outcome random by design (a coin, `random.choice`, `$RANDOM`): any finished phase conforms.
RANDOM: dict[str, str] = {
    "custom-metrics.yaml": "`flakey` fails with probability 2/3",
    "resubmit.yaml": "each step fails with probability 1/3",
    "retry-backoff.yaml": "fails 2/3 of the time; 10 retries may all fail",
    "retry-container.yaml": "random exit codes, 10 retries",
    "retry-script.yaml": "random exit codes, 10 retries",
    "retry-with-steps.yaml": "random exit codes, 10 retries per step",
    "retry-on-error.yaml": "exit code random in 0..4, 2 retries",
    "retry-container-to-completion.yaml": "random exit codes until one is 0",
    "template-defaults.yaml": "`retry-backoff` fails 2/3 of the time, 2 retries",
    "work-avoidance.yaml": "each `echo` item fails with probability 1/2",
    "workflow-template/retry-with-steps.yaml": "random-fail-template fails 2/3 of the time, 10 retries",
}

# What an example needs that no local run can give, from reading each one (excluded from the
# denominator; still run and reported).
NEEDS: dict[str, str] = {
    "agent-resource-create-workflow.yaml": "cluster API (resource template creates a Workflow)",
    "artifact-disable-archive.yaml": "image content (its output artifact is the busybox image's /etc)",
    "timeouts-workflow.yaml": "an unschedulable pod, and the alpine image's default command",
    "workflow-template/templates.yaml#workflow-template-print-message": "a library template: submitted alone it lacks its `message` argument (Argo rejects it too)",
    "arguments-artifacts.yaml": "network (http artifact from storage.googleapis.com)",
    "artifact-passing-explicit-plugin.yaml": "an artifact plugin on the cluster",
    "artifactory-artifact.yaml": "network (an Artifactory server)",
    "artifacts-workflowtemplate.yaml": "network (http artifact) and image content (gnuplot)",
    "ci-output-artifact.yaml": "network (git artifact) and a PVC (volumeClaimTemplates)",
    "ci.yaml": "network (git artifact) and a PVC (volumeClaimTemplates)",
    "cron-backfill.yaml#backfill-v1": "cluster API (resource template applies Workflows)",
    "cron-when.yaml": "the cron controller's state (cronworkflow.lastScheduledTime, now())",
    "daemon-nginx.yaml": "daemon pods and a pod IP (nginx image)",
    "daemon-step.yaml": "daemon pods and a pod IP (influxdb image)",
    "dag-daemon-task.yaml": "daemon pods and a pod IP (influxdb image)",
    "data-transformations.yaml": "network (an S3 bucket) and the data template",
    "exit-handler-slack.yaml": "network (a Slack webhook)",
    "fun-with-gifs.yaml": "network (S3) and a PVC",
    "hello-hybrid.yaml": "a Windows node (cmd.exe)",
    "hello-windows.yaml": "a Windows node (cmd.exe)",
    "http-hello-world.yaml": "network (http template)",
    "input-artifact-s3.yaml": "network (an S3 bucket)",
    "Intermediate-parameters.yaml": "an operator resuming the suspend, and the argosay image's /argosay",
    "k8s-jobs.yaml": "cluster API (resource template creates a Job)",
    "life-cycle-hooks-tmpl-level.yaml": "network (http template hooks)",
    "life-cycle-hooks-wf-level.yaml": "network (http template hooks)",
    "pod-spec-from-previous-step.yaml": "a pod spec to patch (podSpecPatch)",
    "pod-spec-patch.yaml": "a pod spec to patch (podSpecPatch)",
    "secrets.yaml": "the Secret my-secret on the cluster",
    "sidecar.yaml": "sidecar containers (influxdb image) sharing the pod's network",
    "sidecar-nginx.yaml": "sidecar containers (nginx image) sharing the pod's network",
    "suspend-template-outputs.yaml": "an operator supplying outputs (`argo node set`) and resuming",
    "suspend-template.yaml": "an operator resuming the `approve` suspend (`argo resume`)",
    "volumes-emptydir.yaml": "a pod's mount table (`mount | grep /mnt/vol`)",
    "volumes-existing.yaml": "the PVC my-existing-volume on the cluster",
    "work-avoidance.yaml": "a PVC (volumeClaimTemplates) and an S3 bucket",
    "workflow-of-workflows.yaml": "cluster API (resource templates create Workflows)",
    "workflow-template/input-artifacts.yaml": "an S3 bucket",
    "forever.yaml": "runs for 1000 s by design",
    "cluster-workflow-template/mixed-cluster-namespaced-wftmpl-steps.yaml": "a WorkflowTemplate (workflow-template-whalesay-template) no example file defines",
    "global-parameters-from-configmap-referenced-as-local-variable.yaml": "broken as stored: its entrypoint `whalesay` is not one of its templates (Argo rejects it too)",
}
NOT_RUN = {"forever.yaml"}  # its 1000 s would only show the timeout


@dataclass
class Run:
    file: str
    document: str
    category: str
    phase: str
    seconds: float
    detail: str
    excluded: str  # why it is outside the goal's denominator ("" when inside)

    @property
    def conforming(self) -> bool:
        return self.category in ("Succeeded", "Failed-as-designed", "random")


SHIMS = {
    "cowsay": '#!/bin/sh\necho "$*"\n',
    # Same interface as Argo's test/e2e/images/argosay/v2/argosay (written for this harness).
    "argosay": """#!/usr/bin/env python3
import os, sys, time
args = sys.argv[1:]
command = args[0] if args else ""
if command == "":
    print("hello argo")
elif command == "echo":
    if len(args) == 1:
        print("hello argo")
    elif len(args) == 2:
        print(args[1])
    elif len(args) == 3:
        os.makedirs(os.path.dirname(args[2]) or ".", exist_ok=True)
        with open(args[2], "w") as handle:
            handle.write(args[1] + "\\n")
    else:
        sys.exit(1)
elif command == "cat":
    sys.stdout.write(open(args[1]).read())
elif command == "sleep":
    time.sleep(float(args[1].rstrip("s")))
elif command == "exit":
    sys.exit(int(args[1]) if len(args) > 1 else 0)
elif command == "assert_contains":
    sys.exit(0 if args[2] in open(args[1]).read() else 1)
else:
    sys.exit(1)
""",
}
IMAGE_ENTRYPOINTS = {"argoproj/argosay:v2": "argosay", "argoproj/argosay:v1": "argosay"}


def documents(path: Path) -> list[dict[str, Any]]:
    try:
        return [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    except yaml.YAMLError:
        return []


def v4_schema_problem(doc: dict[str, Any]) -> str:
    """The first way `doc` is not a valid Argo v4.0.5 object (strict schema), or ""."""
    from pipeline.argo.lint import schema_findings
    from pipeline.argo.references import Document

    findings = [f for f in schema_findings(Document("x", 0, doc)) if "unknown field" in f.message or "apiVersion" in f.path]
    if str(doc.get("apiVersion", "")) != "argoproj.io/v1alpha1":
        return f"apiVersion {doc.get('apiVersion')!r} (not v4's argoproj.io/v1alpha1)"
    return f"{findings[0].path}: {findings[0].message}" if findings else ""


def plan(root: Path) -> tuple[list[tuple[Path, dict[str, Any]]], list[Path]]:
    runs: list[tuple[Path, dict[str, Any]]] = []
    libraries: list[Path] = []
    for path in sorted(root.rglob("*.yaml")):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        docs = documents(path)
        if any(d.get("kind") in LIBRARY + ("ConfigMap", "Secret") for d in docs):
            libraries.append(path)
        runnable = [d for d in docs if d.get("kind") in RUNNABLE]
        if not runnable:
            runnable = [d for d in docs if d.get("kind") in LIBRARY and (d.get("spec") or {}).get("entrypoint")]
        runs.extend((path, d) for d in runnable)
    return runs, libraries


def run_one(path: Path, doc: dict[str, Any], root: Path, libraries: list[Path], shim_dir: Path, timeout: float, several: bool) -> Run:
    rel = str(path.relative_to(root))
    meta = doc.get("metadata") or {}
    name = str(meta.get("name") or meta.get("generateName") or "")
    key = f"{rel}#{meta.get('name')}" if meta.get("name") else rel
    excluded = NEEDS.get(key) or NEEDS.get(rel, "")
    schema = v4_schema_problem(doc)
    if schema and not excluded:
        excluded = f"not a v4.0.5 document as stored: {schema}"
    if rel in NOT_RUN:
        return Run(rel, name, "not-run", "", 0.0, excluded, excluded)
    with tempfile.TemporaryDirectory(prefix="argo-conformance-") as state:
        command = [sys.executable, "-m", "pipeline.argo.cli", "run", str(path), "--quiet", "--state-dir", state]
        templates = [str(p) for p in libraries if p != path]
        if templates:
            command += ["--templates", *templates]
        if meta.get("name"):
            command += ["--name", str(meta["name"])]
        for image, entry in IMAGE_ENTRYPOINTS.items():
            command += ["--image-entrypoint", f"{image}={entry}"]
        env = {**os.environ, "PATH": f"{shim_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
        started = time.monotonic()
        try:
            done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return Run(rel, name, "hung", "", timeout, f"still running after {timeout:.0f}s", excluded)
        seconds = time.monotonic() - started
        status = {}
        for status_file in Path(state).glob("*/status.json"):
            status = json.loads(status_file.read_text()).get("status", {})
    phase = status.get("phase", "")
    stderr = done.stderr.strip()
    if "Traceback" in stderr or "executor error" in json.dumps(status) or done.returncode not in (0, 1, 2):
        detail = (stderr.splitlines() or [status.get("message", "")])[-1][:300]
        return Run(rel, name, "crashed", phase, seconds, detail, excluded)
    if done.returncode == 2:
        return Run(rel, name, "refused", "", seconds, stderr.removeprefix("error: ")[:300], excluded)
    message = status.get("message", "")
    if rel in RANDOM:
        return Run(rel, name, "random", phase, seconds, RANDOM[rel] + (f"; {message}" if message else ""), excluded)
    if rel in EXPECTED_FAILURES:
        category = "Failed-as-designed" if phase in ("Failed", "Error") else "failed-unexpectedly"
        return Run(rel, name, category, phase, seconds, message or EXPECTED_FAILURES[rel], excluded)
    category = "Succeeded" if phase == "Succeeded" else "failed-unexpectedly"
    return Run(rel, name, category, phase, seconds, message, excluded)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--json", type=Path, help="write the runs and counts as JSON here")
    parser.add_argument("--timeout", type=float, default=150.0, help="per-run timeout in seconds")
    parser.add_argument("--jobs", type=int, default=4, help="runs at once (most examples sleep)")
    parser.add_argument("--only", help="regular expression: run only matching files")
    args = parser.parse_args(argv)
    root = args.directory.resolve()
    runs, libraries = plan(root)
    if args.only:
        runs = [(p, d) for p, d in runs if re.search(args.only, str(p.relative_to(root)))]
    per_file: dict[Path, int] = {}
    for path, _ in runs:
        per_file[path] = per_file.get(path, 0) + 1
    with tempfile.TemporaryDirectory(prefix="argo-shims-") as shims:
        shim_dir = Path(shims)
        for tool, text in SHIMS.items():
            (shim_dir / tool).write_text(text)
            (shim_dir / tool).chmod(0o755)
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            results = list(pool.map(
                lambda item: run_one(item[0], item[1], root, libraries, shim_dir, args.timeout, per_file[item[0]] > 1), runs
            ))
    report(results, args.json)
    return 0


def report(results: list[Run], json_path: Path | None) -> None:
    categories = ["Succeeded", "Failed-as-designed", "random", "refused", "failed-unexpectedly", "crashed", "hung", "not-run"]
    counts = {c: sum(1 for r in results if r.category == c) for c in categories}
    inside = [r for r in results if not r.excluded]
    conforming = [r for r in inside if r.conforming]
    width = max((len(f"{r.file} {r.document}") for r in results), default=20)
    for r in sorted(results, key=lambda r: (r.category, r.file)):
        scope = "excluded: " + r.excluded if r.excluded else "counted"
        print(f"{r.category:20} {(r.file + ' ' + r.document):{width}} {r.seconds:6.1f}s  {r.detail[:140]}  [{scope}]")
    print()
    print(f"runs: {len(results)} from {len({r.file for r in results})} files")
    print("all runs:  " + ", ".join(f"{c} {n}" for c, n in counts.items()))
    inside_counts = {c: sum(1 for r in inside if r.category == c) for c in categories}
    print("counted:   " + ", ".join(f"{c} {n}" for c, n in inside_counts.items() if n))
    share = 100.0 * len(conforming) / len(inside) if inside else 0.0
    print(f"conforming: {len(conforming)} of {len(inside)} counted runs ({share:.1f} %); excluded: {len(results) - len(inside)}")
    if json_path is not None:
        json_path.write_text(json.dumps({
            "counts": counts, "counted": inside_counts, "conforming": len(conforming), "denominator": len(inside),
            "runs": [asdict(r) for r in results],
        }, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
