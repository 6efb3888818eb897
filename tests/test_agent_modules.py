"""The DSPy agent modules (query_analysis, agent_routing, summary_generation, detailed_report):
trained from a tenant's golden dataset, checked line by line before any LM call, distilled from
a teacher whose labels are cached in the store, evaluated, gated and promoted like routing.

DummyLM stands in for the LMs: a "student" that answers right only when it is shown demos (so a
compiled program beats the uncompiled one), and a teacher that knows every answer."""

from __future__ import annotations

import contextlib
import importlib
import json
import subprocess
import sys
from typing import Any

import dspy
import pytest
from dspy.utils import DummyLM

from pipeline import layout, promotion
from pipeline.batch import resolve_targets
from pipeline.config import LMSpec, PipelineConfig, StorageConfig
from pipeline.errors import ConfigError
from pipeline.modules import facts, golden_modules, load_module
from pipeline.modules.golden import cheap_checks, field_rules, key_terms, validate_rows
from pipeline.run.context import StageContext
from pipeline.stages import evaluate, gate, plan, predict, train
from pipeline.storage import open_store
from tests.test_stages import QUERIES, commit_harvest

AGENT_MODULES = ["agent_routing", "detailed_report", "query_analysis", "summary_generation"]
INTENTS = ["search", "summarize", "analyze", "compare", "report", "question"]


def qa_labels(i: int) -> dict[str, Any]:
    return {"primary_intent": INTENTS[i % 6], "complexity_level": ["simple", "moderate", "complex"][i % 3],
            "needs_video_search": i % 2 == 0, "needs_text_search": i % 3 != 0, "multimodal_query": i % 4 == 0,
            "temporal_pattern": ["none", "recent", "date_range"][i % 3]}


WRONG_QA = {"primary_intent": "question", "complexity_level": "complex", "needs_video_search": False, "needs_text_search": False,
            "multimodal_query": True, "temporal_pattern": "recurring"}


def qa_query(i: int) -> str:
    return f"request number {i:03d} about topic {i * 7 % 13}"


class Student(DummyLM):
    """Answers right (from `truth`, by the query in the last message) only when the prompt shows
    demos; without them, `wrong`. A stand-in for a small model that learns from examples."""

    def __init__(self, truth: dict[str, dict[str, Any]], wrong: dict[str, Any]):
        super().__init__([])
        self.calls_with_demos = 0
        engine = self._engine_spec
        original = engine._complete_messages

        def complete(messages: list[dict[str, Any]]) -> Any:
            last = messages[-1]["content"]
            shown = len(messages) > 2
            answer = next((v for q, v in truth.items() if q in last), wrong) if shown else wrong
            self.calls_with_demos += shown
            self.answers = iter([answer])
            return original(messages)

        engine._complete_messages = complete


@pytest.fixture
def ctx(tmp_path):
    config = PipelineConfig(storage=StorageConfig(url=f"file://{tmp_path / 'store'}"))
    config.gate.min_heldout_examples = 5
    return StageContext(config=config, store=open_store(config.storage), tenant="acme", run_id="r1")


@pytest.fixture
def lms(monkeypatch):
    """The module's LM is `holder["student"]`, the teacher (when configured) `holder["teacher"]`."""
    holder: dict[str, Any] = {"student": None, "teacher": None}

    @contextlib.contextmanager
    def fake_context(spec):
        with dspy.context(lm=holder["student"], adapter=dspy.ChatAdapter()):
            yield holder["student"]

    import pipeline.lm

    monkeypatch.setattr(pipeline.lm, "lm_context", fake_context)
    monkeypatch.setattr(pipeline.lm, "check_lm", lambda lm: None)
    monkeypatch.setattr(pipeline.lm, "build_lm", lambda spec: holder["teacher"])
    monkeypatch.setattr(pipeline.lm, "adapter_for", lambda lm: dspy.ChatAdapter())
    return holder


def put_golden(ctx: StageContext, module: str, rows: list[dict[str, Any]]) -> None:
    ctx.store.put_overwrite(layout.golden_key(ctx.tenant, module), "".join(json.dumps(r) + "\n" for r in rows).encode())


# --------------------------------------------------------------------------- registry and schema
def test_the_agent_modules_are_golden_targets_known_without_importing_dspy():
    assert golden_modules() == AGENT_MODULES
    for name in AGENT_MODULES:
        declared = facts(name)
        assert (declared.golden, declared.real_data, declared.adaptive, declared.per_modality) == (True, False, False, False)
    code = "import sys, pipeline.modules as m; m.golden_modules(); m.all_targets(); print('dspy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_the_schema_comes_from_the_signature():
    rules = field_rules(load_module("query_analysis").program_factory().predict.signature)
    assert rules["primary_intent"] == ("choice", tuple(INTENTS))
    assert rules["needs_video_search"] == ("bool", ()) and rules["query"] == ("str", ())
    routing = field_rules(load_module("agent_routing").program_factory().predict.signature)
    assert routing["routing_confidence"] == ("float01", ()) and "summarizer_agent" in routing["primary_agent"][1]


@pytest.mark.parametrize("row, message", [
    ({"query": "q", **{k: v for k, v in qa_labels(1).items() if k != "temporal_pattern"}},
     "line 2: field 'temporal_pattern' is missing"),
    ({"query": "q", **qa_labels(1), "needs_video_search": "yes"}, "line 2: field 'needs_video_search' must be true or false"),
    ({"query": "q", **qa_labels(1), "primary_intent": "shopping"}, "line 2: field 'primary_intent' must be one of search"),
    ({"query": "q", **qa_labels(1), "intent": "search"}, "line 2: unknown field 'intent'"),
    ({**qa_labels(1)}, "line 2: field 'query' is missing"),
    ({"query": ""}, "line 2: field 'query' must be a non-empty string"),
    (["q"], "line 2: expected a JSON object"),
])
def test_a_missing_or_mistyped_field_names_the_line_and_the_field(row, message):
    spec = load_module("query_analysis")
    with pytest.raises(ConfigError, match=message):
        validate_rows(spec, [(1, {"query": "fine", **qa_labels(0)}), (2, row)], "golden.jsonl")


def test_routing_confidence_is_checked_as_a_number_in_0_1_and_unlabelled_rows_are_kept_apart():
    spec = load_module("agent_routing")
    good = {"query": "q", "recommended_workflow": "direct_search", "primary_agent": "video_search_agent"}
    labelled, unlabelled = validate_rows(spec, [(1, good), (2, {"query": "just a query"}), (3, {**good, "routing_confidence": 0.8})], "g")
    assert [r["line"] for r in labelled] == [1, 3] and [r["line"] for r in unlabelled] == [2]
    with pytest.raises(ConfigError, match="line 4: field 'routing_confidence' must be a number in \\[0, 1\\], not 1.5"):
        validate_rows(spec, [(4, {**good, "routing_confidence": 1.5})], "g")
    with pytest.raises(ConfigError, match="line 5: field 'primary_agent' is missing"):
        validate_rows(spec, [(5, {"query": "q", "recommended_workflow": "direct_search"})], "g")


def test_bad_golden_input_is_exit_2_before_any_lm_call_and_nothing_is_committed(ctx, lms, tmp_path, monkeypatch):
    from pipeline.cli import main

    bad = tmp_path / "golden.jsonl"
    bad.write_text(json.dumps({"query": "a", **qa_labels(0)}) + "\n" + json.dumps({"query": "b", **qa_labels(1), "complexity_level": 3}) + "\n")
    lms["student"] = DummyLM([])  # any LM call would fail: there must be none
    monkeypatch.setenv("COGNIVERSE_STORAGE_URL", ctx.config.storage.url)
    code = main(["train", "--tenant", "acme", "--run-id", "r1", "--target", "query_analysis", "--golden-dataset", str(bad)])
    assert code == 2
    assert ctx.store.list(layout.stage_prefix("acme", "r1", "train") + "/") == []


def test_cheap_checks_measure_length_and_key_term_coverage():
    source = "The quarterly revenue grew because cloud revenue doubled; cloud margins improved and hiring slowed."
    assert key_terms(source)[:2] == ["revenue", "cloud"]
    covered = cheap_checks("Cloud revenue doubled and margins improved while hiring slowed in the quarterly results overall " * 2,
                           source, (20, 120))
    assert covered["length"] == 1.0 and covered["coverage"] > 0.6
    assert cheap_checks("ok", source, (20, 120)) == {"length": 0.0, "coverage": 0.0}


# --------------------------------------------------------------------------- structured: end to end
def test_query_analysis_trains_from_the_golden_dataset_with_teacher_distillation_and_is_promoted(ctx, lms, tmp_path):
    labelled = [{"query": qa_query(i), **qa_labels(i)} for i in range(20)]
    unlabelled = [{"query": qa_query(i)} for i in range(20, 30)]
    put_golden(ctx, "query_analysis", labelled + unlabelled)
    ctx.config.llm.teacher = LMSpec(model="openai/teacher-model")
    truth = {qa_query(i): qa_labels(i) for i in range(30)}
    lms["teacher"] = DummyLM(truth)
    lms["student"] = Student(truth, WRONG_QA)

    commit_harvest(ctx, QUERIES[:10])  # the run's traffic: the plan reads it, the agent modules do not train on it
    # what the workflow's `dspy` branch plans: every target, with the named DSPy optimizer
    planned = plan.run(ctx, plan.PlanInputs(targets=resolve_targets("all"), optimizer="BootstrapFewShot"))
    by_target = {d.target: d for d in planned.decisions}
    assert by_target["query_analysis"].train and by_target["query_analysis"].real_examples == 30
    assert by_target["query_analysis"].decided_by == "rules: golden dataset"
    for other in ("agent_routing", "summary_generation", "detailed_report"):
        assert not by_target[other].train and "no golden dataset" in by_target[other].reason
    agents = [(i.target, i.optimizer, i.use_synthetic) for i in planned.train if i.target in AGENT_MODULES]
    assert agents == [("query_analysis", "BootstrapFewShot", False)]

    trained = train.run(ctx, train.TrainInputs(target="query_analysis", optimizer="BootstrapFewShot", max_iterations=1))
    assert trained.status == "ok" and trained.optimizer == "BootstrapFewShot"
    d = trained.distillation
    assert (d["teacher"], d["asked"], d["teacher_labelled"], d["teacher_calls"], d["cache_hits"]) == ("openai/teacher-model", 10, 10, 10, 0)
    assert trained.heldout_size == 6 and trained.real_train == 14 and trained.synthetic_train == 10  # teacher rows train only
    heldout = [json.loads(line) for line in ctx.store.get(trained.heldout_key).decode().splitlines()]
    assert {r["label_source"] for r in heldout} == {"golden"}

    integration = ctx.store.get_json(layout.artifact_key(trained.artifact_prefix, layout.INTEGRATION_FILE))
    assert integration["system_prompt"].startswith("Analyze a search query")
    assert "- primary_intent (one of search, summarize, analyze, compare, report, question)" in integration["system_prompt"]
    assert integration["few_shot_examples"] and set(integration["few_shot_examples"][0]["inputs"]) == {"query"}
    assert integration["model_config"] == {"model": "local:smollm2-135m", "temperature": 0.0, "max_tokens": 256}
    assert ctx.store.get_json(layout.artifact_key(trained.artifact_prefix, layout.PROGRAM_FILE))  # DSPy JSON state beside it

    evaluated = evaluate.run(ctx, evaluate.EvaluateInputs(target="query_analysis"))
    assert evaluated.status == "ok" and evaluated.primary_metric == "mean_score" and evaluated.n == 6
    assert evaluated.candidate_metrics.mean_score == 1.0 and evaluated.baseline_metrics.mean_score < 0.5
    assert evaluated.field_agreement["candidate"]["primary_intent"] == 1.0
    dist = evaluated.distillation
    print(f"\nquery_analysis (DummyLM): {dist}")
    assert dist["compiled_student"] == 1.0 and dist["uncompiled_student"] == evaluated.baseline_metrics.mean_score
    assert dist["lm_calls"] == {"uncompiled_student": 6, "compiled_student": 6} and dist["teacher_calls"] == 10

    gated = gate.run(ctx, gate.GateInputs(target="query_analysis"))
    assert gated.decision == "promoted", gated.reasons

    from pipeline.stages import report

    reported = report.run(ctx)
    [summary] = [s for s in reported.targets if s.target == "query_analysis"]
    assert (summary.primary_metric, summary.candidate_score, summary.deployed) == ("mean_score", 1.0, True)
    assert summary.distillation["teacher_calls"] == 10
    page = ctx.store.get(reported.report_key).decode()
    assert "student before → after" in page and "field agreement: primary_intent" in page and "Lowest-scored" in page
    assert promotion.current(ctx.store, "acme", "query_analysis").artifact_prefix == trained.artifact_prefix

    # another attempt pays the teacher nothing: its labels are in the store's cache
    again = train.run(ctx, train.TrainInputs(target="query_analysis", optimizer="BootstrapFewShot", max_iterations=1, attempt="2"))
    assert (again.distillation["teacher_calls"], again.distillation["cache_hits"]) == (0, 10)
    batches = ctx.store.list(f"tenants/acme/cache/teacher/query_analysis/")
    assert len(batches) == 1  # append-only: nothing new, nothing written

    # the next plan: production was trained on exactly this golden dataset
    ctx2 = StageContext(config=ctx.config, store=ctx.store, tenant="acme", run_id="r2")
    commit_harvest(ctx2, QUERIES[:10])
    [decision] = plan.run(ctx2, plan.PlanInputs(targets=["query_analysis"])).decisions
    assert not decision.train and "nothing would change" in decision.reason

    queries = tmp_path / "q.jsonl"
    queries.write_text(json.dumps({"query": qa_query(3)}) + "\n")
    answers = tmp_path / "a.jsonl"
    predict.run(ctx.config, ctx.store, predict.PredictInputs(tenant="acme", target="query_analysis", input_path=str(queries),
                                                             output_path=str(answers)))
    [row] = [json.loads(line) for line in answers.read_text().splitlines()]
    assert {k: row[k] for k in qa_labels(3)} == qa_labels(3)


def test_agent_routing_without_a_teacher_trains_on_golden_rows_only(ctx, lms):
    agents = ["video_search_agent", "document_agent", "summarizer_agent"]
    workflows = ["direct_search", "multi_agent_search", "summarization"]
    rows = [{"query": qa_query(i), "recommended_workflow": workflows[i % 3], "primary_agent": agents[i % 3], "routing_confidence": 0.9}
            for i in range(20)]
    put_golden(ctx, "agent_routing", rows + [{"query": "an unlabelled one"}])
    truth = {r["query"]: {k: r[k] for k in ("recommended_workflow", "primary_agent", "routing_confidence")} for r in rows}
    lms["student"] = Student(truth, {"recommended_workflow": "detailed_analysis", "primary_agent": "image_search_agent",
                                     "routing_confidence": 3})
    trained = train.run(ctx, train.TrainInputs(target="agent_routing", max_iterations=1))
    assert trained.status == "ok" and trained.optimizer == "BootstrapFewShot"  # by trainset size
    assert trained.distillation["teacher"] is None and trained.distillation["unlabelled"] == 1
    evaluated = evaluate.run(ctx, evaluate.EvaluateInputs(target="agent_routing"))
    assert evaluated.candidate_metrics.mean_score == 1.0 and evaluated.baseline_metrics.mean_score == 0.0
    assert evaluated.candidate_metrics.accuracy == 1.0  # on primary_agent
    assert gate.run(ctx, gate.GateInputs(target="agent_routing")).decision == "promoted"


def test_too_few_golden_rows_is_a_skip_not_an_error(ctx, lms):
    put_golden(ctx, "query_analysis", [{"query": qa_query(i), **qa_labels(i)} for i in range(3)])
    trained = train.run(ctx, train.TrainInputs(target="query_analysis"))
    assert trained.status == "skipped" and trained.reason.startswith("insufficient data")
    assert evaluate.run(ctx, evaluate.EvaluateInputs(target="query_analysis")).status == "skipped"
    assert gate.run(ctx, gate.GateInputs(target="query_analysis")).decision == "skipped"


# --------------------------------------------------------------------------- texts: the judge
CONTENT = ("The city council approved the new transit budget. Bus routes will expand to the northern districts, "
           "and fares stay unchanged. Construction of the tram extension starts in spring, funded by a regional grant.")


def text_row(i: int, field: str, text: str | None) -> dict[str, Any]:
    row = {"query": f"what happened with item {i:03d}", "content": f"{CONTENT} Item {i:03d}."}
    return {**row, field: text} if text is not None else row


@pytest.mark.parametrize("module, field, words", [("summary_generation", "summary", 30), ("detailed_report", "report", 100)])
def test_texts_are_scored_by_the_judge_on_the_teacher_and_cheap_checks(ctx, lms, module, field, words):
    good = ("Council approved transit budget: bus routes expand to northern districts, fares unchanged, tram extension "
            "construction starts spring with regional grant funding. " * 8)
    good = " ".join(good.split()[:words])
    rows = [text_row(i, field, good) for i in range(16)] + [text_row(i, field, None) for i in range(16, 20)]
    put_golden(ctx, module, rows)
    ctx.config.llm.teacher = LMSpec(model="openai/teacher-model")
    judge_scores = {"faithfulness": 0.9, "coverage": 0.8, "clarity": 1.0}
    truth = {f"item {i:03d}": {field: good} for i in range(20)}
    lms["teacher"] = DummyLM({"[[ ## rubric ## ]]": judge_scores, **truth})  # judges, and writes the unlabelled texts
    lms["student"] = Student(truth, {field: "no."})

    trained = train.run(ctx, train.TrainInputs(target=module, optimizer="BootstrapFewShot", max_iterations=1))
    assert trained.status == "ok" and trained.distillation["teacher_labelled"] == 4
    evaluated = evaluate.run(ctx, evaluate.EvaluateInputs(target=module))
    spec = load_module(module)
    bounds = importlib.import_module(f"pipeline.modules.{module}").BOUNDS
    cheap = cheap_checks(good, text_row(0, field, None)["content"], bounds)
    assert cheap["length"] == 1.0 and cheap["coverage"] >= 0.8  # "item" is a key term the texts leave out
    expected = 0.6 * (0.9 + 0.8 + 1.0) / 3 + 0.4 * (cheap["length"] + cheap["coverage"]) / 2  # 0.6 judge + 0.4 cheap checks
    assert evaluated.candidate_metrics.mean_score == pytest.approx(expected, abs=1e-3)
    assert evaluated.baseline_metrics.mean_score < spec.pass_score  # "no." is too short and covers nothing
    assert evaluated.distillation["judge_lm_calls"] > 0
    print(f"\n{module} (DummyLM): {evaluated.distillation}")
    assert evaluated.candidate_metrics.accuracy == 1.0  # every candidate text passes
    assert gate.run(ctx, gate.GateInputs(target=module)).decision == "promoted"


def test_evaluate_takes_a_golden_file_in_the_modules_schema(ctx, lms, tmp_path):
    put_golden(ctx, "query_analysis", [{"query": qa_query(i), **qa_labels(i)} for i in range(12)])
    truth = {qa_query(i): qa_labels(i) for i in range(40)}
    lms["student"] = Student(truth, WRONG_QA)
    assert train.run(ctx, train.TrainInputs(target="query_analysis", max_iterations=1)).status == "ok"
    golden = tmp_path / "team.jsonl"
    golden.write_text("".join(json.dumps({"query": qa_query(i), **qa_labels(i)}) + "\n" for i in range(30, 34)))
    evaluated = evaluate.run(ctx, evaluate.EvaluateInputs(target="query_analysis", golden_path=str(golden), baseline="unoptimized"))
    assert (evaluated.n, evaluated.dataset, evaluated.candidate_metrics.mean_score) == (4, str(golden), 1.0)
    golden.write_text(json.dumps({"query": "x", **qa_labels(0), "temporal_pattern": "yesterday"}) + "\n")
    with pytest.raises(ConfigError, match="line 1: field 'temporal_pattern' must be one of"):
        evaluate.run(ctx, evaluate.EvaluateInputs(target="query_analysis", golden_path=str(golden), baseline="unoptimized"))
