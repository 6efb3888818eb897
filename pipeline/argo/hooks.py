"""Lifecycle hooks (Argo's `hooks`, and a step's or task's `onExit`), run where Argo runs them.

- `exit` hooks (and `onExit`): after the step/task (or the workflow) completes, whatever its
  phase; a step's exit hook sees that step's outputs (`steps.<name>.outputs...`) in its
  arguments. The step counts as done only once its exit hook is done; the hook's own phase does
  not change the step's (Argo's executeStepGroup/executeDAGTask). The workflow's exit hook is
  its exit handler (`spec.hooks.exit`, else `spec.onExit`).
- named hooks with an `expression`: Argo evaluates them on every reconcile while the node runs
  and starts each at most once when it turns true. Locally they are evaluated when the node
  starts (its `status` is Running; such a hook runs alongside it) and when it has finished
  (its final phase). A change in between that turns back (e.g. to Running and out again) is
  therefore seen only at those two points: the evaluation is deterministic instead.

Hook nodes are named as Argo names them: `<node>.onExit` for exit hooks, `<node>.hooks.<name>`
for the others.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from pipeline.argo import exprlang
from pipeline.argo.expressions import ExpressionError, substitute
from pipeline.argo.runtime import Call, Invoker, NodeFailure, Outcome, RunContext
from pipeline.argo.scopes import outcome_scope
from pipeline.argo.status import ERROR, RUNNING, SKIPPED_TYPE, Node


def exit_hook(site: dict[str, Any]) -> dict[str, Any] | None:
    """A call site's exit hook: `hooks.exit`, else the older `onExit: <template>`."""
    hooks = site.get("hooks") or {}
    if "exit" in hooks:
        return hooks["exit"]
    if isinstance(site.get("onExit"), str):
        return {"template": site["onExit"]}
    return None


def expression_hooks(site: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: hook for name, hook in (site.get("hooks") or {}).items() if name != "exit"}


class HookRunner:
    """Fires one node's (or the workflow's) hooks. `run_hook(name, hook, node_name, scope,
    parents)` executes a hook's template and returns its node."""

    def __init__(self, hooks: dict[str, dict[str, Any]], run_hook: Callable[[str, dict[str, Any], str, dict[str, str]], Node], node_name: str) -> None:
        self.hooks = hooks
        self.run_hook = run_hook
        self.node_name = node_name
        self.fired: set[str] = set()
        self.threads: list[threading.Thread] = []

    def check(self, scope: dict[str, str], *, background: bool) -> None:
        for name, hook in self.hooks.items():
            if name in self.fired:
                continue
            try:
                verdict = exprlang.evaluate(str(hook.get("expression", "false")), scope)
            except ExpressionError:
                verdict = False  # e.g. a variable not defined yet: Argo waits for the next reconcile
            if verdict is not True:
                continue
            self.fired.add(name)
            node_name = f"{self.node_name}.hooks.{name}"
            if background:
                thread = threading.Thread(target=self.run_hook, args=(name, hook, node_name, scope), daemon=True)
                thread.start()
                self.threads.append(thread)
            else:
                self.run_hook(name, hook, node_name, scope)

    def join(self) -> None:
        for thread in self.threads:
            thread.join()


class Hooks:
    """Hooks around DAG tasks and steps (`around_unit`), and one hook's run (`run_hook`, also
    for the workflow's hooks); hook templates run through the `Invoker`."""

    def __init__(self, ctx: RunContext, invoker: Invoker) -> None:
        self.ctx = ctx
        self.invoker = invoker

    def around_unit(
        self, call: Call, boundary_id: str, path: str, task: dict[str, Any], node_name: str, parents: list[str],
        art_scope: dict[str, dict[str, Any]], prefix: str, run: Callable[[], Node],
    ) -> Node:
        name = task["name"]
        named = expression_hooks(task)
        runner = HookRunner(
            named,
            lambda hook_name, hook, hook_node_name, scope: self.run_hook(
                call, boundary_id, f"{path}.hooks.{hook_name}", hook, hook_node_name, [boundary_id], scope, art_scope
            ),
            node_name,
        )
        globals_ = self.ctx.globals.values(call.exit_handler)
        if named:
            runner.check({**globals_, f"{prefix}.{name}.status": RUNNING}, background=True)
        node = run()
        scope, arts = outcome_scope(prefix, {name: Outcome(node)})
        scope = {**globals_, **scope}
        if named:
            runner.check(scope, background=False)
            runner.join()
        hook = exit_hook(task)
        if hook is not None:
            self.run_hook(call, boundary_id, f"{path}.hooks.exit", hook, f"{node_name}.onExit", [node.id], scope, {**art_scope, **arts})
        return node

    def run_hook(
        self, call: Call, boundary_id: str | None, path: str, hook: dict[str, Any], node_name: str, parents: list[str],
        scope: dict[str, str], art_scope: dict[str, dict[str, Any]],
    ) -> Node:
        try:
            resolved = substitute({k: v for k, v in hook.items() if k != "expression"}, scope)
            params, arts = self.invoker.arguments(resolved, art_scope, path)
        except (NodeFailure, ExpressionError) as exc:
            phase = exc.phase if isinstance(exc, NodeFailure) else ERROR
            return self.ctx.status.create_node(
                node_name, SKIPPED_TYPE, template_name=hook["template"], boundary_id=boundary_id, parents=parents,
                phase=phase, message=str(exc),
            )
        return self.invoker.execute(
            Call(hook["template"], node_name, params, arts, boundary_id, parents, call.deadlines, call.stop, call.exit_handler)
        )
