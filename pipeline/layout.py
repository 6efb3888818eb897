"""Where things live in the object store. Every key is built here, from validated names.

    tenants/{tenant}/runs/{run_id}/{stage}[/{part}]/...        a stage's files; result.json last
    tenants/{tenant}/runs/{run_id}/harvest/executions.jsonl    the workflow executions harvest read
    tenants/{tenant}/runs/{run_id}/run/started.json            the run's fixed clock
    tenants/{tenant}/runs/{run_id}/run/record.json             the run record (exit handler)
    tenants/{tenant}/runs/{run_id}/artifacts/{file}            the workflow's report artifacts (Argo)
    tenants/{tenant}/modules/{target}/production.json          the production pointer (compare-and-swap)
    tenants/{tenant}/modules/{target}/history/{seq:06d}.json   every record production held
    tenants/{tenant}/planning/history/{run_id}/{target}.json          a plan decision (create-only)
    tenants/{tenant}/planning/history/{run_id}/{target}.outcome.json  its measured outcome (create-only)
    tenants/{tenant}/planning/models/{kind}/v{version:06d}/...        one meta-model version (create-only)
    tenants/{tenant}/planning/models/{kind}/current.json              its pointer (compare-and-swap)
    tenants/{tenant}/cache/predictions/{lm}/{program}/{example}.json  a cached answer (create-only)
    tenants/{tenant}/index.html, index.json                   the tenant's history page (rebuilt whole)
    tenants/{tenant}/golden/{module}.jsonl                            a golden dataset (the tenant's, read-only here)
    tenants/{tenant}/cache/teacher/{module}/{teacher}/{batch}.jsonl   teacher labels (create-only, append = a new batch)

A trained program's artifact is a train stage folder: `artifact_key(prefix, PROGRAM_FILE)`.
"""

from __future__ import annotations

import re

from pipeline import contract
from pipeline.errors import ConfigError
from pipeline.tenant import validate_tenant_id

_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$")
_TARGET = re.compile(r"^[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?$")  # module names may hold `_` (cross_modal)
_FILE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")

RUN_FOLDER = "run"  # beside the stages' folders: what belongs to the run itself
STAGES = (*contract.STAGE_ORDER, RUN_FOLDER)

# Files a stage commits by; files other stages, the gate, promotion and planning read by name.
RESULT_FILE = "result.json"
STARTED_FILE = "started.json"
RECORD_FILE = "record.json"
EXPERIENCES_FILE = "experiences.parquet"  # harvest, annotate
EXECUTIONS_FILE = "executions.jsonl"  # harvest: the orchestrator's workflow executions
ANNOTATIONS_FILE = "annotations.jsonl"  # annotate
EXAMPLES_FILE = "examples.jsonl"  # synthesize: the rows routing and modality train on
PROGRAM_FILE = "program.json"  # train: the DSPy JSON state
METADATA_FILE = "metadata.json"
HELDOUT_FILE = "heldout.jsonl"
TRAINSET_FILE = "trainset.jsonl"
EVALUATION_FILE = "evaluation.json"  # evaluate: every example's answers
INTEGRATION_FILE = "integration.json"  # train, golden modules: the prompt a non-DSPy agent loads
MANIFEST_FILE = "manifest.json"  # report
HTML_FILE = "report.html"
ARTIFACTS_FOLDER = "artifacts"
INDEX_HTML_FILE = "index.html"  # the tenant's history page, for people (record and maintenance rebuild it)
INDEX_JSON_FILE = "index.json"  # the same history, for machines
PRODUCTION_FILE = "production.json"
HISTORY_FOLDER = "history"
HISTORY_NAME = re.compile(r"^[0-9]{6,}\.json$")
MODEL_META_FILE = "meta.json"  # written last: a version without it is an interrupted write
MODEL_POINTER_FILE = "current.json"
DECISION_SUFFIX = ".json"
OUTCOME_SUFFIX = ".outcome.json"


def check_name(kind: str, value: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ConfigError(f"invalid {kind} {value!r}: use 1-63 lowercase letters, digits, '.' or '-'")
    return value


def check_target(kind: str, value: str) -> str:
    """A module target, or a folder named after one (`cross_modal`, `modality-video.2`)."""
    if not isinstance(value, str) or not _TARGET.fullmatch(value):
        raise ConfigError(f"invalid {kind} {value!r}: use 1-63 lowercase letters, digits, '_', '.' or '-'")
    return value


def key(prefix: str, *names: str) -> str:
    """A file (or folder) inside a prefix built here."""
    for name in names:
        if not _FILE.fullmatch(name) or name in (".", ".."):
            raise ConfigError(f"invalid object name {name!r}")
    return "/".join((prefix.rstrip("/"), *names))


def generator_examples_file(generator: str) -> str:
    """synthesize: the examples of a generator whose rows are not in EXAMPLES_FILE."""
    return f"examples-{generator}.jsonl"


# ------------------------------------------------------------------------------------ runs
RUN_PREFIX = "tenants/{tenant}/runs/{run_id}"


def tenant_prefix(tenant: str) -> str:
    return f"tenants/{validate_tenant_id(tenant)}"


def tenant_index_key(tenant: str, name: str = INDEX_HTML_FILE) -> str:
    """The tenant's history page (`index.html`) or its data (`index.json`)."""
    if name not in (INDEX_HTML_FILE, INDEX_JSON_FILE):
        raise ConfigError(f"unknown tenant index file {name!r}")
    return key(tenant_prefix(tenant), name)


def runs_prefix(tenant: str) -> str:
    """The folder holding every run of a tenant."""
    return f"{tenant_prefix(tenant)}/runs"


def run_prefix(tenant: str, run_id: str) -> str:
    return RUN_PREFIX.format(tenant=validate_tenant_id(tenant), run_id=check_name("run id", run_id))


def run_prefix_pattern(tenant: str, run_id: str) -> str:
    """The run prefix with parts that are not names yet: Argo templates whose tenant and run id
    are `{{...}}` expressions, resolved (and validated by the CLI) when the step runs."""
    return RUN_PREFIX.format(tenant=tenant, run_id=run_id)


def workflow_artifact_key(tenant: str, run_id: str, filename: str) -> str:
    """An Argo output artifact's key under the run's prefix (retention removes it with the run)."""
    return f"{run_prefix_pattern(tenant, run_id)}/{ARTIFACTS_FOLDER}/{filename}"


def run_id_of(tenant: str, key: str) -> str | None:
    """The run a key under `runs_prefix(tenant)` belongs to, else None."""
    root = runs_prefix(tenant) + "/"
    return key[len(root):].split("/", 1)[0] if key.startswith(root) else None


def stage_prefix(tenant: str, run_id: str, stage: str, part: str | None = None) -> str:
    """A stage's folder in a run; `part` is the per-target (and attempt) subfolder."""
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}")
    prefix = f"{run_prefix(tenant, run_id)}/{stage}"
    return f"{prefix}/{check_target('part', part)}" if part else prefix


def result_key(tenant: str, run_id: str, stage: str, part: str | None = None) -> str:
    """The committed result of a stage (or of one of its parts)."""
    return key(stage_prefix(tenant, run_id, stage, part), RESULT_FILE)


def run_started_key(tenant: str, run_id: str) -> str:
    return key(stage_prefix(tenant, run_id, RUN_FOLDER), STARTED_FILE)


def run_record_key(tenant: str, run_id: str) -> str:
    return key(stage_prefix(tenant, run_id, RUN_FOLDER), RECORD_FILE)


def artifact_key(artifact_prefix: str, name: str) -> str:
    """A file of a trained program's artifact (a train stage folder, what production points to)."""
    return key(artifact_prefix, name)


# --------------------------------------------------------------------------------- modules
def module_prefix(tenant: str, target: str) -> str:
    """A trained target is a module (`routing`) or a module per modality (`modality-video`)."""
    return f"{tenant_prefix(tenant)}/modules/{check_target('module target', target)}"


def production_key(tenant: str, target: str) -> str:
    return key(module_prefix(tenant, target), PRODUCTION_FILE)


def production_history_prefix(tenant: str, target: str) -> str:
    return key(module_prefix(tenant, target), HISTORY_FOLDER)


def history_key(tenant: str, target: str, sequence: int) -> str:
    return f"{production_history_prefix(tenant, target)}/{sequence:06d}.json"


# -------------------------------------------------------------------------------- planning
def planning_prefix(tenant: str) -> str:
    return f"{tenant_prefix(tenant)}/planning"


def planning_history_prefix(tenant: str, run_id: str | None = None) -> str:
    """Every run's plan decisions (of `run_id` only, if given)."""
    prefix = f"{planning_prefix(tenant)}/history"
    return prefix if run_id is None else f"{prefix}/{check_name('run id', run_id)}"


def decision_key(tenant: str, run_id: str, target: str) -> str:
    return f"{planning_history_prefix(tenant, run_id)}/{check_target('module target', target)}{DECISION_SUFFIX}"


def outcome_key(tenant: str, run_id: str, target: str) -> str:
    return f"{planning_history_prefix(tenant, run_id)}/{check_target('module target', target)}{OUTCOME_SUFFIX}"


def models_prefix(tenant: str, kind: str) -> str:
    return f"{planning_prefix(tenant)}/models/{check_name('model kind', kind)}"


def model_version_prefix(tenant: str, kind: str, version: int) -> str:
    return f"{models_prefix(tenant, kind)}/v{version:06d}"


def model_pointer_key(tenant: str, kind: str) -> str:
    return key(models_prefix(tenant, kind), MODEL_POINTER_FILE)


# ------------------------------------------------------------------------------ prediction cache
def prediction_cache_key(tenant: str, lm_digest: str, program_digest: str, example_digest: str) -> str:
    """One cached answer of a program that outlives its run (production, a past version, the
    unoptimized program), by LM, program and example content hashes."""
    for kind, digest in (("LM", lm_digest), ("program", program_digest), ("example", example_digest)):
        check_name(f"{kind} digest", digest)
    return f"{tenant_prefix(tenant)}/cache/predictions/{lm_digest}/{program_digest}/{example_digest}.json"


# ------------------------------------------------------------------------------ golden datasets
def golden_key(tenant: str, module: str) -> str:
    """A tenant's golden dataset of one module (JSON Lines): what its agent module trains on."""
    return f"{tenant_prefix(tenant)}/golden/{check_target('module', module)}.jsonl"


def teacher_cache_prefix(tenant: str, module: str, teacher_digest: str) -> str:
    """The teacher's labels of one module's unlabelled queries, one JSON Lines object per batch."""
    check_name("teacher digest", teacher_digest)
    return f"{tenant_prefix(tenant)}/cache/teacher/{check_target('module', module)}/{teacher_digest}"


def teacher_batch_key(tenant: str, module: str, teacher_digest: str, batch_digest: str) -> str:
    return f"{teacher_cache_prefix(tenant, module, teacher_digest)}/{check_name('batch digest', batch_digest)}.jsonl"
