"""The router's side of the loop: a promoted program routes queries (cached, reloaded when
production changes), epsilon-greedy explores, and the decisions' spans — written to a real Phoenix
by the router API's tracer — are what the next harvest reads, with the right labels and rewards."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from pipeline import promotion
from pipeline.adaptive import Settings, fit_fast_tier
from pipeline.config import PipelineConfig, StorageConfig
from pipeline.domain import AGENTS
from pipeline.errors import NotFoundError, StoreUnavailableError
from pipeline.modules.routing import RoutingModule
from pipeline.phoenix_io import fetch_routing_spans, wait_for_span_count
from pipeline.reward import compute_reward
from pipeline.router import EpsilonGreedy, NoExploration, Router, RoutingTracer
from pipeline.stages import harvest
from pipeline.run import StageContext
from pipeline.storage import open_store

REPO = Path(__file__).resolve().parents[1]
QUERIES = [json.loads(line) for line in (REPO / "pipeline/demo/data/queries.jsonl").read_text().splitlines() if line.strip()]
SWAP = {"video_search_agent": "image_search_agent", "image_search_agent": "video_search_agent"}


@functools.lru_cache(maxsize=None)
def fast_tier(swapped: bool) -> str:
    """A fast tier (TF-IDF + logistic regression, threshold 0: it answers everything, no LM call)
    fitted on the demo queries, or on them with SWAP applied to the labels; fitted once per
    session (seconds on a busy machine), as JSON."""
    labels = [SWAP.get(row["agent"], row["agent"]) if swapped else row["agent"] for row in QUERIES]
    fast, _ = fit_fast_tier([row["query"] for row in QUERIES], labels, Settings(cv_folds=2))
    return json.dumps(fast)


def promote_fast_tier(store, tenant: str, run_id: str, *, swapped: bool = False):
    """Store a program with only that fast tier as the train stage does, and promote it."""
    program = RoutingModule()
    program.set_learned({"fast_tier": json.loads(fast_tier(swapped))})
    prefix = f"tenants/{tenant}/runs/{run_id}/train/routing"
    store.put_new(f"{prefix}/program.json", json.dumps(program.dump_state()).encode())
    return promotion.promote(store, tenant, "routing", artifact_prefix=prefix, run_id=run_id, metrics={},
                             reason="test", expected="read")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_epsilon_greedy_explores_other_agents_and_decays_to_its_floor() -> None:
    greedy = EpsilonGreedy(seed=1)
    assert (greedy.epsilon, greedy.decay, greedy.floor) == (0.1, 0.995, 0.05)
    results = [greedy.choose("document_agent", AGENTS) for _ in range(2000)]
    assert [eps for _, _, eps in results[:3]] == [0.1, 0.1 * 0.995, 0.1 * 0.995**2]
    assert results[-1][2] == 0.05 and greedy.epsilon == 0.05  # 0.1·0.995^139 < 0.05: the floor holds
    explored = [agent for agent, was, _ in results if was]
    assert all(agent != "document_agent" for agent in explored)
    assert all(agent == "document_agent" for agent, was, _ in results if not was)
    assert 0.04 < len(explored) / len(results) < 0.08  # mostly at the floor
    assert len(set(explored)) == len(AGENTS) - 1  # every other agent gets traffic
    assert not any(was for _, was, _ in (NoExploration().choose("document_agent", AGENTS) for _ in range(200)))
    with pytest.raises(Exception, match="floor"):
        EpsilonGreedy(epsilon=0.01, floor=0.05)


def test_the_production_program_is_cached_and_reloaded_when_production_changes(tmp_path) -> None:
    store = open_store(StorageConfig(url=f"file://{tmp_path / 'store'}"))
    router = Router("acme", store=store, exploration=NoExploration(), lm=object(), adapter=object(), refresh_s=30)
    with pytest.raises(NotFoundError, match="no routing program in production"):
        router.route("slow motion video of a hummingbird feeding")

    promote_fast_tier(store, "acme", "r1")
    clock = router.programs.clock = Clock()
    first = router.route("slow motion video of a hummingbird feeding")
    assert (first.agent, first.program_version, first.tier, first.explored) == ("video_search_agent", "v1", "classifier", False)
    assert 0 < first.confidence <= 1 and first.reasoning.startswith("text classifier")

    promote_fast_tier(store, "acme", "r2", swapped=True)  # a program that swaps two labels
    assert router.route("slow motion video of a hummingbird feeding").program_version == "v1"  # not re-checked yet
    clock.now += 31
    second = router.route("slow motion video of a hummingbird feeding")
    assert (second.agent, second.program_version) == ("image_search_agent", "v2")
    loads = router.programs.loads
    clock.now += 31
    assert router.route("slow motion video of a hummingbird feeding").program_version == "v2"
    assert router.programs.loads == loads  # re-checked, same version token: not loaded again

    promotion.rollback(store, "acme", "routing")
    clock.now += 31
    back = router.route("slow motion video of a hummingbird feeding")
    assert (back.agent, back.program_version) == ("video_search_agent", "v3")  # the rollback's record

    class Unreachable:
        def get_versioned(self, key):
            raise StoreUnavailableError("store down")

        def describe(self, key):
            return key

    router.programs.store = Unreachable()
    clock.now += 31
    assert router.route("slow motion video of a hummingbird feeding").program_version == "v3"  # keeps serving


def test_an_unoptimized_fallback_only_when_allowed(tmp_path) -> None:
    store = open_store(StorageConfig(url=f"file://{tmp_path / 'store'}"))
    router = Router("acme", store=store, allow_unoptimized=True)
    loaded = router.programs.get("routing")
    assert loaded.version == "unoptimized" and loaded.sequence is None


def test_routed_decisions_are_harvested_with_their_labels_and_rewards(phoenix_url, tmp_path) -> None:
    tenant = f"router-{uuid.uuid4().hex[:8]}"
    config = PipelineConfig(storage=StorageConfig(url=f"file://{tmp_path / 'store'}"))
    config.phoenix.endpoint = phoenix_url
    store = open_store(config.storage)
    promote_fast_tier(store, tenant, "r1")
    tracer = RoutingTracer.for_tenant(phoenix_url, tenant)
    router = Router(tenant, store=store, config=config, tracer=tracer, lm=object(), adapter=object(),
                    exploration=EpsilonGreedy(epsilon=0.4, decay=1.0, floor=0.4, seed=5))
    started = datetime.now(timezone.utc) - timedelta(minutes=30)
    decisions, gold = [], {}
    for i, row in enumerate(QUERIES[::9]):
        decision = router.route(row["query"], context={"entities": [], "enhanced_query": row["query"]},
                                modality=row["modality"], start_time=started + timedelta(seconds=10 * i))
        right = decision.agent == row["agent"]
        router.record_outcome(decision, search_quality=0.9 if right else 0.2, agent_success=right,
                              user_satisfaction=0.8 if right and i % 2 else None, processing_time=1.5)
        decisions.append(decision)
        gold[decision.span_id] = row["agent"]
    router.close()
    explored = [d for d in decisions if d.explored]
    assert 5 <= len(explored) < len(decisions) - 5
    assert all(d.agent != d.recommended_agent and d.confidence < 0.2 for d in explored)

    project = config.phoenix.project_for(tenant)
    wait_for_span_count(phoenix_url, project, len(decisions), timeout_s=60)
    ctx = StageContext(config=config, store=store, tenant=tenant, run_id="r2")
    result = harvest.run(ctx, harvest.HarvestInputs(lookback_hours=1, end_time=datetime.now(timezone.utc) + timedelta(minutes=1)))
    assert result.experiences == len(decisions) and result.malformed == {}
    import io

    import pyarrow.parquet as pq

    rows = {r["span_id"]: r for r in pq.read_table(io.BytesIO(store.get(result.experiences_key))).to_pylist()}
    assert set(rows) == {d.span_id for d in decisions}
    for d in decisions:
        row = rows[d.span_id]
        assert (row["query"], row["chosen_agent"], row["confidence"], row["modality"]) == (d.query, d.agent, d.confidence, d.modality)
        right = d.agent == gold[d.span_id]
        assert row["reward"] == pytest.approx(compute_reward(0.9 if right else 0.2, float(right), row["user_satisfaction"], 1.5,
                                                             config.reward))
        if d.explored:
            assert row["label"] is None  # never trusted as an outcome label
        elif d.confidence >= 0.7 and right:
            assert (row["label"], row["label_source"]) == (d.agent, "outcome")
    spans = {s["span_id"]: s for s in fetch_routing_spans(phoenix_url, project, started - timedelta(minutes=1), datetime.now(timezone.utc))}
    assert Counter(s["routing.explored"] for s in spans.values()) == Counter(d.explored for d in decisions)
    assert {s["routing.program_version"] for s in spans.values()} == {"routing v1"}
    for d in explored:
        assert spans[d.span_id]["routing.recommended_agent"] == d.recommended_agent
    assert datetime.fromisoformat(spans[decisions[0].span_id]["start_time"]) == started  # backdated


def test_the_readme_script_routes_through_production_and_the_next_harvest_reads_it(phoenix_url, tmp_path) -> None:
    readme = (REPO / "README.md").read_text()
    script = re.search(r"```python\n(# route_queries\.py.*?)```", readme, re.S).group(1)
    (tmp_path / "route_queries.py").write_text(script)
    tenant = f"script-{uuid.uuid4().hex[:8]}"
    config = {
        "storage": {"url": f"file://{tmp_path / 'store'}"},
        "phoenix": {"endpoint": phoenix_url},
        # An LM nobody can reach: the fast tier must answer on its own.
        "llm": {"primary": {"model": "openai/unreachable", "api_base": "http://127.0.0.1:9/v1"}},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    store = open_store(StorageConfig(url=config["storage"]["url"]))
    promote_fast_tier(store, tenant, "r1")
    queries = ["slow motion video of a hummingbird feeding", "the postmortem doc for the March outage", "summarize the Q3 earnings call"]
    env = {**os.environ, "COGNIVERSE_CONFIG": str(tmp_path / "config.yaml"), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, str(tmp_path / "route_queries.py"), tenant, *queries], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3 and lines[0].startswith("'slow motion video of a hummingbird feeding' -> ") and "v1" in lines[0]

    project = f"cogniverse-{tenant}"
    wait_for_span_count(phoenix_url, project, 3, timeout_s=60)
    pipeline_config = PipelineConfig.model_validate(config)
    ctx = StageContext(config=pipeline_config, store=store, tenant=tenant, run_id="next")
    result = harvest.run(ctx, harvest.HarvestInputs(lookback_hours=1, end_time=datetime.now(timezone.utc) + timedelta(minutes=1)))
    assert result.experiences == 3 and result.malformed == {}
    import io

    import pyarrow.parquet as pq

    rows = pq.read_table(io.BytesIO(store.get(result.experiences_key))).to_pylist()
    assert sorted(r["query"] for r in rows) == sorted(queries)
    assert all(r["search_quality"] == 0.9 and r["agent_success"] == 1.0 and r["processing_time"] == 1.2 for r in rows)
    assert all(json.loads(r["context"])["enhanced_query"] == r["query"] for r in rows)
