"""Everything that reads from or writes to Arize Phoenix.

Reads use Phoenix's cursor-paged REST endpoint `GET /v1/projects/{project}/spans` until the
server stops returning a cursor: `get_spans_dataframe` is one request that silently stops at
`limit`, and the client's `get_spans` also stops at its `limit`. Annotations go through
`phoenix.client` (imported lazily: only `arize-phoenix-client` and the OTel SDK are needed).
Writing spans uses plain OpenTelemetry, exactly like an instrumented router would.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from pipeline import contract
from pipeline.errors import ConfigError, NotFoundError, PhoenixUnavailableError

if TYPE_CHECKING:
    import httpx

T = TypeVar("T")

ROUTING_SPAN_NAME = contract.ROUTING_SPAN
ANNOTATION_NAME = "routing_annotation"
ROUTING_ATTRIBUTES: tuple[str, ...] = (
    "routing.query",
    "routing.chosen_agent",
    "routing.confidence",
    "routing.modality",
    "routing.processing_time",
    "routing.context",
    "outcome.search_quality",
    "outcome.agent_success",
    "outcome.user_satisfaction",
)
ORCHESTRATION_SPAN_NAME = contract.ORCHESTRATION_SPAN  # pipeline.orchestration holds its model
ORCHESTRATION_ATTRIBUTES: tuple[str, ...] = (
    "orchestration.query",
    "orchestration.pattern",
    "orchestration.agent_sequence",
    "orchestration.analysis",
    "orchestration.processing_time",
    "orchestration.parallel_efficiency",
    "outcome.success",
    "outcome.agent_outcomes",
    "outcome.user_satisfaction",
)
_ATTRIBUTE_PREFIXES = ("routing.", "outcome.", "orchestration.")
# Attributes sent as JSON strings (OTel attributes are flat) and given back to callers parsed.
_JSON_ATTRIBUTES = {"routing.context": dict, "orchestration.agent_sequence": list, "orchestration.analysis": dict,
                    "outcome.agent_outcomes": list}
_MAX_PAGE = 1000  # the server rejects larger pages (422)
_ANNOTATION_BATCH = 100  # span ids per annotation request, as phoenix.client does
_ANNOTATOR_KINDS = ("LLM", "CODE", "HUMAN")


# Phoenix's own 404 details (phoenix/server/api/routers/v1, arize-phoenix 20.x; plain text, or
# {"detail": ...} from FastAPI's default handler). Any other 404 comes from something that is
# not Phoenix's API (a wrong endpoint or path prefix, a proxy) and must not read as "no data".
_PROJECT_NOT_FOUND = re.compile(r"Project with (?:name|ID|identifier) (?P<project>.+) not found")
_SPANS_NOT_FOUND = re.compile(r"Spans with IDs .+ do not exist")


class _NotFound(Exception):
    """A 404: Phoenix's "unknown project" or "spans not ingested (yet)", or someone else's."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def project_missing(self, project: str) -> bool:
        match = _PROJECT_NOT_FOUND.fullmatch(self.detail.strip())
        return match is not None and match.group("project") == project

    def spans_missing(self) -> bool:
        return _SPANS_NOT_FOUND.match(self.detail.strip()) is not None


def _not_phoenix(endpoint: str, what: str, detail: str, status: int | str = 404) -> PhoenixUnavailableError:
    """Exit 3, like an unreachable Phoenix: the endpoint answers, but Phoenix's API is not there."""
    shown = " ".join(detail.split())[:200] or "(empty body)"
    return PhoenixUnavailableError(
        f"Phoenix at {endpoint} is not answering as Phoenix for {what}: got {status} {shown!r}; "
        "check phoenix.endpoint (a wrong URL or path prefix, or a proxy in front of Phoenix)"
    )


# ------------------------------------------------------------------ transport and retries
def _http_client(endpoint: str, api_key: str | None, timeout_s: float) -> httpx.Client:
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return httpx.Client(base_url=endpoint.rstrip("/") + "/", headers=headers, timeout=httpx.Timeout(timeout_s))


def _with_retries(endpoint: str, what: str, fn: Callable[[], T], attempts: int, backoff_s: float) -> T:
    """Retry transport errors, timeouts, 429 and 5xx with exponential backoff. A 404 becomes
    _NotFound (callers accept only Phoenix's own "project/spans not found" as an answer; any
    other 404 is not Phoenix); other 4xx are configuration errors."""
    import httpx

    attempts = max(1, attempts)
    delay = backoff_s
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            detail = _response_detail(exc.response)
            if status == 404:
                raise _NotFound(detail) from exc
            if status in (401, 403):
                raise ConfigError(f"Phoenix at {endpoint} refused {what} ({status}): check the API key") from exc
            if status != 429 and status < 500:
                raise ConfigError(f"Phoenix at {endpoint} rejected {what} ({status}): {detail}") from exc
            failure: Exception = exc
        except httpx.TransportError as exc:  # connection refused, timeouts, broken responses
            failure = exc
        if attempt == attempts:
            raise PhoenixUnavailableError(
                f"Phoenix at {endpoint} unavailable for {what} after {attempts} attempts: "
                f"{type(failure).__name__}: {failure}"
            ) from failure
        time.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")


def _response_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
        return str(body.get("detail", body)) if isinstance(body, dict) else str(body)
    except ValueError:
        return response.text[:500]


def _utc(value: datetime) -> datetime:
    """Phoenix compares UTC instants; a naive datetime is taken to be UTC already."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _project_path(project: str) -> str:
    if not project or any(c in project for c in "/?#"):
        raise ConfigError(f"invalid Phoenix project name {project!r}")
    return quote(project, safe="")


# ------------------------------------------------------------------ reading spans
def _iter_span_pages(
    client: httpx.Client,
    endpoint: str,
    project: str,
    params: Mapping[str, Any],
    page_size: int,
    attempts: int,
    backoff_s: float,
) -> Iterator[list[dict[str, Any]]]:
    """Every page of spans matching `params`, following `next_cursor` to the end. The server
    orders by insertion id descending and the cursor is an id bound, so spans ingested while
    we page cannot shift a page: nothing is skipped or repeated."""
    path = f"v1/projects/{_project_path(project)}/spans"
    cursor: str | None = None
    limit = max(1, min(page_size, _MAX_PAGE))
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}

        what = f"reading spans of project {project!r}"

        def get(query: dict[str, Any] = query) -> dict[str, Any]:
            response = client.get(path, params=query, headers={"accept": "application/json"})
            response.raise_for_status()
            try:
                payload = response.json()
            except ValueError:
                payload = None
            if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
                # e.g. the web UI's HTML page, which Phoenix serves for any unknown path
                raise _not_phoenix(endpoint, what, response.text, response.status_code)
            return payload

        try:
            payload = _with_retries(endpoint, what, get, attempts, backoff_s)
        except _NotFound as exc:
            if exc.project_missing(project):
                return  # Phoenix says the project does not exist: nothing recorded yet
            raise _not_phoenix(endpoint, what, exc.detail) from exc
        yield list(payload["data"])
        cursor = payload.get("next_cursor")
        if not cursor:
            return


def _root_params(name: str, start: datetime | None, end: datetime | None) -> dict[str, Any]:
    params: dict[str, Any] = {"name": name, "parent_id": "null"}  # root spans only
    if start is not None:
        params["start_time"] = _utc(start).isoformat()
    if end is not None:
        params["end_time"] = _utc(end).isoformat()
    return params


def _flatten_span(span: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    attributes: Mapping[str, Any] = span.get("attributes") or {}
    record: dict[str, Any] = {
        "span_id": span["context"]["span_id"],
        "trace_id": span["context"]["trace_id"],
        "start_time": _utc(datetime.fromisoformat(span["start_time"])).isoformat(),
        "end_time": _utc(datetime.fromisoformat(span["end_time"])).isoformat() if span.get("end_time") else None,
    }
    record.update({key: None for key in keys})
    record.update({k: v for k, v in attributes.items() if k.startswith(_ATTRIBUTE_PREFIXES)})
    for key, kind in _JSON_ATTRIBUTES.items():
        value = record.get(key)
        if isinstance(value, str):
            # Sent as a JSON string (OTel attributes are flat); give callers the object back.
            # A value that is not JSON of the expected kind stays a string for harvest to reject.
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = None
            if isinstance(parsed, kind):
                record[key] = parsed
    return record


def fetch_routing_spans(
    endpoint: str,
    project: str,
    start: datetime,
    end: datetime,
    *,
    page_size: int = 1000,
    timeout_s: float = 30,
    attempts: int = 4,
    backoff_s: float = 1.0,
    api_key: str | None = None,
) -> list[dict[str, Any]]:
    """All root `cogniverse.routing` spans of `project` that started in [start, end), oldest
    first. Each record has span_id, trace_id, start_time, end_time (ISO-8601 UTC) and every
    `routing.*` / `outcome.*` attribute (the ROUTING_ATTRIBUTES are always present, None when
    the span lacks them; `routing.context` is a dict when it holds a JSON object).
    An unknown project (Phoenix's own "project not found") gives []. Unreachable Phoenix, or an
    endpoint that answers but is not Phoenix's API (any other 404, a non-JSON page: a wrong URL,
    a proxy) → PhoenixUnavailableError: "no data" must never be a misconfiguration's guess."""
    return _fetch_root_spans(endpoint, project, ROUTING_SPAN_NAME, ROUTING_ATTRIBUTES, start, end, page_size=page_size,
                             timeout_s=timeout_s, attempts=attempts, backoff_s=backoff_s, api_key=api_key)


def fetch_orchestration_spans(
    endpoint: str,
    project: str,
    start: datetime,
    end: datetime,
    *,
    page_size: int = 1000,
    timeout_s: float = 30,
    attempts: int = 4,
    backoff_s: float = 1.0,
    api_key: str | None = None,
) -> list[dict[str, Any]]:
    """All root `cogniverse.orchestration` spans of `project` that started in [start, end),
    oldest first, read exactly as fetch_routing_spans reads routing spans (cursor paging, the
    same errors). The ORCHESTRATION_ATTRIBUTES are always present (None when missing);
    `orchestration.agent_sequence` and `outcome.agent_outcomes` are lists and
    `orchestration.analysis` a dict when they hold JSON of that kind."""
    return _fetch_root_spans(endpoint, project, ORCHESTRATION_SPAN_NAME, ORCHESTRATION_ATTRIBUTES, start, end,
                             page_size=page_size, timeout_s=timeout_s, attempts=attempts, backoff_s=backoff_s,
                             api_key=api_key)


def _fetch_root_spans(
    endpoint: str, project: str, name: str, keys: tuple[str, ...], start: datetime, end: datetime, *,
    page_size: int, timeout_s: float, attempts: int, backoff_s: float, api_key: str | None,
) -> list[dict[str, Any]]:
    if _utc(end) <= _utc(start):
        return []
    records: list[dict[str, Any]] = []
    with _http_client(endpoint, api_key, timeout_s) as client:
        params = _root_params(name, start, end)
        for page in _iter_span_pages(client, endpoint, project, params, page_size, attempts, backoff_s):
            records.extend(_flatten_span(span, keys) for span in page)
    records.sort(key=lambda r: (r["start_time"], r["span_id"]))
    return records


def count_routing_spans(
    endpoint: str,
    project: str,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    timeout_s: float = 30,
    attempts: int = 4,
    backoff_s: float = 1.0,
    api_key: str | None = None,
    name: str = ROUTING_SPAN_NAME,
) -> int:
    """How many root spans called `name` (routing spans by default) Phoenix has ingested for
    `project` (optionally in a window)."""
    total = 0
    with _http_client(endpoint, api_key, timeout_s) as client:
        params = _root_params(name, start, end)
        for page in _iter_span_pages(client, endpoint, project, params, _MAX_PAGE, attempts, backoff_s):
            total += len(page)
    return total


def wait_for_span_count(
    endpoint: str,
    project: str,
    expected: int,
    timeout_s: float = 60,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    poll_s: float = 0.5,
    api_key: str | None = None,
    name: str = ROUTING_SPAN_NAME,
) -> int:
    """Poll until at least `expected` root spans called `name` (routing spans) are visible. Phoenix acknowledges an OTLP
    export before it inserts the spans (~140 spans/s), so writers must wait before reading
    or annotating. Returns the count seen; PhoenixUnavailableError on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        seen = count_routing_spans(endpoint, project, start, end, attempts=2, backoff_s=poll_s, api_key=api_key, name=name)
        if seen >= expected:
            return seen
        if time.monotonic() > deadline:
            raise PhoenixUnavailableError(
                f"Phoenix at {endpoint} shows {seen} of {expected} {name} spans in project "
                f"{project!r} after {timeout_s:.0f} s"
            )
        time.sleep(poll_s)


# ------------------------------------------------------------------ annotations
def _phoenix_client(http: httpx.Client) -> Any:
    from phoenix.client import Client

    return Client(http_client=http)


def _batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def fetch_annotations(
    endpoint: str,
    project: str,
    span_ids: Iterable[str],
    name: str = ANNOTATION_NAME,
    *,
    timeout_s: float = 30,
    attempts: int = 4,
    backoff_s: float = 1.0,
    api_key: str | None = None,
) -> dict[str, dict[str, Any]]:
    """span_id → {label, score, explanation, annotator_kind, identifier} for the annotations
    called `name`. A span may carry several (one per identifier): a HUMAN one wins over
    LLM/CODE, then the most recently updated. Spans without one are absent."""
    ids = sorted(set(span_ids))
    if not ids:
        return {}
    chosen: dict[str, dict[str, Any]] = {}
    ranks: dict[str, tuple[int, str]] = {}
    with _http_client(endpoint, api_key, timeout_s) as http:
        spans_api = _phoenix_client(http).spans
        for batch in _batches(ids, _ANNOTATION_BATCH):

            what = f"reading annotations of project {project!r}"

            def get(batch: Sequence[str] = batch) -> list[dict[str, Any]]:
                try:
                    return spans_api.get_span_annotations(
                        span_ids=list(batch),
                        project_identifier=project,
                        include_annotation_names=[name],
                        timeout=timeout_s,
                    )
                except (json.JSONDecodeError, AttributeError) as exc:  # a 2xx body that is not Phoenix's JSON
                    raise _not_phoenix(endpoint, what, str(exc), "an unexpected answer") from exc

            try:
                found = _with_retries(endpoint, what, get, attempts, backoff_s)
            except _NotFound as exc:
                if exc.project_missing(project):
                    return {}  # Phoenix says the project does not exist
                raise _not_phoenix(endpoint, what, exc.detail) from exc
            for annotation in found:
                if annotation.get("name") != name:
                    continue
                rank = (int(annotation.get("annotator_kind") == "HUMAN"), str(annotation.get("updated_at") or ""))
                span_id = annotation["span_id"]
                if span_id in ranks and ranks[span_id] >= rank:
                    continue
                result = annotation.get("result") or {}
                ranks[span_id] = rank
                chosen[span_id] = {
                    "label": result.get("label"),
                    "score": result.get("score"),
                    "explanation": result.get("explanation"),
                    "annotator_kind": annotation.get("annotator_kind"),
                    "identifier": annotation.get("identifier") or "",
                }
    return chosen


def write_annotations(
    endpoint: str,
    project: str,
    annotations: Sequence[Mapping[str, Any]],
    name: str = ANNOTATION_NAME,
    annotator_kind: str = "LLM",
    identifier: str = "cogniverse-pipeline",
    *,
    batch_size: int = _ANNOTATION_BATCH,
    timeout_s: float = 30,
    attempts: int = 4,
    backoff_s: float = 1.0,
    api_key: str | None = None,
) -> int:
    """Upsert annotations ({span_id, label, score, explanation}) in batches. Phoenix's upsert
    key is (name, span_id, identifier): writing again with the same identifier replaces the
    earlier annotation instead of adding one. Annotation endpoints address spans by id
    alone; `project` names the spans' project in errors. Spans Phoenix has not ingested
    give NotFoundError. Returns the number written."""
    if annotator_kind not in _ANNOTATOR_KINDS:
        raise ConfigError(f"annotator_kind must be one of {_ANNOTATOR_KINDS}, not {annotator_kind!r}")
    rows = [_annotation_row(a, name, annotator_kind, identifier) for a in annotations]
    if not rows:
        return 0
    with _http_client(endpoint, api_key, timeout_s) as http:
        spans_api = _phoenix_client(http).spans
        for batch in _batches(rows, max(1, batch_size)):

            what = f"writing {name!r} annotations"

            def post(batch: Sequence[dict[str, Any]] = batch) -> None:
                # sync=True: the server checks the spans exist and commits before answering,
                # so a read straight after sees the annotations.
                try:
                    spans_api.log_span_annotations(span_annotations=list(batch), sync=True)
                except (json.JSONDecodeError, KeyError, TypeError) as exc:  # a 2xx body that is not Phoenix's JSON
                    raise _not_phoenix(endpoint, what, str(exc), "an unexpected answer") from exc

            try:
                _with_retries(endpoint, what, post, attempts, backoff_s)
            except _NotFound as exc:
                if not exc.spans_missing():
                    raise _not_phoenix(endpoint, what, exc.detail) from exc
                raise NotFoundError(
                    f"Phoenix at {endpoint} has no such spans (project {project!r}): {exc.detail[:300]}"
                ) from exc
    return len(rows)


def _annotation_row(annotation: Mapping[str, Any], name: str, annotator_kind: str, identifier: str) -> dict[str, Any]:
    span_id = annotation.get("span_id")
    if not isinstance(span_id, str) or not span_id:
        raise ConfigError(f"annotation without a span_id: {dict(annotation)!r}")
    result: dict[str, Any] = {}
    if annotation.get("label") is not None:
        result["label"] = str(annotation["label"])
    if annotation.get("score") is not None:
        result["score"] = float(annotation["score"])
    if annotation.get("explanation") is not None:
        result["explanation"] = str(annotation["explanation"])
    if not result:
        raise ConfigError(f"annotation for span {span_id} has no label, score or explanation")
    return {
        "span_id": span_id,
        "name": name,
        "annotator_kind": annotator_kind,
        "identifier": identifier,
        "result": result,
    }


# ------------------------------------------------------------------ writing spans
@dataclass(frozen=True)
class SentSpan:
    span_id: str
    trace_id: str


_RECORD_ATTRIBUTE_KEYS = frozenset(ROUTING_ATTRIBUTES + ORCHESTRATION_ATTRIBUTES)


def send_routing_spans(
    endpoint: str,
    project: str,
    records: Sequence[Mapping[str, Any]],
    *,
    timeout_s: float = 30,
    export_batch: int = 256,
    api_key: str | None = None,
) -> list[SentSpan]:
    """Emit one root span `cogniverse.routing` per record, in its own trace, over OTLP/HTTP.

    A record holds any of the ROUTING_ATTRIBUTES (dotted keys, as fetch_routing_spans returns
    them; a key that is absent or None is not set, which is how malformed spans are made),
    plus `start_time` (datetime, default now) and optionally `end_time` (default start +
    routing.processing_time). `routing.context` may be a dict: it is sent as a JSON string.
    Returns the ids in record order once every batch is acknowledged. Phoenix ingests
    asynchronously: call wait_for_span_count before reading."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import SpanExportResult
    from opentelemetry.trace import Status, StatusCode

    if not records:
        return []

    class Collect(SpanProcessor):
        # We export ourselves, batch by batch, so a failed export is an error here rather
        # than a log line from a background thread.
        def __init__(self) -> None:
            self.spans: list[ReadableSpan] = []

        def on_end(self, span: ReadableSpan) -> None:
            self.spans.append(span)

    collector = Collect()
    provider = TracerProvider(resource=Resource({"openinference.project.name": project}))
    provider.add_span_processor(collector)
    tracer = provider.get_tracer("cogniverse.routing")
    sent: list[SentSpan] = []
    for record in records:
        start = _utc(record.get("start_time") or datetime.now(timezone.utc))
        end = record.get("end_time")
        if end is None:
            seconds = record.get("routing.processing_time")
            seconds = float(seconds) if isinstance(seconds, (int, float)) and seconds >= 0 else 0.0
            end = start + timedelta(seconds=seconds)
        span = tracer.start_span(
            ROUTING_SPAN_NAME, attributes=_span_attributes(record), start_time=_nanos(start)
        )
        span.set_status(Status(StatusCode.OK))
        context = span.get_span_context()
        sent.append(SentSpan(span_id=f"{context.span_id:016x}", trace_id=f"{context.trace_id:032x}"))
        span.end(end_time=_nanos(_utc(end)))

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces", headers=headers, timeout=timeout_s)
    try:
        for batch in _batches(collector.spans, max(1, export_batch)):
            if exporter.export(list(batch)) is not SpanExportResult.SUCCESS:
                raise PhoenixUnavailableError(
                    f"Phoenix at {endpoint} did not accept routing spans for project {project!r} "
                    f"(OTLP export to {endpoint.rstrip('/')}/v1/traces failed)"
                )
    finally:
        exporter.shutdown()
        provider.shutdown()
    return sent


def _span_attributes(record: Mapping[str, Any]) -> dict[str, Any]:
    attributes: dict[str, Any] = {"openinference.span.kind": "CHAIN"}
    for key, value in record.items():
        if key not in _RECORD_ATTRIBUTE_KEYS and not key.startswith(_ATTRIBUTE_PREFIXES):
            continue
        if value is None:
            continue
        if isinstance(value, (dict, list)):
            value = json.dumps(value, sort_keys=True)
        attributes[key] = value
    # What Phoenix's UI shows in its input/output columns.
    if isinstance(record.get("routing.query"), str):
        attributes["input.value"] = record["routing.query"]
    if isinstance(record.get("routing.chosen_agent"), str):
        attributes["output.value"] = record["routing.chosen_agent"]
    if isinstance(record.get("orchestration.query"), str):
        attributes["input.value"] = record["orchestration.query"]
    if isinstance(record.get("orchestration.pattern"), str):
        attributes["output.value"] = record["orchestration.pattern"]
    return attributes


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _nanos(value: datetime) -> int:
    # Integer arithmetic: float seconds would round microseconds, and window bounds are exact.
    return (_utc(value) - _EPOCH) // timedelta(microseconds=1) * 1000
