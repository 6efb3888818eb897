"""Real documents sampled from a Vespa application, with pyvespa as the client.

Two ways to sample (`content.vespa.sampling`):
- `search`: `select * from sources <schema> where <where>` ranked by a rank profile whose first
  phase is `random.match`, seeded per run and schema through `rankproperty.random.match.seed`;
  paged with `offset`, at most the application's maxHits per request and maxOffset deep.
- `visit`: document/v1 visiting of a seeded random order of slices (each slice is a hash
  partition of the corpus, visited in bucket order, itself a hash order), following
  `continuation` until enough documents are in hand. Works with any application: no rank
  profile needed, only the content cluster's name.

Connection errors, timeouts, 429 and 5xx are retried with exponential backoff and end in
`BackendUnavailableError`; a 4xx means the request or the configuration is wrong and is a
`ConfigError` carrying Vespa's own message. Nothing is ever made up: an empty backend gives an
empty sample.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pipeline.config import VespaConfig, VespaFieldMapping, VespaSchemaConfig
from pipeline.domain import AGENTS, MODALITIES
from pipeline.content.items import SCHEMA_ROUTES, ContentItem, ContentProfile, known_profile, spread
from pipeline.errors import BackendUnavailableError, ConfigError

log = logging.getLogger(__name__)
T = TypeVar("T")


class ResolvedSchema:
    """A configured schema with its defaults filled in."""

    def __init__(self, name: str, profile: ContentProfile, config: VespaSchemaConfig, namespace: str) -> None:
        self.name = name
        self.profile = profile
        self.config = config
        self.namespace = namespace

    @property
    def fields(self) -> VespaFieldMapping:
        return self.config.fields


def resolve_schemas(config: VespaConfig) -> dict[str, ResolvedSchema]:
    """The configured schemas (or the five known ones), each with modality, agent and namespace."""
    configured = config.schemas or {name: VespaSchemaConfig() for name in SCHEMA_ROUTES}
    resolved = {}
    for name, schema in configured.items():
        known = known_profile(name)
        modality = schema.modality or (known.modality if known else None)
        agent = schema.agent or (known.agent if known else None)
        if modality is None or agent is None:
            raise ConfigError(f"content.vespa.schemas.{name}: an unknown schema needs both `modality` and `agent`")
        if modality not in MODALITIES:
            raise ConfigError(f"content.vespa.schemas.{name}: unknown modality {modality!r}")
        if agent not in AGENTS:
            raise ConfigError(f"content.vespa.schemas.{name}: unknown agent {agent!r}; known: {', '.join(AGENTS)}")
        description = schema.description or (known.description if known else "")
        profile = ContentProfile(name=name, modality=modality, agent=agent, description=description)
        resolved[name] = ResolvedSchema(name, profile, schema, schema.namespace or config.namespace or name)
    return resolved


class VespaContentSource:
    def __init__(self, config: VespaConfig) -> None:
        self.config = config
        self.endpoint = config.endpoint.rstrip("/")
        self.name = f"vespa:{self.endpoint}"
        self.schemas = resolve_schemas(config)
        self._ready = False

    def profiles(self) -> list[ContentProfile]:
        return [schema.profile for schema in self.schemas.values()]

    def sample(self, count: int, seed: int, schemas: Sequence[str] | None = None) -> list[ContentItem]:
        names = list(self.schemas) if schemas is None else list(schemas)
        unknown = [name for name in names if name not in self.schemas]
        if unknown:
            raise ConfigError(f"schemas not configured in content.vespa.schemas: {', '.join(unknown)}")
        quotas = {name: quota for name, quota in spread(count, names).items() if quota > 0}
        if not quotas:
            return []
        self.check_ready()
        items: list[ContentItem] = []
        with self._session() as sync:
            for name, quota in quotas.items():
                schema = self.schemas[name]
                if self.config.sampling == "visit":
                    documents = self._visit(sync, schema, quota, seed)
                else:
                    documents = self._search(sync, schema, quota, seed)
                converted = [item for doc_id, fields in documents if (item := to_item(doc_id, fields, schema))]
                if len(converted) < len(documents):
                    log.warning("%s: %d of %d documents have none of the title/text fields %s / %s",
                                name, len(documents) - len(converted), len(documents), schema.fields.title, schema.fields.text)
                items.extend(converted[:quota])
        return items

    # ------------------------------------------------------------------ readiness
    def check_ready(self) -> None:
        """GET /ApplicationStatus answers 200, retried like every request."""
        if self._ready:
            return

        def probe() -> None:
            with self._client() as client:
                response = client.get(f"{self.endpoint}/ApplicationStatus")
            if response.status_code != 200:
                raise _StatusError(response.status_code, response.text[:300])

        self._call("the readiness check (/ApplicationStatus)", probe)
        self._ready = True

    # ------------------------------------------------------------------ sampling
    def _search(self, sync: Any, schema: ResolvedSchema, quota: int, seed: int) -> list[tuple[str, dict[str, Any]]]:
        yql = f"select * from sources {schema.name} where {schema.config.where}"
        rank_seed = _derived_seed(seed, schema.name)
        found: list[tuple[str, dict[str, Any]]] = []
        offset = 0
        while len(found) < quota and offset <= self.config.max_offset:
            want = min(self.config.max_hits, quota - len(found))
            body = {
                "yql": yql,
                "hits": want,
                "offset": offset,
                "ranking.profile": self.config.rank_profile,
                # random.match is stable per hit for one seed, so offset pages do not overlap
                "ranking.properties.random.match.seed": rank_seed,
                "timeout": f"{self.config.timeout_s:g}s",
            }
            response = self._call(f"sampling {schema.name} (search)", lambda body=body: sync.query(body=body))
            hits = response.hits
            found.extend((hit.get("id", ""), hit.get("fields", {})) for hit in hits)
            if len(hits) < want:
                return found  # the schema holds no more matching documents
            offset += len(hits)
        if len(found) < quota:
            log.warning("%s: search sampling stops at maxOffset %d with %d of %d documents; use sampling: visit "
                        "for larger samples", schema.name, self.config.max_offset, len(found), quota)
        return found

    def _visit(self, sync: Any, schema: ResolvedSchema, quota: int, seed: int) -> list[tuple[str, dict[str, Any]]]:
        slices = self.config.slices
        order = list(range(slices))
        random.Random(_derived_seed(seed, schema.name)).shuffle(order)
        selection = schema.config.selection or schema.name
        found: list[tuple[str, dict[str, Any]]] = []
        for slice_id in order:
            state: dict[str, Any] = {"continuation": None}

            def read_slice(slice_id: int = slice_id, state: dict[str, Any] = state) -> None:
                # Resumes from the last continuation seen, so a retry does not re-read pages.
                extra = {"continuation": state["continuation"]} if state["continuation"] else {}
                slice_pages = next(iter(sync.visit(
                    content_cluster_name=self.config.content_cluster, schema=schema.name, namespace=schema.namespace,
                    selection=selection, wanted_document_count=min(self.config.page_size, max(1, quota - len(found))),
                    slices=slices, slice_id=slice_id, **extra,
                )))
                for page in slice_pages:
                    found.extend((doc.get("id", ""), doc.get("fields", {})) for doc in page.documents)
                    state["continuation"] = page.continuation
                    if len(found) >= quota:
                        return

            self._call(f"visiting {schema.name} slice {slice_id}/{slices}", read_slice)
            if len(found) >= quota:
                break
        return found[:quota]

    # ------------------------------------------------------------------ transport
    def _client(self) -> Any:
        import httpr  # the HTTP client pyvespa itself uses

        from vespa.application import Vespa

        app = self._app(Vespa)
        options: dict[str, Any] = {"headers": app.base_headers, "timeout": self.config.timeout_s, "follow_redirects": True}
        if self.config.cert_path:
            options["client_pem_data"] = _pem(self.config.cert_path, self.config.key_path)
        return httpr.Client(**options)

    def _app(self, vespa_class: Any) -> Any:
        token = None
        if self.config.token_env:
            token = os.environ.get(self.config.token_env)
            if not token:
                raise ConfigError(f"Vespa: environment variable {self.config.token_env} (content.vespa.token_env) is not set")
        return vespa_class(url=self.endpoint, vespa_cloud_secret_token=token)

    @contextlib.contextmanager
    def _session(self) -> Iterator[Any]:
        """A pyvespa sync session on our own client: our timeout, and no retries of its own
        (pyvespa would otherwise retry a refused connection 10 times with ~1 s waits)."""
        from vespa.application import Vespa

        app = self._app(Vespa)
        client = self._client()
        try:
            with app.syncio(session=client, num_retries_429=0) as sync:
                yield sync
        finally:
            client.close()

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        import httpr
        from requests.exceptions import HTTPError
        from vespa.exceptions import VespaError

        attempts = max(1, self.config.retry_attempts)
        delay = self.config.retry_backoff_s
        for attempt in range(1, attempts + 1):
            try:
                return fn()
            except (VespaError, HTTPError, _StatusError) as exc:
                status = _status_of(exc)
                if status is not None and status != 429 and status < 500:
                    raise ConfigError(f"Vespa at {self.endpoint} rejected {what} ({status}): {_detail(exc)}") from exc
                failure: Exception = exc
            except (httpr.TransportError, httpr.DecodingError) as exc:  # refused, reset, timed out
                failure = exc
            except RuntimeError as exc:  # httpr's answer to a body that is not JSON
                failure = exc
            if attempt == attempts:
                raise BackendUnavailableError(
                    f"Vespa at {self.endpoint} unavailable for {what} after {attempts} attempts: "
                    f"{type(failure).__name__}: {_detail(failure)}"
                ) from failure
            log.info("Vespa %s failed (%s), retrying in %.1fs", what, _detail(failure), delay)
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")


class _StatusError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


def _status_of(exc: BaseException) -> int | None:
    if isinstance(exc, _StatusError):
        return exc.status
    for error in (exc, exc.__cause__):  # a VespaError's response sits on the HTTPError it came from
        response = getattr(error, "response", None)
        if response is not None:
            return int(response.status_code)
    return None


def _detail(exc: BaseException) -> str:
    """Vespa's own message: `root.errors` (search), `message` (document/v1), else the text."""
    from vespa.exceptions import VespaError

    if isinstance(exc, VespaError) and exc.args:
        errors = exc.args[0]
        if isinstance(errors, list):
            return "; ".join(
                f"{e.get('summary', '')}: {e.get('message', '')}".strip(": ") if isinstance(e, dict) else str(e)
                for e in errors
            )
        return str(errors)
    return str(exc)[:500]


def _derived_seed(seed: int, name: str) -> int:
    """A per-schema seed, stable across processes (unlike hash())."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:4], "big")


def _pem(cert_path: str, key_path: str | None) -> bytes:
    try:
        data = Path(cert_path).read_bytes()
        if key_path:
            data = data.rstrip(b"\n") + b"\n" + Path(key_path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"Vespa mTLS certificate/key not readable: {exc}") from exc
    return data


# --------------------------------------------------------------------------- documents → items


def to_item(doc_id: str, fields: dict[str, Any], schema: ResolvedSchema) -> ContentItem | None:
    """A Vespa document (id, fields) as a ContentItem, through the schema's field mapping;
    None when it has neither a title nor a text field."""
    mapping = schema.fields
    title = _first_text(fields, mapping.title)
    text = _first_text(fields, mapping.text)
    if not title and not text:
        return None
    if not title:  # the start of the document's own text, never a made-up title
        title = " ".join(text.split()[:10])
    local_id = doc_id.rsplit("::", 1)[-1] if "::" in doc_id else (doc_id or str(fields.get("documentid", "")))
    return ContentItem(
        id=local_id,
        schema_name=schema.name,
        title=title,
        text=text,
        topics=_strings(fields, mapping.topics),
        entities=_strings(fields, mapping.entities),
        source_id=doc_id or None,
    )


def _first_text(fields: dict[str, Any], names: list[str]) -> str:
    for name in names:
        value = fields.get(name)
        if isinstance(value, list):
            value = " ".join(str(v) for v in value if isinstance(v, (str, int, float)))
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())
    return ""


def _strings(fields: dict[str, Any], names: list[str]) -> list[str]:
    for name in names:
        value = fields.get(name)
        if isinstance(value, dict):  # a weighted set: {"term": weight}
            value = list(value)
        if isinstance(value, str):
            value = [part for part in value.split(",")]
        if isinstance(value, list):
            strings = [" ".join(str(v).split()) for v in value if isinstance(v, (str, int, float))]
            strings = [s for s in strings if s]
            if strings:
                return list(dict.fromkeys(strings))
    return []
