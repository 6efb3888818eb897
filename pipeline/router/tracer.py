"""`RoutingTracer`: the span contract (README, "The span contract") emitted with OpenTelemetry to
Phoenix — a root span `cogniverse.routing` per decision, its `routing.*` attributes set when the
decision is made, the `outcome.*` attributes when the outcome is known, then the span ends; and
a root span `cogniverse.orchestration` per multi-agent execution (`start_orchestration` with the
plan, `record_orchestration_outcome` with what happened), kept open the same way.

A span is exported when it ends, so a decision stays open (in this process) until
`record_outcome` or `end`; at most `max_open` stay open, the oldest are ended without an outcome
beyond that (harvest counts them as "missing outcome"). Start and end times can be given, so
traffic can be backdated (the demo seeds 48 h of it).

Two export modes: `background=True` (a router's: a BatchSpanProcessor exports off the request
path) and `background=False` (batches exported in the caller's thread, for seeding and tests).
In both, `flush()` raises PhoenixUnavailableError if any export since the last flush failed:
spans are never lost without a word. The tracer records what it is given, without checking it:
telemetry must not fail a request, and a broken span is what harvest is there to count.

Phoenix's project is the resource attribute `openinference.project.name` (what
`phoenix.otel.register(project_name=…)` sets); the provider is private to the tracer, never
installed globally.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from pipeline.errors import PhoenixUnavailableError
from pipeline.phoenix_io import ORCHESTRATION_SPAN_NAME, ROUTING_SPAN_NAME, _nanos, _span_attributes, _utc

log = logging.getLogger(__name__)
DEFAULT_MAX_OPEN = 10_000


@dataclass(frozen=True)
class TracedSpan:
    span_id: str  # 16 hex digits, as Phoenix shows it (annotations address spans by it)
    trace_id: str
    started_at: datetime


class RoutingTracer:
    def __init__(
        self,
        endpoint: str,
        project: str,
        *,
        api_key: str | None = None,
        background: bool = True,
        export_batch: int = 256,
        timeout_s: float = 30.0,
        max_open: int = DEFAULT_MAX_OPEN,
    ) -> None:
        # Lazy: only a process that traces pays for OpenTelemetry.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        self.endpoint = endpoint.rstrip("/")
        self.project = project
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        self._exporter = _checked(OTLPSpanExporter(endpoint=f"{self.endpoint}/v1/traces", headers=headers, timeout=timeout_s))
        self._provider = TracerProvider(resource=Resource({"openinference.project.name": project}))
        if background:
            self._processor: Any = BatchSpanProcessor(self._exporter, max_queue_size=max(8192, export_batch * 4),
                                                      max_export_batch_size=export_batch)
        else:
            self._processor = _inline_batches(self._exporter, export_batch)
        self._provider.add_span_processor(self._processor)
        self._tracer = self._provider.get_tracer("cogniverse.routing")
        self._open: OrderedDict[str, Any] = OrderedDict()
        self._max_open = max(1, max_open)
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def for_tenant(cls, endpoint: str, tenant: str, project_pattern: str = "cogniverse-{tenant}", **kwargs: Any) -> "RoutingTracer":
        from pipeline.tenant import validate_tenant_id

        return cls(endpoint, project_pattern.format(tenant=validate_tenant_id(tenant)), **kwargs)

    # ------------------------------------------------------------------ decisions
    def start(
        self,
        *,
        query: str | None,
        agent: str | None,
        confidence: float | None,
        modality: str | None = None,
        context: Mapping[str, Any] | str | None = None,
        explored: bool = False,
        program_version: str | None = None,
        recommended_agent: str | None = None,
        start_time: datetime | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> TracedSpan:
        """Open the decision's span with its routing.* attributes (None values are left out)."""
        record: dict[str, Any] = {
            "routing.query": query,
            "routing.chosen_agent": agent,
            "routing.confidence": confidence,
            "routing.modality": modality,
            "routing.context": context,
            "routing.explored": bool(explored),
            "routing.program_version": program_version,
            "routing.recommended_agent": recommended_agent,
            **dict(attributes or {}),
        }
        return self._open_span(ROUTING_SPAN_NAME, record, start_time)

    def start_orchestration(
        self,
        *,
        query: str | None,
        pattern: str | None,
        agents: list[str] | tuple[str, ...] | None,
        analysis: Mapping[str, Any] | str | None = None,
        start_time: datetime | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> TracedSpan:
        """Open an orchestration's root span `cogniverse.orchestration` with the plan: the
        query, the pattern (`sequential`, `parallel`, `conditional`), the agent sequence and
        the upstream query analysis (a dict is sent as JSON). None values are left out."""
        record: dict[str, Any] = {
            "orchestration.query": query,
            "orchestration.pattern": pattern,
            "orchestration.agent_sequence": list(agents) if agents is not None else None,
            "orchestration.analysis": analysis,
            **dict(attributes or {}),
        }
        return self._open_span(ORCHESTRATION_SPAN_NAME, record, start_time)

    def record_orchestration_outcome(
        self,
        span: TracedSpan | str,
        *,
        success: bool | float | None,
        agent_outcomes: list[Mapping[str, Any]] | None = None,
        user_satisfaction: float | None = None,
        processing_time: float | None = None,
        parallel_efficiency: float | None = None,
        end_time: datetime | None = None,
    ) -> None:
        """Add the execution's outcome and end its span: `outcome.success`, the per-agent
        outcomes (`[{"agent", "success", "processing_time"}]`, in sequence order, sent as JSON),
        `outcome.user_satisfaction`, `orchestration.processing_time` (wall seconds) and
        `orchestration.parallel_efficiency` (parallel plans). Unknown or ended span: KeyError."""
        entry = self._pop(span)
        attributes = _span_attributes({
            "outcome.success": success,
            "outcome.agent_outcomes": [dict(o) for o in agent_outcomes] if agent_outcomes is not None else None,
            "outcome.user_satisfaction": user_satisfaction,
            "orchestration.processing_time": processing_time,
            "orchestration.parallel_efficiency": parallel_efficiency,
        })
        attributes.pop("openinference.span.kind", None)  # set at start already
        otel_span, started = entry
        otel_span.set_attributes(attributes)
        otel_span.end(end_time=_nanos(self._end(started, end_time, processing_time)))

    def _open_span(self, name: str, record: dict[str, Any], start_time: datetime | None) -> TracedSpan:
        from opentelemetry.trace import Status, StatusCode

        started = _utc(start_time or datetime.now(timezone.utc))
        span = self._tracer.start_span(name, attributes=_span_attributes(record), start_time=_nanos(started))
        span.set_status(Status(StatusCode.OK))
        context_ = span.get_span_context()
        traced = TracedSpan(span_id=f"{context_.span_id:016x}", trace_id=f"{context_.trace_id:032x}", started_at=started)
        overflow = []
        with self._lock:
            self._open[traced.span_id] = (span, started)
            while len(self._open) > self._max_open:
                overflow.append(self._open.popitem(last=False))
        for span_id, (old, old_start) in overflow:
            log.warning("span %s never got an outcome; ended without one (max_open=%d)", span_id, self._max_open)
            old.end(end_time=_nanos(max(old_start, datetime.now(timezone.utc))))
        return traced

    def record_outcome(
        self,
        span: TracedSpan | str,
        *,
        search_quality: float | None,
        agent_success: float | bool | None,
        user_satisfaction: float | None = None,
        processing_time: float | None = None,
        end_time: datetime | None = None,
    ) -> None:
        """Add the outcome.* attributes (and routing.processing_time) and end the span: it is
        exported from here on. An unknown or already ended decision is a KeyError: a bug."""
        entry = self._pop(span)
        attributes = _span_attributes({
            "outcome.search_quality": search_quality,
            "outcome.agent_success": agent_success,
            "outcome.user_satisfaction": user_satisfaction,
            "routing.processing_time": processing_time,
        })
        attributes.pop("openinference.span.kind", None)  # set at start already
        otel_span, started = entry
        otel_span.set_attributes(attributes)
        otel_span.end(end_time=_nanos(self._end(started, end_time, processing_time)))

    def end(self, span: TracedSpan | str, *, end_time: datetime | None = None) -> None:
        """End a decision whose outcome will never be known (harvest skips it)."""
        otel_span, started = self._pop(span)
        otel_span.end(end_time=_nanos(self._end(started, end_time, None)))

    @staticmethod
    def _end(started: datetime, end_time: datetime | None, processing_time: float | None) -> datetime:
        if end_time is not None:
            return _utc(end_time)
        if isinstance(processing_time, (int, float)) and processing_time >= 0:
            return started + timedelta(seconds=float(processing_time))
        return max(started, datetime.now(timezone.utc))

    def _pop(self, span: TracedSpan | str) -> tuple[Any, datetime]:
        span_id = span if isinstance(span, str) else span.span_id
        with self._lock:
            entry = self._open.pop(span_id, None)
        if entry is None:
            raise KeyError(f"span {span_id} is not open: its outcome was recorded already, or it never started here")
        return entry

    @property
    def open_decisions(self) -> int:
        with self._lock:
            return len(self._open)

    # ------------------------------------------------------------------ export
    def flush(self, timeout_s: float = 60.0) -> None:
        """Export every ended span now; PhoenixUnavailableError if an export failed since the
        last flush (Phoenix acknowledges before it inserts: readers must still poll)."""
        flushed = self._provider.force_flush(int(timeout_s * 1000))
        failed, self._exporter.failed = self._exporter.failed, 0
        if failed or not flushed:
            what = f"{failed} routing spans were not accepted" if failed else f"the export did not finish in {timeout_s:g} s"
            raise PhoenixUnavailableError(f"Phoenix at {self.endpoint}: {what} (project {self.project!r}, OTLP {self.endpoint}/v1/traces)")

    def close(self, *, end_open: bool = True) -> None:
        """Flush and stop. Open decisions are ended without an outcome (`end_open`), so they are
        not silently lost either."""
        if self._closed:
            return
        if end_open:
            with self._lock:
                pending = list(self._open)
            for span_id in pending:
                self.end(span_id)
        try:
            self.flush()
        finally:
            self._closed = True
            self._provider.shutdown()

    def __enter__(self) -> "RoutingTracer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _checked(inner: Any) -> Any:
    """A SpanExporter that counts the spans of failed exports, for flush() to report. Built here:
    its OpenTelemetry base class is imported only by a process that traces."""
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class Checked(SpanExporter):
        def __init__(self) -> None:
            self.inner = inner
            self.failed = 0

        def export(self, spans: Any) -> Any:
            try:
                result = self.inner.export(spans)
            except Exception:  # noqa: BLE001 - an exporter must not raise into the SDK's thread
                result = SpanExportResult.FAILURE
            if result is not SpanExportResult.SUCCESS:
                self.failed += len(spans)
            return result

        def shutdown(self) -> None:
            self.inner.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True

    return Checked()


def _inline_batches(exporter: Any, batch: int) -> Any:
    """A SpanProcessor exporting in the caller's thread, `batch` spans at a time: sending a
    seeded window of traffic is a bulk job that should fail where it is called."""
    from opentelemetry.sdk.trace import SpanProcessor

    class InlineBatches(SpanProcessor):
        def __init__(self) -> None:
            self.batch = max(1, batch)
            self.ended: list[Any] = []
            self.lock = threading.Lock()

        def on_end(self, span: Any) -> None:
            with self.lock:
                self.ended.append(span)
                full = len(self.ended) >= self.batch
            if full:
                self.force_flush()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            with self.lock:
                pending, self.ended = self.ended, []
            for start in range(0, len(pending), self.batch):
                exporter.export(pending[start:start + self.batch])
            return True

        def shutdown(self) -> None:
            self.force_flush()
            exporter.shutdown()

    return InlineBatches()
