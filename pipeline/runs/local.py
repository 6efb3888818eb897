"""`LocalBackend`: the run commands against the local Argo executor (pipeline.argo), on one machine.

`submit` builds the Workflow exactly as for a cluster (pipeline.runs.manifest), with the
WorkflowTemplates and CronWorkflows read from the rendered YAML in `workflows_dir`, gives it its
name (generateName + 5 characters, as the API server would), keeps the manifest under
`<state dir>/submitted/`, and starts `python -m pipeline.argo.cli run` on it as a detached
process — the local controller — that writes `<state dir>/<name>/status.json` (the shape of
`argo get -o json`) and one log per node. `get`, `list`, `watch`, `outputs` and `logs` read
those files, so they work from any shell while the run goes on, and after it.
"""

from __future__ import annotations

import json
import os
import random
import string
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import ConfigError, NotFoundError, PipelineError
from pipeline.runs import labels as labelling
from pipeline.runs.manifest import SubmitRequest, build, controller_labels
from pipeline.runs.model import COMPLETED_PHASES, NodeInfo, RunInfo

SUBMITTED = "submitted"  # manifests, executor logs and pids of what `submit --local` started
STATUS_FILE = "status.json"
START_TIMEOUT_S = 120.0  # loading a workflow takes well under a second; a busy machine, longer


class LocalBackend:
    def __init__(
        self,
        *,
        state_dir: Path = Path(".local/argo"),
        workflows_dir: Path | None = None,
        configmaps: dict[str, Path] | None = None,
        secrets: dict[str, Path] | None = None,
        artifact_root: Path | None = None,
        image_entrypoints: dict[str, str] | None = None,
        poll_s: float = 0.5,
    ) -> None:
        # Absolute: the executor runs each pod in its own directory, where a relative state
        # dir (or a path rewritten into it) would name another place.
        self.state_dir = Path(state_dir).resolve()
        self.workflows_dir = (Path(workflows_dir) if workflows_dir else default_workflows_dir()).resolve()
        self.configmaps = {k: Path(v).resolve() for k, v in (configmaps or {}).items()}
        self.secrets = {k: Path(v).resolve() for k, v in (secrets or {}).items()}
        self.artifact_root = Path(artifact_root).resolve() if artifact_root else None
        self.image_entrypoints = dict(image_entrypoints or {})
        self.poll_s = poll_s
        self.where = f"local state dir {self.state_dir}"

    # ------------------------------------------------------------------ objects in the YAML files
    def _workflow_files(self) -> list[Path]:
        if not self.workflows_dir.is_dir():
            raise ConfigError(f"workflows directory {self.workflows_dir} does not exist (--workflows DIR: the rendered YAML)")
        return sorted(p for p in self.workflows_dir.iterdir() if p.suffix in (".yaml", ".yml", ".json") and p.is_file())

    def read(self, kind: str, name: str) -> dict[str, Any]:
        found = []
        for path in self._workflow_files():
            try:
                docs = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
            except (OSError, yaml.YAMLError) as exc:
                raise ConfigError(f"cannot read {path}: {exc}") from exc
            for doc in docs:
                found.append((doc.get("kind"), (doc.get("metadata") or {}).get("name")))
                if doc.get("kind") == kind and (doc.get("metadata") or {}).get("name") == name:
                    return doc
        known = ", ".join(f"{k}/{n}" for k, n in found if k in ("WorkflowTemplate", "CronWorkflow")) or "none"
        raise NotFoundError(f"no {kind} {name} in {self.workflows_dir} (found: {known})")

    # ------------------------------------------------------------------ submit: start the local controller
    def submit(self, request: SubmitRequest) -> dict[str, Any]:
        workflow = build(request, self.read)
        meta = workflow["metadata"]
        meta.pop("ownerReferences", None)  # nothing owns it here: no CronWorkflow object exists
        meta["labels"] = {**controller_labels(workflow, self.read), **(meta.get("labels") or {})}
        if not meta.get("name"):
            meta["name"] = self._free_name(str(meta.pop("generateName")))
        else:
            meta.pop("generateName", None)
        name = str(meta["name"])
        if (self.state_dir / name / STATUS_FILE).exists() and request.name:
            raise ConfigError(f"a workflow named {name} already ran in {self.state_dir}: choose another --name")
        submitted = self.state_dir / SUBMITTED
        submitted.mkdir(parents=True, exist_ok=True)
        manifest = submitted / f"{name}.yaml"
        manifest.write_text(yaml.safe_dump(workflow, sort_keys=False))
        templates = [str(p) for p in self._workflow_files()]
        if request.file is not None:
            templates.append(str(request.file.resolve()))
        command = [sys.executable, "-m", "pipeline.argo.cli", "run", str(manifest), "--state-dir", str(self.state_dir)]
        if templates:
            command += ["--templates", *templates]
        for key, path in self.configmaps.items():
            command += ["--configmap", f"{key}={path}"]
        for key, path in self.secrets.items():
            command += ["--secret", f"{key}={path}"]
        if self.artifact_root is not None:
            command += ["--artifact-root", str(self.artifact_root)]
        for image, entry in self.image_entrypoints.items():
            command += ["--image-entrypoint", f"{image}={entry}"]
        env = dict(os.environ)
        # The steps run `cogniverse-optimize` from PATH, as an image's entrypoint: this environment's.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        log = submitted / f"{name}.log"
        with log.open("w") as sink:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT, env=env,
                                       start_new_session=True)  # it outlives this command, like a controller
        (submitted / f"{name}.pid").write_text(f"{process.pid}\n")
        return self._started(name, process, log)

    def _free_name(self, prefix: str) -> str:
        alphabet = string.ascii_lowercase + string.digits
        for _ in range(100):
            name = prefix + "".join(random.choice(alphabet) for _ in range(5))
            if not (self.state_dir / name).exists() and not (self.state_dir / SUBMITTED / f"{name}.yaml").exists():
                return name
        raise ConfigError(f"no free workflow name with prefix {prefix!r} in {self.state_dir}")

    def _started(self, name: str, process: subprocess.Popen, log: Path) -> dict[str, Any]:
        """The first status document, once the executor has loaded the workflow; a workflow it
        refuses to load (exit 2) is bad input here too, with its message."""
        status = self.state_dir / name / STATUS_FILE
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            code = process.poll()
            if status.exists():
                doc = self._read(status)
                state = doc.get("status") or {}
                if state.get("phase") == "Error" and not state.get("nodes"):  # refused at load: it exits 2 now
                    try:
                        code = process.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        code = None
                    if code == 2:
                        raise ConfigError(f"the local executor refused workflow {name}: {state.get('message', '')}")
                return doc
            if code is not None:
                raise PipelineError(f"the local executor exited {code} before starting workflow {name}: {_tail(log)}")
            time.sleep(0.05)
        raise PipelineError(f"the local executor did not start workflow {name} within {START_TIMEOUT_S:.0f} s: {_tail(log)}")

    # ------------------------------------------------------------------ reading state
    def _read(self, path: Path) -> dict[str, Any]:
        # The executor replaces the file atomically: a read sees a whole document.
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path} is not a readable status document: {exc}") from exc

    def _names(self) -> list[str]:
        if not self.state_dir.is_dir():
            return []
        return sorted(p.parent.name for p in self.state_dir.glob(f"*/{STATUS_FILE}"))

    def get(self, name: str) -> dict[str, Any]:
        path = self.state_dir / name / STATUS_FILE
        try:
            return self._read(path)
        except FileNotFoundError:
            known = ", ".join(self._names()) or "none"
            raise NotFoundError(f"no workflow {name} in {self.where} (workflows there: {known})") from None

    def list(self, selector: str | None = None) -> list[dict[str, Any]]:
        requirements = labelling.parse_selector(selector)
        docs = []
        for name in self._names():
            try:
                doc = self._read(self.state_dir / name / STATUS_FILE)
            except FileNotFoundError:
                continue  # removed meanwhile (a re-run of a fixed name starts clean)
            if labelling.matches(requirements, (doc.get("metadata") or {}).get("labels") or {}):
                docs.append(doc)
        docs.sort(key=self._created, reverse=True)
        return docs

    def _created(self, doc: dict[str, Any]) -> tuple[str, int]:
        """Creation order: the timestamp has whole seconds only, so what `submit` wrote breaks ties."""
        meta = doc.get("metadata") or {}
        manifest = self.state_dir / SUBMITTED / f"{meta.get('name')}.yaml"
        try:
            written = manifest.stat().st_mtime_ns
        except OSError:
            written = 0
        return str(meta.get("creationTimestamp") or ""), written

    def follow(self, name: str) -> Iterator[dict[str, Any]]:
        last = None
        while True:
            doc = self.get(name)
            if doc != last:
                yield doc
                last = doc
            if (doc.get("status") or {}).get("phase") in COMPLETED_PHASES:
                return
            if not self._executor_alive(name):
                doc = self.get(name)  # it may have finished between the two reads
                if (doc.get("status") or {}).get("phase") in COMPLETED_PHASES:
                    yield doc
                    return
                raise PipelineError(
                    f"the local executor of workflow {name} is gone but the workflow is {doc.get('status', {}).get('phase')}: "
                    f"it was killed; see {self.state_dir / SUBMITTED / (name + '.log')}"
                )
            time.sleep(self.poll_s)

    def _executor_alive(self, name: str) -> bool:
        """False only when we started the executor and it has exited (a zombie counts as exited);
        a run started otherwise (`make run`, `python -m pipeline.argo.cli run`) is trusted to go on."""
        pid_file = self.state_dir / SUBMITTED / f"{name}.pid"
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return True
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            return state not in ("Z", "X")
        except (OSError, IndexError):
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    # ------------------------------------------------------------------ logs
    def pod_logs(self, info: RunInfo, node: NodeInfo) -> str:
        from pipeline.runs.names import log_file_stem

        logs = self.state_dir / info.name / "logs"
        stem = log_file_stem(_label(info, node)) or node.id
        # A second node with the same label has its id appended (WorkflowStatus.log_path).
        for candidate in (logs / f"{stem}-{node.id}.log", logs / f"{stem}.log"):
            if candidate.is_file():
                return candidate.read_text(errors="replace")
        raise NotFoundError(f"no log for node {node.display_name} of workflow {info.name} under {logs} (not started yet?)")

    def pods_without_status(self, info: RunInfo) -> list[tuple[str, str]]:
        return []  # the local executor always writes its node table


def _label(info: RunInfo, node: NodeInfo) -> str:
    """WorkflowStatus.label from the document: the display name, prefixed by the enclosing
    DAG/steps node's when that is not the root."""
    by_id = {n.id: n for n in info.nodes or []}
    boundary = by_id.get(node.boundary_id) if node.boundary_id else None
    if boundary is None or boundary.boundary_id is None:
        return node.display_name
    return f"{boundary.display_name}/{node.display_name}"


def _tail(log: Path, lines: int = 5) -> str:
    try:
        text = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no executor log)"
    return " | ".join(text[-lines:]) or "(empty executor log)"


def default_workflows_dir() -> Path:
    """$COGNIVERSE_WORKFLOWS, else ./workflows, else the repository's rendered YAML."""
    configured = os.environ.get("COGNIVERSE_WORKFLOWS")
    if configured:
        return Path(configured)
    here = Path("workflows")
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[2] / "workflows"
