"""gate on both stores: idempotent across a kill between the swap and its result commit, and a
lost race is exit 6 (committed first, and not a code Argo retries)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline import promotion
from pipeline.cli import main
from pipeline.config import PipelineConfig
from pipeline.metrics import mcnemar_one_sided, relative_improvement, score_predictions
from pipeline.stages import evaluate, gate
from pipeline.run.context import StageContext, StageOutput
from pipeline.storage import ObjectStore

TENANT, TARGET = "acme", "routing"
N = 40
AGENTS = ("video_search_agent", "document_agent")


def context(store: ObjectStore, run_id: str) -> StageContext:
    config = PipelineConfig(storage=store.config)
    return StageContext(config=config, store=store, tenant=TENANT, run_id=run_id)


def commit_evaluation(ctx: StageContext, *, right: int = N, baseline_right: int = N // 2) -> evaluate.EvaluateResult:
    """A committed train artifact and a held-out evaluation in which the candidate beats the
    baseline (production as it is now, or the unoptimized program) clearly."""
    prefix = ctx.output("train", TARGET).prefix
    ctx.store.put_json_new(f"{prefix}/program.json", {"run": ctx.run_id})
    pointer = promotion.current(ctx.store, TENANT, TARGET)
    gold = [AGENTS[i % 2] for i in range(N)]
    wrong = {AGENTS[0]: AGENTS[1], AGENTS[1]: AGENTS[0]}
    cand = [g if i < right else wrong[g] for i, g in enumerate(gold)]
    base = [g if i < baseline_right else wrong[g] for i, g in enumerate(gold)]
    cm = score_predictions(gold, cand, [0.9] * N, [0.01] * N)
    bm = score_predictions(gold, base, [0.9] * N, [0.01] * N)
    improvement, basis = relative_improvement(cm.accuracy, bm.accuracy)
    baseline = (
        evaluate.ProgramRef(kind="unoptimized", label="unoptimized", artifact_prefix=None)
        if pointer is None
        else evaluate.ProgramRef(kind="production", label=f"production v{pointer.sequence}", artifact_prefix=pointer.artifact_prefix, sequence=pointer.sequence)
    )
    result = evaluate.EvaluateResult(
        status="ok", target=TARGET, dataset="held-out", n=N,
        candidate=evaluate.ProgramRef(kind="run", label=f"candidate (run {ctx.run_id})", artifact_prefix=prefix),
        baseline=baseline, candidate_metrics=cm, baseline_metrics=bm, improvement_pct=improvement, improvement_basis=basis,
        paired_test=mcnemar_one_sided([c == g for c, g in zip(cand, gold)], [b == g for b, g in zip(base, gold)]),
    )
    ctx.output(evaluate.STAGE, TARGET).commit(result)
    return result


class Killed(BaseException):
    """The pod's SIGKILL: nothing after it runs, no `except Exception` catches it."""


def kill_the_gate_at_its_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    real_commit = StageOutput.commit

    def killed_at_commit(self: StageOutput, result: object) -> None:
        if self.prefix.endswith(f"/gate/{TARGET}"):
            raise Killed
        real_commit(self, result)

    monkeypatch.setattr(StageOutput, "commit", killed_at_commit)


def test_a_gate_killed_after_the_swap_recognises_its_own_promotion(store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = context(store, "r1")
    commit_evaluation(ctx)
    kill_the_gate_at_its_commit(monkeypatch)
    with pytest.raises(Killed):
        gate.run(ctx, gate.GateInputs(target=TARGET))
    serving = promotion.current(store, TENANT, TARGET)
    assert serving is not None and serving.run_id == "r1"  # the swap landed, the result did not
    assert ctx.output(gate.STAGE, TARGET).committed() is None

    monkeypatch.undo()
    retried = gate.run(ctx, gate.GateInputs(target=TARGET))  # Argo's retry of the gate pod
    assert (retried.decision, retried.deployed, retried.production_sequence) == ("promoted", True, serving.sequence)
    assert retried.artifact_prefix == serving.artifact_prefix
    assert "earlier attempt" in retried.reasons[0]
    assert gate.GateResult.model_validate(ctx.output(gate.STAGE, TARGET).committed()) == retried
    assert promotion.current(store, TENANT, TARGET) == serving  # nothing promoted twice
    assert [p.sequence for p in promotion.history(store, TENANT, TARGET)] == [1]


def test_the_retry_still_says_promoted_when_production_moved_on_since(store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = context(store, "r1")
    commit_evaluation(ctx)
    kill_the_gate_at_its_commit(monkeypatch)
    with pytest.raises(Killed):
        gate.run(ctx, gate.GateInputs(target=TARGET))
    monkeypatch.undo()
    other = context(store, "r2")  # an operator's promotion between the kill and the retry
    prefix = other.output("train", TARGET).prefix
    store.put_json_new(f"{prefix}/program.json", {"run": "r2"})
    promotion.promote(store, TENANT, TARGET, artifact_prefix=prefix, run_id="r2", metrics={}, reason="manual", expected="read")
    retried = gate.run(ctx, gate.GateInputs(target=TARGET))
    assert (retried.decision, retried.deployed, retried.production_sequence) == ("promoted", True, 1)
    assert "since moved to v2" in retried.reasons[0]


def test_a_gate_that_lost_the_race_is_exit_6_and_commits_its_conflict(store: ObjectStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    loser = context(store, "r1")
    commit_evaluation(loser)  # evaluated against "nothing in production"
    winner = context(store, "r2")
    commit_evaluation(winner)
    assert gate.run(winner, gate.GateInputs(target=TARGET)).decision == "promoted"

    config = tmp_path / "config.json"
    config.write_text(json.dumps({"storage": json.loads(store.config.model_dump_json())}))
    outputs = tmp_path / "outputs"
    args = ["gate", "--config", str(config), "--tenant", TENANT, "--run-id", "r1", "--target", TARGET, "--outputs-dir", str(outputs)]
    assert main(args) == 6
    captured = capsys.readouterr()
    assert json.loads(captured.out)["decision"] == "conflict" and "conflict" in captured.err
    assert (outputs / "decision").read_text() == "conflict" and (outputs / "deployed").read_text() == "false"
    committed = loser.output(gate.STAGE, TARGET).committed()
    assert committed is not None and committed["decision"] == "conflict"  # the report shows it
    assert main(args) == 6  # a re-run answers the same, from the committed result
    assert promotion.current(store, TENANT, TARGET).run_id == "r2"
