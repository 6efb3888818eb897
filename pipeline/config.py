"""Pipeline configuration: one pydantic model, embedded defaults, YAML file and env overrides.

Secrets never live here: an LM names the *environment variable* holding its key
(`api_key_env`), which Kubernetes fills from a Secret.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline import contract
from pipeline.domain import Modality
from pipeline.errors import ConfigError


class _Strict(BaseModel):
    # Unknown keys are typos; NaN and infinity compare false with every bound, so a `.nan`
    # would slip past each range below and switch a check off.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)



class LMSpec(_Strict):
    """One language model. `model` is a litellm model string (`openai/gpt-4o-mini`,
    `ollama_chat/qwen2.5`, `openai/<name>` plus `api_base` for any OpenAI-compatible server),
    `gguf:/path/to/model.gguf` for a local GGUF file run in-process, or `local:<name>` for a
    model shipped as a Python package (`local:gemma3-270m`)."""

    model: str
    api_base: str | None = None
    api_key_env: str | None = None  # name of the env var holding the key, never the key
    temperature: float = Field(default=0.0, ge=0.0)
    max_tokens: int = Field(default=256, ge=1)
    n_ctx: int = Field(default=4096, ge=1)  # in-process models only
    n_threads: int | None = Field(default=None, ge=1)  # in-process models only; None = all cores
    chat_format: str | None = None  # in-process models only, e.g. "gemma"; None = the file's template
    num_retries: int = Field(default=3, ge=0)
    timeout_s: float = Field(default=120.0, gt=0.0)


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
    timeout_s: float = Field(default=30.0, gt=0.0)
    page_size: int = Field(default=1000, ge=1, le=1000)  # spans per request (Phoenix's maximum); cursor-paged, nothing is truncated

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

    search_quality_weight: float = Field(default=0.4, ge=0.0)
    agent_success_weight: float = Field(default=0.3, ge=0.0)
    user_satisfaction_weight: float = Field(default=0.3, ge=0.0)
    time_penalty_per_second: float = Field(default=0.02, ge=0.0)
    max_time_penalty: float = Field(default=0.2, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _some_weight(self) -> "RewardConfig":
        # Without a rating the reward is scaled by (all weights) / (quality + success weights).
        if self.search_quality_weight + self.agent_success_weight <= 0:
            raise ValueError("search_quality_weight + agent_success_weight must be > 0")
        return self


class OptimizerTiers(_Strict):
    """Trainset size → optimizer (seed defaults): < bootstrap_below → BootstrapFewShot,
    < simba_below → SIMBA, < mipro_below → MIPROv2, else GEPA."""

    bootstrap_below: int = Field(default=100, ge=0)
    simba_below: int = Field(default=500, ge=0)
    mipro_below: int = Field(default=1000, ge=0)

    @model_validator(mode="after")
    def _ascending(self) -> "OptimizerTiers":
        if not self.bootstrap_below <= self.simba_below <= self.mipro_below:
            raise ValueError("tiers must be ascending: bootstrap_below <= simba_below <= mipro_below")
        return self


class AdaptiveConfig(_Strict):
    """The `adaptive` strategy (pipeline.adaptive): what a run may spend and how it decides."""

    lm_call_budget: int = Field(default=240, ge=0)  # LM calls the compile may make (dev answers, bootstrapping)
    dev_size: int = Field(default=80, ge=0)  # training rows answered to choose and fit (at most)
    retrieval_k: int = Field(default=8, ge=1, le=32)  # similar labelled examples shown per query
    fast_tier: bool = True  # a TF-IDF classifier answers where it is confident; the LM the rest
    head_c: float = Field(default=1.0, gt=0.0)  # inverse regularisation of the head over label log-probabilities
    cv_folds: int = Field(default=5, ge=2, le=20)  # cross-validation folds on the dev rows
    min_gain: int = Field(default=2, ge=0)  # right dev answers a costlier rung (or the LM tier) must add
    # Cheap to costly; `simba` (≈ 380 LM calls a step) only runs when listed and the budget pays a step.
    rungs: list[Literal["zero_shot", "retrieved", "bootstrap", "simba"]] = ["zero_shot", "retrieved", "bootstrap"]


class TrainingConfig(_Strict):
    # `adaptive` (default): pipeline.adaptive. `tiers`: a DSPy optimizer chosen by trainset
    # size (`tiers` below). Or one optimizer for every target: BootstrapFewShot, SIMBA, MIPROv2, GEPA.
    strategy: Literal["adaptive", "tiers", "BootstrapFewShot", "SIMBA", "MIPROv2", "GEPA"] = "adaptive"
    adaptive: AdaptiveConfig = AdaptiveConfig()
    min_reward: float = Field(default=0.6, ge=0.0, le=1.0)  # real experiences below this reward are not used as positives
    heldout_fraction: float = Field(default=0.3, gt=0.0, lt=1.0)  # 0 leaves the gate nothing to test on, 1 nothing to train on
    min_train_examples: int = Field(default=8, ge=1)
    max_bootstrapped_demos: int = Field(default=4, ge=0)
    max_labeled_demos: int = Field(default=8, ge=0)
    # Golden (agent) modules with `llm.teacher` set: unlabelled golden queries the teacher labels
    # for the student's trainset (cached in the store by query and teacher).
    num_teacher_examples: int = Field(default=20, ge=0)
    seed: int = 13
    tiers: OptimizerTiers = OptimizerTiers()


class GateConfig(_Strict):
    # Ranges that keep each check meaningful: a p-value limit above 1, or a minimum of 0
    # examples, would silently switch that check off.
    improvement_threshold: float = Field(default=contract.IMPROVEMENT_THRESHOLD_PCT, ge=0.0)  # percent, relative change of the primary metric
    min_heldout_examples: int = Field(default=30, ge=1)
    max_p_value: float = Field(default=0.2, gt=0.0, le=1.0)  # one-sided exact McNemar test on the paired held-out answers


class MetaModelParams(_Strict):
    """XGBoost settings of the planning meta-models. Histories are small (tens to hundreds of
    records): shallow trees and few rounds, one thread so a plan step stays cheap."""

    n_estimators: int = Field(default=40, ge=1)  # boosting rounds
    max_depth: int = Field(default=3, ge=1)
    learning_rate: float = Field(default=0.3, gt=0.0, le=1.0)
    min_child_weight: float = Field(default=1.0, ge=0.0)
    seed: int = 7
    nthread: int = Field(default=1, ge=1)


class PlanningConfig(_Strict):
    """The plan stage (pipeline.planning): the seed's rules decide until the tenant's history
    holds enough decisions with a measured outcome; then XGBoost meta-models trained from that
    history decide (and are retrained whenever the history grew)."""

    min_history_decision: int = Field(default=10, ge=1)  # measured records before TrainingDecisionModel decides (seed: 10)
    min_history_strategy: int = Field(default=20, ge=1)  # measured records before TrainingStrategyModel decides (seed: 20)
    beneficial_improvement_pct: float = Field(default=5.0, ge=0.0)  # a training "helped" at this measured improvement (the gate's default)
    train_probability: float = Field(default=0.5, ge=0.0, le=1.0)  # the decision model trains when P(helped) is at least this
    # Share of the decision model's skips trained anyway (picked by a hash of run and target, so a
    # re-run decides the same): without it the history never measures what the model skips.
    exploration_rate: float = Field(default=0.1, ge=0.0, le=1.0)
    max_abs_improvement_pct: float = Field(default=100.0, gt=0.0)  # measured improvements are clipped to ± this for the regressor
    synthetic_budget: int = Field(default=40, ge=0)  # synthetic examples a run requests (synthesize's default count)
    never_trained_days: float = Field(default=365.0, ge=0.0)  # days_since_last_training of a target never trained
    model: MetaModelParams = MetaModelParams()


class VespaFieldMapping(_Strict):
    """Which document fields hold what synthetic generation reads. Each is a list of candidate
    field names; the first one a document has, non-empty, wins (schemas name them differently)."""

    title: list[str] = ["title", "video_title", "name"]
    text: list[str] = ["text", "description", "frame_description", "transcript", "audio_transcript", "content", "body"]
    topics: list[str] = ["topics", "keywords", "tags"]
    entities: list[str] = ["entities"]


class VespaSchemaConfig(_Strict):
    """One backend schema (a "profile") synthetic generation may sample. For the known schemas
    (video_frames, image_content, audio_transcripts, document_content, text_content) modality
    and agent default to the built-in routes; any other schema must name both."""

    modality: Modality | None = None
    agent: str | None = None  # the agent that searches this schema; one of AGENTS
    namespace: str | None = None  # document/v1 namespace; None = `content.vespa.namespace`
    fields: VespaFieldMapping = VespaFieldMapping()
    where: str = "true"  # YQL condition restricting the documents search sampling may return
    selection: str | None = None  # document selection for visit sampling; None = every document of the schema
    description: str = ""  # what the schema holds, shown to the LLM profile selector


class VespaConfig(_Strict):
    """The Vespa application synthetic generation samples real documents from (pyvespa client).

    `sampling: search` runs `select * from sources <schema> where <where>` ranked by
    `rank_profile`, which must exist in the schema with `first-phase { expression: random.match }`;
    the seed goes in `rankproperty.random.match.seed`, pages use `offset` (at most the
    application's maxHits per request and maxOffset deep). `sampling: visit` needs no rank profile:
    it visits document/v1 slices (a hash partition of the corpus) in a seeded random order,
    following `continuation`, until it has enough documents."""

    endpoint: str = "http://127.0.0.1:8080"
    namespace: str | None = None  # document/v1 namespace; None = the schema name (pyvespa's convention)
    content_cluster: str = "content"  # visit: the content cluster holding the schemas
    sampling: Literal["search", "visit"] = "search"
    rank_profile: str = "random"
    max_hits: int = Field(default=400, ge=1)  # the application's maxHits: hits per search request
    max_offset: int = Field(default=1000, ge=0)  # the application's maxOffset
    slices: int = Field(default=16, ge=1)  # visit: slices the corpus is split into
    page_size: int = Field(default=100, ge=1)  # visit: wantedDocumentCount per request
    schemas: dict[str, VespaSchemaConfig] = Field(default_factory=dict)  # empty = the five known schemas
    timeout_s: float = Field(default=10.0, gt=0.0)  # per HTTP request
    retry_attempts: int = Field(default=4, ge=1)  # connection errors, 429 and 5xx; then BackendUnavailableError
    retry_backoff_s: float = Field(default=1.0, ge=0.0)  # doubles after each failed attempt
    token_env: str | None = None  # env var holding a Vespa Cloud data-plane token, never the token
    cert_path: str | None = None  # mTLS data-plane certificate (PEM file, e.g. a mounted Secret)
    key_path: str | None = None  # its private key (PEM file)


class ContentConfig(_Strict):
    """Where synthetic generation samples real content: `bundled` = the demo corpus, `jsonl` =
    a JSON Lines file at `path`, `vespa` = the Vespa application in `vespa`."""

    source: str = "bundled"
    path: str | None = None
    vespa: VespaConfig = VespaConfig()
    # Generators the synthesize stage runs (pipeline.synthetic): routing and modality feed the
    # trained modules; cross_modal and workflow store examples for future modules.
    generators: list[Literal["routing", "modality", "cross_modal", "workflow"]] = ["routing", "modality"]
    profile_selection: Literal["rules", "llm"] = "rules"  # how each generator picks the schemas to sample
    max_profiles: int = Field(default=5, ge=1)  # schemas per generator at most
    synthetic_count: int = Field(default=40, ge=0)  # examples per generator a synthesize run asks for


class AnnotationConfig(_Strict):
    """When LLM annotations may be used. The annotator is first measured on the run's
    human-labelled decisions (answered blind); below `min_accuracy`, or with fewer than
    `min_verified` human labels to measure it on, its annotations are neither written to Phoenix
    as routing labels nor used for training (they stay in the run's annotations.jsonl)."""

    min_accuracy: float = Field(default=0.75, ge=0.0, le=1.0)  # on the human-labelled decisions
    min_verified: int = Field(default=8, ge=1)  # human labels needed to measure the annotator at all
    max_verification: int = Field(default=40, ge=1)  # human-labelled decisions answered per run, at most


class PipelineConfig(_Strict):
    phoenix: PhoenixConfig = PhoenixConfig()
    storage: StorageConfig = StorageConfig()
    llm: LLMConfig = LLMConfig()
    reward: RewardConfig = RewardConfig()
    training: TrainingConfig = TrainingConfig()
    gate: GateConfig = GateConfig()
    content: ContentConfig = ContentConfig()
    planning: PlanningConfig = PlanningConfig()
    annotation: AnnotationConfig = AnnotationConfig()
    annotation_confidence_threshold: float = Field(default=0.6, ge=0.0, le=1.0)
    max_annotations_per_run: int = Field(default=200, ge=0)  # lowest confidence first; the rest wait for the next run
    retry_attempts: int = Field(default=4, ge=1)
    retry_backoff_s: float = Field(default=1.0, ge=0.0)


# Env overrides for what differs between a laptop and a cluster; the rest goes in the file.
_ENV_OVERRIDES: dict[str, tuple[str, ...]] = {
    "COGNIVERSE_PHOENIX_ENDPOINT": ("phoenix", "endpoint"),
    "COGNIVERSE_PHOENIX_PROJECT_PATTERN": ("phoenix", "project_pattern"),
    "COGNIVERSE_STORAGE_URL": ("storage", "url"),
    "COGNIVERSE_STORAGE_ENDPOINT": ("storage", "endpoint"),
    "COGNIVERSE_LM_MODEL": ("llm", "primary", "model"),
    "COGNIVERSE_LM_API_BASE": ("llm", "primary", "api_base"),
    "COGNIVERSE_VESPA_ENDPOINT": ("content", "vespa", "endpoint"),
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
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"configuration file not found: {path}") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"configuration file {path} is a directory") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"configuration file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"configuration file {path} is not valid YAML: {exc}") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"configuration file {path} must hold a mapping, not {type(loaded).__name__}")
    return loaded
