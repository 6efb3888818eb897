"""harvest and annotate against a real Phoenix server (annotate's LM is a DummyLM)."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta, timezone

import dspy
import pytest
from dspy.utils import DummyLM

from pipeline import phoenix_io
from pipeline.config import PipelineConfig, StorageConfig
from pipeline.stages import annotate, harvest
from pipeline.run.context import StageContext, read_parquet
from pipeline.storage import open_store


def record(i: int, now: datetime, **overrides):
    base = {
        "routing.query": f"show me the video of goal number {i}",
        "routing.chosen_agent": "video_search_agent",
        "routing.confidence": 0.9,
        "routing.modality": "video",
        "routing.processing_time": 1.0,
        "routing.context": '{"entities": ["goal"], "enhanced_query": "goal video"}',
        "outcome.search_quality": 0.9,
        "outcome.agent_success": True,
        "outcome.user_satisfaction": 0.8,
        "start_time": now - timedelta(minutes=5 + i),
    }
    base.update(overrides)
    return base


@pytest.fixture
def tenant_ctx(phoenix_url, tmp_path, request):
    tenant = "t" + format(abs(hash(request.node.name)) % 10**8, "d")
    config = PipelineConfig(storage=StorageConfig(url=f"file://{tmp_path / 'store'}"))
    config.phoenix.endpoint = phoenix_url
    store = open_store(config.storage)

    def make(run_id: str) -> StageContext:
        return StageContext(config=config, store=store, tenant=tenant, run_id=run_id)

    return make


@pytest.fixture
def annotator_lm(monkeypatch):
    @contextlib.contextmanager
    def fake_context(spec):
        lm = DummyLM([{"correct_agent": "audio_analysis_agent", "confidence": 0.7, "explanation": "it is a recording"}] * 50)
        with dspy.context(lm=lm, adapter=dspy.ChatAdapter()):
            yield lm

    import pipeline.lm

    monkeypatch.setattr(pipeline.lm, "lm_context", fake_context)
    monkeypatch.setattr(pipeline.lm, "check_lm", lambda lm: None)


def test_harvest_window_rewards_labels_and_malformed_spans(tenant_ctx):
    ctx = tenant_ctx("h1")
    now = datetime.now(timezone.utc)
    project = ctx.config.phoenix.project_for(ctx.tenant)
    records = [record(i, now) for i in range(6)]
    records.append(record(6, now, **{"routing.confidence": 0.3}))  # unsure: unlabelled
    records.append(record(7, now, **{"outcome.user_satisfaction": None}))
    records.append(record(8, now, **{"routing.query": None}))  # malformed
    records.append(record(9, now, **{"routing.confidence": 3.0}))  # malformed
    records.append(record(10, now, start_time=now - timedelta(hours=30)))  # outside the window
    phoenix_io.send_routing_spans(ctx.config.phoenix.endpoint, project, records)
    phoenix_io.wait_for_span_count(ctx.config.phoenix.endpoint, project, len(records), timeout_s=60)

    result = harvest.run(ctx, harvest.HarvestInputs(lookback_hours=24, end_time=now))
    assert result.spans_read == 10 and result.experiences == 8
    assert result.malformed == {"missing routing.query": 1, "routing.confidence not in [0, 1]": 1}
    assert result.labels_by_source == {"none": 1, "outcome": 7}
    rows = read_parquet(ctx.store, result.experiences_key)
    by_query = {r["query"]: r for r in rows}
    assert by_query["show me the video of goal number 0"]["reward"] == pytest.approx(0.4 * 0.9 + 0.3 + 0.3 * 0.8 - 0.02)
    assert by_query["show me the video of goal number 7"]["user_satisfaction"] is None
    assert "goal" in by_query["show me the video of goal number 0"]["context"]

    # More traffic arrives, then the same run is re-run: nothing double-counted, same window.
    phoenix_io.send_routing_spans(ctx.config.phoenix.endpoint, project, [record(20, now)])
    assert harvest.run(ctx, harvest.HarvestInputs(lookback_hours=24, end_time=now)) == result


def test_a_killed_harvest_is_redone_cleanly(tenant_ctx):
    ctx = tenant_ctx("k1")
    now = datetime.now(timezone.utc)
    project = ctx.config.phoenix.project_for(ctx.tenant)
    phoenix_io.send_routing_spans(ctx.config.phoenix.endpoint, project, [record(i, now) for i in range(4)])
    phoenix_io.wait_for_span_count(ctx.config.phoenix.endpoint, project, 4, timeout_s=60)
    # a killed attempt left a partial data file but never committed
    ctx.output(harvest.STAGE).put_bytes(harvest.EXPERIENCES_FILE, b"half a parquet file")
    result = harvest.run(ctx, harvest.HarvestInputs(lookback_hours=24, end_time=now))
    assert result.experiences == 4
    assert len(read_parquet(ctx.store, result.experiences_key)) == 4


def test_empty_project_is_skipped_not_crashed(tenant_ctx):
    result = harvest.run(tenant_ctx("e1"), harvest.HarvestInputs(lookback_hours=1))
    assert result.status == "skipped" and "insufficient data" in result.reason and result.experiences_key is None
    annotated = annotate.run(tenant_ctx("e1"), annotate.AnnotateInputs())
    assert annotated.status == "skipped" and annotated.annotated == 0


def _traffic_with_human_reviews(ctx, now, human_label: str) -> None:
    """3 confident video decisions, 3 unsure podcast ones (annotation candidates) and 8 podcast
    decisions a human reviewed (what the annotator is measured on)."""
    project = ctx.config.phoenix.project_for(ctx.tenant)
    records = [record(i, now) for i in range(3)] + [
        record(10 + i, now, **{"routing.confidence": 0.2 + i * 0.1, "routing.query": f"play the podcast episode {i}"}) for i in range(3)
    ]
    reviewed = [record(30 + i, now, **{"routing.confidence": 0.5, "routing.query": f"the interview recording number {i}"}) for i in range(8)]
    sent = phoenix_io.send_routing_spans(ctx.config.phoenix.endpoint, project, records + reviewed)
    phoenix_io.wait_for_span_count(ctx.config.phoenix.endpoint, project, len(records) + len(reviewed), timeout_s=60)
    phoenix_io.write_annotations(
        ctx.config.phoenix.endpoint, project,
        [{"span_id": s.span_id, "label": human_label, "score": 1.0, "explanation": "reviewed"} for s in sent[len(records):]],
        annotator_kind="HUMAN", identifier="test-review",
    )


def test_annotations_go_back_to_phoenix_and_label_the_next_harvest(tenant_ctx, annotator_lm):
    ctx = tenant_ctx("a1")
    now = datetime.now(timezone.utc)
    project = ctx.config.phoenix.project_for(ctx.tenant)
    _traffic_with_human_reviews(ctx, now, human_label="audio_analysis_agent")  # the annotator agrees with the humans
    harvest.run(ctx, harvest.HarvestInputs(lookback_hours=24, end_time=now))

    result = annotate.run(ctx, annotate.AnnotateInputs(max_annotations=2))
    assert result.verification.trusted and result.verification.n == 8 and result.verification.accuracy == 1.0
    assert (result.candidates, result.annotated, result.deferred, result.written_to_phoenix) == (3, 2, 1, 2)
    merged = read_parquet(ctx.store, result.experiences_key)
    llm = [r for r in merged if r["label_source"] == "llm"]
    assert len(llm) == 2 and {r["label"] for r in llm} == {"audio_analysis_agent"}
    assert min(r["confidence"] for r in llm) == pytest.approx(0.2)  # lowest confidence first

    span_ids = [r["span_id"] for r in llm]
    stored = phoenix_io.fetch_annotations(ctx.config.phoenix.endpoint, project, span_ids)
    assert {v["label"] for v in stored.values()} == {"audio_analysis_agent"}
    assert {v["annotator_kind"] for v in stored.values()} == {"LLM"}

    # the next run's harvest joins them as labels
    later = tenant_ctx("a2")
    again = harvest.run(later, harvest.HarvestInputs(lookback_hours=24, end_time=now))
    assert again.labels_by_source.get("llm") == 2


def test_an_annotator_that_disagrees_with_humans_writes_nothing(tenant_ctx, annotator_lm):
    ctx = tenant_ctx("u1")
    now = datetime.now(timezone.utc)
    project = ctx.config.phoenix.project_for(ctx.tenant)
    _traffic_with_human_reviews(ctx, now, human_label="video_search_agent")  # the annotator says audio: 0 of 8
    harvest.run(ctx, harvest.HarvestInputs(lookback_hours=24, end_time=now))

    result = annotate.run(ctx, annotate.AnnotateInputs(max_annotations=2))
    assert not result.verification.trusted and result.verification.accuracy == 0.0
    assert "not trusted" in result.verification.reason
    # an untrusted annotator is not even asked: its labels would be thrown away
    assert (result.proposed, result.annotated, result.written_to_phoenix) == (0, 0, 0)
    merged = read_parquet(ctx.store, result.experiences_key)
    assert not [r for r in merged if r["label_source"] == "llm"]  # nothing to train on
    unsure = [r["span_id"] for r in merged if r["query"].startswith("play the podcast")]
    assert phoenix_io.fetch_annotations(ctx.config.phoenix.endpoint, project, unsure) == {}


def test_an_annotator_with_too_few_human_labels_to_measure_is_not_used(tenant_ctx, annotator_lm):
    ctx = tenant_ctx("n1")
    ctx.config.annotation.min_verified = 20
    now = datetime.now(timezone.utc)
    _traffic_with_human_reviews(ctx, now, human_label="audio_analysis_agent")
    harvest.run(ctx, harvest.HarvestInputs(lookback_hours=24, end_time=now))
    result = annotate.run(ctx, annotate.AnnotateInputs(max_annotations=2))
    assert not result.verification.trusted and "unverified" in result.verification.reason and result.annotated == 0


def test_harvest_drops_duplicate_span_ids(tenant_ctx, monkeypatch):
    now = datetime.now(timezone.utc)
    span = {"span_id": "abc", "trace_id": "t", "start_time": now.isoformat(), **{k: v for k, v in record(0, now).items() if k != "start_time"}}
    monkeypatch.setattr(phoenix_io, "fetch_routing_spans", lambda *a, **k: [span, dict(span)])
    monkeypatch.setattr(phoenix_io, "fetch_annotations", lambda *a, **k: {})
    result = harvest.run(tenant_ctx("d1"), harvest.HarvestInputs(lookback_hours=1, end_time=now))
    assert (result.spans_read, result.duplicates, result.experiences) == (2, 1, 1)
