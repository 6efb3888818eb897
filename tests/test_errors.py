"""One source for exit codes and what a retry can fix: the error classes. The workflows' retry
expression is generated from them, and every stage tells "LM unreachable" apart the same way."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dspy
import pytest
import yaml
from dspy.utils import DummyLM
from dspy.utils import exceptions as dspy_errors

from pipeline import errors
from pipeline.argo.exprlang import Expression as RetryExpression
from workflows import common, render

WORKFLOWS = Path(render.__file__).resolve().parent
CHART_FILES = WORKFLOWS.parent / "charts" / "cogniverse-optimization" / "files"


def test_every_unavailable_error_is_transient_and_nothing_else_is() -> None:
    for cls in errors.error_classes():
        assert cls.transient == issubclass(cls, errors.ServiceUnavailableError), cls
    assert errors.transient_exit_codes() == (3, 4, 5, 8, 9)


def test_an_exit_code_cannot_be_both_transient_and_permanent(monkeypatch: pytest.MonkeyPatch) -> None:
    # Exit 2 like ConfigError, but claiming a retry could fix it. Not a real subclass: a stray
    # PipelineError subclass would stay in __subclasses__ for later tests until collected.
    class Flaky:
        exit_code = 2
        transient = True

    real = errors.error_classes()
    monkeypatch.setattr(errors, "error_classes", lambda: [*real, Flaky])
    with pytest.raises(TypeError, match=r"\[2\]"):
        errors.transient_exit_codes()


def _retry_expressions(doc: object) -> list[str]:
    if isinstance(doc, dict):
        found = [doc["retryStrategy"]["expression"]] if isinstance(doc.get("retryStrategy"), dict) else []
        return found + [e for value in doc.values() for e in _retry_expressions(value)]
    if isinstance(doc, list):
        return [e for value in doc for e in _retry_expressions(value)]
    return []


@pytest.mark.parametrize("directory", [WORKFLOWS, CHART_FILES], ids=["workflows", "chart"])
def test_the_committed_workflows_retry_exactly_the_transient_exit_codes(directory: Path) -> None:
    expressions = [e for path in sorted(directory.glob("*.yaml")) for e in _retry_expressions(yaml.safe_load(path.read_text()))]
    assert expressions and set(expressions) == {common.retry_expression()}
    retry = RetryExpression(common.retry_expression())
    for code in range(0, 10):
        retried = retry.evaluate({"lastRetry": {"status": "Failed", "exitCode": str(code)}})
        assert retried == (code in errors.transient_exit_codes()), code  # 8 (Vespa) too; 6 (conflict) never
    assert retry.evaluate({"lastRetry": {"status": "Error", "exitCode": "-1"}})  # evicted pod


@pytest.mark.parametrize(
    "exc",
    [
        errors.LMUnavailableError("gone"),
        dspy_errors.LMTransportError("connection refused", model="openai/x"),
        dspy_errors.LMTimeoutError("timed out", model="openai/x"),
        dspy_errors.LMServerError("503", model="openai/x"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_lm_unreachable(exc: BaseException) -> None:
    assert errors.is_lm_unreachable(exc)


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("no JSON in the reply"),
        dspy_errors.AdapterParseError(adapter_name="ChatAdapter", signature=dspy.Signature("q -> a"), lm_response="?"),
        errors.ConfigError("bad"),
        errors.PhoenixUnavailableError("Phoenix, not the LM"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_not_lm_unreachable(exc: BaseException) -> None:
    assert not errors.is_lm_unreachable(exc)


def test_errors_do_not_import_dspy() -> None:
    code = "import sys, pipeline.errors as e; e.is_lm_unreachable(ValueError()); print('dspy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=WORKFLOWS.parent)
    assert out.stdout.strip() == "False", out.stderr


class UnreachableLM(DummyLM):
    """A DSPy LM built outside pipeline.lm whose server is gone: DSPy's own transport error."""

    def __init__(self) -> None:
        super().__init__([{}])

    def forward(self, *args: object, **kwargs: object) -> object:
        raise dspy_errors.LMTransportError("connection refused", model=self.model)


@pytest.fixture
def unreachable_lm(monkeypatch: pytest.MonkeyPatch) -> None:
    import contextlib

    import pipeline.lm

    @contextlib.contextmanager
    def context(spec: object):
        lm = UnreachableLM()
        with dspy.context(lm=lm, adapter=dspy.ChatAdapter()):
            yield lm

    monkeypatch.setattr(pipeline.lm, "lm_context", context)
    monkeypatch.setattr(pipeline.lm, "check_lm", lambda lm: None)


def test_evaluate_and_predict_stop_on_an_unreachable_lm_instead_of_counting_wrong_answers(unreachable_lm: None, tmp_path: Path) -> None:
    from pipeline.config import PipelineConfig, StorageConfig
    from pipeline.stages import evaluate, predict
    from pipeline.run.context import StageContext
    from pipeline.storage import open_store

    config = PipelineConfig(storage=StorageConfig(url=f"file://{tmp_path / 'store'}"))
    ctx = StageContext(config=config, store=open_store(config.storage), tenant="acme", run_id="r1")
    unoptimized = evaluate.ProgramRef(kind="unoptimized", label="unoptimized", artifact_prefix=None)
    import pipeline.lm

    with pipeline.lm.lm_context(None), pytest.raises(dspy_errors.LMTransportError):
        evaluate.predict_all(ctx, "routing", unoptimized, [{"query": "show me goals", "label": "video_search_agent", "modality": "video"}])

    queries = tmp_path / "in.jsonl"
    queries.write_text(json.dumps({"query": "show me goals"}) + "\n")
    with pytest.raises(dspy_errors.LMTransportError):
        predict.run(config, ctx.store, predict.PredictInputs(
            tenant="acme", target="routing", input_path=str(queries), output_path=str(tmp_path / "out.jsonl"), version="unoptimized"))
    assert not (tmp_path / "out.jsonl").exists()


def test_annotate_stops_on_an_unreachable_lm(unreachable_lm: None) -> None:
    from pipeline.config import PipelineConfig
    from pipeline.stages import annotate

    candidates = [{
        "span_id": "s1", "query": "show me goals", "chosen_agent": "video_search_agent", "confidence": 0.3, "context": "",
        "search_quality": 0.2, "agent_success": 0.0, "user_satisfaction": None,
    }]
    with pytest.raises(dspy_errors.LMTransportError):
        reviewed = [{**candidates[0], "span_id": "s0", "label": "video_search_agent", "label_source": "human"}]
        annotate.annotate_all(candidates, None, reviewed, PipelineConfig().annotation)
