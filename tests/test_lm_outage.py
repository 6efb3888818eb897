"""An LM that goes away: `train` gives up with exit 4 instead of letting an optimizer swallow
every failed call for hours (issue 8, defect 2), and `predict` leaves no partial or empty
output behind (defect 8). The LM is a real HTTP endpoint speaking OpenAI's chat API that stops
answering after a few requests."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.config import LMSpec, PipelineConfig, StorageConfig
from pipeline.errors import LMUnavailableError
from pipeline.stages import predict, train
from pipeline.run.context import StageContext
from pipeline.storage import open_store
from tests.openai_server import dying_lm
from tests.test_stages import QUERIES, commit_harvest


def _config(tmp_path: Path, url: str) -> PipelineConfig:
    config = PipelineConfig(storage=StorageConfig(url=f"file://{tmp_path / 'store'}"))
    config.llm.primary = LMSpec(model="openai/fake-router", api_base=url, num_retries=0, timeout_s=5)
    return config


@pytest.mark.parametrize("optimizer", ["SIMBA", "adaptive"])
def test_train_fails_fast_with_exit_4_when_the_lm_dies_mid_compile(tmp_path: Path, optimizer: str) -> None:
    with dying_lm(answers_before_dying=4) as lm:
        config = _config(tmp_path, lm["url"])
        ctx = StageContext(config=config, store=open_store(config.storage), tenant="acme", run_id="r1")
        commit_harvest(ctx, QUERIES[:40])
        started = time.monotonic()
        with pytest.raises(LMUnavailableError, match="unreachable|unavailable"):
            train.run(ctx, train.TrainInputs(target="routing", optimizer=optimizer, max_iterations=4))
        assert time.monotonic() - started < 120
        assert lm["served"] == 4  # it did start compiling before the LM went away
    assert ctx.output(train.STAGE, "routing").committed() is None  # nothing committed: a retry starts clean


def test_train_cli_exit_code_is_4_for_an_lm_that_is_gone(tmp_path: Path) -> None:
    with dying_lm(answers_before_dying=1) as lm:
        config = _config(tmp_path, lm["url"])
        path = tmp_path / "config.json"
        path.write_text(json.dumps(config.model_dump(mode="json")))
        ctx = StageContext(config=config, store=open_store(config.storage), tenant="acme", run_id="r1")
        commit_harvest(ctx, QUERIES[:40])
        code = main(["train", "--config", str(path), "--tenant", "acme", "--run-id", "r1", "--target", "routing"])
    assert code == 4


def test_predict_leaves_nothing_behind_when_the_lm_is_unreachable(tmp_path: Path) -> None:
    with dying_lm(answers_before_dying=1) as lm:
        url = lm["url"]
    config = _config(tmp_path, url)  # the server is gone: connection refused from the first call
    queries = tmp_path / "in.jsonl"
    queries.write_text(json.dumps({"query": "show me goals"}) + "\n")
    out = tmp_path / "out.jsonl"
    with pytest.raises(LMUnavailableError):
        predict.run(config, open_store(config.storage), predict.PredictInputs(
            tenant="acme", target="routing", input_path=str(queries), output_path=str(out), version="unoptimized"))
    assert list(tmp_path.glob("out.jsonl*")) == []  # neither the answers nor an empty .partial file
