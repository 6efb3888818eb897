"""A protocol-level Vespa test server: the HTTP API pyvespa speaks, over an in-memory document set.

No Vespa can run on these machines, so the tests start this on 127.0.0.1 and point the real
pyvespa client at it. It implements what the pipeline's Vespa path uses, with Vespa's wire
shapes (NOTES.md, "Vespa"):

- `POST /search/` (and `GET /search/`): parameters from the query string and a JSON body,
  gzip-compressed bodies (`Content-Encoding: gzip`, which pyvespa sends above 1 KiB), nested or
  dotted JSON keys and their aliases (`ranking` → `ranking.profile`, `rankproperty.X` →
  `ranking.properties.X`, `count`/`start`). A YQL subset: `select * from sources a, b | * where
  <cond> [limit N] [offset M] [timeout T] [;]`, where <cond> is `true`, `false`,
  `field contains "term"`, `!`, `and`, `or` and parentheses. Rank profiles `default`,
  `unranked` and `random` (first phase `random.match`: stable per hit, seeded by
  `ranking.properties.random.match.seed`, default 1024). `maxHits` 400 and `maxOffset` 1000
  as Vespa's defaults; an unknown rank profile, source or bad YQL is a 400 with `root.errors`.
- `GET /document/v1/{ns}/{type}/docid/` visiting: `cluster` (required and checked),
  `selection` (a document selection subset: `true`, `false`, `type`, `type.field`,
  `type.field == "v"` / `!=`, `and`, `or`, `not`, parentheses), `wantedDocumentCount`,
  `slices`/`sliceId` (documents partitioned by a hash of their id, as buckets are) and an
  opaque `continuation` until the last page, which has none. Errors: `{"pathId", "message"}`.
- `GET /document/v1/{ns}/{type}/docid/{id}`: one document, or 404.
- `GET /ApplicationStatus`.
- Fault injection: `fail_next(n, status, after=k)` answers n requests, after k more, with that
  status and a Vespa error body.

Documents come from the bundled demo corpus in Vespa document shape, with per-schema field
names like a real application's (video titles in `video_title`, frame text in
`frame_description`, transcripts in `transcript`...), so the client's field mapping is exercised.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

CORPUS = Path(__file__).resolve().parents[1] / "pipeline" / "demo" / "data" / "corpus.jsonl"
NAMESPACE = "cogniverse"
CLUSTER = "content"
MAX_HITS = 400
MAX_OFFSET = 1000
RANK_PROFILES = ("default", "unranked", "random")
DEFAULT_RANDOM_SEED = 1024

# Per schema: corpus field → the field name a real application would use.
FIELD_NAMES: dict[str, dict[str, str]] = {
    "video_frames": {"title": "video_title", "text": "frame_description"},
    "image_content": {"title": "title", "text": "description"},
    "audio_transcripts": {"title": "title", "text": "transcript"},
    "document_content": {"title": "title", "text": "content"},
    "text_content": {"title": "title", "text": "text"},
}


@dataclass(frozen=True)
class Document:
    namespace: str
    doctype: str
    local_id: str
    fields: dict[str, Any]

    @property
    def id(self) -> str:
        return f"id:{self.namespace}:{self.doctype}::{self.local_id}"


def corpus_documents(
    path: Path = CORPUS,
    namespace: str = NAMESPACE,
    field_names: dict[str, dict[str, str]] | None = None,
    copies: int = 1,
) -> list[Document]:
    """The demo corpus as Vespa documents. `copies` > 1 repeats it with suffixed ids (to have
    more documents than one page or one `maxHits`)."""
    names = FIELD_NAMES if field_names is None else field_names
    docs = []
    for copy in range(copies):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            raw = json.loads(line)
            schema = raw["schema"]
            mapping = names.get(schema, {})
            fields = {
                mapping.get("title", "title"): raw["title"] + (f" ({copy + 1})" if copy else ""),
                mapping.get("text", "text"): raw["text"],
                "topics": list(raw.get("topics", [])),
                "entities": list(raw.get("entities", [])),
            }
            local = raw["id"] + (f"-{copy + 1}" if copy else "")
            docs.append(Document(namespace, schema, local, fields))
    return docs


class QueryError(Exception):
    """Becomes a 400 with Vespa's error body."""

    def __init__(self, code: int, summary: str, message: str) -> None:
        super().__init__(message)
        self.code, self.summary, self.message = code, summary, message


# ---------------------------------------------------------------------------- tokenizing

_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')|(?P<num>-?\d+(?:\.\d+)?)'
                    r"|(?P<op>==|!=|[!(),;*.])|(?P<word>[A-Za-z_][A-Za-z0-9_]*))")


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ValueError(f"unexpected character at position {pos}: {text[pos:pos + 20]!r}")
        kind = match.lastgroup or "word"
        value = match.group(kind)
        if kind == "str":
            value = json.loads(value) if value[0] == '"' else value[1:-1].replace("\\'", "'")
        out.append((kind, value))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.i = 0

    def peek(self, ahead: int = 0) -> tuple[str, str] | None:
        j = self.i + ahead
        return self.tokens[j] if j < len(self.tokens) else None

    def word(self, *words: str) -> bool:
        token = self.peek()
        if token and token[0] == "word" and token[1].lower() in words:
            self.i += 1
            return True
        return False

    def op(self, value: str) -> bool:
        token = self.peek()
        if token and token[0] == "op" and token[1] == value:
            self.i += 1
            return True
        return False

    def expect(self, kind: str) -> str:
        token = self.peek()
        if not token or token[0] != kind:
            raise ValueError(f"expected {kind} at token {self.i}, got {token[1] if token else 'end of input'!r}")
        self.i += 1
        return token[1]

    def done(self) -> bool:
        return self.i >= len(self.tokens)


# A condition is a predicate over a document.
Predicate = Callable[[Document], bool]


def _contains(value: Any, term: str) -> bool:
    term_l = term.lower()
    if isinstance(value, list):
        return any(_contains(v, term) for v in value)
    if not isinstance(value, str):
        return False
    words = re.findall(r"\w+", value.lower())
    wanted = re.findall(r"\w+", term_l)
    if not wanted:
        return False
    return any(words[i:i + len(wanted)] == wanted for i in range(len(words) - len(wanted) + 1))


class _Boolean:
    """`or`, `and`, negation, parentheses, `true`/`false` over a leaf condition: the grammar
    YQL's `where` and document selections share (they differ in negation and leaves)."""

    def __init__(self, negation: Callable[[_Parser], bool], leaf: Callable[[_Parser], Predicate]) -> None:
        self.negation, self.leaf = negation, leaf

    def parse(self, p: _Parser) -> Predicate:
        left = self._and(p)
        while p.word("or"):
            right, prev = self._and(p), left
            left = lambda d, a=prev, b=right: a(d) or b(d)  # noqa: E731
        return left

    def _and(self, p: _Parser) -> Predicate:
        left = self._unary(p)
        while p.word("and"):
            right, prev = self._unary(p), left
            left = lambda d, a=prev, b=right: a(d) and b(d)  # noqa: E731
        return left

    def _unary(self, p: _Parser) -> Predicate:
        if self.negation(p):
            inner = self._unary(p)
            return lambda d: not inner(d)
        if p.op("("):
            inner = self.parse(p)
            if not p.op(")"):
                raise ValueError("missing ')'")
            return inner
        if p.word("true"):
            return lambda d: True
        if p.word("false"):
            return lambda d: False
        return self.leaf(p)


def _yql_leaf(p: _Parser) -> Predicate:
    name = p.expect("word")
    if not p.word("contains"):
        raise ValueError(f"only 'contains' is supported after field {name!r}")
    term = p.expect("str")
    return lambda d: _contains(d.fields.get(name), term)


@dataclass
class Yql:
    sources: list[str] | None  # None = all
    where: Predicate
    limit: int | None = None
    offset: int | None = None


def parse_yql(text: str) -> Yql:
    p = _Parser(text)
    if not p.word("select"):
        raise ValueError("a YQL query starts with 'select'")
    if not p.op("*"):
        p.expect("word")
        while p.op(","):
            p.expect("word")
    if not p.word("from"):
        raise ValueError("expected 'from'")
    sources: list[str] | None
    if p.word("sources"):
        if p.op("*"):
            sources = None
        else:
            sources = [p.expect("word")]
            while p.op(","):
                sources.append(p.expect("word"))
    else:
        sources = [p.expect("word")]
    if not p.word("where"):
        raise ValueError("expected 'where'")
    where = _YQL.parse(p)
    query = Yql(sources, where)
    while not p.done():
        if p.word("limit"):
            query.limit = int(p.expect("num"))
        elif p.word("offset"):
            query.offset = int(p.expect("num"))
        elif p.word("timeout"):
            p.expect("num")
        elif p.op(";"):
            continue
        else:
            raise ValueError(f"unexpected {p.peek()[1]!r}")  # type: ignore[index]
    return query


def parse_selection(text: str) -> Predicate:
    p = _Parser(text)
    predicate = _SELECTION.parse(p)
    if not p.done():
        raise ValueError(f"unexpected {p.peek()[1]!r}")  # type: ignore[index]
    return predicate


def _sel_leaf(p: _Parser) -> Predicate:
    doctype = p.expect("word")
    if not p.op("."):
        return lambda d: d.doctype == doctype
    name = p.expect("word")
    if p.op("=="):
        value = _sel_value(p)
        return lambda d: d.doctype == doctype and d.fields.get(name) == value
    if p.op("!="):
        value = _sel_value(p)
        return lambda d: d.doctype == doctype and d.fields.get(name) != value
    return lambda d: d.doctype == doctype and d.fields.get(name) not in (None, "", [])


def _sel_value(p: _Parser) -> Any:
    token = p.peek()
    if token and token[0] == "num":
        p.i += 1
        return float(token[1]) if "." in token[1] else int(token[1])
    return p.expect("str")


_YQL = _Boolean(lambda p: p.op("!"), _yql_leaf)
_SELECTION = _Boolean(lambda p: p.word("not"), _sel_leaf)


# ---------------------------------------------------------------------------- the server


def _stable_unit(*parts: Any) -> float:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), child, out)
    else:
        out[prefix] = value


_ALIASES = {"ranking": "ranking.profile", "count": "hits", "start": "offset"}


def _query_params(query_string: str, body: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = dict(parse_qsl(query_string, keep_blank_values=True))
    _flatten("", body, params)
    normalised: dict[str, Any] = {}
    for key, value in params.items():
        if key.startswith("rankproperty."):
            key = "ranking.properties." + key.removeprefix("rankproperty.")
        normalised[_ALIASES.get(key, key)] = value
    return normalised


@dataclass
class _Fault:
    remaining: int
    status: int
    skip: int  # requests to let through first


@dataclass
class VespaTestServer:
    """`with VespaTestServer(documents) as server:` serves on `server.url` until the block ends."""

    documents: list[Document] = field(default_factory=corpus_documents)
    cluster: str = CLUSTER
    host: str = "127.0.0.1"
    requests: list[dict[str, Any]] = field(default_factory=list)  # method, path, params, gzip, body_bytes

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._fault: _Fault | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------- lifecycle
    def start(self) -> "VespaTestServer":
        handler = type("Handler", (_Handler,), {"server_state": self})
        self._httpd = ThreadingHTTPServer((self.host, 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="vespa-test-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "VespaTestServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -------------------------------------------------------------- test controls
    def fail_next(self, count: int, status: int = 503, after: int = 0) -> None:
        """Answer `count` requests with `status`, after letting `after` requests through."""
        with self._lock:
            self._fault = _Fault(count, status, after)

    def set_documents(self, documents: Iterable[Document]) -> None:
        with self._lock:
            self.documents = list(documents)

    def _take_fault(self) -> int | None:
        with self._lock:
            if self._fault and self._fault.skip > 0:
                self._fault.skip -= 1
            elif self._fault and self._fault.remaining > 0:
                self._fault.remaining -= 1
                return self._fault.status
            return None

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(entry)

    # -------------------------------------------------------------- search
    def search(self, params: dict[str, Any]) -> dict[str, Any]:
        yql_text = params.get("yql")
        if not yql_text:
            raise QueryError(4, "Invalid query parameter", "No query: set the 'yql' parameter")
        try:
            yql = parse_yql(str(yql_text))
        except ValueError as exc:
            raise QueryError(3, "Illegal query", f"Could not instantiate query from YQL: {exc}") from exc
        with self._lock:
            documents = list(self.documents)
        known = {d.doctype for d in documents} | set(FIELD_NAMES)
        for source in yql.sources or ():
            if source not in known:
                raise QueryError(4, "Invalid query parameter", f"Could not resolve source ref '{source}'.")
        hits = int(params.get("hits", 10)) if yql.limit is None else None
        offset = int(params.get("offset", 0)) if yql.offset is None else yql.offset
        if hits is None:  # YQL `limit` counts from the start, offset included
            hits = max(0, (yql.limit or 0) - offset)
        if hits > MAX_HITS:
            raise QueryError(4, "Invalid query parameter", f"{hits} hits requested, configured limit: {MAX_HITS}.")
        if offset > MAX_OFFSET:
            raise QueryError(4, "Invalid query parameter", f"{offset} offset requested, configured limit: {MAX_OFFSET}.")
        profile = str(params.get("ranking.profile", "default"))
        for doctype in yql.sources or sorted(known):
            if profile not in RANK_PROFILES:
                raise QueryError(4, "Invalid query parameter",
                                 f"Schema '{doctype}' does not contain requested rank profile '{profile}'")
        seed = params.get("ranking.properties.random.match.seed", DEFAULT_RANDOM_SEED)

        matched = [d for d in documents if (yql.sources is None or d.doctype in yql.sources) and yql.where(d)]
        if profile == "random":
            scored = [(_stable_unit("random.match", seed, d.id), d) for d in matched]
            scored.sort(key=lambda pair: (-pair[0], pair[1].id))
        else:
            scored = [(0.0, d) for d in matched]  # `where true` matches score nothing: document order
        page = scored[offset:offset + hits]
        root: dict[str, Any] = {
            "id": "toplevel",
            "relevance": 1.0,
            "fields": {"totalCount": len(matched)},
            "coverage": {"coverage": 100, "documents": len(documents), "full": True, "nodes": 1, "results": 1,
                         "resultsFull": 1},
        }
        if page:
            root["children"] = [
                {
                    "id": d.id,
                    "relevance": score,
                    "source": self.cluster,
                    "fields": {"sddocname": d.doctype, "documentid": d.id, **d.fields},
                }
                for score, d in page
            ]
        return {"root": root}

    # -------------------------------------------------------------- document/v1
    def visit(self, namespace: str, doctype: str, params: dict[str, str], path: str) -> dict[str, Any]:
        cluster = params.get("cluster")
        if not cluster:
            raise _DocError(400, path, "Must set 'cluster' parameter to a content cluster id when visiting")
        if cluster != self.cluster:
            raise _DocError(400, path, f"Your Vespa deployment has no content cluster '{cluster}', only '{self.cluster}'")
        try:
            selection = parse_selection(params.get("selection", "true") or "true")
        except ValueError as exc:
            raise _DocError(400, path, f"Failed to parse expression '{params.get('selection')}': {exc}") from exc
        try:
            wanted = max(1, int(params.get("wantedDocumentCount", 1)))
            slices = max(1, int(params.get("slices", 1)))
            slice_id = int(params.get("sliceId", 0))
        except ValueError as exc:
            raise _DocError(400, path, f"bad numeric parameter: {exc}") from exc
        if not 0 <= slice_id < slices:
            raise _DocError(400, path, f"sliceId must be in [0, {slices - 1}], was {slice_id}")
        with self._lock:
            documents = list(self.documents)
        if doctype not in {d.doctype for d in documents} | set(FIELD_NAMES):
            raise _DocError(400, path, f"Document type {doctype} does not exist")
        # Buckets: a hash of the id, so a slice is a pseudo-random part of the corpus, in hash order.
        in_slice = sorted(
            (d for d in documents
             if d.namespace == namespace and d.doctype == doctype and int(_stable_unit("bucket", d.id) * 2**32) % slices == slice_id),
            key=lambda d: _stable_unit("order", d.id),
        )
        start = 0
        if params.get("continuation"):
            try:
                state = json.loads(base64.urlsafe_b64decode(params["continuation"].encode()))
                start = int(state["position"])
                if state["slices"] != slices or state["sliceId"] != slice_id:
                    raise ValueError("continuation belongs to another slice")
            except (ValueError, KeyError, TypeError) as exc:
                raise _DocError(400, path, f"Failed parsing continuation token: {exc}") from exc
        documents_out, position = [], start
        while position < len(in_slice) and len(documents_out) < wanted:
            doc = in_slice[position]
            position += 1
            if selection(doc):
                documents_out.append({"id": doc.id, "fields": dict(doc.fields)})
        body: dict[str, Any] = {"pathId": path, "documents": documents_out, "documentCount": len(documents_out)}
        if position < len(in_slice):
            token = {"position": position, "slices": slices, "sliceId": slice_id}
            body["continuation"] = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
        return body

    def get(self, namespace: str, doctype: str, local_id: str, path: str) -> tuple[int, dict[str, Any]]:
        wanted = f"id:{namespace}:{doctype}::{local_id}"
        with self._lock:
            for doc in self.documents:
                if doc.id == wanted:
                    return 200, {"pathId": path, "id": doc.id, "fields": dict(doc.fields)}
        return 404, {"pathId": path, "id": wanted}


class _DocError(Exception):
    def __init__(self, status: int, path: str, message: str) -> None:
        super().__init__(message)
        self.status, self.path, self.message = status, path, message


_DOCID = re.compile(r"^/document/v1/(?P<ns>[^/]+)/(?P<type>[^/]+)/docid/(?P<id>.*)$")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as pyvespa's client expects
    server_state: VespaTestServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle + delayed ACK add ~40 ms each.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read `requests`
        return

    def _send(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _body(self) -> tuple[bytes, bool]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        gzipped = (self.headers.get("Content-Encoding") or "").lower() == "gzip"
        return (gzip.decompress(raw) if gzipped and raw else raw), gzipped

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        state = self.server_state
        url = urlsplit(self.path)
        try:
            raw, gzipped = self._body()
        except (OSError, EOFError) as exc:
            self._send(400, {"root": {"errors": [{"code": 4, "summary": "Invalid query parameter",
                                                  "message": f"Could not decompress the request body: {exc}"}]}})
            return
        state.record({"method": method, "path": url.path, "query": url.query, "gzip": gzipped, "body_bytes": len(raw),
                      "headers": dict(self.headers)})
        if (status := state._take_fault()) is not None:
            if url.path.startswith("/document/v1/"):
                self._send(status, {"pathId": url.path, "message": f"injected failure ({status})"})
            else:
                self._send(status, {"root": {"id": "toplevel", "relevance": 1.0, "fields": {"totalCount": 0},
                                             "errors": [{"code": 10, "summary": "Backend communication error",
                                                         "message": f"injected failure ({status})"}]}})
            return
        if url.path == "/ApplicationStatus" and method == "GET":
            self._send(200, {"application": {"vespa": {"version": "8.test"}, "meta": {"name": "default"}},
                             "abstractComponents": [], "handlers": [], "clients": [], "servers": []})
            return
        if url.path in ("/search/", "/search") and method in ("GET", "POST"):
            try:
                body = json.loads(raw) if raw.strip() else {}
                if not isinstance(body, dict):
                    raise ValueError("the JSON body must be an object")
            except ValueError as exc:
                self._send(400, {"root": {"errors": [{"code": 4, "summary": "Invalid query parameter",
                                                      "message": f"Could not parse the JSON request body: {exc}"}]}})
                return
            try:
                self._send(200, state.search(_query_params(url.query, body)))
            except QueryError as exc:
                self._send(400, {"root": {"id": "toplevel", "relevance": 1.0, "fields": {"totalCount": 0},
                                          "errors": [{"code": exc.code, "summary": exc.summary, "message": exc.message}]}})
            return
        match = _DOCID.match(url.path)
        if match and method == "GET":
            params = dict(parse_qsl(url.query, keep_blank_values=True))
            ns, doctype, local = match["ns"], match["type"], unquote(match["id"])
            try:
                if local:
                    status, body = state.get(ns, doctype, local, url.path)
                    self._send(status, body)
                else:
                    self._send(200, state.visit(ns, doctype, params, url.path))
            except _DocError as exc:
                self._send(exc.status, {"pathId": exc.path, "message": exc.message})
            return
        self._send(404, {"pathId": url.path, "message": f"Nothing at {method} {url.path}"})
