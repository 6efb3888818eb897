"""Argo's published JSON schema (v4.0.5), made strict, as one validator per Argo kind.

The file is Argo's `api/jsonschema/schema.json` (Apache-2.0), read from `$COGNIVERSE_ARGO_SCHEMA`,
else from `pipeline/argo/schema-v4.0.5.json.gz` packaged with the code (gzipped, unchanged), else from the
repository's sibling `../shared/argo/`. Patched in memory, never on disk:
- IntOrString also accepts an integer and Quantity a number, as Argo and Kubernetes do;
- every object definition that lists `properties` gets `additionalProperties: false`, so a
  misspelled field is an error instead of being silently dropped by the controller.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError

SCHEMA_FILE = "schema-v4.0.5.json"
ENV_VAR = "COGNIVERSE_ARGO_SCHEMA"
KINDS = ("Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate", "CronWorkflow")
API_VERSION = "argoproj.io/v1alpha1"
_PREFIX = "io.argoproj.workflow.v1alpha1."
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"


class SchemaNotFoundError(ConfigError, FileNotFoundError):
    """No Argo schema file where we looked; the message lists the places (exit 2)."""


def schema_path() -> Path:
    if os.environ.get(ENV_VAR):  # an explicit choice: no fallback behind the user's back
        path = Path(os.environ[ENV_VAR])
        if not path.is_file():
            raise SchemaNotFoundError(f"${ENV_VAR} names {path}, which is not a file")
        return path
    here = Path(__file__).resolve().parent
    # packaged gzipped (580 KB → 60 KB); a plain copy is accepted too
    candidates = [here / f"{SCHEMA_FILE}.gz", here / SCHEMA_FILE, here.parents[2] / "shared" / "argo" / SCHEMA_FILE]
    for path in candidates:
        if path.is_file():
            return path
    raise SchemaNotFoundError(
        f"Argo JSON schema not found; set ${ENV_VAR} to Argo's api/jsonschema/schema.json. Looked in: "
        + ", ".join(str(p) for p in candidates)
    )


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of Argo's schema with the patches above applied."""
    patched = copy.deepcopy(schema)
    definitions = patched["definitions"]
    definitions[_INT_OR_STRING] = {**definitions[_INT_OR_STRING], "type": ["string", "integer"]}
    definitions[_QUANTITY] = {**definitions[_QUANTITY], "type": ["string", "number"]}
    for definition in definitions.values():
        if "properties" in definition and "additionalProperties" not in definition:
            definition["additionalProperties"] = False
    return patched


def load_raw(path: Path | None = None) -> dict[str, Any]:
    """Argo's schema as published (gunzipped when packaged)."""
    path = path or schema_path()
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return json.loads(raw)


@lru_cache(maxsize=4)
def _validators(path: Path) -> dict[str, Any]:
    from jsonschema import validators

    schema = strict(load_raw(path))
    root = {key: value for key, value in schema.items() if key not in ("oneOf", "type")}
    out = {}
    for kind in KINDS:
        kind_schema = {**root, "$ref": f"#/definitions/{_PREFIX}{kind}"}
        cls = validators.validator_for(kind_schema)
        out[kind] = cls(kind_schema)
    return out


def validator(kind: str) -> Any:
    """The jsonschema validator for one Argo kind (`Workflow`, `CronWorkflow`, ...)."""
    if kind not in KINDS:
        raise KeyError(f"not an Argo workflow kind: {kind!r}; known: {', '.join(KINDS)}")
    return _validators(schema_path())[kind]
