"""The demo data files and the demo seeder (the seeder against a real Phoenix server)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipeline.domain import AGENTS, MODALITIES
from pipeline.demo.seed import (
    DATA_DIR,
    SeedSummary,
    baseline_route,
    is_malformed,
    load_queries,
    seed_demo_tenant,
    simulate_routing,
)
from pipeline.phoenix_io import count_routing_spans, fetch_annotations, fetch_routing_spans

SCHEMAS = {"video_frames", "image_content", "audio_transcripts", "document_content", "text_content"}
SUMMARY_CUES = re.compile(
    r"\b(summar\w*|tl;?dr|key (points|takeaways)|takeaways|recap|gist|highlights|nutshell|sum up|synopsis"
    r"|cliff notes|condense|boil .* down|main points|overview|in short|short version|short summary|one line"
    r"|briefly|skim|key numbers)\b"
)
REPORT_CUES = re.compile(
    r"\b(detailed|in-depth|in depth|comprehensive|deep[- ]dive|deep analysis|thorough|exhaustive|extensive"
    r"|full (breakdown|report|analytical)|write-up|long-form|analy[sz]\w*)\b"
)
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


def _jsonl(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA_DIR / name).read_text().splitlines() if line.strip()]


# ------------------------------------------------------------------ committed data
def test_queries_are_labelled_balanced_and_distinct() -> None:
    rows = _jsonl("queries.jsonl")
    assert 300 <= len(rows) <= 400
    for row in rows:
        assert set(row) == {"query", "agent", "modality", "entities"}
        assert row["agent"] in AGENTS and row["modality"] in MODALITIES
        assert isinstance(row["entities"], list) and all(isinstance(e, str) and e for e in row["entities"])
        assert 8 <= len(row["query"]) <= 200
    per_agent = Counter(row["agent"] for row in rows)
    assert set(per_agent) == set(AGENTS) and min(per_agent.values()) >= 35
    assert len({row["query"].lower() for row in rows}) == len(rows)
    # Varied phrasing, not one template: many different opening words per agent.
    for agent in AGENTS:
        openings = {row["query"].split()[0].lower() for row in rows if row["agent"] == agent}
        assert len(openings) >= 12, agent
    # Modality-specific agents are about their own modality; task agents span several.
    own = {"video_search_agent": "video", "image_search_agent": "image", "audio_analysis_agent": "audio",
           "document_agent": "document", "text_search_agent": "text"}
    for row in rows:
        if row["agent"] in own:
            assert row["modality"] == own[row["agent"]], row
    for agent in ("summarizer_agent", "detailed_report_agent"):
        assert len({row["modality"] for row in rows if row["agent"] == agent}) == 5


def test_summary_report_and_document_queries_are_told_apart_by_wording() -> None:
    rows = _jsonl("queries.jsonl")
    for row in rows:
        text = row["query"].lower()
        if row["agent"] == "summarizer_agent":
            assert SUMMARY_CUES.search(text), row["query"]
            assert not re.search(r"detailed|in-depth|comprehensive", text), row["query"]
        elif row["agent"] == "detailed_report_agent":
            assert REPORT_CUES.search(text), row["query"]
        elif row["agent"] == "document_agent":
            assert not SUMMARY_CUES.search(text) and not REPORT_CUES.search(text), row["query"]


def test_corpus_items_are_well_formed() -> None:
    rows = _jsonl("corpus.jsonl")
    assert 100 <= len(rows) <= 150
    assert len({row["id"] for row in rows}) == len(rows)
    assert Counter(row["schema"] for row in rows).keys() == SCHEMAS
    assert min(Counter(row["schema"] for row in rows).values()) >= 20
    for row in rows:
        assert set(row) == {"id", "schema", "title", "text", "topics", "entities"}
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", row["text"]) if s]
        assert 1 <= len(sentences) <= 3, row["id"]
        assert row["title"] and row["topics"] and all(isinstance(t, str) for t in row["topics"])
        assert all(isinstance(e, str) and e for e in row["entities"])


# ------------------------------------------------------------------ the simulated router
def test_simulation_is_deterministic_and_realistically_imperfect() -> None:
    queries = load_queries()
    a = simulate_routing(queries, "demo", NOW, 20, seed=7)
    assert a == simulate_routing(queries, "demo", NOW, 20, seed=7)
    assert a != simulate_routing(queries, "demo", NOW, 20, seed=8)

    records = [r for r, _ in a]
    good = [(r, truth) for r, truth in a if not is_malformed(r)]
    n = len(records)
    assert 0.01 <= (n - len(good)) / n <= 0.04  # ~2% malformed on purpose
    assert any("routing.query" not in r for r in records)
    assert any(not 0 <= r["routing.confidence"] <= 1 for r in records)

    correct = [r["routing.chosen_agent"] == truth for r, truth in good]
    accuracy = sum(correct) / len(good)
    assert 0.55 <= accuracy <= 0.8  # a cheap router: room to improve
    low = sum(r["routing.confidence"] < 0.6 for r in records) / n
    assert 0.3 <= low <= 0.4
    confident_wrong = sum(r["routing.confidence"] >= 0.75 and not ok for (r, _), ok in zip(good, correct))
    unsure_right = sum(r["routing.confidence"] < 0.5 and ok for (r, _), ok in zip(good, correct))
    assert confident_wrong >= 5 and unsure_right >= 5
    wrong_pairs = Counter((truth, r["routing.chosen_agent"]) for (r, truth), ok in zip(good, correct) if not ok)
    assert wrong_pairs[("summarizer_agent", "detailed_report_agent")] + wrong_pairs[("detailed_report_agent", "summarizer_agent")] > 0
    assert wrong_pairs[("video_search_agent", "audio_analysis_agent")] + wrong_pairs[("audio_analysis_agent", "video_search_agent")] > 0

    mean_quality = {
        ok: sum(r["outcome.search_quality"] for (r, _), c in zip(good, correct) if c == ok) / correct.count(ok)
        for ok in (True, False)
    }
    assert mean_quality[True] > 0.7 > 0.45 > mean_quality[False]
    missing = sum(r["outcome.user_satisfaction"] is None for r in records) / n
    assert 0.2 <= missing <= 0.4
    assert all(0.2 <= r["routing.processing_time"] <= 6 for r in records)
    assert all(NOW - timedelta(hours=20) < r["start_time"] < NOW for r in records)


def test_baseline_router_keyword_confusions() -> None:
    import random

    # "report" pulls a document request toward the report agent: a keyword router's mistake.
    chosen = Counter(baseline_route("find the audit report from Deloitte", "document_agent", random.Random(i))[0] for i in range(50))
    assert chosen.most_common(1)[0][0] == "detailed_report_agent"
    # A media word can outweigh the task word: "summarize ... video" sometimes goes to video search.
    agent, confidence, modality = baseline_route("summarize this YouTube video on index funds", "summarizer_agent", random.Random(1))
    assert (agent, modality) == ("video_search_agent", "video") and 0 < confidence < 1
    agent, confidence, modality = baseline_route("tl;dr of the incident postmortem", "summarizer_agent", random.Random(1))
    assert (agent, modality) == ("summarizer_agent", "text") and 0 < confidence < 1


# ------------------------------------------------------------------ seeding a real Phoenix
@dataclass(frozen=True)
class Seeded:
    tenant: str
    now: datetime
    summary: SeedSummary


@pytest.fixture(scope="module")
def seeded(phoenix_url: str) -> Seeded:
    """One seeded tenant for this module: seeding sends ~385 spans (~3 s of ingestion)."""
    tenant = f"seed-{uuid.uuid4().hex[:8]}"
    now = datetime.now(timezone.utc)
    return Seeded(tenant, now, seed_demo_tenant(phoenix_url, tenant, now=now))


def test_seeding_fills_the_window_with_labelled_spans(phoenix_url: str, seeded: Seeded) -> None:
    first = seeded.summary
    assert not first.skipped and first.existing == 0
    assert first.project == f"cogniverse-{seeded.tenant}"
    queries = load_queries()
    assert first.sent == len(queries) + len(queries) // 10
    assert first.malformed >= 2
    assert 0.04 <= first.human_annotations / first.sent <= 0.06

    spans = fetch_routing_spans(phoenix_url, first.project, seeded.now - timedelta(hours=20), seeded.now)
    assert len(spans) == first.sent
    assert sum(is_malformed(s) for s in spans) == first.malformed
    contexts = [s["routing.context"] for s in spans]
    assert all(c["tenant_id"] == seeded.tenant for c in contexts)
    low = sum(s["routing.confidence"] < 0.6 for s in spans) / len(spans)
    assert 0.3 <= low <= 0.4

    truth = {row["query"]: row["agent"] for row in queries}
    labels = fetch_annotations(phoenix_url, first.project, [s["span_id"] for s in spans])
    assert len(labels) == first.human_annotations
    by_id = {s["span_id"]: s for s in spans}
    for span_id, label in labels.items():
        assert label["annotator_kind"] == "HUMAN"
        assert label["label"] == truth[by_id[span_id]["routing.query"]]


def test_seeding_again_sends_nothing(phoenix_url: str, seeded: Seeded) -> None:
    second = seed_demo_tenant(phoenix_url, seeded.tenant, now=seeded.now + timedelta(minutes=5))
    assert second.skipped and second.sent == 0 and second.human_annotations == 0
    assert second.existing == seeded.summary.sent
    assert count_routing_spans(phoenix_url, seeded.summary.project) == seeded.summary.sent


def test_seed_cli(phoenix_url: str, seeded: Seeded) -> None:
    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-m", "pipeline.demo.seed", "--endpoint", phoenix_url, "--tenant"]
    again = subprocess.run([*command, seeded.tenant], cwd=root, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert f"cogniverse-{seeded.tenant}: already has {seeded.summary.sent} routing spans" in again.stdout
    bad = subprocess.run([*command, "Not_A_Tenant"], cwd=root, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "invalid tenant id" in bad.stderr


# The harvested experiences of the demo tenant seeded for a fixed `now` (ids aside, which OTel
# draws at random): measured with the seeder as it was before it wrote through the router API's
# tracer. A benchmark depends on this traffic; any change to what the demo seeds shows up here.
SEEDED_EXPERIENCES_SHA256 = "e2990cf9d78a59afbb341f404e440e565071699e54076cfae2bb25bf72cd44aa"


def test_seeded_traffic_harvests_to_the_same_experiences(phoenix_url: str, tmp_path: Path) -> None:
    import hashlib
    import io

    import pyarrow.parquet as pq

    from pipeline.config import PipelineConfig, StorageConfig
    from pipeline.stages import harvest
    from pipeline.run import StageContext
    from pipeline.storage import open_store

    now = datetime(2026, 12, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
    tenant = "digest"
    config = PipelineConfig(storage=StorageConfig(url=f"file://{tmp_path / 'store'}"))
    config.phoenix.endpoint = phoenix_url
    config.phoenix.project_pattern = f"seed-digest-{uuid.uuid4().hex[:8]}-{{tenant}}"  # a fresh project
    seed_demo_tenant(phoenix_url, tenant, now=now, hours=48, project_pattern=config.phoenix.project_pattern)
    ctx = StageContext(config=config, store=open_store(config.storage), tenant=tenant, run_id="r1")
    result = harvest.run(ctx, harvest.HarvestInputs(lookback_hours=48, end_time=now))
    assert (result.spans_read, result.experiences) == (385, 377)
    assert result.malformed == {"missing routing.query": 4, "routing.confidence not in [0, 1]": 4}
    assert result.labels_by_source == {"human": 19, "none": 220, "outcome": 138}
    rows = pq.read_table(io.BytesIO(ctx.store.get(result.experiences_key))).to_pylist()
    rows = sorted(({k: v for k, v in r.items() if k not in ("span_id", "trace_id")} for r in rows),
                  key=lambda r: (r["timestamp"], r["query"]))
    assert hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest() == SEEDED_EXPERIENCES_SHA256
    # The decision spans carry the router API's exploration flag: the keyword router never explores.
    spans = fetch_routing_spans(phoenix_url, config.phoenix.project_for(tenant), now - timedelta(hours=48), now)
    assert {s.get("routing.explored") for s in spans} == {False}
