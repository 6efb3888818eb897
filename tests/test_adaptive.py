"""The adaptive strategy and its parts: the text classifier (JSON state), label probabilities
from token log-probabilities, the intervals the benchmark and evaluate report, the
ChoiceProgram's views/head/fast tier, and the strategy end to end through the train stage.

The LM is a scripted `dspy.BaseLM` that answers like llama.cpp with `logprobs`: a JSON reply
plus the top alternatives at the label's first token (DSPy's DummyLM carries no log-probabilities).
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable

import dspy
import pytest

from pipeline.adaptive import Settings, compile_adaptive, stratified_sample, tune_threshold
from pipeline.config import PipelineConfig, StorageConfig
from pipeline.domain import AGENTS
from pipeline.labelprobs import label_distribution
from pipeline.lm import CompactJSONAdapter, LMMeter
from pipeline.metrics import paired_difference, wilson_interval
from pipeline.modules import load_module
from pipeline.modules.routing import RoutingModule
from pipeline.textclf import NearestNeighbours, TextClassifier, TfidfFeatures

FIRST_TOKENS = {a: a.split("_")[0] for a in AGENTS}  # "video", "image", … "summarizer", "detailed"
KEYWORDS = {
    "video_search_agent": ["clip", "footage", "video"], "image_search_agent": ["photo", "picture", "diagram"],
    "audio_analysis_agent": ["podcast", "call", "song"], "document_agent": ["pdf", "contract", "manual"],
    "text_search_agent": ["article", "email", "blog"], "summarizer_agent": ["summary", "recap", "tl;dr"],
    "detailed_report_agent": ["report", "analysis", "deep dive"],
}
TOPICS = ["the launch", "q3 sales", "the new office", "our onboarding", "the outage", "the merger", "spring campaign",
          "the keynote", "the audit", "customer churn", "the hiring plan", "the roadmap"]


def labelled(n_per_agent: int = 12) -> list[dict[str, Any]]:
    rows = []
    for agent, words in KEYWORDS.items():
        for i in range(n_per_agent):
            rows.append({"query": f"{words[i % len(words)]} about {TOPICS[i % len(TOPICS)]} {i}", "label": agent, "context": ""})
    return rows


def logprob_entries(content: str, dist: dict[str, float]) -> dict[str, Any]:
    """Tokens as llama.cpp returns them: the key in one token, the label's first word with its
    alternatives, the rest of the label and the closing brace."""
    label = json.loads(content)["recommended_agent"]
    head = '{"recommended_agent":"'
    first = FIRST_TOKENS[label]
    alternatives = [{"token": FIRST_TOKENS[a], "logprob": math.log(p)} for a, p in dist.items() if p > 0]
    alternatives.append({"token": "\n", "logprob": math.log(0.01)})  # not a label start: ignored
    return {"content": [
        {"token": head, "logprob": 0.0, "top_logprobs": [{"token": head, "logprob": 0.0}]},
        {"token": first, "logprob": math.log(dist.get(label, 1e-3)), "top_logprobs": alternatives},
        {"token": label[len(first):] + '"}', "logprob": 0.0, "top_logprobs": []},
    ]}


class LogprobLM(dspy.BaseLM):
    """Answers each prompt with `distribution(query, prompt)`'s argmax, and its log-probabilities."""

    def __init__(self, distribution: Callable[[str, list[dict[str, Any]]], dict[str, float]]) -> None:
        super().__init__(model="test/logprobs", model_type="chat", temperature=0.0, max_tokens=64, cache=False)
        self.distribution = distribution
        self.calls = 0

    def forward(self, prompt=None, messages=None, **kwargs):
        self.calls += 1
        query = next(line[len("query: "):] for line in messages[-1]["content"].splitlines() if line.startswith("query: "))
        dist = self.distribution(query, messages)
        total = sum(dist.values())
        dist = {a: p / total for a, p in dist.items()}
        content = json.dumps({"recommended_agent": max(dist, key=dist.get)}, separators=(",", ":"))
        choice = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
        if kwargs.get("logprobs"):
            choice["logprobs"] = logprob_entries(content, dist)
        return _Response(choices=[_Response(**choice)], usage={"prompt_tokens": 100, "completion_tokens": 8, "total_tokens": 108},
                         model=self.model)


class _Response(dict):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for key, value in kwargs.items():
            setattr(self, key, _Response(**value) if isinstance(value, dict) and key != "logprobs" else value)


def biased(query: str, messages: list[dict[str, Any]]) -> dict[str, float]:
    """A small model's habit: `video` first for everything, the right agent a close second; with
    labelled demos in the prompt it is right more often."""
    gold = next((a for a, words in KEYWORDS.items() if any(w in query for w in words)), "text_search_agent")
    dist = {a: 0.02 for a in AGENTS}
    dist["video_search_agent"] = 0.5
    dist[gold] = 0.6 if len(messages) > 2 else 0.35
    return dist


def lm_context(lm: dspy.BaseLM):
    return dspy.context(lm=lm, adapter=CompactJSONAdapter())  # what adapter_for gives local models


# ----------------------------------------------------------------------------- the parts


def test_text_classifier_state_round_trips_exactly():
    rows = labelled(6)
    model = TextClassifier.fit([r["query"] for r in rows], [r["label"] for r in rows])
    loaded = TextClassifier.from_state(json.loads(json.dumps(model.state())))
    probe = ["a recap of the audit", "pdf of the contract", "footage from the keynote"]
    assert loaded.labels == model.labels
    assert [label for label, _ in loaded.predict(probe)] == ["summarizer_agent", "document_agent", "video_search_agent"]
    assert loaded.predict_proba(probe) == pytest.approx(model.predict_proba(probe), abs=1e-5)


def test_nearest_neighbours_never_return_the_query_itself():
    texts = ["The launch video", "the launch, video!", "photos of the office", "a contract pdf"]
    index = NearestNeighbours(TfidfFeatures.fit(texts), texts)
    assert index.nearest("the launch video", 1)[0][0] in (0, 1)
    picked = [i for i, _ in index.nearest("the launch video", 3, exclude="the launch video")]
    assert 0 not in picked and 1 not in picked  # "the launch, video!" is the same query, normalised


def test_label_distribution_reads_the_first_label_token():
    content = '{"recommended_agent":"document_agent"}'
    entries = logprob_entries(content, {"document_agent": 0.6, "detailed_report_agent": 0.3, "text_search_agent": 0.1})
    dist = label_distribution(entries, "recommended_agent", AGENTS)
    assert dist["document_agent"] == pytest.approx(0.6, abs=1e-6)
    assert dist["detailed_report_agent"] == pytest.approx(0.3, abs=1e-6)
    assert dist["video_search_agent"] == 0.0 and sum(dist.values()) == pytest.approx(1.0)
    assert label_distribution(None, "recommended_agent", AGENTS) is None
    assert label_distribution({"content": []}, "recommended_agent", AGENTS) is None


def test_label_distribution_when_the_value_starts_inside_a_token():
    # Some tokenizers merge the opening quote into the label's first token: `":"` then `"video`.
    entries = {"content": [
        {"token": '{"recommended_agent":', "top_logprobs": []},
        {"token": '"video', "top_logprobs": [{"token": '"video', "logprob": math.log(0.7)}, {"token": '"audio', "logprob": math.log(0.3)}]},
        {"token": '_search_agent"}', "top_logprobs": []},
    ]}
    dist = label_distribution(entries, "recommended_agent", AGENTS)
    assert dist["video_search_agent"] == pytest.approx(0.7) and dist["audio_analysis_agent"] == pytest.approx(0.3)


def test_wilson_and_newcombe_intervals():
    low, high = wilson_interval(49, 105)
    assert (round(low, 3), round(high, 3)) == (0.374, 0.562)  # the baseline the issue measured
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)
    # 40 vs 49 of 105 with 8 / 17 discordant pairs: the interval straddles 0 (a measured loss, not significant)
    a = [True] * 32 + [True] * 8 + [False] * 17 + [False] * 48
    b = [True] * 32 + [False] * 8 + [True] * 17 + [False] * 48
    diff = paired_difference(a, b)
    assert diff.difference == pytest.approx(-9 / 105, abs=1e-4) and diff.low < diff.difference < diff.high
    assert diff.low < 0 < diff.high and not diff.excludes_zero
    strong = paired_difference([True] * 80 + [False] * 20, [True] * 40 + [False] * 60)
    assert strong.excludes_zero and strong.low > 0.25


def test_stratified_sample_covers_every_label():
    labels = ["a"] * 30 + ["b"] * 3 + ["c"] * 10
    picked = stratified_sample(labels, 9, seed=1)
    assert len(picked) == 9 and {labels[i] for i in picked} == {"a", "b", "c"}
    assert picked == stratified_sample(labels, 9, seed=1)


def test_the_lm_tier_is_used_only_where_it_beats_the_classifier():
    gold = ["x"] * 10
    confident = [("x", 0.9)] * 6
    unsure_wrong = [("y", 0.3)] * 4
    lm_right = ["x"] * 10
    decision = tune_threshold(confident + unsure_wrong, lm_right, gold, min_gain=2)
    assert 0.3 < decision["threshold"] <= 0.9 and decision["slice_n"] == 4 and decision["slice_accuracy_lm"] == 1.0
    lm_wrong = ["z"] * 10
    assert tune_threshold(confident + unsure_wrong, lm_wrong, gold, min_gain=2)["threshold"] == 0.0
    # one extra right answer is not enough when min_gain is 2
    assert tune_threshold(confident + unsure_wrong, ["x"] * 7 + ["z"] * 3, gold, min_gain=2)["threshold"] == 0.0


# ----------------------------------------------------------------------------- the program


def test_unoptimized_program_reports_the_models_own_label_probability():
    lm = LogprobLM(biased)
    with lm_context(lm):
        pred = RoutingModule()(query="the podcast about q3 sales", context="")
    assert pred.recommended_agent == "video_search_agent" and pred.tier == "lm"
    assert pred.confidence == pytest.approx(0.5 / (0.5 + 0.35 + 5 * 0.02), abs=1e-3)


def test_adaptive_compile_corrects_the_bias_and_round_trips(monkeypatch):
    spec = load_module("routing")
    rows = labelled(12)
    lm = LogprobLM(biased)
    meter = LMMeter()
    settings = Settings(lm_call_budget=150, dev_size=50, fast_tier=False, rungs=("zero_shot", "retrieved"), seed=3)
    with lm_context(lm):
        outcome = compile_adaptive(spec, rows, settings, meter=meter)
    report = outcome.report
    zero_shot = report["rungs"][0]["candidates"]
    assert zero_shot["zero_shot"] < 0.3  # argmax: video for nearly everything
    assert zero_shot["zero_shot+bias"] > 0.9  # the head learned the bias away
    assert report["chosen"]["head"] and report["chosen"]["dev_accuracy"] > 0.9
    assert meter.calls <= settings.lm_call_budget and report["compile"]["lm_calls"] == meter.calls
    program = outcome.program
    state = json.loads(json.dumps(program.dump_state()))
    fresh = spec.program_factory()
    fresh.load_state(state)
    probe = ["song about the audit 99", "manual for the outage 98", "deep dive about the merger 97"]
    with lm_context(lm):
        answers = [fresh(query=q, context="").recommended_agent for q in probe]
        originals = [program(query=q, context="").recommended_agent for q in probe]
    assert answers == originals == ["audio_analysis_agent", "document_agent", "detailed_report_agent"]


def test_adaptive_stops_within_budget_and_says_why():
    spec = load_module("routing")
    lm = LogprobLM(biased)
    settings = Settings(lm_call_budget=25, dev_size=30, fast_tier=False, seed=3, min_gain=0)
    with lm_context(lm):
        outcome = compile_adaptive(spec, labelled(12), settings)
    assert lm.calls <= 25
    assert any("budget" in r.get("skipped", "") for r in outcome.report["rungs"]), outcome.report["rungs"]


def test_composite_answers_confident_queries_without_the_lm():
    spec = load_module("routing")
    lm = LogprobLM(biased)
    with lm_context(lm):
        outcome = compile_adaptive(spec, labelled(12), Settings(lm_call_budget=120, dev_size=40, seed=3))
    program = outcome.program
    assert "fast_tier" in program.learned and outcome.report["composite"]["dev_n"] == outcome.report["dev_size"] == 34
    before = lm.calls
    with lm_context(lm):
        pred = program(query="pdf of the contract about the audit", context="")
    if pred.tier == "classifier":
        assert lm.calls == before and pred.recommended_agent == "document_agent"
    assert 0.0 <= pred.confidence <= 1.0 and pred.reasoning


def test_train_stage_runs_adaptive_by_default_and_keys_attempts_on_inputs(tmp_path, monkeypatch):
    import contextlib

    import pipeline.lm
    from pipeline.errors import ConfigError
    from pipeline.stages import evaluate, train
    from pipeline.run.context import StageContext
    from pipeline.storage import open_store
    from tests.test_stages import QUERIES, commit_harvest

    lm = LogprobLM(biased)

    @contextlib.contextmanager
    def fake_context(spec):
        with lm_context(lm):
            yield lm

    monkeypatch.setattr(pipeline.lm, "lm_context", fake_context)
    monkeypatch.setattr(pipeline.lm, "check_lm", lambda lm: None)
    config = PipelineConfig(storage=StorageConfig(url=f"file://{tmp_path / 'store'}"))
    config.training.adaptive.lm_call_budget = 60
    config.training.adaptive.dev_size = 20
    ctx = StageContext(config=config, store=open_store(config.storage), tenant="acme", run_id="r1")
    commit_harvest(ctx, QUERIES[:70])

    trained = train.run(ctx, train.TrainInputs(target="routing"))
    assert trained.status == "ok" and trained.optimizer == "adaptive" and trained.attempt == "1"
    assert 0 < trained.compile_lm_calls <= 60 and trained.dev_accuracy is not None
    metadata = ctx.store.get_json(f"{trained.artifact_prefix}/metadata.json")
    assert metadata["optimizer_settings"]["strategy"] == "adaptive" and metadata["labels_by_source"] == {"outcome": trained.trainset_size}

    # the same attempt with other inputs is refused; another attempt id trains again
    with pytest.raises(ConfigError, match="--attempt"):
        train.run(ctx, train.TrainInputs(target="routing", optimizer="BootstrapFewShot"))
    again = train.run(ctx, train.TrainInputs(target="routing", optimizer="BootstrapFewShot", attempt="bfs"))
    assert again.optimizer == "BootstrapFewShot" and again.artifact_prefix.endswith("/train/routing.bfs")

    evaluated = evaluate.run(ctx, evaluate.EvaluateInputs(target="routing"))
    assert evaluated.status == "ok" and evaluated.difference is not None
    assert evaluated.candidate_interval.low <= evaluated.candidate_metrics.accuracy <= evaluated.candidate_interval.high
    assert {t.tier for t in evaluated.candidate_tiers} <= {"lm", "classifier"} and evaluated.candidate_tiers
    assert evaluated.lm_calls["baseline"] == evaluated.n  # the unoptimized program: one call per example
    # a second evaluation of the same baseline on the same examples is served from the cache
    other = evaluate.run(ctx, evaluate.EvaluateInputs(target="routing", attempt="bfs"))
    assert other.cached["baseline"] == other.n and other.lm_calls["baseline"] == 0


def test_a_costly_rung_runs_only_when_the_budget_pays_for_it():
    spec = load_module("routing")
    lm = LogprobLM(biased)
    settings = Settings(lm_call_budget=120, dev_size=20, fast_tier=False, rungs=("zero_shot", "simba"), seed=3)
    with lm_context(lm):
        outcome = compile_adaptive(spec, labelled(12), settings)
    simba = next(r for r in outcome.report["rungs"] if r["rung"] == "simba")
    assert "SIMBA needs ~" in simba["skipped"] and lm.calls <= 120
    assert not outcome.program.predict.demos  # the zero-shot predictor is left as it was


def test_temperature_softens_overconfident_scores():
    import numpy as np

    from pipeline.adaptive import fit_temperature

    rng = np.random.RandomState(0)
    gold = list(rng.randint(0, 3, size=200))
    # a sharp score for one label, right only half the time: honest probabilities are ~0.5
    predicted = [g if rng.rand() < 0.5 else (g + 1) % 3 for g in gold]
    scores = np.array([[8.0 if j == p else 0.0 for j in range(3)] for p in predicted])
    assert fit_temperature(scores, gold) > 4.0
    assert fit_temperature(np.array([[8.0 if j == g else 0.0 for j in range(3)] for g in gold]), gold) <= 1.0
