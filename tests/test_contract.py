"""pipeline.contract is the one declaration of the stage order and the run parameters' defaults:
the CLI, `batch`, the stages' inputs and the Hera definitions read it (the WorkflowTemplate's
order: tests/argo/test_workflows.py)."""

from __future__ import annotations

from pipeline import batch, contract, layout
from pipeline.cli import build_parser
from pipeline.run.harvest import HarvestInputs
from pipeline.run.maintenance import MaintenanceInputs
from pipeline.run.train import TrainInputs
from workflows import common


def test_batch_runs_the_stages_in_the_contract_order():
    assert tuple(batch._BEFORE_TARGETS) == contract.BEFORE_TARGETS
    assert tuple(batch._PER_TARGET) == contract.PER_TARGET
    assert tuple(batch._AFTER_TARGETS) == contract.AFTER_TARGETS
    assert set(layout.STAGES) == {*contract.STAGE_ORDER, layout.RUN_FOLDER}


def defaults(command: str) -> dict:
    parser = build_parser()
    sub = next(a for a in parser._subparsers._group_actions if a.dest == "command").choices[command]
    return {a.dest: a.default for a in sub._actions}


def test_the_cli_the_stages_and_the_workflows_share_the_defaults():
    assert defaults("harvest")["lookback_hours"] == HarvestInputs().lookback_hours == contract.LOOKBACK_HOURS
    assert defaults("harvest")["min_confidence"] == HarvestInputs().min_confidence == contract.MIN_CONFIDENCE
    assert defaults("train")["max_iterations"] == TrainInputs(target="routing").max_iterations == contract.MAX_ITERATIONS
    assert defaults("batch")["max_iterations"] == batch.BatchInputs().max_iterations == contract.MAX_ITERATIONS
    assert defaults("batch")["lookback_hours"] == batch.BatchInputs().lookback_hours == contract.LOOKBACK_HOURS
    assert defaults("maintenance")["retention_days"] == MaintenanceInputs().retention_days == contract.RETENTION_DAYS
    workflow = {p.name: p.default for p in common.PARAMETERS}
    assert workflow["lookback-hours"] == contract.parameter_text(contract.LOOKBACK_HOURS) == "24"
    assert workflow["min-confidence"] == "0.7" and workflow["max-iterations"] == "100"
    assert workflow["improvement-threshold"] == contract.parameter_text(contract.IMPROVEMENT_THRESHOLD_PCT) == "5"
