"""The LM layer: spec → LM, the schema adapter, errors. Slow tests run real local GGUF models
in-process, and a real OpenAI-compatible HTTP server (xllamacpp's) for the litellm path."""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path
from typing import Literal

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import dspy  # noqa: E402
import pydantic  # noqa: E402
import pytest  # noqa: E402
from dspy.utils import DummyLM  # noqa: E402

import pipeline.lm as lm_module  # noqa: E402
from pipeline.config import LMSpec  # noqa: E402
from pipeline.domain import AGENTS  # noqa: E402
from pipeline.modules.common import AgentName  # noqa: E402
from pipeline.errors import ConfigError, LMUnavailableError  # noqa: E402
from pipeline.lm import (  # noqa: E402
    BOUNDED,
    DEFAULT_MAX_STRING_LENGTH,
    LOCAL_MODELS,
    UNBOUNDED,
    InProcessGGUFLM,
    RemoteLM,
    SchemaJSONAdapter,
    _merge_system,
    adapter_for,
    build_lm,
    check_lm,
    lm_context,
    output_schema,
    response_format_for,
)


class Route(dspy.Signature):
    """Route the user query to the agent best suited to answer it."""

    query: str = dspy.InputField()
    agent: AgentName = dspy.OutputField()
    confidence: float = dspy.OutputField()
    reasoning: str = dspy.OutputField()


class Entity(pydantic.BaseModel):
    name: str
    kind: Literal["person", "place"]


class Extract(dspy.Signature):
    """Extract entities."""

    text: str = dspy.InputField()
    entities: list[Entity] = dspy.OutputField()
    score: float = dspy.OutputField(ge=0, le=1)
    count: int = dspy.OutputField()


# --------------------------------------------------------------------------- schema


def test_output_schema_maps_literal_to_enum_and_bounds_strings_and_floats() -> None:
    schema = output_schema(Route)
    assert list(schema["properties"]) == ["agent", "confidence", "reasoning"]  # signature order
    assert schema["properties"]["agent"] == {"type": "string", "enum": list(AGENTS)}
    assert schema["properties"]["confidence"] == {"type": "number", "multipleOf": 0.0001}
    assert schema["properties"]["reasoning"] == {"type": "string", "maxLength": DEFAULT_MAX_STRING_LENGTH}
    assert schema["required"] == ["agent", "confidence", "reasoning"]
    assert schema["additionalProperties"] is False
    assert "title" not in schema


def test_output_schema_unbounded_keeps_plain_types() -> None:
    schema = output_schema(Route, UNBOUNDED)
    assert schema["properties"]["confidence"] == {"type": "number"}
    assert schema["properties"]["reasoning"] == {"type": "string"}


def test_output_schema_keeps_field_constraints_and_shapes_nested_models() -> None:
    schema = output_schema(Extract)
    assert schema["properties"]["score"] == {"type": "number", "minimum": 0, "maximum": 1, "multipleOf": 0.0001}
    assert schema["properties"]["count"] == {"type": "integer"}
    entity = schema["$defs"]["Entity"]
    assert entity["required"] == ["name", "kind"] and entity["additionalProperties"] is False
    assert entity["properties"]["name"]["maxLength"] == DEFAULT_MAX_STRING_LENGTH
    assert entity["properties"]["kind"] == {"type": "string", "enum": ["person", "place"]}  # no cap on enums


def test_response_format_is_openai_strict_json_schema() -> None:
    fmt = response_format_for(Route)
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "Route"
    assert fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"] == output_schema(Route)


# --------------------------------------------------------------------------- adapter with DummyLM


def test_schema_adapter_sends_schema_and_parses_answer() -> None:
    adapter = SchemaJSONAdapter()
    lm = DummyLM([{"agent": "summarizer_agent", "confidence": 0.8, "reasoning": "wants a summary"}], adapter=adapter)
    with dspy.context(lm=lm, adapter=adapter):
        out = dspy.Predict(Route)(query="summarize this report")
    assert out.agent == "summarizer_agent"
    assert out.confidence == pytest.approx(0.8)
    assert lm.history[-1]["kwargs"]["response_format"] == response_format_for(Route)


def test_schema_adapter_keeps_an_explicit_response_format() -> None:
    adapter = SchemaJSONAdapter()
    lm = DummyLM([{"agent": "document_agent", "confidence": 0.5, "reasoning": "pdf"}], adapter=adapter)
    explicit = {"type": "json_object"}
    with dspy.context(lm=lm, adapter=adapter):
        dspy.Predict(Route, response_format=explicit)(query="open the pdf")
    assert lm.history[-1]["kwargs"]["response_format"] == explicit


def test_schema_adapter_rejects_a_label_outside_the_set() -> None:
    adapter = SchemaJSONAdapter()
    lm = DummyLM([{"agent": "weather_agent", "confidence": 0.5, "reasoning": "?"}], adapter=adapter)
    with dspy.context(lm=lm, adapter=adapter), pytest.raises(Exception, match="agent"):
        dspy.Predict(Route)(query="will it rain")


def test_adapter_for_bounds_self_hosted_servers_only() -> None:
    hosted = adapter_for(build_lm(LMSpec(model="openai/gpt-4o-mini")))
    self_hosted = adapter_for(build_lm(LMSpec(model="openai/qwen", api_base="http://127.0.0.1:1/v1")))
    ollama = adapter_for(build_lm(LMSpec(model="ollama_chat/qwen2.5")))
    assert isinstance(hosted, SchemaJSONAdapter) and hosted.limits == UNBOUNDED
    assert self_hosted.limits == BOUNDED and ollama.limits == BOUNDED


def test_merge_system_folds_instructions_into_the_first_user_turn() -> None:
    merged = _merge_system([
        {"role": "system", "content": "S"},
        {"role": "user", "content": "U1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "U2"},
    ])
    assert merged == [
        {"role": "user", "content": "S\n\nU1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "U2"},
    ]


class _RecordingServer:
    """Stands in for xllamacpp.Server to show what InProcessGGUFLM sends it."""

    def __init__(self) -> None:
        self.requests: list[dict] = []

    def handle_chat_completions(self, request: dict) -> dict:
        self.requests.append(request)
        return {"choices": [{"message": {"content": '{"agent":"document_agent"}'}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}}


def test_in_process_request_translation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = _RecordingServer()
    monkeypatch.setattr(lm_module, "_load_server", lambda *args: server)
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF")
    lm = build_lm(LMSpec(model=f"gguf:{path}", chat_format="gemma", max_tokens=77, temperature=0.0))
    adapter = adapter_for(lm)
    assert isinstance(adapter, SchemaJSONAdapter) and adapter.limits == BOUNDED

    class Pick(dspy.Signature):
        """Pick."""

        query: str = dspy.InputField()
        agent: Literal["document_agent", "summarizer_agent"] = dspy.OutputField()

    with dspy.context(lm=lm, adapter=adapter):
        assert dspy.Predict(Pick)(query="open the pdf").agent == "document_agent"
    request = server.requests[-1]
    assert [m["role"] for m in request["messages"]] == ["user"]  # system folded in for gemma
    assert "Pick." in request["messages"][0]["content"] and "open the pdf" in request["messages"][0]["content"]
    assert request["max_tokens"] == 77 and request["temperature"] == 0.0 and request["repeat_penalty"] == 1.0
    assert '"whitespace_flexible":false' in request["grammar"].replace(" ", "")
    assert '"enum":["document_agent","summarizer_agent"]' in request["grammar"].replace(" ", "")
    assert lm.history[-1]["usage"]["completion_tokens"] == 3


def test_in_process_context_overflow_is_dspy_context_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dspy.utils.exceptions import ContextWindowExceededError

    class Overflowing(_RecordingServer):
        def handle_chat_completions(self, request: dict) -> dict:
            return {"error": {"code": 400, "message": "request exceeds the available context size",
                              "type": "exceed_context_size_error"}}

    monkeypatch.setattr(lm_module, "_load_server", lambda *args: Overflowing())
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF")
    with pytest.raises(ContextWindowExceededError):
        build_lm(LMSpec(model=f"gguf:{path}"))("hello")


# --------------------------------------------------------------------------- build_lm / config errors


def test_missing_gguf_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        build_lm(LMSpec(model=f"gguf:{tmp_path / 'absent.gguf'}"))


def test_unknown_local_model_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        build_lm(LMSpec(model="local:llama-99b"))
    for name in LOCAL_MODELS:
        assert f"local:{name}" in str(info.value)


def test_missing_api_key_env_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COGNIVERSE_TEST_LM_KEY", raising=False)
    with pytest.raises(ConfigError, match="COGNIVERSE_TEST_LM_KEY"):
        build_lm(LMSpec(model="openai/gpt-4o-mini", api_key_env="COGNIVERSE_TEST_LM_KEY"))


def test_litellm_spec_builds_a_remote_lm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COGNIVERSE_TEST_LM_KEY", "k-123")
    lm = build_lm(LMSpec(model="openai/gpt-4o-mini", api_key_env="COGNIVERSE_TEST_LM_KEY", temperature=0.0,
                         max_tokens=99, num_retries=5, timeout_s=7.0))
    assert isinstance(lm, RemoteLM) and isinstance(lm, dspy.LM)
    assert lm.model == "openai/gpt-4o-mini" and lm.num_retries == 5
    assert lm.kwargs["api_key"] == "k-123" and lm.kwargs["max_tokens"] == 99 and lm.kwargs["timeout"] == 7.0
    assert "k-123" not in json.dumps(lm.dump_state())


def test_corrupt_gguf_is_lm_unavailable(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf file" * 64)
    with pytest.raises(LMUnavailableError, match="bogus.gguf"):
        build_lm(LMSpec(model=f"gguf:{bogus}", n_ctx=512))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_check_lm_unreachable_server_is_lm_unavailable() -> None:
    lm = build_lm(LMSpec(model="openai/nothing-here", api_base=f"http://127.0.0.1:{_closed_port()}/v1", num_retries=0))
    with pytest.raises(LMUnavailableError, match="openai/nothing-here"):
        check_lm(lm)


def test_lm_context_is_scoped() -> None:
    before = dspy.settings.lm
    with lm_context(LMSpec(model="openai/gpt-4o-mini")) as lm:
        assert dspy.settings.lm is lm
        assert isinstance(dspy.settings.adapter, SchemaJSONAdapter)
    assert dspy.settings.lm is before


# --------------------------------------------------------------------------- real models (slow)


@pytest.fixture(scope="module")
def smollm() -> InProcessGGUFLM:
    lm = build_lm(LMSpec(model="local:smollm2-135m", n_ctx=2048, max_tokens=64))
    assert isinstance(lm, InProcessGGUFLM)
    return lm


@pytest.mark.slow
def test_in_process_forward_returns_openai_shape_and_honours_schema(smollm: InProcessGGUFLM) -> None:
    schema = {"type": "object", "properties": {"color": {"type": "string", "enum": ["red", "blue"]}},
              "required": ["color"], "additionalProperties": False}
    response = smollm.forward(messages=[{"role": "system", "content": "Answer in JSON."},
                                       {"role": "user", "content": "Pick a color."}],
                              response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}})
    assert response.model == "local:smollm2-135m"
    assert response.usage["completion_tokens"] > 0
    content = response.choices[0].message.content
    assert json.loads(content)["color"] in {"red", "blue"}
    assert content == json.dumps(json.loads(content), separators=(",", ":"))  # compact: no room to ramble
    assert isinstance(smollm("Say hi.", max_tokens=4)[0], str)  # DSPy's public call path


@pytest.mark.slow
def test_in_process_model_is_loaded_once_and_thread_safe(smollm: InProcessGGUFLM) -> None:
    again = build_lm(LMSpec(model="local:smollm2-135m", n_ctx=2048, max_tokens=64))
    assert again._engine is smollm._engine
    fmt = {"type": "json_schema", "json_schema": {"name": "n", "schema": {
        "type": "object", "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 9}},
        "required": ["n"], "additionalProperties": False}}}
    results: list[int] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            text = smollm(messages=[{"role": "user", "content": "A digit please."}], response_format=fmt)[0]
            results.append(json.loads(text)["n"])
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors and len(results) == 3 and len(set(results)) == 1  # temperature 0: same answer


@pytest.mark.slow
def test_in_process_state_round_trips(smollm: InProcessGGUFLM) -> None:
    restored = dspy.BaseLM.load_state(smollm.dump_state(), allow_custom_lm_class=True)
    assert isinstance(restored, InProcessGGUFLM)
    assert restored.path == smollm.path and restored._engine is smollm._engine


@pytest.mark.slow
def test_gemma_routes_with_predict() -> None:
    with lm_context(LMSpec(model="local:gemma3-270m", n_ctx=2048, max_tokens=96)) as lm:
        assert isinstance(lm, InProcessGGUFLM) and lm.chat_format == "gemma"
        out = dspy.Predict(Route)(query="show me the video of the goal from last night")
    assert out.agent in AGENTS
    assert isinstance(out.confidence, float)
    assert isinstance(out.reasoning, str) and len(out.reasoning) <= DEFAULT_MAX_STRING_LENGTH


@pytest.fixture(scope="module")
def openai_compatible_server() -> tuple[str, str]:
    """xllamacpp's own HTTP server: a real OpenAI-compatible endpoint on loopback."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(LOCAL_MODELS["smollm2-135m"].locate())
    params.n_ctx = 2048
    params.n_parallel = 1
    params.verbosity = -1
    params.api_keys = ["test-key"]
    server = xllamacpp.Server(params)
    yield server.listening_address, "test-key"
    del server


@pytest.mark.slow
def test_remote_lm_against_an_openai_compatible_server(openai_compatible_server: tuple[str, str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    url, key = openai_compatible_server

    class Pick(dspy.Signature):
        """Pick the agent for the query."""

        query: str = dspy.InputField()
        agent: Literal["video_search_agent", "summarizer_agent"] = dspy.OutputField()
        confidence: float = dspy.OutputField(ge=0, le=1)

    monkeypatch.setenv("COGNIVERSE_TEST_LM_KEY", key)
    spec = LMSpec(model="openai/smollm2", api_base=f"{url}/v1", api_key_env="COGNIVERSE_TEST_LM_KEY",
                  max_tokens=48, num_retries=0)
    with lm_context(spec) as lm:
        check_lm(lm)
        out = dspy.Predict(Pick)(query="summarize this report")
    assert out.agent in {"video_search_agent", "summarizer_agent"}
    assert 0.0 <= out.confidence <= 1.0
    assert lm.history[-1]["kwargs"]["response_format"]["json_schema"]["schema"] == output_schema(Pick)

    monkeypatch.setenv("COGNIVERSE_TEST_LM_KEY", "wrong-key")
    with pytest.raises(LMUnavailableError, match="openai/smollm2"):
        check_lm(build_lm(spec))
