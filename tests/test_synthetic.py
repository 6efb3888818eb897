"""The synthetic data service and the synthesize stage, with DSPy's DummyLM writing the queries:
the generator registry (one schema per module, provenance), profile selection (rules and the
LLM path), dedup against real traffic, the Vespa path end to end, and the no-data cases."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import dspy
import pytest
from dspy.utils import DummyLM
from pydantic import BaseModel

import tests.test_stages as stage_helpers
from pipeline.config import LMSpec, PipelineConfig, StorageConfig
from pipeline.content import SCHEMA_ROUTES, JsonlCorpus
from pipeline.errors import BackendUnavailableError
from pipeline.run import readers
from pipeline.run.context import StageContext, read_jsonl
from pipeline.stages import synthesize, train
from pipeline.storage import open_store
from pipeline.synthetic import REGISTRY, LMScope, SyntheticDataRequest, generate
from pipeline.synthetic.patterns import INTENT_AGENTS, normalise
from pipeline.synthetic.profiles import select_profiles
from tests.fixtures.s3 import free_port

CORPUS = {(item.schema_name, item.id): item for item in JsonlCorpus().items()}


def distinct_queries(n: int, start: int = 0) -> list[dict[str, str]]:
    return [{"query": f"please find the material numbered {i} for our team"} for i in range(start, start + n)]


@pytest.fixture
def scripted(monkeypatch):
    """Every lm_context yields a DummyLM built by `holder["make"]()`; counts how often one was entered."""
    holder: dict[str, Any] = {"make": lambda: DummyLM(distinct_queries(200)), "entered": 0}

    @contextlib.contextmanager
    def fake_context(spec):
        holder["entered"] += 1
        lm = holder["make"]()
        with dspy.context(lm=lm, adapter=dspy.ChatAdapter()):
            yield lm

    import pipeline.lm

    monkeypatch.setattr(pipeline.lm, "lm_context", fake_context)
    return holder


@pytest.fixture
def ctx(tmp_path):
    config = PipelineConfig(storage=StorageConfig(url=f"file://{tmp_path / 'store'}"))
    return StageContext(config=config, store=open_store(config.storage), tenant="acme", run_id="r1")


def run_generate(request: SyntheticDataRequest, source=None, **kwargs) -> Any:
    with LMScope(LMSpec(model="dummy/generator")) as lm:
        return generate(request, source or JsonlCorpus(), lm, **kwargs)


# ------------------------------------------------------------------------------- the registry


@pytest.mark.parametrize("optimizer", ["routing", "modality", "cross_modal", "workflow"])
def test_each_generator_writes_its_module_schema_with_provenance(optimizer, scripted):
    response = run_generate(SyntheticDataRequest(optimizer=optimizer, count=6, tenant="acme"))
    generator = REGISTRY[optimizer]
    assert response.schema_name == generator.schema.__name__
    assert response.count == len(response.data) == 6 and response.metadata.sampled >= 6
    for row in response.data:
        example = generator.schema.model_validate(row)
        p = example.provenance
        assert (p.kind, p.generator, p.backend, p.generator_lm, p.tenant) == (
            "synthetic", optimizer, "bundled demo corpus", "dummy/generator", "acme")
        items = [CORPUS[(schema, doc)] for schema, doc in zip(p.schemas, p.doc_ids)]  # real content only
        routes = [SCHEMA_ROUTES[item.schema_name] for item in items]
        if optimizer in ("routing", "modality"):
            assert example.label == INTENT_AGENTS.get(p.intent, routes[0][1])
            assert example.modality == routes[0][0] and example.label_source == "synthetic"
        elif optimizer == "cross_modal":
            assert len(items) == 2 and example.primary_modality != example.secondary_modality
            assert (example.agent, example.secondary_agent) == (routes[0][1], routes[1][1])
            assert set(example.shared_topics) <= {t for t in [*items[1].topics, *items[1].entities]}
        else:
            follow_up = p.intent.removeprefix("find-then-")
            assert example.agent_sequence == [routes[0][1], INTENT_AGENTS[follow_up]]
    assert set(REGISTRY) == {"routing", "modality", "cross_modal", "workflow"}


def test_routing_context_carries_the_entities_the_query_mentions(scripted, tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"id": "v1", "schema": "video_frames", "title": "Starship flight test",
                                  "text": "Launch from the pad.", "topics": ["spaceflight"],
                                  "entities": ["SpaceX", "Boca Chica", "Starship"]}) + "\n")
    scripted["make"] = lambda: DummyLM({"Starship flight test": {"query": "show the SpaceX launch filmed at Boca Chica"}})
    response = run_generate(SyntheticDataRequest(optimizer="routing", count=1), JsonlCorpus(corpus))
    [row] = response.data
    assert row["entities"] == ["SpaceX", "Boca Chica"]
    assert json.loads(row["context"]) == {"entities": ["SpaceX", "Boca Chica"]}
    assert response.metadata.patterns.entities == {"SpaceX": 1, "Boca Chica": 1, "Starship": 1}


def test_duplicates_of_real_or_earlier_queries_and_bad_queries_are_rejected(scripted):
    # 2 new queries, 2 repeats of them, 1 of real traffic, 1 too short to be a request
    answers = [*distinct_queries(2), *distinct_queries(2), {"query": "find a thing"}, {"query": "Starship video"}]
    scripted["make"] = lambda: DummyLM(answers)
    seen = {normalise("Find a thing!")}
    response = run_generate(SyntheticDataRequest(optimizer="workflow", count=6), seen=seen)
    assert response.count == 2
    assert (response.metadata.rejected_duplicates, response.metadata.rejected_invalid) == (3, 1)
    assert normalise(distinct_queries(1)[0]["query"]) in seen  # seen grows with every example


def test_a_copied_title_is_not_a_query(scripted, tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"id": "d1", "schema": "document_content", "title": "Employee handbook, 2026 edition",
                                  "text": "Policies."}) + "\n")
    scripted["make"] = lambda: DummyLM([{"query": "Employee handbook: 2026 edition"}])
    response = run_generate(SyntheticDataRequest(optimizer="modality", count=1), JsonlCorpus(corpus))
    assert response.data == [] and response.metadata.rejected_invalid == 1


# ------------------------------------------------------------------------------- profile selection


def test_rule_based_profile_selection(scripted):
    profiles = JsonlCorpus().profiles()
    pick = lambda name, **kw: select_profiles(REGISTRY[name], [p for p in profiles if not kw.get("only") or p.modality in kw["only"]],
                                              SyntheticDataRequest(optimizer=name, count=1, max_profiles=kw.get("max", 5),
                                                                   modalities=kw.get("only")), "rules")
    routing = pick("routing", max=3)
    assert routing.names == ["video_frames", "image_content", "audio_transcripts"] and routing.mode == "rules"
    modality = pick("modality", only=["audio"])
    assert modality.names == ["audio_transcripts"] and "modalities audio" in modality.reasoning
    lonely = pick("cross_modal", only=["text"])
    assert lonely.names == [] and "needs content of 2 modalities" in lonely.reasoning
    assert len(pick("cross_modal", max=1).names) == 2  # a pair needs two, whatever the cap

    # nothing selected → nothing sampled → no data, and no LM needed
    response = run_generate(SyntheticDataRequest(optimizer="cross_modal", count=3, modalities=["text"]))
    assert response.data == [] and response.metadata.sampled == 0 and scripted["entered"] == 0


def test_llm_profile_selection_and_its_fallback(scripted):
    profiles = JsonlCorpus().profiles()
    request = SyntheticDataRequest(optimizer="routing", count=1, max_profiles=2)
    scripted["make"] = lambda: DummyLM([{"selected": ["document_content", "text_content", "video_frames"],
                                         "reasoning": "text-heavy content suits routing"}])
    with LMScope(LMSpec(model="dummy")) as lm:
        lm.ensure()
        chosen = select_profiles(REGISTRY["routing"], profiles, request, "llm")
    assert chosen.names == ["document_content", "text_content"] and chosen.mode == "llm"
    assert chosen.reasoning == "llm: text-heavy content suits routing"

    scripted["make"] = lambda: DummyLM([{"selected": ["text_content"], "reasoning": "one is enough"}])
    with LMScope(LMSpec(model="dummy")) as lm:
        lm.ensure()
        fallback = select_profiles(REGISTRY["cross_modal"], profiles, request.model_copy(update={"optimizer": "cross_modal"}), "llm")
    assert fallback.mode == "llm-fallback" and len(fallback.names) == 2 and "fewer than 2 modalities" in fallback.reasoning

    scripted["make"] = lambda: DummyLM([{"reasoning": "no selection field"}])
    with LMScope(LMSpec(model="dummy")) as lm:
        lm.ensure()
        broken = select_profiles(REGISTRY["workflow"], profiles, request.model_copy(update={"optimizer": "workflow"}), "llm")
    assert broken.mode == "llm-fallback" and broken.names == ["video_frames", "image_content"]
    assert "unparseable answer" in broken.reasoning


def test_the_stage_uses_the_llm_selection_when_configured(ctx, scripted):
    ctx.config.content.profile_selection = "llm"
    ctx.config.content.generators = ["routing"]
    scripted["make"] = lambda: DummyLM([{"selected": ["audio_transcripts"], "reasoning": "speech"}, *distinct_queries(3)])
    result = synthesize.run(ctx, synthesize.SynthesizeInputs(count=3))
    summary = result.generators["routing"]
    assert summary.profile_selection == "llm" and summary.selected_profiles == ["audio_transcripts"]
    rows = read_jsonl(ctx.store, result.examples_key)
    assert len(rows) == 3 and {r["provenance"]["schemas"][0] for r in rows} == {"audio_transcripts"}
    assert scripted["entered"] == 1  # one LM for selection and generation


# ------------------------------------------------------------------------------- the stage


class _Plan(BaseModel):
    train: list[dict[str, Any]]


def test_the_plan_narrows_generators_and_modalities(ctx, scripted):
    ctx.output("plan").commit(_Plan(train=[
        {"target": "routing", "use_synthetic": False, "strategy": "PURE_REAL"},
        {"target": "modality-video", "use_synthetic": True, "strategy": "HYBRID"},
    ]))
    result = synthesize.run(ctx, synthesize.SynthesizeInputs(count=4))
    assert result.status == "ok" and list(result.generators) == ["modality"]
    assert "routing" in result.not_run
    summary = result.generators["modality"]
    assert summary.modalities == ["video"] and summary.selected_profiles == ["video_frames"]
    rows = read_jsonl(ctx.store, result.examples_key)
    assert len(rows) == result.generated == 4
    assert {r["module"] for r in rows} == {"modality"} and {r["modality"] for r in rows} == {"video"}
    assert set(result.by_agent) <= {"video_search_agent", "summarizer_agent", "detailed_report_agent"}
    assert synthesize.run(ctx, synthesize.SynthesizeInputs(count=99)) == result  # committed: no rework


def test_trained_rows_feed_train_the_others_are_stored_and_real_queries_are_avoided(ctx, scripted):
    ctx.config.content.generators = ["routing", "modality", "cross_modal", "workflow"]
    stage_helpers.commit_harvest(ctx, stage_helpers.QUERIES[:40])
    real = stage_helpers.QUERIES[0]["query"]
    scripted["make"] = lambda: DummyLM([{"query": real}, *distinct_queries(40)])
    result = synthesize.run(ctx, synthesize.SynthesizeInputs(count=5))
    assert result.rejected_duplicates == 1 and result.generators["routing"].rejected_duplicates == 1
    assert all(normalise(r["query"]) != normalise(real) for r in read_jsonl(ctx.store, result.examples_key))
    rows = read_jsonl(ctx.store, result.examples_key)
    assert {r["module"] for r in rows} == {"routing", "modality"} and len(rows) == result.generated == 9
    for name in ("cross_modal", "workflow"):
        summary = result.generators[name]
        assert not summary.trained and summary.examples_key.endswith(f"examples-{name}.jsonl")
        assert {r["module"] for r in read_jsonl(ctx.store, summary.examples_key)} == {name}
    assert readers.synthetic(ctx, "video") == [r for r in rows if r["modality"] == "video"]


def test_synthetic_examples_train_but_are_never_held_out(ctx, scripted):
    stage_helpers.commit_harvest(ctx, stage_helpers.QUERIES[:40])
    synthesized = synthesize.run(ctx, synthesize.SynthesizeInputs(count=8, optimizers=["routing"]))
    assert synthesized.generated == 8
    answer = {"recommended_agent": "video_search_agent", "confidence": 0.9, "reasoning": "fixed"}
    scripted["make"] = lambda: DummyLM({"[[ ## query ## ]]": answer})
    trained = train.run(ctx, train.TrainInputs(target="routing", use_synthetic=True, strategy="HYBRID"))
    assert trained.status == "ok" and trained.synthetic_train == 8
    heldout = read_jsonl(ctx.store, trained.heldout_key)
    trainset = read_jsonl(ctx.store, f"{trained.artifact_prefix}/trainset.jsonl")
    assert heldout and not any(r.get("label_source") == "synthetic" or "provenance" in r for r in heldout)
    assert sum(r.get("label_source") == "synthetic" for r in trainset) == 8


def test_the_stage_on_vespa_content(ctx, scripted, vespa_config):
    ctx.config.content.source = "vespa"
    ctx.config.content.vespa = vespa_config(sampling="visit", page_size=3)
    result = synthesize.run(ctx, synthesize.SynthesizeInputs(count=5, optimizers=["routing"]))
    assert result.status == "ok" and result.source.startswith("vespa:http://127.0.0.1:")
    rows = read_jsonl(ctx.store, result.examples_key)
    assert len(rows) == 5
    assert all(r["provenance"]["doc_ids"][0].startswith(f"id:cogniverse:{r['provenance']['schemas'][0]}::") for r in rows)


def test_an_empty_backend_means_no_synthetic_data_and_no_lm(ctx, scripted, vespa_config, vespa_server):
    vespa_server.set_documents([])
    ctx.config.content.source = "vespa"
    ctx.config.content.vespa = vespa_config()
    result = synthesize.run(ctx, synthesize.SynthesizeInputs(count=5))
    assert result.status == "skipped" and result.reason == "no synthetic data: the content source returned nothing"
    assert result.examples_key is None and result.generated == 0 and result.generator_model is None
    assert scripted["entered"] == 0
    assert readers.synthetic(ctx, None) == []


def test_an_unreachable_backend_fails_the_stage(ctx, scripted):
    ctx.config.content.source = "vespa"
    ctx.config.content.vespa.endpoint = f"http://127.0.0.1:{free_port()}"
    ctx.config.content.vespa.retry_attempts = 2
    ctx.config.content.vespa.retry_backoff_s = 0.01
    with pytest.raises(BackendUnavailableError, match="unavailable for the readiness check"):
        synthesize.run(ctx, synthesize.SynthesizeInputs(count=5))
    assert ctx.output(synthesize.STAGE).committed() is None  # a later attempt may still succeed
    assert scripted["entered"] == 0
