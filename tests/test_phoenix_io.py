"""phoenix_io against a real Phoenix server: paging, windows, annotations, failures."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.http_servers import answering

from pipeline.errors import ConfigError, NotFoundError, PhoenixUnavailableError
from pipeline.local.phoenix_server import LocalPhoenix, free_port, phoenix_python
from pipeline.phoenix_io import (
    ROUTING_ATTRIBUTES,
    count_routing_spans,
    fetch_annotations,
    fetch_routing_spans,
    send_routing_spans,
    wait_for_span_count,
    write_annotations,
)

AGENTS = ("video_search_agent", "image_search_agent", "document_agent")


def _now() -> datetime:
    # Whole seconds: window bounds in these tests are compared exactly.
    return datetime.now(timezone.utc).replace(microsecond=0)


def _record(i: int, start: datetime, **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "start_time": start,
        "routing.query": f"query number {i}",
        "routing.chosen_agent": AGENTS[i % len(AGENTS)],
        "routing.confidence": round(0.3 + (i % 7) / 10, 2),
        "routing.modality": "video",
        "routing.processing_time": 0.5 + i % 3,
        "routing.context": {"tenant_id": "t", "session_id": f"s{i // 4}", "turn": i % 4 + 1},
        "outcome.search_quality": 0.75,
        "outcome.agent_success": i % 2 == 0,
        "outcome.user_satisfaction": None if i % 3 == 0 else 0.5,
    }
    record.update(overrides)
    return record


def _send(url: str, project: str, records: list[dict[str, Any]]) -> list[str]:
    sent = send_routing_spans(url, project, records)
    wait_for_span_count(url, project, len(records), timeout_s=60)
    return [s.span_id for s in sent]


def test_reads_every_span_across_pages(phoenix_url: str, phoenix_project: str) -> None:
    now = _now()
    records = [_record(i, now - timedelta(minutes=1, seconds=i)) for i in range(120)]
    span_ids = _send(phoenix_url, phoenix_project, records)

    spans = fetch_routing_spans(phoenix_url, phoenix_project, now - timedelta(hours=1), now, page_size=50)

    assert len(spans) == 120  # three pages of 50; one request with limit=50 would give 50
    assert sorted(s["span_id"] for s in spans) == sorted(span_ids)
    assert [s["start_time"] for s in spans] == sorted(s["start_time"] for s in spans)
    by_id = {s["span_id"]: s for s in spans}
    first = by_id[span_ids[3]]
    assert set(ROUTING_ATTRIBUTES) <= set(first)
    assert first["routing.query"] == "query number 3"
    assert first["routing.chosen_agent"] == AGENTS[0]
    assert first["routing.confidence"] == pytest.approx(0.6)
    assert first["routing.context"] == {"tenant_id": "t", "session_id": "s0", "turn": 4}
    assert first["outcome.agent_success"] is False
    assert first["outcome.user_satisfaction"] is None  # not sent → present as None
    assert datetime.fromisoformat(first["start_time"]) == now - timedelta(minutes=1, seconds=3)
    assert by_id[span_ids[4]]["outcome.user_satisfaction"] == pytest.approx(0.5)
    assert len(first["trace_id"]) == 32


def test_window_is_start_inclusive_end_exclusive(phoenix_url: str, phoenix_project: str) -> None:
    now = _now()
    start, end = now - timedelta(hours=2), now - timedelta(minutes=10)
    offsets = {
        "before window": timedelta(hours=30),
        "just before start": timedelta(hours=2, seconds=1),
        "at start": timedelta(hours=2),
        "inside": timedelta(hours=1),
        "just before end": timedelta(minutes=10, seconds=1),
        "at end": timedelta(minutes=10),
        "after end": timedelta(minutes=1),
    }
    records = [_record(i, now - off, **{"routing.query": name}) for i, (name, off) in enumerate(offsets.items())]
    _send(phoenix_url, phoenix_project, records)

    spans = fetch_routing_spans(phoenix_url, phoenix_project, start, end, page_size=2)

    assert sorted(s["routing.query"] for s in spans) == ["at start", "inside", "just before end"]
    assert count_routing_spans(phoenix_url, phoenix_project, start, end) == 3
    assert count_routing_spans(phoenix_url, phoenix_project) == len(offsets)


def test_only_root_routing_spans_and_malformed_ones_are_kept(phoenix_url: str, phoenix_project: str) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    now = _now()
    provider = TracerProvider(resource=Resource({"openinference.project.name": phoenix_project}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{phoenix_url}/v1/traces")))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("agent.request"):
        # a routing span nested under another span is not a routing decision of its own
        with tracer.start_as_current_span("cogniverse.routing", attributes={"routing.query": "nested"}):
            pass
    with tracer.start_as_current_span("other.root", attributes={"routing.query": "not routing"}):
        pass
    provider.shutdown()
    malformed = _record(0, now - timedelta(minutes=5), **{"routing.query": None, "routing.confidence": 3.5})
    _send(phoenix_url, phoenix_project, [malformed, _record(1, now - timedelta(minutes=5))])

    spans = fetch_routing_spans(phoenix_url, phoenix_project, now - timedelta(hours=1), now + timedelta(minutes=1))

    assert len(spans) == 2
    broken = next(s for s in spans if s["routing.query"] is None)
    assert broken["routing.confidence"] == pytest.approx(3.5)


def test_unknown_project_is_empty(phoenix_url: str, phoenix_project: str) -> None:
    now = _now()
    assert fetch_routing_spans(phoenix_url, phoenix_project, now - timedelta(days=1), now) == []
    assert count_routing_spans(phoenix_url, phoenix_project) == 0
    assert fetch_annotations(phoenix_url, phoenix_project, ["0123456789abcdef"]) == {}


def test_phoenix_says_project_not_found_in_its_own_words(phoenix_url: str, phoenix_project: str) -> None:
    """What "no data" is recognised by: the real server's answer for an unknown project."""
    response = httpx.get(f"{phoenix_url}/v1/projects/{phoenix_project}/spans", params={"limit": 1})
    assert response.status_code == 404 and response.headers["content-type"].startswith("text/plain")
    assert response.text == f"Project with name {phoenix_project} not found"


NOT_PHOENIX = [
    (404, "<html><body><h1>404 Not Found</h1>nginx</body></html>", "text/html"),  # a proxy's page
    (404, '{"detail": "Not Found"}', "application/json"),  # a FastAPI/other API's unknown route
    (404, "Project with name some-other-project not found", "text/plain"),  # not the project asked for
    (200, "<!DOCTYPE html><html><title>Phoenix</title></html>", "text/html"),  # a UI page
]


@pytest.mark.parametrize(("status", "body", "content_type"), NOT_PHOENIX)
def test_an_endpoint_that_is_not_phoenix_is_unavailable_not_empty(status: int, body: str, content_type: str) -> None:
    now = _now()
    with answering(status, body, content_type) as url:
        with pytest.raises(PhoenixUnavailableError, match=f"{url} is not answering as Phoenix.*phoenix.endpoint"):
            fetch_routing_spans(url, "my-project", now - timedelta(hours=1), now, attempts=2, backoff_s=0.01)
        with pytest.raises(PhoenixUnavailableError, match="not answering as Phoenix"):
            count_routing_spans(url, "my-project", attempts=1)
        with pytest.raises(PhoenixUnavailableError, match="not answering as Phoenix"):
            fetch_annotations(url, "my-project", ["0123456789abcdef"], attempts=1)
        if status == 404:  # annotation writes: Phoenix's 404 means "spans not ingested", this one does not
            with pytest.raises(PhoenixUnavailableError, match="not answering as Phoenix"):
                write_annotations(url, "my-project", [{"span_id": "0123456789abcdef", "label": "x"}], attempts=1)


def test_a_wrong_path_prefix_on_a_real_phoenix_is_unavailable(phoenix_url: str, phoenix_project: str) -> None:
    """Phoenix serves its web UI (200, HTML) for unknown paths: that is not an empty project."""
    now = _now()
    with pytest.raises(PhoenixUnavailableError, match="not answering as Phoenix"):
        fetch_routing_spans(f"{phoenix_url}/phoenix", phoenix_project, now - timedelta(hours=1), now, attempts=1)


def test_annotations_round_trip_and_upsert(phoenix_url: str, phoenix_project: str) -> None:
    from phoenix.client import Client

    now = _now()
    span_ids = _send(phoenix_url, phoenix_project, [_record(i, now - timedelta(minutes=i + 1)) for i in range(6)])
    labelled = span_ids[:4]
    first = [
        {"span_id": s, "label": "video_search_agent", "score": 0.9, "explanation": f"first pass {i}"}
        for i, s in enumerate(labelled)
    ]
    assert write_annotations(phoenix_url, phoenix_project, first, identifier="run-1", batch_size=3) == 4

    got = fetch_annotations(phoenix_url, phoenix_project, span_ids)
    assert set(got) == set(labelled)
    assert got[labelled[1]] == {
        "label": "video_search_agent",
        "score": 0.9,
        "explanation": "first pass 1",
        "annotator_kind": "LLM",
        "identifier": "run-1",
    }

    # Same identifier again (a retried run): replaced, not duplicated.
    second = [{**a, "label": "document_agent", "score": 0.4} for a in first]
    write_annotations(phoenix_url, phoenix_project, second, identifier="run-1")
    got = fetch_annotations(phoenix_url, phoenix_project, span_ids)
    assert {v["label"] for v in got.values()} == {"document_agent"}
    raw = Client(base_url=phoenix_url).spans.get_span_annotations(
        span_ids=labelled, project_identifier=phoenix_project, include_annotation_names=["routing_annotation"]
    )
    assert len(raw) == 4

    # A human label under another identifier coexists and wins over the LLM one.
    human = [{"span_id": labelled[0], "label": "image_search_agent", "score": 1.0, "explanation": "reviewed"}]
    write_annotations(phoenix_url, phoenix_project, human, annotator_kind="HUMAN", identifier="review")
    got = fetch_annotations(phoenix_url, phoenix_project, span_ids)
    assert got[labelled[0]]["label"] == "image_search_agent"
    assert got[labelled[0]]["annotator_kind"] == "HUMAN"
    assert got[labelled[1]]["label"] == "document_agent"
    # Other annotation names are separate.
    assert fetch_annotations(phoenix_url, phoenix_project, span_ids, name="something_else") == {}


def test_annotating_an_unknown_span_is_not_found(phoenix_url: str, phoenix_project: str) -> None:
    with pytest.raises(NotFoundError, match="no such spans"):
        write_annotations(phoenix_url, phoenix_project, [{"span_id": "00000000deadbeef", "label": "x"}])


def test_wait_for_span_count_times_out(phoenix_url: str, phoenix_project: str) -> None:
    with pytest.raises(PhoenixUnavailableError, match="0 of 1"):
        wait_for_span_count(phoenix_url, phoenix_project, 1, timeout_s=0.5, poll_s=0.1)


def test_unreachable_endpoint_fails_fast_with_the_endpoint_named() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    now = _now()
    began = time.monotonic()
    with pytest.raises(PhoenixUnavailableError, match=f"{url}.*after 3 attempts"):
        fetch_routing_spans(url, "p", now - timedelta(hours=1), now, attempts=3, backoff_s=0.05)
    with pytest.raises(PhoenixUnavailableError, match=url):
        fetch_annotations(url, "p", ["0123456789abcdef"], attempts=2, backoff_s=0.05)
    with pytest.raises(PhoenixUnavailableError, match=url):
        write_annotations(url, "p", [{"span_id": "0123456789abcdef", "label": "x"}], attempts=2, backoff_s=0.05)
    with pytest.raises(PhoenixUnavailableError, match=url):
        send_routing_spans(url, "p", [_record(0, now)], timeout_s=1)
    assert time.monotonic() - began < 10


# ------------------------------------------------------------------ the local server wrapper
def test_missing_server_venv_is_a_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COGNIVERSE_PHOENIX_PYTHON", str(tmp_path / "no-such-python"))
    with pytest.raises(ConfigError, match="make venv"):
        phoenix_python()
    with pytest.raises(ConfigError, match="make venv"):
        LocalPhoenix(tmp_path).start()
    run = subprocess.run(
        [sys.executable, "-m", "pipeline.local.phoenix_server", "--working-dir", str(tmp_path), "--port", str(free_port())],
        cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 2 and "make venv" in run.stderr


def test_a_server_that_dies_at_startup_reports_its_log(tmp_path: Path) -> None:
    # The client venv has no Phoenix server: `python -m phoenix.server.main` fails at import.
    server = LocalPhoenix(tmp_path, python=sys.executable, startup_timeout_s=30)
    with pytest.raises(PhoenixUnavailableError, match=r"exited with code 1(.|\n)*phoenix-server\.log(.|\n)*No module named"):
        server.start()
    assert server.pid is None  # stopped and cleaned up


def test_a_busy_port_is_refused(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=f"port {port}.*in use"):
            LocalPhoenix(tmp_path, port=port, python=sys.executable).start()
