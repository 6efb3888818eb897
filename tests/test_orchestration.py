"""Orchestration traces: the tracer's `cogniverse.orchestration` spans, read by harvest (paged,
deduplicated, contract breaks counted) into workflow executions; the demo seeds them. Against a
real Phoenix server."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipeline.demo.seed import load_queries, simulate_orchestration
from pipeline.orchestration import PATTERNS, WorkflowExecution, execution_from_span, plan_label
from pipeline.phoenix_io import ORCHESTRATION_SPAN_NAME, fetch_orchestration_spans, wait_for_span_count

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def _context(tmp_path: Path, phoenix_url: str, pattern: str, tenant: str = "orch"):
    from pipeline.config import PipelineConfig, StorageConfig
    from pipeline.run import StageContext
    from pipeline.storage import open_store

    config = PipelineConfig(storage=StorageConfig(url=f"file://{tmp_path / 'store'}"))
    config.phoenix.endpoint = phoenix_url
    config.phoenix.project_pattern = pattern
    config.phoenix.page_size = 7  # several pages: nothing is lost between them
    return StageContext(config=config, store=open_store(config.storage), tenant=tenant, run_id="r1")


def test_tracer_spans_harvest_into_executions(phoenix_url: str, tmp_path: Path) -> None:
    from pipeline.router.tracer import RoutingTracer
    from pipeline.run import readers
    from pipeline.stages import harvest

    pattern = f"orch-{uuid.uuid4().hex[:8]}-{{tenant}}"
    project = pattern.format(tenant="orch")
    with RoutingTracer(phoenix_url, project, background=False) as tracer:
        for i in range(20):
            span = tracer.start_orchestration(
                query=f"find the launch video {i} and summarize it", pattern="sequential",
                agents=["video_search_agent", "summarizer_agent"], analysis={"modalities": ["video"], "entities": []},
                start_time=NOW - timedelta(hours=1, minutes=i),
            )
            tracer.record_orchestration_outcome(
                span, success=True, user_satisfaction=0.9 if i % 2 else None, processing_time=2.5,
                agent_outcomes=[{"agent": "video_search_agent", "success": True, "processing_time": 1.0},
                                {"agent": "summarizer_agent", "success": True, "processing_time": 1.4}],
            )
        parallel = tracer.start_orchestration(query="photos of the booth and the keynote clip", pattern="parallel",
                                              agents=["image_search_agent", "video_search_agent"], start_time=NOW - timedelta(minutes=5))
        tracer.record_orchestration_outcome(parallel, success=False, user_satisfaction=0.2, processing_time=1.5,
                                            parallel_efficiency=0.8)
        broken = [
            dict(query=None, pattern="sequential", agents=["document_agent"]),
            dict(query="q", pattern="round_robin", agents=["document_agent"]),
            dict(query="q", pattern="parallel", agents=["nobody_agent"]),
        ]
        for kwargs in broken:
            tracer.record_orchestration_outcome(tracer.start_orchestration(**kwargs, start_time=NOW - timedelta(minutes=3)),
                                                success=True)
        no_outcome = tracer.start_orchestration(query="never finished", pattern="sequential", agents=["text_search_agent"],
                                                start_time=NOW - timedelta(minutes=2))
        tracer.end(no_outcome, end_time=NOW - timedelta(minutes=1))
    wait_for_span_count(phoenix_url, project, 25, name=ORCHESTRATION_SPAN_NAME, start=NOW - timedelta(hours=2), end=NOW)

    ctx = _context(tmp_path, phoenix_url, pattern)
    result = harvest.run(ctx, harvest.HarvestInputs(lookback_hours=2, end_time=NOW))
    assert result.status == "ok" and result.experiences == 0  # no routing spans: executions alone are data
    assert (result.orchestration_spans_read, result.orchestration_duplicates, result.executions) == (25, 0, 21)
    assert result.orchestration_malformed == {
        "missing orchestration.query": 1, "missing outcome.success": 1,
        "orchestration.agent_sequence not a list of catalog agents": 1, "unknown orchestration.pattern": 1,
    }
    executions = readers.executions(ctx)
    assert len(executions) == 21 and executions == sorted(executions, key=lambda e: e["timestamp"])
    first = WorkflowExecution.model_validate(executions[0])
    assert first.agent_sequence == ["video_search_agent", "summarizer_agent"] and first.pattern == "sequential"
    assert [o.agent for o in first.agent_outcomes] == first.agent_sequence and first.processing_time == 2.5
    assert first.analysis == "entities: ; modalities: video" or first.analysis == "modalities: video"
    beneficial = [e for e in executions if e["orchestration_beneficial"]]
    assert len(beneficial) == 10 and all(e["multi_agent_synergy"] for e in beneficial)
    last = executions[-1]
    assert (last["pattern"], last["success"], last["parallel_efficiency"], last["multi_agent_synergy"]) == ("parallel", False, 0.8, False)


def test_execution_from_span_names_each_contract_break() -> None:
    good = {"span_id": "a" * 16, "start_time": "2026-12-01T10:00:00+00:00", "orchestration.query": " q ",
            "orchestration.pattern": "conditional", "orchestration.agent_sequence": ["text_search_agent", "document_agent"],
            "outcome.success": 1.0, "outcome.user_satisfaction": "0.8"}
    execution, problem = execution_from_span(good)
    assert problem is None and execution.query == "q" and execution.success and execution.orchestration_beneficial
    for change, reason in (
        ({"outcome.user_satisfaction": 1.5}, "outcome.user_satisfaction not in [0, 1]"),
        ({"orchestration.parallel_efficiency": -0.1}, "orchestration.parallel_efficiency not in [0, 1]"),
        ({"orchestration.agent_sequence": []}, "orchestration.agent_sequence not a list of catalog agents"),
        ({"orchestration.agent_sequence": "text_search_agent"}, "orchestration.agent_sequence not a list of catalog agents"),
        ({"outcome.agent_outcomes": [{"agent": "x", "success": True}]}, "outcome.agent_outcomes not a list of {agent, success}"),
        ({"outcome.success": None}, "missing outcome.success"),
        ({"orchestration.processing_time": -1}, "orchestration.processing_time negative"),
    ):
        assert execution_from_span({**good, **change}) == (None, reason)


def test_plan_label_orders_parallel_agents() -> None:
    assert plan_label("parallel", ["video_search_agent", "image_search_agent"]) == "parallel: image_search_agent + video_search_agent"
    assert plan_label("sequential", ["video_search_agent", "summarizer_agent"]) == "sequential: video_search_agent > summarizer_agent"


def test_simulated_orchestrator_is_realistic_and_deterministic() -> None:
    queries = load_queries()
    runs = [simulate_orchestration(queries, "demo", NOW, 48, 7) for _ in range(2)]
    assert json.dumps(runs[0], default=str) == json.dumps(runs[1], default=str)
    records = [r for r, _ in runs[0]]
    patterns = {r.get("orchestration.pattern") for r in records}
    assert set(PATTERNS) <= patterns
    right = sum((r.get("orchestration.pattern"), tuple(r["orchestration.agent_sequence"])) == plan for r, plan in runs[0])
    assert 0.6 <= right / len(records) <= 0.9  # the orchestrator is good, not perfect
    parallel = [r for r in records if r.get("orchestration.pattern") == "parallel"]
    assert all(0 < r["orchestration.parallel_efficiency"] <= 1 for r in parallel)
    assert all(len(set(r["orchestration.agent_sequence"])) == len(r["orchestration.agent_sequence"]) for r in records)


def test_demo_seed_writes_orchestration_spans(phoenix_url: str, tmp_path: Path) -> None:
    from pipeline.demo.seed import seed_demo_tenant
    from pipeline.stages import harvest

    pattern = f"orch-seed-{uuid.uuid4().hex[:8]}-{{tenant}}"
    summary = seed_demo_tenant(phoenix_url, "demo", now=NOW, hours=48, project_pattern=pattern)
    assert (summary.orchestrations_sent, summary.orchestrations_malformed) == (120, 4)
    spans = fetch_orchestration_spans(phoenix_url, summary.project, NOW - timedelta(hours=48), NOW)
    assert len(spans) == 120
    ctx = _context(tmp_path, phoenix_url, pattern, tenant="demo")
    ctx.config.phoenix.page_size = 1000
    result = harvest.run(ctx, harvest.HarvestInputs(lookback_hours=48, end_time=NOW))
    assert (result.orchestration_spans_read, result.executions) == (120, 116)
    assert sum(result.orchestration_malformed.values()) == 4


@pytest.mark.parametrize("bad", ["not json", json.dumps({"pattern": "x"})])
def test_a_corrupted_executions_file_is_bad_input(tmp_path: Path, phoenix_url: str, bad: str) -> None:
    from pipeline.errors import ConfigError
    from pipeline.layout import EXECUTIONS_FILE
    from pipeline.run import readers
    from pipeline.run.harvest import STAGE, HarvestResult

    ctx = _context(tmp_path, phoenix_url, "unused-{tenant}")
    out = ctx.output(STAGE)
    key = out.put_bytes(EXECUTIONS_FILE, (bad + "\n").encode())
    out.commit(HarvestResult(status="ok", project="p", window_start=NOW, window_end=NOW, spans_read=0, duplicates=0,
                             malformed={}, experiences=0, labelled=0, labels_by_source={}, experiences_key=None,
                             executions=1, executions_key=key))
    with pytest.raises(ConfigError, match="executions.jsonl"):
        readers.executions(ctx)
