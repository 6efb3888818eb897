"""DAG and steps templates: scheduling tasks and steps on threads as their dependencies allow,
and deciding the phase of the whole the way Argo does."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

from pipeline.argo.expressions import item_label, item_scope, substitute
from pipeline.argo.runtime import Bound, Call, Invoker, NodeFailure, Outcome, RunContext, continues, halted
from pipeline.argo.scopes import LOOP_FIELDS, ancestors, loop_items, outcome_scope, task_result
from pipeline.argo.status import (
    COMPLETED,
    DAG,
    ERROR,
    FAILED,
    OMITTED,
    POD,
    RETRY,
    SKIPPED,
    SKIPPED_TYPE,
    STEP_GROUP,
    STEPS,
    SUCCEEDED,
    TASK_GROUP,
    Node,
)


@dataclass
class WorkPool:
    """Runs work on threads, at most `limit` at once; `done` runs under `cond` with the result.
    While `closed()` says so (failFast), queued work is dropped instead of started: its
    `dropped` callback runs under `cond`."""

    limit: int | None
    closed: Callable[[], bool] = lambda: False
    cond: threading.Condition = field(default_factory=threading.Condition)
    queue: deque[tuple[Callable[[], Node], Callable[[Node], None], Callable[[], None] | None]] = field(default_factory=deque)
    running: int = 0

    def submit(self, work: Callable[[], Node], done: Callable[[Node], None], dropped: Callable[[], None] | None = None) -> None:
        """Call with `cond` held."""
        self.queue.append((work, done, dropped))
        self._launch()

    def idle(self) -> bool:
        return self.running == 0 and not self.queue

    def _launch(self) -> None:
        while self.queue and (not self.limit or self.running < self.limit):
            work, done, dropped = self.queue.popleft()
            if self.closed():
                if dropped is not None:
                    dropped()
                continue
            self.running += 1
            threading.Thread(target=self._run, args=(work, done), daemon=True).start()

    def _run(self, work: Callable[[], Node], done: Callable[[Node], None]) -> None:
        node: Node | None = None
        try:
            node = work()
        finally:  # even if work died, free its slot and wake the scheduler
            with self.cond:
                self.running -= 1
                if node is not None:
                    done(node)
                self._launch()
                self.cond.notify_all()


FAIL_FAST_MESSAGE = "template has failed or errored children and failFast enabled"  # Argo's wording
_DROPPED = object()  # a loop item that failFast kept from starting


class Graphs:
    """Runs DAG and steps templates; each task or step goes back to the `Invoker` (the
    Executor) as one unit, and the template's outputs are computed by it too."""

    def __init__(self, ctx: RunContext, invoker: Invoker) -> None:
        self.ctx = ctx
        self.invoker = invoker

    # --- DAG -----------------------------------------------------------------------------------------

    def run_dag(self, call: Call, template: dict[str, Any], bound: Bound, node_name: str, parents: list[str]) -> Node:
        dag_node = self.ctx.status.create_node(
            node_name, DAG, template_name=call.template, boundary_id=call.boundary_id, parents=parents
        )
        dag_node.inputs = bound.to_json()
        try:
            phase, message = self._dag_body(call, template, bound, dag_node)
        except NodeFailure as exc:
            phase, message = exc.phase, str(exc)
        except Exception as exc:
            phase, message = ERROR, f"executor error: {exc!r}"
        return self.ctx.status.finish_node(dag_node, phase, message)

    def _dag_body(self, call: Call, template: dict[str, Any], bound: Bound, dag_node: Node) -> tuple[str, str]:
        tasks = template["dag"]["tasks"]
        order = [task["name"] for task in tasks]
        by_name = {task["name"]: task for task in tasks}
        exprs = {name: self.ctx.wf.depends.get((call.template, name)) for name in order}
        deps = {name: (exprs[name].tasks() if exprs[name] else []) for name in order}
        lineage = {name: ancestors(name, deps) for name in order}
        leaves = sorted(set(order) - {dep for names in deps.values() for dep in names})
        target = str(template["dag"].get("target") or "").split()
        if target:  # dag.target: only the targets and what they depend on run; the targets are the leaves
            unknown = [name for name in target if name not in by_name]
            if unknown:
                raise NodeFailure(f"dag.target names {', '.join(map(repr, unknown))}, not tasks of templates[{call.template}]")
            needed = set(target) | {dep for name in target for dep in lineage[name]}
            order = [name for name in order if name in needed]
            leaves = sorted(set(target))
        outcomes: dict[str, Outcome] = {}
        groups: dict[str, tuple[Node, list[Any]]] = {}
        dag_fail_fast = template["dag"].get("failFast", True)
        continue_on = {leaf: by_name[leaf].get("continueOn") or {} for leaf in leaves}

        def stopped() -> bool:
            """failFast: no new task once the DAG's failure is certain (see _failing_fast)."""
            if template.get("failFast") is True and self._failed_children(dag_node):
                return True
            return bool(dag_fail_fast) and self._failing_fast(dag_node, outcomes, continue_on) is not None

        pool = WorkPool(template.get("parallelism"), closed=stopped)
        input_arts = {f"inputs.artifacts.{k}": v for k, v in bound.artifacts.items() if v}

        def finish_unit(task_name: str, index: int, node: Any) -> None:
            if task_name not in groups:
                if node is not _DROPPED:
                    outcomes[task_name] = Outcome(node)
                return
            group, units = groups[task_name]
            units[index] = node
            if all(unit is not None for unit in units):
                done = [unit for unit in units if unit is not None and unit is not _DROPPED]
                phase = SUCCEEDED
                for unit in done:
                    if unit.phase in (FAILED, ERROR):
                        phase = unit.phase
                self.ctx.status.finish_node(group, phase)
                outcomes[task_name] = Outcome(group, done)

        def start(name: str) -> None:
            task = by_name[name]
            path = f"templates[{call.template}].dag.tasks[{name}]"
            task_node_name = f"{dag_node.name}.{name}"
            dep_parents: list[str] = []
            for dep in deps[name]:
                for out in self.ctx.status.outbound(outcomes[dep].node.id):
                    if out not in dep_parents:
                        dep_parents.append(out)
            dep_parents = dep_parents or [dag_node.id]

            def settle(node_type: str, phase: str, message: str) -> None:
                outcomes[name] = Outcome(self.ctx.status.create_node(
                    task_node_name, node_type, template_name=task["template"], boundary_id=dag_node.id,
                    parents=dep_parents, phase=phase, message=message,
                ))

            expr = exprs[name]
            if expr is not None and not expr.evaluate(lambda dep, result: task_result(outcomes[dep], result)):
                settle(SKIPPED_TYPE, OMITTED, "omitted: depends condition not met")
                return
            scope, art_scope = outcome_scope("tasks", {a: outcomes[a] for a in lineage[name]})
            scope = {**self.ctx.globals.values(call.exit_handler), **scope}
            art_scope = {**self.ctx.globals.artifacts(), **input_arts, **art_scope}
            resolved = substitute(task, scope)
            try:
                items = loop_items(resolved, path)
            except NodeFailure as exc:
                settle(SKIPPED_TYPE, exc.phase, str(exc))
                return
            if items is None:
                pool.submit(
                    partial(self.invoker.unit, call, dag_node.id, path, resolved, task_node_name, dep_parents, art_scope),
                    partial(finish_unit, name, 0),
                    partial(finish_unit, name, 0, _DROPPED),
                )
                return
            if not items:
                settle(SKIPPED_TYPE, SKIPPED, "Skipped, empty params")
                return
            group = self.ctx.status.create_node(
                task_node_name, TASK_GROUP, template_name=task["template"], boundary_id=dag_node.id, parents=dep_parents
            )
            groups[name] = (group, [None] * len(items))
            body = {k: v for k, v in resolved.items() if k not in LOOP_FIELDS}
            for index, item in enumerate(items):
                unit = substitute(body, item_scope(item))
                pool.submit(
                    partial(
                        self.invoker.unit, call, dag_node.id, path, unit, f"{task_node_name}({index}:{item_label(item)})",
                        [group.id], art_scope,
                    ),
                    partial(finish_unit, name, index),
                    partial(finish_unit, name, index, _DROPPED),
                )

        started: set[str] = set()
        with pool.cond:
            while True:
                progressed = False
                if halted(call) is None and not stopped():
                    for name in order:
                        if name not in started and all(dep in outcomes for dep in deps[name]):
                            started.add(name)
                            progressed = True
                            start(name)
                if not progressed:
                    if pool.idle():
                        break
                    pool.cond.wait()

        dag_node.outbound_nodes = [out for leaf in leaves if leaf in outcomes for out in self.ctx.status.outbound(outcomes[leaf].node.id)]
        if template.get("failFast") is True and self._failed_children(dag_node):
            return FAILED, FAIL_FAST_MESSAGE
        if len(outcomes) < len(order):
            stopped_by = halted(call)
            fast = self._failing_fast(dag_node, outcomes, continue_on) if stopped_by is None else None
            if fast is not None:  # failFast kept the rest from starting: the DAG fails as Argo's would
                return fast, self._first_failure(dag_node)
            return FAILED, stopped_by or "Stopped"
        phase = self._assess_dag(dag_node, {outcomes[leaf].node.id: continue_on[leaf] for leaf in leaves})
        if phase != SUCCEEDED:
            return phase, self._first_failure(dag_node)
        scope, art_scope = outcome_scope("tasks", outcomes)
        self.invoker.template_outputs(call, template, {**self.ctx.globals.values(call.exit_handler), **bound.scope(), **scope}, dag_node, art_scope)
        return SUCCEEDED, ""

    def _failing_fast(self, dag_node: Node, outcomes: dict[str, Outcome], continue_on: dict[str, dict[str, Any]]) -> str | None:
        """The DAG's phase when its failure is already certain: a target (leaf) task that has
        finished, or was skipped or omitted, on a branch that failed without continueOn. That
        is the documented failFast contract (DAGTemplate.failFast: "stop scheduling new steps
        as soon as it detects that one of the DAG nodes is failed"), read so that a failure a
        `.Failed` successor handles does not count. Argo's controller applies it only once no
        task is running (argoproj/argo-workflows#5223), so a cluster may still start a task whose
        dependencies complete meanwhile; locally the rule is applied at once, deterministically."""
        targets = {
            outcomes[leaf].node.id: flags for leaf, flags in continue_on.items()
            if leaf in outcomes and outcomes[leaf].node.fulfilled
        }
        if not targets:
            return None
        phase = self._assess_dag(dag_node, targets)
        return None if phase == SUCCEEDED else phase

    def _failed_children(self, boundary: Node) -> bool:
        """Argo's getUnsuccessfulChildren > 0: a Pod, Steps or DAG node inside this template
        that Failed or Errored (template-level `failFast: true`)."""
        return any(
            node.boundary_id == boundary.id and node.type in (POD, STEPS, DAG) and node.phase in (FAILED, ERROR)
            for node in self.ctx.status.snapshot()
        )

    def _assess_dag(self, dag_node: Node, targets: dict[str, dict[str, Any]]) -> str:
        """Argo's assessDAGPhase: walk the graph from the DAG's roots carrying each branch's last
        completed phase; omitted and skipped nodes inherit it; a target (leaf task) whose branch
        failed fails the DAG, so a failure handled by a `.Failed` successor does not."""
        branch_of: dict[str, str] = {target: "" for target in targets}
        queue = deque((child, SUCCEEDED) for child in self.ctx.status.get(dag_node.id).children)
        seen: set[tuple[str, str]] = set()
        while queue:
            node_id_, branch = queue.popleft()
            if (node_id_, branch) in seen:
                continue
            seen.add((node_id_, branch))
            node = self.ctx.status.get(node_id_)
            if node.phase in COMPLETED:
                branch = node.phase
            if node_id_ in branch_of and branch_of[node_id_] not in (FAILED, ERROR):
                branch_of[node_id_] = branch
            children = node.children
            if node.type == RETRY and node.children:
                children = self.ctx.status.get(node.children[-1]).children
            queue.extend((child, branch) for child in children)
        for target, continue_on in targets.items():
            if branch_of[target] in (FAILED, ERROR) and not continues(continue_on, branch_of[target]):
                return branch_of[target]
        return SUCCEEDED

    def _first_failure(self, parent: Node) -> str:
        """Argo's "child '<node>' failed", naming the earliest failed node inside this boundary."""
        failed = [
            node for node in self.ctx.status.snapshot()
            if node.boundary_id == parent.id and node.phase in (FAILED, ERROR) and node.type not in (TASK_GROUP, RETRY)
        ]
        if not failed:
            return ""
        first = min(failed, key=lambda node: node.finished_at or node.started_at)
        return f"child '{first.name}' failed"

    # --- steps ---------------------------------------------------------------------------------------

    def run_steps(self, call: Call, template: dict[str, Any], bound: Bound, node_name: str, parents: list[str]) -> Node:
        steps_node = self.ctx.status.create_node(
            node_name, STEPS, template_name=call.template, boundary_id=call.boundary_id, parents=parents
        )
        steps_node.inputs = bound.to_json()
        try:
            phase, message = self._steps_body(call, template, bound, steps_node)
        except NodeFailure as exc:
            phase, message = exc.phase, str(exc)
        except Exception as exc:
            phase, message = ERROR, f"executor error: {exc!r}"
        return self.ctx.status.finish_node(steps_node, phase, message)

    def _steps_body(self, call: Call, template: dict[str, Any], bound: Bound, steps_node: Node) -> tuple[str, str]:
        outcomes: dict[str, Outcome] = {}
        previous: list[str] | None = None
        input_arts = {f"inputs.artifacts.{k}": v for k, v in bound.artifacts.items() if v}
        for index, group in enumerate(template["steps"]):
            stopped_by = halted(call)
            if stopped_by is not None:
                return FAILED, stopped_by
            group_name = f"{steps_node.name}[{index}]"
            group_node = self.ctx.status.create_node(
                group_name, STEP_GROUP, template_name=call.template, boundary_id=steps_node.id,
                parents=previous or [steps_node.id],
            )
            scope, art_scope = outcome_scope("steps", outcomes)
            scope = {**self.ctx.globals.values(call.exit_handler), **scope}
            art_scope = {**self.ctx.globals.artifacts(), **input_arts, **art_scope}
            results, looped = self._run_step_group(call, template, index, group, steps_node, group_node, scope, art_scope)
            if template.get("failFast") is True and self._failed_children(steps_node):
                self.ctx.status.finish_node(group_node, FAILED)
                for name, group_nodes in results.items():
                    done = [node for node in group_nodes if node is not None]
                    if done:
                        outcomes[name] = Outcome(done[0], done if looped[name] else None)
                return FAILED, FAIL_FAST_MESSAGE
            continue_on = {step["name"]: step.get("continueOn") or {} for step in group}
            nodes = [node for group_nodes in results.values() for node in group_nodes if node is not None]
            failed = [
                node
                for name, group_nodes in results.items()
                for node in group_nodes
                if node is not None and node.phase in (FAILED, ERROR) and not continues(continue_on[name], node.phase)
            ]
            self.ctx.status.finish_node(group_node, failed[0].phase if failed else SUCCEEDED)
            for name, group_nodes in results.items():
                done = [node for node in group_nodes if node is not None]
                outcomes[name] = Outcome(done[0], done if looped[name] else None)
            previous = [out for node in nodes for out in self.ctx.status.outbound(node.id)] or [group_node.id]
            steps_node.outbound_nodes = list(previous)
            if failed:
                return failed[0].phase, f"child '{failed[0].name}' failed"
        scope, art_scope = outcome_scope("steps", outcomes)
        self.invoker.template_outputs(call, template, {**self.ctx.globals.values(call.exit_handler), **bound.scope(), **scope}, steps_node, art_scope)
        return SUCCEEDED, ""

    def _run_step_group(
        self,
        call: Call,
        template: dict[str, Any],
        index: int,
        group: list[dict[str, Any]],
        steps_node: Node,
        group_node: Node,
        scope: dict[str, str],
        art_scope: dict[str, dict[str, Any]],
    ) -> tuple[dict[str, list[Node | None]], dict[str, bool]]:
        """Start every step of one group (loops expanded) in parallel, up to the template's
        parallelism, and wait for all: the nodes per step, and which steps were loops."""
        # Template-level failFast: once a child failed, queued items are not started.
        pool = WorkPool(
            template.get("parallelism"),
            closed=lambda: template.get("failFast") is True and self._failed_children(steps_node),
        )
        results: dict[str, list[Node | None]] = {}
        looped: dict[str, bool] = {}

        def record(step_name: str, position: int, node: Node) -> None:
            results[step_name][position] = node

        def settle(step: dict[str, Any], node_name: str, phase: str, message: str) -> None:
            results[step["name"]] = [self.ctx.status.create_node(
                node_name, SKIPPED_TYPE, template_name=step["template"], boundary_id=steps_node.id,
                parents=[group_node.id], phase=phase, message=message,
            )]
            looped[step["name"]] = False

        with pool.cond:
            for step in group:
                name = step["name"]
                path = f"templates[{call.template}].steps[{index}][{name}]"
                step_node_name = f"{group_node.name}.{name}"
                resolved = substitute(step, scope)
                try:
                    items = loop_items(resolved, path)
                except NodeFailure as exc:
                    settle(step, step_node_name, exc.phase, str(exc))
                    continue
                if items is not None and not items:
                    settle(step, step_node_name, SKIPPED, "Skipped, empty params")
                    continue
                looped[name] = items is not None
                if items is None:
                    results[name] = [None]
                    pool.submit(
                        partial(self.invoker.unit, call, steps_node.id, path, resolved, step_node_name, [group_node.id], art_scope),
                        partial(record, name, 0),
                    )
                    continue
                results[name] = [None] * len(items)
                body = {k: v for k, v in resolved.items() if k not in LOOP_FIELDS}
                for position, item in enumerate(items):
                    pool.submit(
                        partial(
                            self.invoker.unit, call, steps_node.id, path, substitute(body, item_scope(item)),
                            f"{step_node_name}({position}:{item_label(item)})", [group_node.id], art_scope,
                        ),
                        partial(record, name, position),
                    )
            while not pool.idle():
                pool.cond.wait()
        return results, looped
