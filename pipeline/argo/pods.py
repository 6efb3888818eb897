"""Container and script templates: one node, one local process (see pipeline.argo.process for
the filesystem remapping), with Argo's environment, volumes, artifacts and outputs."""

from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.argo import artifacts as artifact_store
from pipeline.argo import loader, process
from pipeline.argo.expressions import param_string, substitute, unresolved_tags
from pipeline.argo.loader import WorkflowLoadError
from pipeline.argo.runtime import SAFE_NAME, Bound, Call, Deadline, NodeFailure, RunContext, halted, template_kind
from pipeline.argo.status import CONTAINER, ERROR, FAILED, POD, SUCCEEDED, Node

MAX_RESULT_BYTES = 256 * 1024  # Argo keeps the last 256 kB of stdout as outputs.result


@dataclass
class _ContainerPlan:
    """One process of a pod: `main` for container and script templates, each of a
    containerSet's containers (which start when their `dependencies` have succeeded)."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: str | None
    dependencies: list[str]


@dataclass
class _PodPlan:
    """A pod ready to start: its resolved command lines, environments and filesystem."""

    containers: list[_ContainerPlan]
    container_set: bool
    remap: process.PathRemap
    init: list[_ContainerPlan]
    out_params: list[dict[str, Any]]
    out_arts: list[dict[str, Any]]
    deadline_s: int | None
    where: str
    timeout_s: float | None = None  # template `timeout`, counted from the node's start


class Pods:
    """Runs container, script and containerSet templates: one node, local processes."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def run(
        self, call: Call, template: dict[str, Any], bound: Bound, node_name: str, parents: list[str], retries: int | None
    ) -> Node:
        node = self.ctx.status.create_node(
            node_name, POD, template_name=call.template, boundary_id=call.boundary_id, parents=parents
        )
        node.inputs = bound.to_json()
        try:
            phase, message = self._pod_body(call, template, bound, node, retries)
        except NodeFailure as exc:
            phase, message = exc.phase, str(exc)
        except Exception as exc:  # keep the run going and the failure visible
            phase, message = ERROR, f"executor error: {exc!r}"
        return self.ctx.status.finish_node(node, phase, message)

    def _pod_body(self, call: Call, template: dict[str, Any], bound: Bound, node: Node, retries: int | None) -> tuple[str, str]:
        node_started = time.monotonic()  # `timeout` counts time spent waiting for a slot too, as Pending does
        plan = self._plan_pod(call, template, bound, node, retries)
        if not self._acquire_pod_slot(call):
            return FAILED, halted(call) or "Stopped"
        try:
            now = time.monotonic()
            deadlines = list(call.deadlines)
            if plan.deadline_s is not None:
                deadlines.append(Deadline(now + plan.deadline_s, f"Step exceeded its deadline (template activeDeadlineSeconds={plan.deadline_s})"))
            if plan.timeout_s is not None:
                deadlines.append(Deadline(node_started + plan.timeout_s, f"Step exceeded its deadline (template timeout={plan.timeout_s:g}s)"))
            earliest = min(deadlines, key=lambda d: d.at) if deadlines else None
            if earliest is not None and earliest.at <= now:
                return FAILED, earliest.message
            results = self._run_containers(plan, node, (earliest.at, earliest.message) if earliest else None, call.stop)
        finally:
            if self.ctx.pod_slots is not None:
                self.ctx.pod_slots.release()
        # The pod's result and exit code are its `main` container's (Argo reads them from main);
        # a failed container's when one failed.
        failed = next((r for r in results.values() if r is not None and (r.outcome != "exited" or r.exit_code != 0)), None)
        result = failed or results.get("main")
        if result is None:  # a containerSet without `main`, all succeeded
            return self._finish_container_set(plan, node)

        stdout = result.stdout.encode()[-MAX_RESULT_BYTES:].decode(errors="replace")
        # Outputs are only ever replaced, never changed in place: the status writer may be
        # serialising the previous dict from another thread.
        outputs: dict[str, Any] = {"result": stdout[:-1] if stdout.endswith("\n") else stdout}  # Argo trims one \n
        code = result.exit_code
        if code is not None:
            outputs["exitCode"] = str(128 - code if code < 0 else code)  # killed by signal N: 128+N, as in a container
        node.outputs = dict(outputs)
        if result.outcome == "deadline":
            return FAILED, result.deadline_message
        if result.outcome == "stopped":
            return FAILED, "Stopped"
        if code != 0:
            return FAILED, f"Error (exit code {outputs.get('exitCode')})"
        params, arts = self._collect_outputs(plan, node)
        if params:
            outputs["parameters"] = params
        if arts:
            outputs["artifacts"] = arts
        node.outputs = outputs
        for entry in params:
            if "globalName" in entry:
                self.ctx.status.set_global_output("parameters", {"name": entry["globalName"], "value": entry["value"]})
        for entry in arts:
            if "globalName" in entry:
                self.ctx.status.set_global_output("artifacts", {"name": entry["globalName"], "s3": entry["s3"]})
        return SUCCEEDED, ""

    def _finish_container_set(self, plan: _PodPlan, node: Node) -> tuple[str, str]:
        """A containerSet without a `main` container that all succeeded: no result, outputs
        from files only."""
        params, arts = self._collect_outputs(plan, node)
        outputs: dict[str, Any] = {}
        if params:
            outputs["parameters"] = params
        if arts:
            outputs["artifacts"] = arts
        node.outputs = outputs
        return SUCCEEDED, ""

    def _run_containers(
        self, plan: _PodPlan, node: Node, deadline: tuple[float, str] | None, stop: threading.Event,
    ) -> dict[str, process.ProcessResult | None]:
        """Every container of the pod, each once its dependencies have succeeded (independent
        ones in parallel). As in Argo v4.0, the first container to fail ends the pod: running
        siblings are stopped and the ones waiting never start (None)."""
        for init in plan.init:  # init containers: one after the other, before the main one
            result = process.run(
                init.argv, env=init.env, cwd=init.cwd, log_path=self.ctx.status.log_path(node), deadline=deadline,
                stop=stop, kill_grace_s=self.ctx.kill_grace_s,
            )
            if result.outcome != "exited" or result.exit_code != 0:
                return {init.name: result}
        if not plan.container_set:
            only = plan.containers[0]
            result = process.run(
                only.argv, env=only.env, cwd=only.cwd, log_path=self.ctx.status.log_path(node), deadline=deadline,
                stop=stop, kill_grace_s=self.ctx.kill_grace_s,
            )
            return {only.name: result}
        results: dict[str, process.ProcessResult | None] = {}
        children = {
            c.name: self.ctx.status.create_node(f"{node.name}.{c.name}", CONTAINER, template_name=None, boundary_id=node.id, parents=[node.id])
            for c in plan.containers
        }
        pod_stop = threading.Event()
        cond = threading.Condition()

        def watch() -> None:  # the pod's own stop follows the call's
            while not pod_stop.is_set():
                if stop.wait(0.05):
                    pod_stop.set()

        threading.Thread(target=watch, daemon=True).start()

        def one(container: _ContainerPlan) -> None:
            result = process.run(
                container.argv, env=container.env, cwd=container.cwd, log_path=self.ctx.status.log_path(children[container.name]),
                deadline=deadline, stop=pod_stop, kill_grace_s=self.ctx.kill_grace_s,
            )
            ok = result.outcome == "exited" and result.exit_code == 0
            self.ctx.status.finish_node(children[container.name], SUCCEEDED if ok else FAILED, "" if ok else f"Error (exit code {result.exit_code})")
            with cond:
                results[container.name] = result
                if not ok:
                    pod_stop.set()
                cond.notify_all()

        started: set[str] = set()
        with cond:
            while True:
                if not pod_stop.is_set():
                    for container in plan.containers:
                        ready = all(
                            (r := results.get(dep)) is not None and r.outcome == "exited" and r.exit_code == 0
                            for dep in container.dependencies
                        )
                        if container.name not in started and ready:
                            started.add(container.name)
                            threading.Thread(target=one, args=(container,), daemon=True).start()
                if all(name in results for name in started) and (pod_stop.is_set() or len(started) == len(plan.containers)):
                    break
                cond.wait(0.1)
        pod_stop.set()
        for container in plan.containers:
            if container.name not in started:
                results[container.name] = None
                self.ctx.status.finish_node(children[container.name], FAILED, "not started: the pod ended first")
        return results

    def _plan_pod(self, call: Call, template: dict[str, Any], bound: Bound, node: Node, retries: int | None) -> _PodPlan:
        """Everything up to starting the process: substitution, the node's filesystem (path
        remapping, volumes, input artifacts), environment and command lookup."""
        kind = template_kind(template)
        where = f"templates[{call.template}]"
        node_dir = self.ctx.run_dir / "nodes" / node.id
        if node_dir.exists():
            shutil.rmtree(node_dir)
        node_dir.mkdir(parents=True)
        declared = template.get("outputs") or {}
        scope = {**self.ctx.globals.values(call.exit_handler), **bound.scope(), "pod.name": node.id, "node.name": node.name}
        if retries is not None:
            scope["retries"] = str(retries)
        for art in (template.get("inputs") or {}).get("artifacts") or []:
            scope[f"inputs.artifacts.{art['name']}.path"] = art["path"]
        for param in declared.get("parameters") or []:
            if (param.get("valueFrom") or {}).get("path"):
                scope[f"outputs.parameters.{param['name']}.path"] = param["valueFrom"]["path"]
        for art in declared.get("artifacts") or []:
            scope[f"outputs.artifacts.{art['name']}.path"] = art["path"]
        path_scope = {key: value for key, value in scope.items() if key.endswith(".path")}
        resolved = substitute({key: template[key] for key in (kind, "inputs", "outputs", "activeDeadlineSeconds", "timeout") if key in template}, scope)
        in_arts = (resolved.get("inputs") or {}).get("artifacts") or []
        out_params = (resolved.get("outputs") or {}).get("parameters") or []
        out_arts = (resolved.get("outputs") or {}).get("artifacts") or []
        leftover = unresolved_tags({kind: resolved[kind], "outputs": resolved.get("outputs") or {}, "inputs.artifacts": in_arts}, where)
        if leftover:
            at, tag = leftover[0]
            raise NodeFailure(f"unresolved variable {tag} in {at}")

        locations = [p["valueFrom"]["path"] for p in out_params if (p.get("valueFrom") or {}).get("path")]
        locations += [a["path"] for a in out_arts] + [a["path"] for a in in_arts]
        mounts = list(resolved[kind].get("volumeMounts") or [])
        extra = list(resolved[kind].get("containers") or []) + list(template.get("initContainers") or [])
        for container in extra:  # containerSet and init containers: every container's mounts
            mounts += [m for m in container.get("volumeMounts") or [] if m.get("mountPath") not in {x.get("mountPath") for x in mounts}]
        remap = process.PathRemap(node_dir / "fs", locations, [m["mountPath"] for m in mounts])
        # The template's own text first (its /tmp is the pod's), then the parameter values, which
        # name this machine's files (see pipeline.argo.process).
        written = {key: value for key, value in self.ctx.wf.templates[call.template][kind].items() if key != "volumeMounts"}
        body = remap.rewrite(substitute(remap.rewrite(substitute(written, path_scope)), scope), declared_only=True)
        leftover = unresolved_tags(body, f"{where}.{kind}")
        if leftover:
            at, tag = leftover[0]
            raise NodeFailure(f"unresolved variable {tag} in {at}")

        containers: list[_ContainerPlan] = []
        if kind == "containerSet":
            for index, container in enumerate(body.get("containers") or []):
                cpath = f"{where}.containerSet.containers[{container.get('name', index)}]"
                containers.append(self._plan_container(container, str(container["name"]), cpath, remap, node_dir, None))
        else:
            containers.append(self._plan_container(body, "main", f"{where}.{kind}", remap, node_dir, body.get("source") if kind == "script" else None))
        init = [
            self._plan_container(c, str(c.get("name", index)), f"{where}.initContainers[{c.get('name', index)}]", remap, node_dir, None)
            for index, c in enumerate(remap.rewrite(substitute(self.ctx.wf.templates[call.template].get("initContainers") or [], scope)))
        ]
        self._mount_volumes(mounts, loader.template_volumes(self.ctx.wf.spec, template), node_dir, remap, f"{where}.{kind}")
        remap.prepare()
        for art in in_arts:
            self._stage_input(art, bound.artifacts.get(art["name"]), remap)
        deadline_s = timeout_s = None
        try:
            if "activeDeadlineSeconds" in resolved:
                deadline_s = loader.parse_int(resolved["activeDeadlineSeconds"], f"{where}.activeDeadlineSeconds")
            if "timeout" in resolved:
                timeout_s = loader.parse_duration(resolved["timeout"], f"{where}.timeout")
        except WorkflowLoadError as exc:
            raise NodeFailure(str(exc)) from exc
        return _PodPlan(containers, kind == "containerSet", remap, init, out_params, out_arts, deadline_s, where, timeout_s)

    def _plan_container(
        self, body: dict[str, Any], name: str, where: str, remap: process.PathRemap, node_dir: Path, source: str | None,
    ) -> _ContainerPlan:
        env = self._environment(body, where, remap.tmp)
        cwd = body.get("workingDir") or None
        if cwd is not None and not os.path.isdir(cwd):
            raise NodeFailure(f"workingDir {cwd!r} does not exist on this machine ({where}.workingDir)")
        if cwd is None:
            # The image's WORKDIR is not known here; most images leave it at `/`, so a relative
            # path lands in the pod's own root: the node's filesystem directory.
            remap.root.mkdir(parents=True, exist_ok=True)
            cwd = str(remap.root)
        command = self.ctx.wf.command_of(body)
        if command is None:  # the loader checked it; a template substituted into existence may not
            raise NodeFailure(f"{where}.command is required locally")
        argv = command + [str(a) for a in body.get("args") or []]
        if source is not None:  # Argo appends the script file after args, mode 0755 (executor StageFiles)
            script = node_dir / "script"
            script.write_text(source)
            script.chmod(0o755)
            argv.append(str(script))
        executable = process.find_command(argv[0], env, cwd)
        if executable is None:
            raise NodeFailure(
                f"command {argv[0]!r} not found on PATH ({where}.command[0]): the image is not pulled locally, "
                "so the command must be installed on this machine",
                phase=FAILED,
            )
        return _ContainerPlan(name, [executable] + argv[1:], env, cwd, [str(d) for d in body.get("dependencies") or []])

    def _collect_outputs(self, plan: _PodPlan, node: Node) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        params = []
        for param in plan.out_params:
            entry = {"name": param["name"], "value": self._read_output(param, plan.remap, plan.where)}
            if param.get("globalName"):
                entry["globalName"] = param["globalName"]
            params.append(entry)
        arts = []
        for art in plan.out_arts:
            saved = self._save_output(art, node, plan.remap, plan.where)
            if saved is not None:
                arts.append(saved)
        return params, arts

    def _environment(self, body: dict[str, Any], where: str, tmp: Path) -> dict[str, str]:
        """The host environment (PATH, local config) with the pod's own TMPDIR, plus the
        template's env and envFrom."""
        env = {**os.environ, "TMPDIR": str(tmp)}
        for source in body.get("envFrom") or []:
            if "configMapRef" in source:
                values = self.ctx.wf.configmaps.get(source["configMapRef"]["name"], {})
            else:
                values = self.ctx.wf.secrets.get(source["secretRef"]["name"], {})
            prefix = source.get("prefix", "")
            env.update({f"{prefix}{key}": value for key, value in values.items()})
        for var in body.get("env") or []:
            name = var["name"]
            path = f"{where}.env[{name}]"
            if "valueFrom" in var:
                ref = var["valueFrom"]
                try:
                    if "configMapKeyRef" in ref:
                        value = loader.configmap_value(ref["configMapKeyRef"], self.ctx.wf.configmaps, f"{path}.valueFrom.configMapKeyRef")
                    else:
                        value = loader.secret_value(ref["secretKeyRef"], self.ctx.wf.secrets, f"{path}.valueFrom.secretKeyRef")
                except WorkflowLoadError as exc:
                    raise NodeFailure(str(exc)) from exc
                if value is None:  # optional and absent: Kubernetes leaves the variable unset
                    continue
                env[name] = value
            else:
                env[name] = str(var.get("value", ""))
        return env

    def _mount_volumes(
        self, mounts: list[dict[str, Any]], volumes: dict[str, dict[str, Any]], node_dir: Path,
        remap: process.PathRemap, where: str,
    ) -> None:
        """Each volume is a directory of the node's (emptyDir: empty; configMap/secret: one file
        per key, from --configmap/--secret); its mountPath links to it."""
        for mount in mounts:
            name = mount["name"]
            volume_dir = node_dir / "volumes" / SAFE_NAME.sub("_", name)
            if not volume_dir.exists():
                volume_dir.mkdir(parents=True)
                self._fill_volume(volumes[name], volume_dir, f"{where}.volumeMounts[{name}]")
            source = volume_dir / mount["subPath"] if mount.get("subPath") else volume_dir
            if mount.get("subPath") and not source.exists():
                source.mkdir(parents=True)  # as the kubelet does for a missing subPath
            target = remap.host(mount["mountPath"])
            if target.exists() or target.is_symlink():
                raise NodeFailure(f"two volume mounts at {mount['mountPath']} ({where}.volumeMounts[{name}].mountPath)")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(source, target_is_directory=source.is_dir())

    def _fill_volume(self, volume: dict[str, Any], directory: Path, where: str) -> None:
        if "emptyDir" in volume:
            return
        if "configMap" in volume:
            ref, name, values = volume["configMap"], volume["configMap"].get("name"), self.ctx.wf.configmaps
        else:
            ref, name, values = volume["secret"], volume["secret"].get("secretName"), self.ctx.wf.secrets
        data = values.get(name)
        if data is None:
            if ref.get("optional"):
                return  # an optional, absent source mounts as an empty directory
            raise NodeFailure(f"volume {volume['name']!r}: {name!r} was not given ({where})")
        items = ref.get("items") or [{"key": key, "path": key} for key in data]
        for item in items:
            if item["key"] not in data:
                if ref.get("optional"):
                    continue
                raise NodeFailure(f"volume {volume['name']!r}: no key {item['key']!r} in {name!r} ({where})")
            path = directory / item.get("path", item["key"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(data[item["key"]])
            if "mode" in item:
                os.chmod(path, item["mode"])

    def _acquire_pod_slot(self, call: Call) -> bool:
        if self.ctx.pod_slots is None:
            return True
        while not self.ctx.pod_slots.acquire(timeout=0.05):
            if halted(call) is not None:
                return False
        return True

    def _stage_input(self, art: dict[str, Any], location: dict[str, Any] | None, remap: process.PathRemap) -> None:
        if location is None:
            return  # optional and not supplied
        destination = remap.host(art["path"])
        mode = art.get("mode")
        try:
            if "raw" in location:
                artifact_store.write_raw(location["raw"].get("data", ""), destination, mode)
            else:
                artifact_store.load(self.ctx.artifact_root, location["s3"]["key"], destination, mode, location.get("subPath"))
        except artifact_store.ArtifactError as exc:
            if art.get("optional"):
                return
            raise NodeFailure(f"input artifact {art['name']!r}: {exc}") from exc

    def _read_output(self, param: dict[str, Any], remap: process.PathRemap, where: str) -> str:
        value_from = param.get("valueFrom") or {}
        if not value_from.get("path"):
            return param_string(param.get("value"))
        host = remap.host(value_from["path"])
        try:
            text = host.read_text()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            if "default" in value_from:
                return param_string(value_from["default"])
            raise NodeFailure(
                f"output parameter {param['name']!r}: {value_from['path']} was not written "
                f"({where}.outputs.parameters[{param['name']}].valueFrom.path)"
            ) from None
        return text[:-1] if text.endswith("\n") else text  # Argo trims one trailing newline

    def _save_output(self, art: dict[str, Any], node: Node, remap: process.PathRemap, where: str) -> dict[str, Any] | None:
        source = remap.host(art["path"])
        if not source.exists():
            if art.get("optional"):
                return None
            raise NodeFailure(f"output artifact {art['name']!r}: {art['path']} was not written ({where}.outputs.artifacts[{art['name']}].path)")
        key = (art.get("s3") or {}).get("key") or artifact_store.default_key(self.ctx.wf.name, node.id, art)
        try:
            artifact_store.save(source, self.ctx.artifact_root, key, art.get("archive"))
        except (artifact_store.ArtifactError, OSError) as exc:
            raise NodeFailure(f"output artifact {art['name']!r}: {exc}") from exc
        entry: dict[str, Any] = {"name": art["name"], "path": art["path"], "s3": {"key": key}}
        if art.get("globalName"):
            entry["globalName"] = art["globalName"]
        return entry
