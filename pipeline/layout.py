"""Where things live in the object store. Every key is built here, from validated names."""

from __future__ import annotations

import re

from pipeline.errors import ConfigError
from pipeline.tenant import validate_tenant_id

_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$")
STAGES = ("harvest", "annotate", "synthesize", "plan", "train", "evaluate", "gate", "report", "run")


def check_name(kind: str, value: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ConfigError(f"invalid {kind} {value!r}: use 1-63 lowercase letters, digits, '.' or '-'")
    return value


def run_prefix(tenant: str, run_id: str) -> str:
    return f"tenants/{validate_tenant_id(tenant)}/runs/{check_name('run id', run_id)}"


def stage_prefix(tenant: str, run_id: str, stage: str) -> str:
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}")
    return f"{run_prefix(tenant, run_id)}/{stage}"


def module_prefix(tenant: str, target: str) -> str:
    """A trained target is a module (`routing`) or a module per modality (`modality-video`)."""
    return f"tenants/{validate_tenant_id(tenant)}/modules/{check_name('module target', target)}"


def production_key(tenant: str, target: str) -> str:
    return f"{module_prefix(tenant, target)}/production.json"


def history_key(tenant: str, target: str, sequence: int) -> str:
    return f"{module_prefix(tenant, target)}/history/{sequence:06d}.json"


def prediction_cache_key(tenant: str, lm_digest: str, program_digest: str, example_digest: str) -> str:
    """One cached answer of a program that outlives its run (production, a past version, the
    unoptimized program), by LM, program and example content hashes."""
    for kind, digest in (("LM", lm_digest), ("program", program_digest), ("example", example_digest)):
        check_name(f"{kind} digest", digest)
    return f"tenants/{validate_tenant_id(tenant)}/cache/predictions/{lm_digest}/{program_digest}/{example_digest}.json"
