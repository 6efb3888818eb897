"""Where planning state lives in the object store (next to the tenant's modules and runs).

    tenants/{tenant}/planning/history/{run_id}/{target}.json          decision (create-only)
    tenants/{tenant}/planning/history/{run_id}/{target}.outcome.json  measured outcome (create-only)
    tenants/{tenant}/planning/models/{kind}/v{version:06d}/...        one model version (create-only)
    tenants/{tenant}/planning/models/{kind}/current.json              pointer (compare-and-swap)
"""

from __future__ import annotations

from pipeline.layout import check_name
from pipeline.tenant import validate_tenant_id

OUTCOME_SUFFIX = ".outcome.json"
DECISION_SUFFIX = ".json"


def planning_prefix(tenant: str) -> str:
    return f"tenants/{validate_tenant_id(tenant)}/planning"


def history_prefix(tenant: str) -> str:
    return f"{planning_prefix(tenant)}/history"


def decision_key(tenant: str, run_id: str, target: str) -> str:
    return f"{history_prefix(tenant)}/{check_name('run id', run_id)}/{check_name('module target', target)}{DECISION_SUFFIX}"


def outcome_key(tenant: str, run_id: str, target: str) -> str:
    return f"{history_prefix(tenant)}/{check_name('run id', run_id)}/{check_name('module target', target)}{OUTCOME_SUFFIX}"


def models_prefix(tenant: str, kind: str) -> str:
    return f"{planning_prefix(tenant)}/models/{check_name('model kind', kind)}"


def model_version_prefix(tenant: str, kind: str, version: int) -> str:
    return f"{models_prefix(tenant, kind)}/v{version:06d}"


def model_pointer_key(tenant: str, kind: str) -> str:
    return f"{models_prefix(tenant, kind)}/current.json"
