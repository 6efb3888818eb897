"""What every workflow object shares: names, parameters, image, security, env and stage containers.

The cluster contract lives here, once:
- ServiceAccount `cogniverse-optimization` runs every pod.
- ConfigMap `cogniverse-optimization-config`: key `config.yaml` (the pipeline configuration,
  mounted at /etc/cogniverse/config.yaml and named by $COGNIVERSE_CONFIG) and optional
  per-setting override keys (`phoenix-endpoint`, `storage-url`, `storage-endpoint`,
  `lm-model`, `lm-api-base`).
- Secret `cogniverse-optimization-s3`: keys `access-key-id`, `secret-access-key` (optional:
  absent with workload identity). Secret `cogniverse-optimization-llm`: every key becomes an
  env var (e.g. `OPENAI_API_KEY`, named by the config's `api_key_env`); optional.
- ConfigMap `artifact-repositories`, key `cogniverse`: the S3 artifact repository that the
  key-only artifacts resolve against. No credentials appear in any template.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hera.workflows import (
    ConfigMapEnv,
    Container,
    CronWorkflow,
    Env,
    NoneArchiveStrategy,
    Parameter,
    Resources,
    RetryStrategy,
    S3Artifact,
    SecretEnv,
    SecretEnvFrom,
)
from hera.workflows import models as m

from pipeline import contract
from pipeline.errors import transient_exit_codes
from pipeline.layout import workflow_artifact_key
from pipeline.modules import module_names
from pipeline.optimizers import AUTO, OPTIMIZERS

# What a template input carrying the optimizer may hold: Argo refuses anything else, so such a
# value is safe to compare inside a `when`.
OPTIMIZER_CHOICES: tuple[str, ...] = (AUTO, *OPTIMIZERS)

# The one place the step image is named. Never `:latest`: a run must be reproducible, and the
# Helm chart overrides this tag from its values.
DEFAULT_IMAGE = "ghcr.io/cogniverse/optimization:0.1.0"
CLI = "cogniverse-optimize"

TEMPLATE_NAME = "module-optimization"
LABELS = {"workflow-type": "optimization"}
SERVICE_ACCOUNT = "cogniverse-optimization"
CONFIG_MAP = "cogniverse-optimization-config"
CONFIG_KEY = "config.yaml"
CONFIG_DIR = "/etc/cogniverse"
S3_SECRET = "cogniverse-optimization-s3"
LLM_SECRET = "cogniverse-optimization-llm"
ARTIFACT_REPOSITORY = m.ArtifactRepositoryRef(config_map="artifact-repositories", key="cogniverse")
OUTPUTS_DIR = "/tmp/outputs"  # on the /tmp emptyDir: the root filesystem is read-only
RUN_ID = "{{workflow.name}}"
TENANT = "{{workflow.parameters.tenant-id}}"
# Two runs of one tenant never overlap (they share run-independent state: production programs,
# Phoenix annotations); the maintenance cron takes the same lock.
TENANT_MUTEX = m.Synchronization(mutexes=[m.Mutex(name="cogniverse-{{workflow.parameters.tenant-id}}")])

WORKFLOW_DEADLINE_S = 6 * 3600
TTL = m.TTLStrategy(seconds_after_success=3 * 86400, seconds_after_failure=7 * 86400)
# Failed pods stay (their logs explain the failure); succeeded ones go ten minutes after they end.
POD_GC = m.PodGC(strategy="OnPodSuccess", delete_delay_duration="10m")


@dataclass(frozen=True)
class WorkflowParameter:
    name: str
    default: str
    description: str
    enum: tuple[str, ...] | None = None

    def parameter(self, value: str | None = None) -> Parameter:
        return Parameter(
            name=self.name,
            value=self.default if value is None else value,
            description=self.description,
            enum=list(self.enum) if self.enum else None,
        )


# The seed's parameter names and defaults. How they map to CLI flags: see module_optimization.
PARAMETERS: tuple[WorkflowParameter, ...] = (
    WorkflowParameter("tenant-id", "default", "tenant id (DNS label)"),
    WorkflowParameter(
        "optimizer-category", "routing",
        "routing: optimizer-type names the module targets; dspy: optimizer-type names the DSPy optimizer",
        ("routing", "dspy"),
    ),
    WorkflowParameter(
        "optimizer-type", "all",
        f"routing category: all, a module ({', '.join(module_names())}) or comma-separated targets; "
        "dspy category: BootstrapFewShot, SIMBA, MIPROv2, GEPA or auto",
    ),
    WorkflowParameter("max-iterations", contract.parameter_text(contract.MAX_ITERATIONS), "optimizer iteration budget per target"),
    WorkflowParameter("use-synthetic-data", "false", "generate synthetic examples for targets short of real data", ("true", "false")),
    WorkflowParameter("lookback-hours", contract.parameter_text(contract.LOOKBACK_HOURS), "harvest window in hours"),
    WorkflowParameter("min-confidence", contract.parameter_text(contract.MIN_CONFIDENCE),
                      "trust unannotated routing decisions at or above this confidence"),
    WorkflowParameter("force-training", "false", "train even below the data and annotation thresholds", ("true", "false")),
    WorkflowParameter("improvement-threshold", contract.parameter_text(contract.IMPROVEMENT_THRESHOLD_PCT),
                      "minimum relative improvement (percent) to promote a candidate"),
    WorkflowParameter("annotation-threshold", contract.parameter_text(contract.ANNOTATION_THRESHOLD),
                      "skip training when this run produced fewer LLM annotations"),
)


def workflow_parameters(**overrides: str) -> list[Parameter]:
    """All parameters with their defaults, `overrides` keyed by the name with `_` for `-`."""
    known = {p.name.replace("-", "_") for p in PARAMETERS}
    if unknown := set(overrides) - known:
        raise ValueError(f"unknown workflow parameters: {sorted(unknown)}")
    return [p.parameter(overrides.get(p.name.replace("-", "_"))) for p in PARAMETERS]


def pod_spec(deadline_s: int) -> dict[str, Any]:
    """Workflow-level settings every workflow of ours runs with (keyword arguments of Hera's
    Workflow): identity, sandboxing, the tenant lock, deadlines and clean-up."""
    return {
        "service_account_name": SERVICE_ACCOUNT,
        "security_context": pod_security_context(),
        "volumes": volumes(),
        "synchronization": TENANT_MUTEX,
        "active_deadline_seconds": deadline_s,
        "pod_gc": POD_GC,
        "ttl_strategy": TTL,
        "workflow_metadata": m.WorkflowMetadata(labels=LABELS),
    }


def pod_security_context() -> m.PodSecurityContext:
    return m.PodSecurityContext(
        run_as_non_root=True,
        run_as_user=10001,
        run_as_group=10001,
        fs_group=10001,
        seccomp_profile=m.SeccompProfile(type="RuntimeDefault"),
    )


def container_security_context() -> m.SecurityContext:
    return m.SecurityContext(
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        run_as_non_root=True,
        capabilities=m.Capabilities(drop=["ALL"]),
    )


def volumes() -> list[m.Volume]:
    return [
        # Everything a stage writes locally (outputs, DSPy/litellm caches via HOME) goes here.
        m.Volume(name="tmp", empty_dir=m.EmptyDirVolumeSource(size_limit="4Gi")),
        # Optional: without the ConfigMap the pod still starts and the CLI fails at once, naming
        # the missing /etc/cogniverse/config.yaml, instead of a pod pending until the deadline.
        m.Volume(
            name="config",
            config_map=m.ConfigMapVolumeSource(
                name=CONFIG_MAP, items=[m.KeyToPath(key=CONFIG_KEY, path=CONFIG_KEY)], optional=True,
            ),
        ),
    ]


def volume_mounts() -> list[m.VolumeMount]:
    return [
        m.VolumeMount(name="tmp", mount_path="/tmp"),
        m.VolumeMount(name="config", mount_path=CONFIG_DIR, read_only=True),
    ]


def env() -> list[Env | ConfigMapEnv | SecretEnv]:
    overrides = (
        ("COGNIVERSE_PHOENIX_ENDPOINT", "phoenix-endpoint"),
        ("COGNIVERSE_STORAGE_URL", "storage-url"),
        ("COGNIVERSE_STORAGE_ENDPOINT", "storage-endpoint"),
        ("COGNIVERSE_LM_MODEL", "lm-model"),
        ("COGNIVERSE_LM_API_BASE", "lm-api-base"),
    )
    return [
        Env(name="COGNIVERSE_CONFIG", value=f"{CONFIG_DIR}/{CONFIG_KEY}"),
        Env(name="HOME", value="/tmp"),  # libraries cache under $HOME; the root filesystem is read-only
        Env(name="LITELLM_LOCAL_MODEL_COST_MAP", value="True"),  # no cost-map download at start-up
        *(ConfigMapEnv(name=var, config_map_name=CONFIG_MAP, config_map_key=key, optional=True) for var, key in overrides),
        SecretEnv(name="AWS_ACCESS_KEY_ID", secret_name=S3_SECRET, secret_key="access-key-id", optional=True),
        SecretEnv(name="AWS_SECRET_ACCESS_KEY", secret_name=S3_SECRET, secret_key="secret-access-key", optional=True),
    ]


def retry_expression() -> str:
    """Argo's retry condition, generated from the error classes (pipeline.errors): pod errors
    (eviction, node loss) and every exit code a `transient` error class uses — today 3 Phoenix,
    4 LM, 5 object store, 8 search backend unreachable."""
    codes = ", ".join(str(code) for code in transient_exit_codes())
    return f'lastRetry.status == "Error" || asInt(lastRetry.exitCode) in [{codes}]'


def transient_retry(limit: int = 3) -> RetryStrategy:
    """Retry what a retry can fix (`retry_expression`). Bad input (2), bugs (1), conflicts (6)
    and missing objects (7) fail at once: a retry would only repeat them."""
    return RetryStrategy(
        limit=limit,
        retry_policy="Always",
        expression=retry_expression(),
        backoff=m.Backoff(duration="30s", factor=2, max_duration="15m"),
    )


@dataclass(frozen=True)
class Size:
    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str

    def resources(self) -> Resources:
        return Resources(
            cpu_request=self.cpu_request, memory_request=self.memory_request,
            cpu_limit=self.cpu_limit, memory_limit=self.memory_limit,
        )


SMALL = Size("100m", "256Mi", "500m", "512Mi")  # plan, gate, report, record: store reads only
MEDIUM = Size("500m", "1Gi", "1", "2Gi")  # harvest: paged Phoenix reads into memory
LM = Size("1", "2Gi", "2", "4Gi")  # annotate, synthesize, evaluate: LM calls (in-process by default)
TRAIN = Size("2", "4Gi", "4", "8Gi")  # DSPy compilation: the heaviest stage


def output(name: str, default: str | None = None, global_name: str | None = None, description: str | None = None) -> Parameter:
    """An output parameter read from the file the CLI's --outputs-dir writes for result field `name`."""
    return Parameter(
        name=name,
        value_from=m.ValueFrom(path=f"{OUTPUTS_DIR}/{name}", default=default),
        global_name=global_name,
        description=description,
    )


def report_artifact(name: str, filename: str) -> S3Artifact:
    """A key-only S3 artifact: bucket, endpoint and credentials come from the artifact
    repository (`artifactRepositoryRef`); the key sits under the run's own prefix so the run
    retention of `scheduled-maintenance` removes it with the run."""
    return S3Artifact(
        name=name,
        path=f"{OUTPUTS_DIR}/{filename}",
        key=workflow_artifact_key(TENANT, RUN_ID, filename),
        archive=NoneArchiveStrategy(),
    )


def enum_input(name: str, choices: tuple[str, ...]) -> Parameter:
    """A template input Argo checks against `choices` (the only kind of string that may appear
    in a `when`: a raw one could close the quotes and rewrite the condition)."""
    return Parameter(name=name, enum=list(choices))


def stage(
    name: str,
    args: list[str],
    *,
    image: str,
    size: Size,
    deadline_s: int,
    inputs: tuple[str | Parameter, ...] = ("tenant-id",),
    outputs: tuple[Parameter, ...] = (),
    artifacts: tuple[S3Artifact, ...] = (),
    retry: bool = True,
) -> Container:
    """A container template running one `cogniverse-optimize` subcommand: `args` after the
    command, input parameters by name, outputs read from the --outputs-dir files. `retry=False`
    for a step that must not run twice (a rollback: a retry could undo two versions)."""
    return Container(
        name=name,
        image=image,
        command=[CLI],
        args=args,
        inputs=[i if isinstance(i, Parameter) else Parameter(name=i) for i in inputs] or None,
        outputs=[*outputs, *artifacts] or None,
        env=env(),
        env_from=[SecretEnvFrom(name=LLM_SECRET, optional=True)],
        resources=size.resources(),
        security_context=container_security_context(),
        volume_mounts=volume_mounts(),
        active_deadline_seconds=deadline_s,
        retry_strategy=transient_retry() if retry else None,
    )


def run_args(subcommand: str, tenant: str = "{{inputs.parameters.tenant-id}}") -> list[str]:
    """The flags every run stage takes. The run id is the workflow's name, shared by its stages."""
    return [subcommand, "--tenant", tenant, "--run-id", RUN_ID, "--outputs-dir", OUTPUTS_DIR]


# Crons: a run that cannot start within this window after its slot (controller down) is
# skipped, not started late into the next slot.
STARTING_DEADLINE_S = 900


def cron(name: str, schedule: str, description: str, **workflow: Any) -> CronWorkflow:
    """A CronWorkflow in UTC that never runs two of its workflows at once."""
    return CronWorkflow(
        name=name,
        labels=LABELS,
        annotations={"workflows.argoproj.io/description": description},
        schedules=[schedule],
        timezone="UTC",
        concurrency_policy="Forbid",
        starting_deadline_seconds=STARTING_DEADLINE_S,
        successful_jobs_history_limit=3,
        failed_jobs_history_limit=5,
        **workflow,
    )


def optimization_cron(name: str, *, schedule: str, description: str, **overrides: str) -> CronWorkflow:
    """A cron of `module-optimization` with some parameters overridden."""
    return cron(
        name, schedule, description,
        workflow_template_ref=m.WorkflowTemplateRef(name=TEMPLATE_NAME),
        arguments=workflow_parameters(**overrides),
    )
