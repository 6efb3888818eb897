"""DAG and steps templates: scheduling tasks and steps on threads as their dependencies allow,
and deciding the phase of the whole the way Argo does."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

from pipeline.argo.expressions import item_label, item_scope, substitute
from pipeline.argo.runtime import Bound, Call, NodeFailure, Outcome, continues
from pipeline.argo.scopes import LOOP_FIELDS, ancestors, loop_items, outcome_scope, task_result
from pipeline.argo.status import (
    COMPLETED,
    DAG,
    ERROR,
    FAILED,
    OMITTED,
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
    """Runs work on threads, at most `limit` at once; `done` runs under `cond` with the result."""

    limit: int | None
    cond: threading.Condition = field(default_factory=threading.Condition)
    queue: deque[tuple[Callable[[], Node], Callable[[Node], None]]] = field(default_factory=deque)
    running: int = 0

    def submit(self, work: Callable[[], Node], done: Callable[[Node], None]) -> None:
        """Call with `cond` held."""
        self.queue.append((work, done))
        self._launch()

    def idle(self) -> bool:
        return self.running == 0 and not self.queue

    def _launch(self) -> None:
        while self.queue and (not self.limit or self.running < self.limit):
            work, done = self.queue.popleft()
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


class GraphMixin:
    """The DAG and steps half of the Executor (pipeline.argo.executor)."""

    # --- DAG -----------------------------------------------------------------------------------------

    def _run_dag(self, call: Call, template: dict[str, Any], bound: Bound, node_name: str, parents: list[str]) -> Node:
        dag_node = self.status.create_node(
            node_name, DAG, template_name=call.template, boundary_id=call.boundary_id, parents=parents
        )
        dag_node.inputs = bound.to_json()
        try:
            phase, message = self._dag_body(call, template, bound, dag_node)
        except NodeFailure as exc:
            phase, message = exc.phase, str(exc)
        except Exception as exc:
            phase, message = ERROR, f"executor error: {exc!r}"
        return self.status.finish_node(dag_node, phase, message)

    def _dag_body(self, call: Call, template: dict[str, Any], bound: Bound, dag_node: Node) -> tuple[str, str]:
        tasks = template["dag"]["tasks"]
        order = [task["name"] for task in tasks]
        by_name = {task["name"]: task for task in tasks}
        exprs = {name: self.wf.depends.get((call.template, name)) for name in order}
        deps = {name: (exprs[name].tasks() if exprs[name] else []) for name in order}
        lineage = {name: ancestors(name, deps) for name in order}
        leaves = sorted(set(order) - {dep for names in deps.values() for dep in names})
        outcomes: dict[str, Outcome] = {}
        groups: dict[str, tuple[Node, list[Node | None]]] = {}
        pool = WorkPool(template.get("parallelism"))
        input_arts = {f"inputs.artifacts.{k}": v for k, v in bound.artifacts.items() if v}

        def finish_unit(task_name: str, index: int, node: Node) -> None:
            if task_name not in groups:
                outcomes[task_name] = Outcome(node)
                return
            group, units = groups[task_name]
            units[index] = node
            if all(unit is not None for unit in units):
                done = [unit for unit in units if unit is not None]
                phase = SUCCEEDED
                for unit in done:
                    if unit.phase in (FAILED, ERROR):
                        phase = unit.phase
                self.status.finish_node(group, phase)
                outcomes[task_name] = Outcome(group, done)

        def start(name: str) -> None:
            task = by_name[name]
            path = f"templates[{call.template}].dag.tasks[{name}]"
            task_node_name = f"{dag_node.name}.{name}"
            dep_parents: list[str] = []
            for dep in deps[name]:
                for out in self.status.outbound(outcomes[dep].node.id):
                    if out not in dep_parents:
                        dep_parents.append(out)
            dep_parents = dep_parents or [dag_node.id]

            def settle(node_type: str, phase: str, message: str) -> None:
                outcomes[name] = Outcome(self.status.create_node(
                    task_node_name, node_type, template_name=task["template"], boundary_id=dag_node.id,
                    parents=dep_parents, phase=phase, message=message,
                ))

            expr = exprs[name]
            if expr is not None and not expr.evaluate(lambda dep, result: task_result(outcomes[dep], result)):
                settle(SKIPPED_TYPE, OMITTED, "omitted: depends condition not met")
                return
            scope, art_scope = outcome_scope("tasks", {a: outcomes[a] for a in lineage[name]})
            scope = {**self._globals(call.exit_handler), **scope}
            art_scope = {**self._global_artifacts(), **input_arts, **art_scope}
            resolved = substitute(task, scope)
            try:
                items = loop_items(resolved, path)
            except NodeFailure as exc:
                settle(SKIPPED_TYPE, exc.phase, str(exc))
                return
            if items is None:
                pool.submit(
                    partial(self._unit, call, dag_node.id, path, resolved, task_node_name, dep_parents, art_scope),
                    partial(finish_unit, name, 0),
                )
                return
            if not items:
                settle(SKIPPED_TYPE, SKIPPED, "Skipped, empty params")
                return
            group = self.status.create_node(
                task_node_name, TASK_GROUP, template_name=task["template"], boundary_id=dag_node.id, parents=dep_parents
            )
            groups[name] = (group, [None] * len(items))
            body = {k: v for k, v in resolved.items() if k not in LOOP_FIELDS}
            for index, item in enumerate(items):
                unit = substitute(body, item_scope(item))
                pool.submit(
                    partial(
                        self._unit, call, dag_node.id, path, unit, f"{task_node_name}({index}:{item_label(item)})",
                        [group.id], art_scope,
                    ),
                    partial(finish_unit, name, index),
                )

        started: set[str] = set()
        with pool.cond:
            while True:
                progressed = False
                if self._halted(call) is None:
                    for name in order:
                        if name not in started and all(dep in outcomes for dep in deps[name]):
                            started.add(name)
                            progressed = True
                            start(name)
                if not progressed:
                    if pool.idle():
                        break
                    pool.cond.wait()

        dag_node.outbound_nodes = [out for leaf in leaves if leaf in outcomes for out in self.status.outbound(outcomes[leaf].node.id)]
        if len(outcomes) < len(order):  # a deadline or stop prevented the rest from starting
            return FAILED, self._halted(call) or "Stopped"
        phase = self._assess_dag(dag_node, {outcomes[leaf].node.id: by_name[leaf].get("continueOn") or {} for leaf in leaves})
        if phase != SUCCEEDED:
            return phase, self._first_failure(dag_node)
        scope, art_scope = outcome_scope("tasks", outcomes)
        self._template_outputs(call, template, {**self._globals(call.exit_handler), **scope}, dag_node)
        return SUCCEEDED, ""

    def _assess_dag(self, dag_node: Node, targets: dict[str, dict[str, Any]]) -> str:
        """Argo's assessDAGPhase: walk the graph from the DAG's roots carrying each branch's last
        completed phase; omitted and skipped nodes inherit it; a target (leaf task) whose branch
        failed fails the DAG, so a failure handled by a `.Failed` successor does not."""
        branch_of: dict[str, str] = {target: "" for target in targets}
        queue = deque((child, SUCCEEDED) for child in self.status.get(dag_node.id).children)
        seen: set[tuple[str, str]] = set()
        while queue:
            node_id_, branch = queue.popleft()
            if (node_id_, branch) in seen:
                continue
            seen.add((node_id_, branch))
            node = self.status.get(node_id_)
            if node.phase in COMPLETED:
                branch = node.phase
            if node_id_ in branch_of and branch_of[node_id_] not in (FAILED, ERROR):
                branch_of[node_id_] = branch
            children = node.children
            if node.type == RETRY and node.children:
                children = self.status.get(node.children[-1]).children
            queue.extend((child, branch) for child in children)
        for target, continue_on in targets.items():
            if branch_of[target] in (FAILED, ERROR) and not continues(continue_on, branch_of[target]):
                return branch_of[target]
        return SUCCEEDED

    def _first_failure(self, parent: Node) -> str:
        """Argo's "child '<node>' failed", naming the earliest failed node inside this boundary."""
        failed = [
            node for node in self.status.snapshot()
            if node.boundary_id == parent.id and node.phase in (FAILED, ERROR) and node.type not in (TASK_GROUP, RETRY)
        ]
        if not failed:
            return ""
        first = min(failed, key=lambda node: node.finished_at or node.started_at)
        return f"child '{first.name}' failed"

    # --- steps ---------------------------------------------------------------------------------------

    def _run_steps(self, call: Call, template: dict[str, Any], bound: Bound, node_name: str, parents: list[str]) -> Node:
        steps_node = self.status.create_node(
            node_name, STEPS, template_name=call.template, boundary_id=call.boundary_id, parents=parents
        )
        steps_node.inputs = bound.to_json()
        try:
            phase, message = self._steps_body(call, template, bound, steps_node)
        except NodeFailure as exc:
            phase, message = exc.phase, str(exc)
        except Exception as exc:
            phase, message = ERROR, f"executor error: {exc!r}"
        return self.status.finish_node(steps_node, phase, message)

    def _steps_body(self, call: Call, template: dict[str, Any], bound: Bound, steps_node: Node) -> tuple[str, str]:
        outcomes: dict[str, Outcome] = {}
        previous: list[str] | None = None
        input_arts = {f"inputs.artifacts.{k}": v for k, v in bound.artifacts.items() if v}
        for index, group in enumerate(template["steps"]):
            halted = self._halted(call)
            if halted is not None:
                return FAILED, halted
            group_name = f"{steps_node.name}[{index}]"
            group_node = self.status.create_node(
                group_name, STEP_GROUP, template_name=call.template, boundary_id=steps_node.id,
                parents=previous or [steps_node.id],
            )
            scope, art_scope = outcome_scope("steps", outcomes)
            scope = {**self._globals(call.exit_handler), **scope}
            art_scope = {**self._global_artifacts(), **input_arts, **art_scope}
            results, looped = self._run_step_group(call, template, index, group, steps_node, group_node, scope, art_scope)
            continue_on = {step["name"]: step.get("continueOn") or {} for step in group}
            nodes = [node for group_nodes in results.values() for node in group_nodes if node is not None]
            failed = [
                node
                for name, group_nodes in results.items()
                for node in group_nodes
                if node is not None and node.phase in (FAILED, ERROR) and not continues(continue_on[name], node.phase)
            ]
            self.status.finish_node(group_node, failed[0].phase if failed else SUCCEEDED)
            for name, group_nodes in results.items():
                done = [node for node in group_nodes if node is not None]
                outcomes[name] = Outcome(done[0], done if looped[name] else None)
            previous = [out for node in nodes for out in self.status.outbound(node.id)] or [group_node.id]
            steps_node.outbound_nodes = list(previous)
            if failed:
                return failed[0].phase, f"child '{failed[0].name}' failed"
        scope, _ = outcome_scope("steps", outcomes)
        self._template_outputs(call, template, {**self._globals(call.exit_handler), **scope}, steps_node)
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
        pool = WorkPool(template.get("parallelism"))
        results: dict[str, list[Node | None]] = {}
        looped: dict[str, bool] = {}

        def record(step_name: str, position: int, node: Node) -> None:
            results[step_name][position] = node

        def settle(step: dict[str, Any], node_name: str, phase: str, message: str) -> None:
            results[step["name"]] = [self.status.create_node(
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
                        partial(self._unit, call, steps_node.id, path, resolved, step_node_name, [group_node.id], art_scope),
                        partial(record, name, 0),
                    )
                    continue
                results[name] = [None] * len(items)
                body = {k: v for k, v in resolved.items() if k not in LOOP_FIELDS}
                for position, item in enumerate(items):
                    pool.submit(
                        partial(
                            self._unit, call, steps_node.id, path, substitute(body, item_scope(item)),
                            f"{step_node_name}({position}:{item_label(item)})", [group_node.id], art_scope,
                        ),
                        partial(record, name, position),
                    )
            while not pool.idle():
                pool.cond.wait()
        return results, looped
