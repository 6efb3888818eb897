"""Seed a demo tenant's Phoenix project with the traces a cheap production router would leave.

The queries are the committed, labelled `data/queries.jsonl`; nothing is invented at run
time except the simulated router's behaviour, which is deterministic for a given `seed`.
The baseline router is keyword heuristics plus occasional slips, so its mistakes look like
a real cheap router's: it confuses summarizer / detailed report / document, text / document,
audio inside video, and it is sometimes confidently wrong and sometimes unsure but right.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from pipeline.contract import ORCHESTRATION_PATTERNS
from pipeline.domain import AGENTS
from pipeline.errors import ConfigError, run_main
from pipeline.phoenix_io import (
    ORCHESTRATION_SPAN_NAME,
    count_routing_spans,
    wait_for_span_count,
    write_annotations,
)
from pipeline.tenant import validate_tenant_id

DATA_DIR = Path(__file__).resolve().parent / "data"
HUMAN_IDENTIFIER = "demo-seed-human-review"

AGENT_MODALITY = {
    "video_search_agent": "video",
    "image_search_agent": "image",
    "audio_analysis_agent": "audio",
    "document_agent": "document",
    "text_search_agent": "text",
}
# Pairs a user would call "nearly right": the agent could partly serve the request.
NEAR_MISSES = {
    frozenset({"summarizer_agent", "detailed_report_agent"}),
    frozenset({"text_search_agent", "document_agent"}),
    frozenset({"video_search_agent", "audio_analysis_agent"}),
    frozenset({"summarizer_agent", "document_agent"}),
    frozenset({"detailed_report_agent", "document_agent"}),
}
# Where an occasional slip of the router goes, per correct agent.
SLIPS = {
    "video_search_agent": ("audio_analysis_agent", "image_search_agent"),
    "image_search_agent": ("video_search_agent", "document_agent"),
    "audio_analysis_agent": ("video_search_agent", "text_search_agent"),
    "document_agent": ("text_search_agent", "detailed_report_agent", "summarizer_agent"),
    "text_search_agent": ("document_agent", "summarizer_agent"),
    "summarizer_agent": ("detailed_report_agent", "document_agent"),
    "detailed_report_agent": ("summarizer_agent", "document_agent"),
}

# Keyword → weight per agent. Cheap and plausible, deliberately imperfect: "report" pulls
# toward detailed reports (annual report, SOC 2 report), "recording"/"call" toward audio
# (screen recording), "highlights" toward the summarizer (highlights reel), "docs" toward
# documents (the docs site) — the mistakes a keyword router makes.
_KEYWORDS: dict[str, dict[str, float]] = {
    "video_search_agent": {
        "video": 1.2, "videos": 1.2, "footage": 1.2, "clip": 1.0, "clips": 1.0, "scene": 0.9,
        "scenes": 0.9, "trailer": 1.0, "replay": 1.0, "keynote": 0.8, "watch": 0.9,
        "webinar": 0.8, "camera": 0.8, "youtube": 0.9, "documentary": 0.7,
    },
    "image_search_agent": {
        "photo": 1.2, "photos": 1.2, "picture": 1.2, "pictures": 1.2, "pics": 1.1,
        "image": 1.2, "images": 1.2, "screenshot": 1.0, "screenshots": 1.0, "logo": 0.9,
        "diagram": 0.9, "diagrams": 0.9, "png": 0.9, "chart": 0.6, "shots": 0.7,
        "photographs": 1.2, "imagery": 1.1, "x-rays": 0.9,
    },
    "audio_analysis_agent": {
        "podcast": 1.2, "podcasts": 1.2, "audio": 1.2, "call": 0.8, "calls": 0.9,
        "recording": 0.8, "recordings": 0.9, "voicemail": 1.1, "voicemails": 1.1,
        "voice": 0.9, "song": 1.0, "music": 0.9, "mp3": 1.0, "radio": 1.0, "listen": 1.0,
        "episode": 0.8, "interview": 0.4,
    },
    "document_agent": {
        "pdf": 1.3, "pdfs": 1.3, "contract": 1.1, "contracts": 1.1, "agreement": 1.1,
        "agreements": 1.1, "manual": 1.1, "invoice": 1.1, "policy": 0.9, "document": 1.1,
        "documents": 1.1, "doc": 0.9, "docs": 0.8, "spreadsheet": 1.1, "guide": 0.8,
        "report": 0.5, "paper": 0.8, "files": 0.7, "nda": 1.0, "lease": 1.0, "handbook": 1.0,
        "datasheet": 1.0, "filing": 1.0,
    },
    "text_search_agent": {
        "article": 0.9, "articles": 0.9, "news": 0.9, "messages": 0.9, "emails": 0.9,
        "email": 0.8, "tweets": 0.9, "wiki": 0.9, "forum": 0.9, "blog": 0.9, "faq": 0.9,
        "what is": 0.8, "how do i": 0.8, "how to": 0.8, "thread": 0.7, "chat": 0.7,
        "notes": 0.6, "reviews": 0.6, "posts": 0.7,
    },
    "summarizer_agent": {
        "summarize": 1.6, "summary": 1.5, "summarizing": 1.2, "tl;dr": 1.6, "tldr": 1.6,
        "recap": 1.4, "key points": 1.4, "takeaways": 1.4, "highlights": 1.1, "short": 0.7,
        "brief": 0.9, "overview": 0.9,
    },
    "detailed_report_agent": {
        "detailed": 1.5, "report": 1.0, "reports": 0.8, "in-depth": 1.5, "comprehensive": 1.4,
        "deep dive": 1.4, "analysis": 1.0, "analyze": 0.9, "thorough": 1.2, "review": 0.5,
    },
}
_PATTERNS = {
    agent: [(re.compile(rf"(?<![\w-]){re.escape(k)}(?![\w-])"), w) for k, w in words.items()]
    for agent, words in _KEYWORDS.items()
}


class SeedSummary(BaseModel):
    project: str
    window_start: datetime
    window_end: datetime
    skipped: bool  # the project already had routing spans in the window
    existing: int  # routing spans found in the window before seeding
    sent: int
    malformed: int
    human_annotations: int
    orchestrations_sent: int = 0  # cogniverse.orchestration spans (multi-agent executions)
    orchestrations_malformed: int = 0


def load_queries(path: Path | None = None) -> list[dict[str, Any]]:
    """The labelled demo queries: {query, agent, modality, entities}."""
    path = path or DATA_DIR / "queries.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for row in rows:
        if row.get("agent") not in AGENTS:
            raise ConfigError(f"{path}: unknown agent in {row!r}")
    return rows


def keyword_scores(query: str) -> dict[str, float]:
    text = query.lower()
    return {agent: sum(w for pattern, w in patterns if pattern.search(text)) for agent, patterns in _PATTERNS.items()}


def keyword_route(query: str) -> str:
    """The cheap router's choice without its random slips: the best keyword score, plain text
    search when nothing matched (what `baseline_route` does outside a slip)."""
    scores = keyword_scores(query)
    best = max(AGENTS, key=lambda a: scores[a])  # max keeps the first of ties, in AGENTS order
    return best if scores[best] > 0 else "text_search_agent"


def baseline_route(query: str, true_agent: str, rng: random.Random) -> tuple[str, float, str]:
    """The cheap router: (chosen agent, confidence, modality). `true_agent` only picks where
    a random slip goes (a slip lands on a confusable agent, as real ones do)."""
    scores = keyword_scores(query)
    ranked = sorted(AGENTS, key=lambda a: -scores[a])  # stable: ties keep AGENTS order
    top, second = scores[ranked[0]], scores[ranked[1]]
    modality_agents = [a for a in ranked if a in AGENT_MODALITY and scores[a] > 0]
    modality = AGENT_MODALITY[modality_agents[0]] if modality_agents else "text"

    if rng.random() < 0.1:  # a slip: the LM behind the cheap router misreads the request
        chosen = rng.choice(SLIPS[true_agent])
        confidence = rng.uniform(0.35, 0.9)
    elif top == 0:  # nothing matched: fall back to plain text search, unsure
        chosen = "text_search_agent"
        confidence = rng.uniform(0.25, 0.6)
    else:
        chosen = ranked[0]
        confidence = 0.3 + 0.3 * math.tanh(top / 1.5) + 0.3 * math.tanh((top - second) / 1.0)
        confidence += rng.gauss(0.0, 0.1)
    if chosen in AGENT_MODALITY:
        modality = AGENT_MODALITY[chosen]
    return chosen, round(min(0.99, max(0.05, confidence)), 3), modality


def _outcomes(chosen: str, true_agent: str, rng: random.Random) -> dict[str, Any]:
    def clip(x: float) -> float:
        return round(min(1.0, max(0.0, x)), 3)

    if chosen == true_agent:
        quality, success_p, satisfaction = rng.gauss(0.82, 0.1), 0.92, rng.gauss(0.8, 0.15)
    elif frozenset({chosen, true_agent}) in NEAR_MISSES:
        quality, success_p, satisfaction = rng.gauss(0.5, 0.15), 0.45, rng.gauss(0.45, 0.2)
    else:
        quality, success_p, satisfaction = rng.gauss(0.22, 0.12), 0.12, rng.gauss(0.2, 0.15)
    return {
        "outcome.search_quality": clip(quality),
        "outcome.agent_success": rng.random() < success_p,
        # Most users never rate an answer.
        "outcome.user_satisfaction": clip(satisfaction) if rng.random() >= 0.3 else None,
    }


def simulate_routing(
    queries: list[dict[str, Any]], tenant: str, now: datetime, hours: float, seed: int
) -> list[tuple[dict[str, Any], str]]:
    """(span record, true agent) for every query plus ~10% repeats, deterministic for `seed`."""
    rng = random.Random(seed)
    picked = list(queries) + rng.sample(queries, k=len(queries) // 10)  # users re-ask
    rng.shuffle(picked)
    window = timedelta(hours=hours)
    out: list[tuple[dict[str, Any], str]] = []
    session, turn = f"{rng.getrandbits(48):012x}", 0
    for row in picked:
        if rng.random() < 0.6:  # a new conversation
            session, turn = f"{rng.getrandbits(48):012x}", 0
        turn += 1
        chosen, confidence, modality = baseline_route(row["query"], row["agent"], rng)
        processing = min(6.0, max(0.2, rng.lognormvariate(math.log(1.1), 0.6)))
        if chosen == "detailed_report_agent":
            processing = min(6.0, processing * 2.0)
        record: dict[str, Any] = {
            "start_time": now - window * rng.uniform(0.001, 0.999),
            "routing.query": row["query"],
            "routing.chosen_agent": chosen,
            "routing.confidence": confidence,
            "routing.modality": modality,
            "routing.processing_time": round(processing, 3),
            "routing.context": {
                "tenant_id": tenant,
                "session_id": f"sess-{session}",
                "turn": turn,
                "client": rng.choice(("web", "web", "mobile", "api")),
            },
        }
        record.update(_outcomes(chosen, row["agent"], rng))
        out.append((record, row["agent"]))
    _break_a_few(out, rng)
    return out


def _break_a_few(records: list[tuple[dict[str, Any], str]], rng: random.Random) -> None:
    """~2% malformed spans, as an instrumentation bug would leave: no query, or a confidence
    outside [0, 1]."""
    count = max(2, round(len(records) * 0.02))
    for i, index in enumerate(rng.sample(range(len(records)), k=count)):
        record = records[index][0]
        if i % 2 == 0:
            del record["routing.query"]
        else:
            record["routing.confidence"] = rng.choice((1.35, -0.2, 7.0, 100.0))


def trace_decisions(endpoint: str, project: str, records: list[dict[str, Any]], *, api_key: str | None = None) -> list[Any]:
    """The simulated router's decisions as a router writes them: through the router API's tracer
    (pipeline.router.tracer), backdated to when they happened — the decision's routing.*
    attributes at its start, its outcome when known, the span ending after processing_time.
    Malformed records stay malformed: the tracer records what it is given. Returns the spans
    in record order, once Phoenix has acknowledged every batch."""
    from pipeline.router.tracer import RoutingTracer

    with RoutingTracer(endpoint, project, api_key=api_key, background=False) as tracer:
        spans = []
        for record in records:
            span = tracer.start(
                query=record.get("routing.query"), agent=record.get("routing.chosen_agent"),
                confidence=record.get("routing.confidence"), modality=record.get("routing.modality"),
                context=record.get("routing.context"), explored=False,  # the keyword router never explores
                start_time=record["start_time"],
            )
            tracer.record_outcome(
                span, search_quality=record.get("outcome.search_quality"), agent_success=record.get("outcome.agent_success"),
                user_satisfaction=record.get("outcome.user_satisfaction"), processing_time=record.get("routing.processing_time"),
            )
            spans.append(span)
    return spans


# The orchestrator's multi-agent requests, built from the labelled search queries: the wording
# of the follow-up step, and the plan it needs. `{q}` is a search query, `{q2}` a second one of
# another modality (parallel), `{agent}`/`{agent2}` their search agents.
_WORKFLOWS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("sequential", "find {q} and summarize it", ("{agent}", "summarizer_agent")),
    ("sequential", "{q}, then give me the key points", ("{agent}", "summarizer_agent")),
    ("sequential", "look up {q} and write a detailed report on it", ("{agent}", "detailed_report_agent")),
    ("sequential", "{q}; I need an in-depth analysis of what you find", ("{agent}", "detailed_report_agent")),
    ("parallel", "{q} and also {q2}", ("{agent}", "{agent2}")),
    ("parallel", "at the same time: {q}, plus {q2}", ("{agent}", "{agent2}")),
    ("conditional", "{q}; if nothing turns up, check the documents", ("{agent}", "document_agent")),
    ("conditional", "{q}, and if the results are long, summarize them", ("{agent}", "summarizer_agent")),
)


def simulate_orchestration(
    queries: list[dict[str, Any]], tenant: str, now: datetime, hours: float, seed: int, count: int = 120
) -> list[tuple[dict[str, Any], tuple[str, tuple[str, ...]]]]:
    """(orchestration span record, the right plan) for `count` multi-agent requests over the
    window, deterministic for `seed` (its own random stream: the routing traffic is unchanged).
    The simulated orchestrator plans right ~75% of the time; its mistakes are the ones a real one
    makes — sequential for a parallel request, parallel for a conditional one, a step left out or
    the wrong follow-up agent — and a wrong plan succeeds and pleases less often. ~3% malformed."""
    rng = random.Random(seed + 2)
    searchable = [row for row in queries if row["agent"] in AGENT_MODALITY]
    window = timedelta(hours=hours)
    out = []
    for _ in range(count):
        pattern, template, plan = rng.choice(_WORKFLOWS)
        first = rng.choice([row for row in searchable if row["agent"] not in plan])
        second = rng.choice([row for row in searchable if row["agent"] != first["agent"]])
        query = template.format(q=first["query"], q2=second["query"])
        right = tuple(step.format(agent=first["agent"], agent2=second["agent"]) for step in plan)
        chosen_pattern, chosen = pattern, list(right)
        roll = rng.random()
        if roll < 0.08:
            chosen_pattern = {"parallel": "sequential", "conditional": "parallel", "sequential": "parallel"}[pattern]
        elif roll < 0.16:
            chosen = chosen[:1]  # a step left out
        elif roll < 0.25 and pattern != "parallel":
            chosen[1] = {"summarizer_agent": "detailed_report_agent", "detailed_report_agent": "summarizer_agent",
                         "document_agent": "text_search_agent"}[chosen[1]]
        correct = (chosen_pattern, tuple(chosen)) == (pattern, right)
        agent_outcomes = []
        for agent in chosen:
            seconds = round(min(6.0, max(0.2, rng.lognormvariate(math.log(1.1), 0.5))) * (2.0 if agent == "detailed_report_agent" else 1.0), 3)
            agent_outcomes.append({"agent": agent, "success": rng.random() < (0.93 if correct else 0.6), "processing_time": seconds})
        times = [o["processing_time"] for o in agent_outcomes]
        if chosen_pattern == "parallel":
            wall = max(times) * rng.uniform(1.0, 1.35)  # coordination overhead
            efficiency = round(min(1.0, sum(times) / (len(times) * wall)), 3)
        else:
            wall, efficiency = sum(times) + rng.uniform(0.05, 0.3), None
        success = all(o["success"] for o in agent_outcomes) and (correct or rng.random() < 0.5)
        satisfaction = rng.gauss(0.82, 0.1) if success and correct else rng.gauss(0.5 if success else 0.25, 0.15)
        modalities = sorted({first["modality"], second["modality"]} if pattern == "parallel" else {first["modality"]})
        entities = list(first.get("entities") or []) + (list(second.get("entities") or []) if pattern == "parallel" else [])
        record: dict[str, Any] = {
            "start_time": now - window * rng.uniform(0.001, 0.999),
            "orchestration.query": query,
            "orchestration.pattern": chosen_pattern,
            "orchestration.agent_sequence": chosen,
            "orchestration.analysis": {"modalities": modalities, "entities": entities, "tenant_id": tenant},
            "orchestration.processing_time": round(wall, 3),
            "orchestration.parallel_efficiency": efficiency,
            "outcome.success": success,
            "outcome.agent_outcomes": agent_outcomes,
            # Most users never rate an answer.
            "outcome.user_satisfaction": round(min(1.0, max(0.0, satisfaction)), 3) if rng.random() >= 0.3 else None,
        }
        out.append((record, (pattern, right)))
    for i, index in enumerate(rng.sample(range(len(out)), k=max(2, round(len(out) * 0.03)))):
        record = out[index][0]
        if i % 2 == 0:
            del record["orchestration.query"]
        else:
            record["orchestration.pattern"] = "round_robin"  # a pattern the contract does not know
    return out


def trace_orchestrations(endpoint: str, project: str, records: list[dict[str, Any]], *, api_key: str | None = None) -> list[Any]:
    """The simulated orchestrator's executions as an orchestrator writes them: through the router
    API's tracer (`start_orchestration` with the plan, `record_orchestration_outcome` when it
    finished), backdated. Returns the spans in record order once Phoenix acknowledged them."""
    from pipeline.router.tracer import RoutingTracer

    with RoutingTracer(endpoint, project, api_key=api_key, background=False) as tracer:
        spans = []
        for record in records:
            span = tracer.start_orchestration(
                query=record.get("orchestration.query"), pattern=record.get("orchestration.pattern"),
                agents=record.get("orchestration.agent_sequence"), analysis=record.get("orchestration.analysis"),
                start_time=record["start_time"],
            )
            tracer.record_orchestration_outcome(
                span, success=record.get("outcome.success"), agent_outcomes=record.get("outcome.agent_outcomes"),
                user_satisfaction=record.get("outcome.user_satisfaction"),
                processing_time=record.get("orchestration.processing_time"),
                parallel_efficiency=record.get("orchestration.parallel_efficiency"),
            )
            spans.append(span)
    return spans


def is_orchestration_malformed(record: dict[str, Any]) -> bool:
    return not record.get("orchestration.query") or record.get("orchestration.pattern") not in ORCHESTRATION_PATTERNS


def is_malformed(record: dict[str, Any]) -> bool:
    confidence = record.get("routing.confidence")
    return not record.get("routing.query") or not isinstance(confidence, (int, float)) or not 0 <= confidence <= 1


def seed_demo_tenant(
    endpoint: str,
    tenant: str,
    *,
    now: datetime | None = None,
    hours: float = 20,
    seed: int = 7,
    project_pattern: str = "cogniverse-{tenant}",
    human_fraction: float = 0.05,
    api_key: str | None = None,
) -> SeedSummary:
    """Fill `cogniverse-{tenant}` with simulated routing spans over the last `hours` hours, a
    few HUMAN `routing_annotation`s (label = the correct agent), and the orchestrator's
    multi-agent executions (`cogniverse.orchestration` spans). Does nothing when the project
    already has routing spans in that window, so it is safe to run on every start."""
    validate_tenant_id(tenant)
    project = project_pattern.format(tenant=tenant)
    now = now or datetime.now(timezone.utc)
    now = now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now.astimezone(timezone.utc)
    start = now - timedelta(hours=hours)

    existing = count_routing_spans(endpoint, project, start, now, api_key=api_key)
    if existing:
        return SeedSummary(
            project=project, window_start=start, window_end=now, skipped=True,
            existing=existing, sent=0, malformed=0, human_annotations=0,
        )

    simulated = simulate_routing(load_queries(), tenant, now, hours, seed)
    records = [record for record, _ in simulated]
    sent = trace_decisions(endpoint, project, records, api_key=api_key)
    orchestrations = [record for record, _ in simulate_orchestration(load_queries(), tenant, now, hours, seed)]
    trace_orchestrations(endpoint, project, orchestrations, api_key=api_key)
    # ~140 spans/s ingestion, plus headroom for a busy machine.
    wait_for_span_count(endpoint, project, len(records), timeout_s=60 + len(records) / 20, start=start, end=now, api_key=api_key)
    wait_for_span_count(endpoint, project, len(orchestrations), timeout_s=60 + len(orchestrations) / 20, start=start, end=now,
                        api_key=api_key, name=ORCHESTRATION_SPAN_NAME)

    rng = random.Random(seed + 1)
    wellformed = [i for i, (record, _) in enumerate(simulated) if not is_malformed(record)]
    reviewed = sorted(rng.sample(wellformed, k=max(1, round(len(simulated) * human_fraction))))
    annotations = [
        {
            "span_id": sent[i].span_id,
            "label": simulated[i][1],
            "score": 1.0,
            "explanation": "human review: the agent that should have handled this query",
        }
        for i in reviewed
    ]
    written = write_annotations(
        endpoint, project, annotations, annotator_kind="HUMAN", identifier=HUMAN_IDENTIFIER, api_key=api_key
    )
    return SeedSummary(
        project=project, window_start=start, window_end=now, skipped=False, existing=0,
        sent=len(sent), malformed=sum(map(is_malformed, records)), human_annotations=written,
        orchestrations_sent=len(orchestrations), orchestrations_malformed=sum(map(is_orchestration_malformed, orchestrations)),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.demo.seed", description=seed_demo_tenant.__doc__)
    parser.add_argument("--endpoint", required=True, help="Phoenix base URL, e.g. http://127.0.0.1:6006")
    parser.add_argument("--tenant", default="demo")
    parser.add_argument("--hours", type=float, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--api-key-env", default=None, help="name of the env var holding a Phoenix API key")
    args = parser.parse_args(argv)
    return run_main(lambda: _seed(args))


def _seed(args: argparse.Namespace) -> int:
    api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
    summary = seed_demo_tenant(args.endpoint, args.tenant, hours=args.hours, seed=args.seed, api_key=api_key)
    if summary.skipped:
        print(f"{summary.project}: already has {summary.existing} routing spans in the last {args.hours:g} h; nothing sent")
    else:
        print(
            f"{summary.project}: sent {summary.sent} routing spans ({summary.malformed} malformed on purpose), "
            f"{summary.human_annotations} human annotations, {summary.orchestrations_sent} orchestration spans "
            f"({summary.orchestrations_malformed} malformed on purpose)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
