"""Run a rendered Argo Workflow, WorkflowTemplate or CronWorkflow on this machine, with Argo's
semantics, and report it as `argo get NAME -o json` would.

Pod templates (container, script, containerSet) run as local processes: the image is not
pulled, the command must exist on PATH, the host environment is inherited; command, args and env
are used after Argo's variable substitution, in a per-node filesystem (`pipeline.argo.process`
explains the remapping). The README lists what is supported; the loader (`pipeline.argo.loader`,
`pipeline.argo.fields`, `pipeline.argo.resolution`) refuses every other field, naming it, before
anything runs.

Layout: this module holds the entry point `run()` and the template-invocation core, `Executor`
(inputs, retries, arguments, DAG/steps outputs, locks), which is the `Invoker` the other parts
call back into. They are separate objects sharing one `RunContext` (pipeline.argo.runtime):
`Pods` runs pod templates, `Graphs` DAGs and steps, `Hooks` lifecycle hooks; `scopes` holds the
variables (`GlobalScope` for `workflow.*`), `status` the node table.
Concurrency: one thread per running DAG task, step or loop item (bounded by the template's
`parallelism`); processes are bounded by the workflow's `parallelism`.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
import traceback
from pathlib import Path
from typing import IO, Any, Callable

import yaml
from pydantic import BaseModel, ConfigDict

from pipeline.argo import exprlang, hooks, loader, mutex
from pipeline.argo.expressions import (
    ExpressionError,
    evaluate_when,
    first_unresolved,
    param_string,
    substitute,
)
from pipeline.argo.graph import Graphs
from pipeline.argo.heartbeat import Heartbeat
from pipeline.argo.hooks import HookRunner, Hooks
from pipeline.argo.loader import LoadedWorkflow, WorkflowLoadError
from pipeline.argo.pods import Pods
from pipeline.argo.runtime import (
    POD_KINDS,
    SAFE_NAME,
    Bound,
    Call,
    Deadline,
    NodeFailure,
    RunContext,
    halted,
    sleep,
    template_kind,
)
from pipeline.argo.scopes import GlobalScope
from pipeline.argo.status import (
    COMPLETED,
    DAG,
    ERROR,
    FAILED,
    POD,
    RETRY,
    RUNNING,
    SKIPPED,
    SKIPPED_TYPE,
    STEPS,
    SUCCEEDED,
    SUSPEND,
    Node,
    WorkflowStatus,
    progress_line,
    rfc3339,
    utcnow,
)

DEFAULT_STATE_DIR = Path(".local/argo")
# A semaphore whose ConfigMap was not given (--configmap NAME=FILE) admits one holder at a time:
# the safe reading of a limit we cannot see.
DEFAULT_SEMAPHORE_LIMIT = 1


class RunOptions(BaseModel):
    """What `argo submit` would be told, plus where local state goes."""

    model_config = ConfigDict(frozen=True)

    files: list[Path]
    templates: list[Path] = []
    parameters: dict[str, str] = {}
    configmaps: dict[str, Path] = {}
    secrets: dict[str, Path] = {}
    artifact_root: Path | None = None  # default: <state dir>/artifacts
    state_dir: Path = DEFAULT_STATE_DIR
    status_file: Path | None = None  # default: <state dir>/<workflow name>/status.json
    name: str | None = None  # which document to run when a file holds several
    entrypoint: str | None = None
    image_entrypoints: dict[str, list[str]] = {}  # image → its ENTRYPOINT, for templates without command
    resume_suspended: bool = False  # a suspend without duration resumes at once, as `argo resume` would
    kill_grace_s: float = 2.0  # SIGTERM → SIGKILL, like a pod's termination grace period
    heartbeat_s: float = 15.0  # a "◷ running: …" line this often while pods run (0: none)


class RunResult(BaseModel):
    name: str
    phase: str
    message: str
    status_file: Path
    run_dir: Path
    status: dict[str, Any]

    @property
    def exit_code(self) -> int:
        return 0 if self.phase == SUCCEEDED else 1


class Executor:
    """Runs one loaded workflow. This is the template-invocation core (inputs, retries,
    arguments, outputs of DAG/steps templates, locks) and the `Invoker` the other parts call
    back into: `Pods` (pipeline.argo.pods) runs pod templates, `Graphs` (pipeline.argo.graph)
    DAGs and steps, `Hooks` (pipeline.argo.hooks) lifecycle hooks; they share a `RunContext`."""

    def __init__(
        self,
        workflow: LoadedWorkflow,
        status: WorkflowStatus,
        *,
        run_dir: Path,
        artifact_root: Path,
        lock_dir: Path,
        kill_grace_s: float,
        echo: Callable[[str], None],
    ) -> None:
        parallelism = workflow.spec.get("parallelism")
        self.ctx = RunContext(
            wf=workflow,
            status=status,
            globals=GlobalScope(workflow, status),
            run_dir=run_dir,
            artifact_root=artifact_root,
            lock_dir=lock_dir,
            kill_grace_s=kill_grace_s,
            echo=echo,
            pod_slots=threading.BoundedSemaphore(parallelism) if parallelism else None,
        )
        self.wf = workflow
        self.status = status
        self.globals = self.ctx.globals
        self.pods = Pods(self.ctx)
        self.graphs = Graphs(self.ctx, self)
        self.hooks = Hooks(self.ctx, self)
        self.stop_main = threading.Event()
        self.stop_exit = threading.Event()

    # --- the workflow ---------------------------------------------------------------------------

    def run_workflow(self) -> None:
        wf = self.wf
        deadlines: tuple[Deadline, ...] = ()
        if "activeDeadlineSeconds" in wf.spec:
            seconds = loader.parse_int(wf.spec["activeDeadlineSeconds"], "spec.activeDeadlineSeconds")
            deadlines = (Deadline(self.globals.started + seconds, f"Step exceeded its deadline (workflow activeDeadlineSeconds={seconds})"),)
        try:
            handles = self._acquire_mutexes(wf.spec.get("synchronization"), self.globals.values(False), self.stop_main, wf.name)
        except NodeFailure as exc:
            self.status.finish(ERROR, str(exc))
            return
        try:
            main_call = Call(wf.spec["entrypoint"], wf.name, dict(wf.parameters), self.globals.workflow_artifacts(), None, [], deadlines, self.stop_main)
            runner = HookRunner(
                hooks.expression_hooks(wf.spec),
                lambda name, hook, node_name, scope: self.hooks.run_hook(
                    main_call, None, f"spec.hooks.{name}", hook, node_name, [], scope, self.globals.artifacts()
                ),
                wf.name,
            )
            runner.check({**self.globals.values(False), "workflow.status": RUNNING}, background=True)
            main = self.execute(main_call)
            phase, message = main.phase, main.message
            if self.stop_main.is_set():
                phase, message = FAILED, "Stopped with strategy 'Stop'"  # Argo's `argo stop`
            if phase not in COMPLETED:  # a root that was skipped cannot happen; be explicit anyway
                phase = ERROR
            self.globals.main_phase = phase
            runner.check(self.globals.values(True), background=False)
            runner.join()
            exit_hook = hooks.exit_hook(wf.spec)
            if exit_hook is not None:
                exit_call = Call(
                    exit_hook["template"], f"{wf.name}.onExit", dict(wf.parameters), self.globals.workflow_artifacts(), None, [], (),
                    self.stop_exit, exit_handler=True,
                )
                exit_node = self.hooks.run_hook(
                    exit_call, None, "spec.hooks.exit", exit_hook, exit_call.node_name, [], self.globals.values(True),
                    {**self.globals.artifacts(), **{f"workflow.{k}": v for k, v in self.globals.workflow_artifacts().items()}},
                ) if exit_hook.get("arguments") else self.execute(exit_call)
                if phase == SUCCEEDED and exit_node.phase in (FAILED, ERROR):
                    phase, message = exit_node.phase, exit_node.message
            self.status.finish(phase, message)
        except Exception as exc:  # a bug here must still leave a status document behind
            self.status.finish(ERROR, f"executor error: {exc!r}\n{traceback.format_exc()}")
        finally:
            self._release_mutexes(handles)

    def request_stop(self, *, exit_handler_too: bool = False) -> None:
        self.stop_main.set()
        if exit_handler_too:
            self.stop_exit.set()

    # --- one template invocation -----------------------------------------------------------------

    def execute(self, call: Call) -> Node:
        template = self.wf.templates[call.template]
        kind = template_kind(template)
        node_type = {"container": POD, "script": POD, "containerSet": POD, "dag": DAG, "steps": STEPS, "suspend": SUSPEND}[kind]
        try:
            bound = self._bind_inputs(template, call)
            prepared = substitute(template, {**self.globals.values(call.exit_handler), **bound.scope()})
            handles = self._acquire_mutexes(prepared.get("synchronization"), bound.scope(), call.stop, call.node_name)
        except NodeFailure as exc:
            return self.status.create_node(
                call.node_name, node_type, template_name=call.template, boundary_id=call.boundary_id,
                parents=call.parents, phase=exc.phase, message=str(exc),
            )
        try:
            strategy = prepared.get("retryStrategy")
            if strategy is None and kind in POD_KINDS:
                strategy = self.wf.spec.get("retryStrategy")
            if strategy is not None:
                return self._with_retries(call, prepared, bound, strategy)
            return self._execute_once(call, prepared, bound, call.node_name, call.parents, None)
        finally:
            self._release_mutexes(handles)

    def _bind_inputs(self, template: dict[str, Any], call: Call) -> Bound:
        """Argo's ProcessArgs: argument, else value, else configMapKeyRef, else default."""
        inputs = template.get("inputs") or {}
        globals_ = self.globals.values(call.exit_handler)
        params: list[tuple[str, str]] = []
        for param in inputs.get("parameters") or []:
            name = param["name"]
            path = f"templates[{call.template}].inputs.parameters[{name}]"
            if name in call.params:
                value: str | None = call.params[name]
            elif "value" in param:
                value = substitute(param_string(param["value"]), globals_)
            elif "valueFrom" in param:
                value = loader.configmap_value(param["valueFrom"]["configMapKeyRef"], self.wf.configmaps, f"{path}.valueFrom")
            elif "default" in param:
                value = substitute(param_string(param["default"]), globals_)
            else:
                value = None
            if value is None:
                raise NodeFailure(f"inputs.parameters.{name} was not supplied ({path})")
            try:
                loader.check_enum(param, value, path)
            except WorkflowLoadError as exc:
                raise NodeFailure(str(exc)) from exc
            params.append((name, value))
        arts: dict[str, dict[str, Any] | None] = {}
        scope = {**globals_, **Bound(params, {}).scope()}
        for art in inputs.get("artifacts") or []:
            name = art["name"]
            location = call.artifacts.get(name)
            if location is None and "s3" in art:
                location = {"s3": {"key": substitute(art["s3"].get("key", ""), scope)}}
            if location is None and "raw" in art:
                location = {"raw": {"data": substitute(art["raw"].get("data", ""), scope)}}
            if location is None and not art.get("optional"):
                raise NodeFailure(f"inputs.artifacts.{name} was not supplied (templates[{call.template}].inputs.artifacts[{name}])")
            arts[name] = location
        return Bound(params, arts)

    def _execute_once(
        self, call: Call, template: dict[str, Any], bound: Bound, node_name: str, parents: list[str], retries: int | None
    ) -> Node:
        kind = template_kind(template)
        if kind in POD_KINDS:
            return self.pods.run(call, template, bound, node_name, parents, retries)
        if kind == "suspend":
            return self._run_suspend(call, template, bound, node_name, parents)
        if kind == "dag":
            return self.graphs.run_dag(call, template, bound, node_name, parents)
        return self.graphs.run_steps(call, template, bound, node_name, parents)

    def _with_retries(self, call: Call, template: dict[str, Any], bound: Bound, strategy: dict[str, Any]) -> Node:
        path = f"templates[{call.template}].retryStrategy"
        retry = self.status.create_node(
            call.node_name, RETRY, template_name=call.template, boundary_id=call.boundary_id, parents=call.parents
        )
        retry.inputs = bound.to_json()
        try:
            limit = loader.parse_int(strategy["limit"], f"{path}.limit") if "limit" in strategy else None
            expression = exprlang.Expression(str(strategy["expression"])) if "expression" in strategy else None
            # Argo ≥ 3.5: with an expression and no policy, only the expression decides.
            policy = strategy.get("retryPolicy") or ("Always" if expression is not None else "OnFailure")
            backoff = strategy.get("backoff") or {}
            base = loader.parse_duration(backoff["duration"], f"{path}.backoff.duration") if "duration" in backoff else 0.0
            factor = float(str(backoff.get("factor", 1)))
            cap = loader.parse_duration(backoff["cap"], f"{path}.backoff.cap") if "cap" in backoff else None
            max_duration = (
                loader.parse_duration(backoff["maxDuration"], f"{path}.backoff.maxDuration") if "maxDuration" in backoff else None
            )
        except (WorkflowLoadError, ExpressionError, ValueError) as exc:
            return self.status.finish_node(retry, ERROR, str(exc))
        first_start = time.monotonic()
        attempt = 0
        message = ""
        while True:
            child = self._execute_once(call, template, bound, f"{call.node_name}({attempt})", [retry.id], attempt)
            message = child.message
            if child.phase == SUCCEEDED or halted(call) is not None:
                break
            retryable = {
                "Always": child.phase in (FAILED, ERROR),
                "OnFailure": child.phase == FAILED,
                "OnError": child.phase == ERROR,
                "OnTransientError": False,  # no Kubernetes transient errors happen locally
            }[policy]
            if retryable and expression is not None:
                last_retry = {
                    "status": child.phase,
                    "exitCode": child.outputs.get("exitCode", "-1"),
                    "duration": f"{((child.finished_at or utcnow()) - child.started_at).total_seconds():g}",
                    "message": child.message,
                }
                try:
                    verdict = expression.evaluate({"lastRetry": last_retry})
                    if not isinstance(verdict, bool):
                        raise ExpressionError(f"gave {verdict!r}, not a boolean")
                    retryable = verdict
                except ExpressionError as exc:
                    message = f"{child.message}; {path}.expression: {exc}"
                    break
            if not retryable:
                break
            if limit is not None and attempt >= limit:
                message = f"No more retries left ({child.message})" if child.message else "No more retries left"
                break
            wait = base * (factor**attempt)
            if cap is not None:
                wait = min(wait, cap)
            if max_duration is not None and time.monotonic() - first_start + wait > max_duration:
                message = f"Backoff would exceed max duration limit ({child.message})"
                break
            if sleep(wait, call):
                break
            attempt += 1
        retry.outputs = dict(child.outputs)
        return self.status.finish_node(retry, child.phase, message)

    def _run_suspend(self, call: Call, template: dict[str, Any], bound: Bound, node_name: str, parents: list[str]) -> Node:
        """A suspend template: with a duration it sleeps that long and resumes, as Argo does;
        without one it resumes at once (the loader allows that only with --resume-suspended)."""
        node = self.status.create_node(node_name, SUSPEND, template_name=call.template, boundary_id=call.boundary_id, parents=parents)
        node.inputs = bound.to_json()
        duration = (template.get("suspend") or {}).get("duration")
        if duration is None:
            return self.status.finish_node(node, SUCCEEDED, "resumed at once (--resume-suspended)")
        try:
            seconds = loader.parse_duration(duration, f"templates[{call.template}].suspend.duration")
        except WorkflowLoadError as exc:
            return self.status.finish_node(node, ERROR, str(exc))
        if sleep(seconds, call):
            return self.status.finish_node(node, FAILED, halted(call) or "Stopped")
        return self.status.finish_node(node, SUCCEEDED)

    # --- mutexes --------------------------------------------------------------------------------------

    def _acquire_mutexes(
        self, sync: dict[str, Any] | None, scope: dict[str, str], stop: threading.Event, holder: str
    ) -> list[IO[str]]:
        """Every mutex and one slot of every semaphore the synchronization block names."""
        wanted = []
        for item in (sync or {}).get("mutexes") or []:
            name = substitute(str(item["name"]), {**self.globals.values(False), **scope})
            if first_unresolved(name):
                raise NodeFailure(f"unresolved variable in synchronization mutex name {name!r}")
            namespace = str(item.get("namespace") or self.wf.namespace)
            wanted.append(mutex.Lock(namespace, name, 1, f"mutex {namespace}/{name}"))
        for item in (sync or {}).get("semaphores") or []:
            ref = item["configMapKeyRef"]
            namespace = str(item.get("namespace") or self.wf.namespace)
            limit = self._semaphore_limit(ref)
            label = f"semaphore {namespace}/{ref['name']}/{ref['key']} (limit {limit})"
            wanted.append(mutex.Lock(namespace, f"semaphore-{ref['name']}-{ref['key']}", limit, label))
        return mutex.acquire(
            self.ctx.lock_dir, wanted, stop=stop, holder=f"{self.wf.name} {holder}",
            on_wait=lambda which: self.ctx.echo(f"◷ {holder}: waiting for {which}"),
        )

    def _semaphore_limit(self, ref: dict[str, Any]) -> int:
        """The limit Argo reads from the ConfigMap key; without that ConfigMap locally, the
        documented default DEFAULT_SEMAPHORE_LIMIT (the loader says so when it loads)."""
        value = (self.wf.configmaps.get(ref["name"]) or {}).get(ref["key"])
        if value is None:
            return DEFAULT_SEMAPHORE_LIMIT
        try:
            limit = int(value.strip())
        except ValueError:
            raise NodeFailure(f"semaphore limit {ref['name']}/{ref['key']} is {value!r}, not an integer") from None
        if limit < 1:
            raise NodeFailure(f"semaphore limit {ref['name']}/{ref['key']} is {limit}: it must be at least 1")
        return limit

    @staticmethod
    def _release_mutexes(handles: list[IO[str]]) -> None:
        mutex.release(handles)

    # --- shared by DAG tasks and steps -----------------------------------------------------------------

    def unit(
        self,
        call: Call,
        boundary_id: str,
        path: str,
        task: dict[str, Any],
        node_name: str,
        parents: list[str],
        art_scope: dict[str, dict[str, Any]],
    ) -> Node:
        """One DAG task or step (or one loop item of it): `when`, arguments, then the template."""
        target = task["template"]

        def settle(phase: str, message: str) -> Node:
            return self.status.create_node(
                node_name, SKIPPED_TYPE, template_name=target, boundary_id=boundary_id, parents=parents,
                phase=phase, message=message,
            )

        try:
            if "when" in task:
                when = param_string(task["when"])
                try:
                    proceed = evaluate_when(when)
                except ExpressionError as exc:
                    return settle(ERROR, f"invalid 'when' expression {when!r} ({path}.when): {exc}")
                if not proceed:
                    return settle(SKIPPED, f"when '{when}' evaluated false")
            try:
                params, arts = self.arguments(task, art_scope, path)
            except NodeFailure as exc:
                return settle(exc.phase, str(exc))

            def run() -> Node:
                return self.execute(
                    Call(target, node_name, params, arts, boundary_id, parents, call.deadlines, call.stop, call.exit_handler)
                )

            if hooks.exit_hook(task) is None and not hooks.expression_hooks(task):
                return run()
            prefix = "tasks" if ".dag.tasks[" in path else "steps"
            return self.hooks.around_unit(call, boundary_id, path, task, node_name, parents, art_scope, prefix, run)
        except Exception as exc:  # never leave the scheduler waiting on a thread that died
            return settle(ERROR, f"executor error: {exc!r}")

    def arguments(
        self, task: dict[str, Any], art_scope: dict[str, dict[str, Any]], path: str
    ) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
        arguments = task.get("arguments") or {}
        params: dict[str, str] = {}
        for param in arguments.get("parameters") or []:
            name = param["name"]
            ppath = f"{path}.arguments.parameters[{name}]"
            if "valueFrom" in param:
                value = loader.configmap_value(param["valueFrom"]["configMapKeyRef"], self.wf.configmaps, f"{ppath}.valueFrom")
                if value is None:
                    continue
            else:
                value = param_string(param.get("value"))
            leftover = first_unresolved(value)
            if leftover:
                raise NodeFailure(f"unresolved variable {leftover} in {ppath}.value")
            params[name] = value
        arts: dict[str, dict[str, Any]] = {}
        for art in arguments.get("artifacts") or []:
            name = art["name"]
            apath = f"{path}.arguments.artifacts[{name}]"
            if "from" in art:
                match = re.fullmatch(r"\s*\{\{\s*(.+?)\s*\}\}\s*", str(art["from"]))
                location = art_scope.get(match.group(1)) if match else None
                if location is None:
                    if art.get("optional"):
                        continue
                    raise NodeFailure(f"unable to resolve artifact {art['from']!r} ({apath}.from)")
                if art.get("subPath"):  # one entry of a directory artifact
                    location = {**location, "subPath": str(art["subPath"])}
                arts[name] = location
            elif "s3" in art:
                arts[name] = {"s3": {"key": str(art["s3"].get("key", ""))}}
            else:
                arts[name] = {"raw": {"data": str(art["raw"].get("data", ""))}}
        return params, arts

    def template_outputs(
        self, call: Call, template: dict[str, Any], scope: dict[str, str], node: Node,
        art_scope: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        """Outputs of a DAG or steps template, from its children's: parameters by
        `valueFrom.parameter` or `valueFrom.expression`, artifacts by `from` or `fromExpression`."""
        params = []
        for param in (template.get("outputs") or {}).get("parameters") or []:
            name = param["name"]
            value_from = param.get("valueFrom") or {}
            field_path = f"templates[{call.template}].outputs.parameters[{name}]"
            if "expression" in value_from:
                value = self._output_expression(str(value_from["expression"]), scope, f"{field_path}.valueFrom.expression")
                if value is None and "default" not in value_from:
                    raise NodeFailure(f"expression gave nil ({field_path}.valueFrom.expression)")
                value = exprlang.go_string(value) if value is not None else param_string(value_from["default"])
            else:
                raw = value_from["parameter"] if "parameter" in value_from else param_string(param.get("value"))
                value = substitute(param_string(raw), scope)
                leftover = first_unresolved(value)
                if leftover:
                    if "default" not in value_from:
                        raise NodeFailure(f"unable to resolve {leftover} ({field_path}.valueFrom.parameter)")
                    value = param_string(value_from["default"])
            entry = {"name": name, "value": value}
            if param.get("globalName"):
                entry["globalName"] = param["globalName"]
                self.status.set_global_output("parameters", {"name": param["globalName"], "value": value})
            params.append(entry)
        arts = []
        for art in (template.get("outputs") or {}).get("artifacts") or []:
            field_path = f"templates[{call.template}].outputs.artifacts[{art['name']}]"
            if "fromExpression" in art:
                location = self._output_expression(str(art["fromExpression"]), {**scope, **(art_scope or {})}, f"{field_path}.fromExpression")
            else:
                match = re.fullmatch(r"\s*\{\{\s*(.+?)\s*\}\}\s*", str(art.get("from", "")))
                location = (art_scope or {}).get(match.group(1)) if match else None
            if not isinstance(location, dict) or "s3" not in location:
                if art.get("optional"):
                    continue
                raise NodeFailure(f"unable to resolve output artifact {art['name']!r} ({field_path})")
            entry = {"name": art["name"], "s3": dict(location["s3"])}
            if art.get("globalName"):
                entry["globalName"] = art["globalName"]
                self.status.set_global_output("artifacts", {"name": art["globalName"], "s3": entry["s3"]})
            arts.append(entry)
        outputs: dict[str, Any] = {}
        if params:
            outputs["parameters"] = params
        if arts:
            outputs["artifacts"] = arts
        if outputs:
            node.outputs = outputs

    @staticmethod
    def _output_expression(expression: str, scope: dict[str, Any], path: str) -> Any:
        try:
            return exprlang.evaluate(expression, scope)
        except exprlang.UnknownName:
            return None  # a step that did not run: nil, as Argo's env has no entry for it
        except ExpressionError as exc:
            raise NodeFailure(f"{exc} ({path})") from exc

# --- entry point ----------------------------------------------------------------------------------------


def run(options: RunOptions, echo: Callable[[str], None] | None = print) -> RunResult:
    """Load, execute and report one workflow. Raises WorkflowLoadError (exit code 2) before
    anything runs when the YAML cannot be run, after recording the failure in a status document."""
    lock = threading.Lock()

    def say(line: str) -> None:
        if echo is not None:
            with lock:  # progress lines come from many threads: one line at a time
                echo(line)

    try:
        workflow = loader.load(
            options.files,
            template_files=options.templates,
            parameters=options.parameters,
            configmaps=options.configmaps,
            secrets=options.secrets,
            name=options.name,
            entrypoint=options.entrypoint,
            image_entrypoints=options.image_entrypoints,
            resume_suspended=options.resume_suspended,
        )
    except WorkflowLoadError as exc:
        _record_load_failure(options, exc)
        raise
    run_dir = options.state_dir / workflow.name
    if run_dir.exists():
        shutil.rmtree(run_dir)  # a re-run of a fixed metadata.name starts clean
    status_file = options.status_file or run_dir / "status.json"
    status = WorkflowStatus(
        manifest=workflow.manifest(),
        status_file=status_file,
        logs_dir=run_dir / "logs",
        on_node_finished=lambda node: say(progress_line(node, status.label(node))),
        template_names=workflow.template_names,
    )
    status.write()
    executor = Executor(
        workflow,
        status,
        run_dir=run_dir,
        artifact_root=options.artifact_root or options.state_dir / "artifacts",
        lock_dir=options.state_dir / "locks",
        kill_grace_s=options.kill_grace_s,
        echo=say,
    )
    say(f"● {workflow.name} ({workflow.source_kind}) started; logs in {run_dir / 'logs'}")
    # The workflow runs on a worker thread so that this (main) thread can take Ctrl-C/SIGTERM.
    # Wait on an Event, not Thread.join: an interrupted join can leave is_alive() wrong.
    done = threading.Event()

    def work() -> None:
        try:
            executor.run_workflow()
        finally:
            done.set()

    threading.Thread(target=work, name=f"argo-{workflow.name}", daemon=True).start()
    heartbeat = Heartbeat(status, say, options.heartbeat_s)
    try:
        while not done.wait(0.2):
            heartbeat.tick()
    except KeyboardInterrupt:
        say("stopping: running steps are terminated, the exit handler still runs (interrupt again to stop it too)")
        executor.request_stop()
        try:
            while not done.wait(0.2):
                pass
        except KeyboardInterrupt:
            executor.request_stop(exit_handler_too=True)
            done.wait()
    document = status.document()
    result = RunResult(
        name=workflow.name,
        phase=status.phase,
        message=status.message,
        status_file=status_file,
        run_dir=run_dir,
        status=document,
    )
    _summarize(result, status, say)
    return result


def _summarize(result: RunResult, status: WorkflowStatus, say: Callable[[str], None]) -> None:
    seconds = ((status.finished_at or utcnow()) - status.started_at).total_seconds()
    say(f"{'✔' if result.phase == SUCCEEDED else '✖'} {result.name} {result.phase} in {seconds:.1f}s; status: {result.status_file}")
    for node in status.snapshot():
        if node.phase in (FAILED, ERROR) and node.type in (POD, SKIPPED_TYPE):
            log = f" (log: {node.log_file})" if node.log_file else ""
            say(f"  {node.phase}: node {node.name}: {node.message}{log}")
    if result.phase != SUCCEEDED and result.message:
        say(f"  message: {result.message}")


def _record_load_failure(options: RunOptions, exc: WorkflowLoadError) -> None:
    name = _guess_name(options.files)
    status_file = options.status_file or options.state_dir / name / "status.json"
    now = rfc3339(utcnow())
    document = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "status": {"phase": ERROR, "message": str(exc), "startedAt": now, "finishedAt": now, "nodes": {}},
    }
    status_file.parent.mkdir(parents=True, exist_ok=True)
    status_file.write_text(json.dumps(document, indent=2) + "\n")


def _guess_name(files: list[Path]) -> str:
    """The workflow's name when the YAML is readable enough, else the file's stem."""
    for path in files:
        try:
            for doc in yaml.safe_load_all(path.read_text()):
                meta = (doc or {}).get("metadata") if isinstance(doc, dict) else None
                if isinstance(meta, dict) and isinstance(meta.get("name") or meta.get("generateName"), str):
                    return SAFE_NAME.sub("-", str(meta.get("name") or meta["generateName"])).strip("-") or path.stem
        except (OSError, yaml.YAMLError):
            continue
    return files[0].stem if files else "workflow"

