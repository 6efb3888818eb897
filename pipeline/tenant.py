"""Tenant ids reach object-store paths, Phoenix project names and Kubernetes labels: validate first."""

from __future__ import annotations

import re

from pipeline.errors import InvalidTenantError

# RFC 1123 DNS label: what Kubernetes accepts in a label value and a name segment.
TENANT_ID_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"  # also the Helm chart's values schema
_DNS_LABEL = re.compile(TENANT_ID_PATTERN)


def validate_tenant_id(tenant_id: str) -> str:
    """Return the tenant id unchanged, or raise InvalidTenantError saying why."""
    if not isinstance(tenant_id, str) or not _DNS_LABEL.fullmatch(tenant_id):
        shown = tenant_id if isinstance(tenant_id, str) and len(tenant_id) <= 80 else f"{str(tenant_id)[:80]}…"
        raise InvalidTenantError(
            f"invalid tenant id {shown!r}: use 1-63 lowercase letters, digits or '-', "
            "starting and ending with a letter or digit"
        )
    return tenant_id
