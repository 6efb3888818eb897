"""Pipeline configuration: one pydantic model, embedded defaults, YAML file and env overrides.

Secrets never live here: an LM names the *environment variable* holding its key
(`api_key_env`), which Kubernetes fills from a Secret.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.errors import ConfigError

AGENTS: tuple[str, ...] = (
    "video_search_agent",
    "image_search_agent",
    "audio_analysis_agent",
    "document_agent",
    "text_search_agent",
    "summarizer_agent",
    "detailed_report_agent",
)
MODALITIES: tuple[str, ...] = ("video", "image", "audio", "document", "text")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LMSpec(_Strict):
    """One language model. `model` is a litellm model string (`openai/gpt-4o-mini`,
    `ollama_chat/qwen2.5`, `openai/<name>` plus `api_base` for any OpenAI-compatible server),
    `gguf:/path/to/model.gguf` for a local GGUF file run in-process, or `local:<name>` for a
    model shipped as a Python package (`local:gemma3-270m`)."""

    model: str
    api_base: str | None = None
    api_key_env: str | None = None  # name of the env var holding the key, never the key
    temperature: float = 0.0
    max_tokens: int = 256
    n_ctx: int = 4096  # in-process models only
    n_threads: int | None = None  # in-process models only; None = all cores
    chat_format: str | None = None  # in-process models only, e.g. "gemma"; None = the file's template
    num_retries: int = 3
    timeout_s: float = 120.0


class LLMConfig(_Strict):
    """Like the seed's `llm_config`: a primary LM, a teacher (annotator, generator,
    reflection) and per-module overrides."""

    primary: LMSpec = LMSpec(model="local:smollm2-135m")
    teacher: LMSpec | None = None
    modules: dict[str, LMSpec] = Field(default_factory=dict)

    def for_module(self, module: str) -> LMSpec:
        return self.modules.get(module, self.primary)

    def for_teacher(self) -> LMSpec:
        return self.teacher or self.primary


class PhoenixConfig(_Strict):
    endpoint: str = "http://127.0.0.1:6006"
    project_pattern: str = "cogniverse-{tenant}"
    api_key_env: str | None = None
    timeout_s: float = 30.0
    page_size: int = 1000  # spans per request; harvest slices time so nothing is truncated

    def project_for(self, tenant: str) -> str:
        return self.project_pattern.format(tenant=tenant)


class StorageConfig(_Strict):
    """`file:///abs/dir` or a relative `file://.local/store`, or `s3://bucket/prefix`."""

    url: str = "file://.local/store"
    endpoint: str | None = None  # S3-compatible endpoint (MinIO, SeaweedFS, GCS interop)
    region: str = "us-east-1"
    allow_http: bool = False
    access_key_env: str = "AWS_ACCESS_KEY_ID"
    secret_key_env: str = "AWS_SECRET_ACCESS_KEY"


class RewardConfig(_Strict):
    """reward = w_q·search_quality + w_s·agent_success + w_u·user_satisfaction − time penalty.
    When satisfaction is missing the other two weights are renormalised to sum to the total."""

    search_quality_weight: float = 0.4
    agent_success_weight: float = 0.3
    user_satisfaction_weight: float = 0.3
    time_penalty_per_second: float = 0.02
    max_time_penalty: float = 0.2


class OptimizerTiers(_Strict):
    """Trainset size → optimizer (seed defaults): < bootstrap_below → BootstrapFewShot,
    < simba_below → SIMBA, < mipro_below → MIPROv2, else GEPA."""

    bootstrap_below: int = 100
    simba_below: int = 500
    mipro_below: int = 1000


class TrainingConfig(_Strict):
    min_reward: float = 0.6  # real experiences below this reward are not used as positives
    heldout_fraction: float = 0.3
    min_train_examples: int = 8
    max_bootstrapped_demos: int = 4
    max_labeled_demos: int = 8
    seed: int = 13
    tiers: OptimizerTiers = OptimizerTiers()


class GateConfig(_Strict):
    improvement_threshold: float = 5.0  # percent, relative change of the primary metric
    min_heldout_examples: int = 30
    max_p_value: float = 0.2  # one-sided exact McNemar test on the paired held-out answers


class ContentConfig(_Strict):
    """Where synthetic generation samples real content. `bundled` = the demo corpus."""

    source: str = "bundled"
    path: str | None = None


class PipelineConfig(_Strict):
    phoenix: PhoenixConfig = PhoenixConfig()
    storage: StorageConfig = StorageConfig()
    llm: LLMConfig = LLMConfig()
    reward: RewardConfig = RewardConfig()
    training: TrainingConfig = TrainingConfig()
    gate: GateConfig = GateConfig()
    content: ContentConfig = ContentConfig()
    annotation_confidence_threshold: float = 0.6
    max_annotations_per_run: int = 200  # lowest confidence first; the rest wait for the next run
    retry_attempts: int = 4
    retry_backoff_s: float = 1.0


# Env overrides for what differs between a laptop and a cluster; the rest goes in the file.
_ENV_OVERRIDES: dict[str, tuple[str, ...]] = {
    "COGNIVERSE_PHOENIX_ENDPOINT": ("phoenix", "endpoint"),
    "COGNIVERSE_PHOENIX_PROJECT_PATTERN": ("phoenix", "project_pattern"),
    "COGNIVERSE_STORAGE_URL": ("storage", "url"),
    "COGNIVERSE_STORAGE_ENDPOINT": ("storage", "endpoint"),
    "COGNIVERSE_LM_MODEL": ("llm", "primary", "model"),
    "COGNIVERSE_LM_API_BASE": ("llm", "primary", "api_base"),
}


def load_config(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> PipelineConfig:
    """Defaults, then the YAML/JSON file (`path` or $COGNIVERSE_CONFIG), then env overrides."""
    env = dict(os.environ if env is None else env)
    data: dict[str, Any] = {}
    path = path or env.get("COGNIVERSE_CONFIG")
    if path:
        data = _read_file(Path(path))
    for var, keys in _ENV_OVERRIDES.items():
        if env.get(var):
            node = data
            for key in keys[:-1]:
                node = node.setdefault(key, {})
            node[keys[-1]] = env[var]
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration{f' in {path}' if path else ''}:\n{exc}") from exc


def _read_file(path: Path) -> dict[str, Any]:
    import yaml  # YAML is a superset of JSON: one parser for both

    try:
        loaded = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"configuration file not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"configuration file {path} is not valid YAML: {exc}") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"configuration file {path} must hold a mapping, not {type(loaded).__name__}")
    return loaded
