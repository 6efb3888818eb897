"""`Router`: route a query with the tenant's production program, explore, and trace the decision.

    with Router.from_config("acme") as router:
        decision = router.route("find the keynote video", context={"entities": ["keynote"]})
        ...                                  # the chosen agent answers
        router.record_outcome(decision, search_quality=0.8, agent_success=True, user_satisfaction=0.9)

The program is the one production points at (pipeline.router.programs: cached, re-checked every
`refresh_s`), run on the module's LM from the configuration (built once, on the first decision
that needs it; a program whose fast tier answers never calls it). Exploration is the seed's
epsilon-greedy (pipeline.router.exploration). Each decision becomes a `cogniverse.routing` span
(pipeline.router.tracer) that harvest reads back on the next run.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any, Mapping, Sequence

from pipeline.config import PipelineConfig
from pipeline.domain import AGENTS
from pipeline.errors import ConfigError
from pipeline.modules import parse_target
from pipeline.router.decision import RoutingDecision
from pipeline.router.exploration import EpsilonGreedy
from pipeline.router.programs import ProductionPrograms
from pipeline.tenant import validate_tenant_id


class Router:
    def __init__(
        self,
        tenant: str,
        *,
        store: Any,
        config: PipelineConfig | None = None,
        target: str = "routing",
        tracer: Any = None,
        exploration: EpsilonGreedy | None = None,
        lm: Any = None,
        adapter: Any = None,
        refresh_s: float = 30.0,
        allow_unoptimized: bool = False,
        agents: Sequence[str] = AGENTS,
    ) -> None:
        self.tenant = validate_tenant_id(tenant)
        self.module, self.modality = parse_target(target)
        self.target = target
        self.config = config or PipelineConfig()
        self.programs = ProductionPrograms(store, tenant, refresh_s=refresh_s, allow_unoptimized=allow_unoptimized)
        self.tracer = tracer
        self.exploration = exploration if exploration is not None else EpsilonGreedy()
        self.agents = tuple(agents)
        self._lm = lm
        self._adapter = adapter
        self._lm_lock = threading.Lock()

    @classmethod
    def from_config(cls, tenant: str, config_path: str | None = None, *, trace: bool = True, **kwargs: Any) -> "Router":
        """A router from the pipeline configuration (`config_path`, else $COGNIVERSE_CONFIG, else
        the defaults): its store, the module's LM, and a tracer to its Phoenix project."""
        import os

        from pipeline.config import load_config
        from pipeline.router.tracer import RoutingTracer
        from pipeline.storage import open_store

        config = load_config(config_path)
        store = open_store(config.storage, attempts=config.retry_attempts, backoff_s=config.retry_backoff_s)
        tracer = None
        if trace:
            api_key = os.environ.get(config.phoenix.api_key_env) if config.phoenix.api_key_env else None
            tracer = RoutingTracer(config.phoenix.endpoint, config.phoenix.project_for(validate_tenant_id(tenant)),
                                   api_key=api_key, timeout_s=config.phoenix.timeout_s)
        return cls(tenant, store=store, config=config, tracer=tracer, **kwargs)

    # ------------------------------------------------------------------ deciding
    def route(self, query: str, context: Mapping[str, Any] | str | None = None, *, modality: str | None = None,
              start_time: datetime | None = None) -> RoutingDecision:
        """The agent for `query`. `context` is what the router extracted upstream ({"entities",
        "relationships", "enhanced_query"}), as the span contract's routing.context; `modality`
        is recorded (for a `modality-<m>` target it is <m>, and the program's input)."""
        if not isinstance(query, str) or not query.strip():
            raise ConfigError("route() needs a non-empty query")
        import dspy

        from pipeline.modules import load_module
        from pipeline.modules.common import context_text

        spec = load_module(self.module)
        loaded = self.programs.get(self.target)
        modality = self.modality or modality
        inputs = {"query": query, "context": context_text(context), "modality": modality or "text"}
        lm, adapter = self._language_model()
        with dspy.context(lm=lm, adapter=adapter):
            prediction = loaded.program(**{name: inputs.get(name, "") for name in spec.input_fields})
        recommended = str(getattr(prediction, spec.label_field))
        recommended_confidence = float(getattr(prediction, "confidence", 0.0) or 0.0)
        reasoning = str(getattr(prediction, "reasoning", "") or "")
        agent, explored, epsilon = self.exploration.choose(recommended, self.agents)
        confidence = recommended_confidence
        if explored:
            # The router's belief in an agent it picked at random among the others: the
            # probability its program left over, spread evenly. Low, so harvest does not take an
            # explored decision's outcome as a trusted label; the annotator looks at it instead.
            confidence = round((1.0 - recommended_confidence) / max(1, len(self.agents) - 1), 4)
            reasoning = (f"explored (epsilon-greedy, ε={epsilon:.3f}): sent to {agent} instead of the program's "
                         f"{recommended} ({reasoning or 'no reasoning'})")
        span = None
        if self.tracer is not None:
            span = self.tracer.start(
                query=query, agent=agent, confidence=confidence, modality=modality, context=context, explored=explored,
                program_version=f"{self.target} {loaded.version}", recommended_agent=recommended if explored else None,
                start_time=start_time,
            )
        return RoutingDecision(
            agent=agent, confidence=confidence, reasoning=reasoning, explored=explored, program_version=loaded.version,
            recommended_agent=recommended, recommended_confidence=recommended_confidence, query=query, tenant=self.tenant,
            target=self.target, modality=modality, context=context, tier=getattr(prediction, "tier", None),
            span_id=span.span_id if span else None, trace_id=span.trace_id if span else None,
            started_at=span.started_at if span else None,
        )

    def record_outcome(self, decision: RoutingDecision, search_quality: float, agent_success: float | bool,
                       user_satisfaction: float | None = None, *, processing_time: float | None = None,
                       end_time: datetime | None = None) -> None:
        """The outcome of a traced decision: its span gets the outcome.* attributes and ends.
        `processing_time` is the seconds the routed request took (harvest's time penalty)."""
        if self.tracer is None or decision.span_id is None:
            raise ConfigError("this router does not trace: its decisions have no span to record an outcome on")
        self.tracer.record_outcome(decision.span_id, search_quality=search_quality, agent_success=agent_success,
                                   user_satisfaction=user_satisfaction, processing_time=processing_time, end_time=end_time)

    def _language_model(self) -> tuple[Any, Any]:
        with self._lm_lock:
            if self._lm is None:
                from pipeline.lm import build_lm

                self._lm = build_lm(self.config.llm.for_module(self.module))
            if self._adapter is None:
                from pipeline.lm import adapter_for

                self._adapter = adapter_for(self._lm)
            return self._lm, self._adapter

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Flush the traces (decisions without an outcome end without one)."""
        if self.tracer is not None:
            self.tracer.close()

    def __enter__(self) -> "Router":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

