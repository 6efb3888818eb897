"""Generate charts/cogniverse-optimization/values.schema.json: `python -m workflows.values_schema`.

The schema is derived, not hand-written, from what it must agree with:
- `config` from the pipeline's own model (pipeline/config.py PipelineConfig, minus `storage`,
  which the chart derives from objectStore), its ranges included (the model's Field bounds:
  one source for what the pipeline and the chart accept);
- the WorkflowTemplate and CronWorkflow names and the workflow parameters from the Hera-rendered
  workflows (workflows/*.yaml, which the chart ships as files/; a parameter without a schema
  below fails the generation);
- the parameters' bounds from pipeline.contract, as the CLI checks them.
Every object is closed (`additionalProperties: false`); maps constrain their values.
tests/test_chart.py fails when the committed file differs from this output.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from pipeline import contract
from pipeline.config import PipelineConfig
from pipeline.modules import all_targets
from pipeline.tenant import TENANT_ID_PATTERN

HERE = Path(__file__).resolve().parent
CHART = HERE.parent / "charts" / "cogniverse-optimization"
SCHEMA_FILE = CHART / "values.schema.json"

DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
OPTIONAL_DNS_SUBDOMAIN = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)?$"
DNS_LABEL = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
DATA_KEY = r"^[-._a-zA-Z0-9]+$"  # a ConfigMap / Secret key
DIGEST = r"^(sha256:[a-f0-9]{64})?$"
COMMAND = r"^[a-z][a-z-]*$"  # a cogniverse-optimize subcommand

# Types and ranges of the workflow parameters (their names come from the files).
PARAMETERS: dict[str, dict[str, Any]] = {
    "tenant-id": {"type": "string", "pattern": DNS_LABEL, "description": "tenant id (DNS label)"},
    "optimizer-category": {"type": "string", "enum": ["routing", "dspy"]},
    "optimizer-type": {"type": "string", "pattern": r"^[A-Za-z0-9,_-]+$"},
    "max-iterations": {"type": "integer", "minimum": 1},
    "use-synthetic-data": {"type": "boolean"},
    "lookback-hours": {"type": "number", "exclusiveMinimum": 0, "maximum": contract.MAX_LOOKBACK_HOURS},
    "min-confidence": {"type": "number", "minimum": 0, "maximum": 1},
    "force-training": {"type": "boolean"},
    "improvement-threshold": {"type": "number", "minimum": 0},
    "annotation-threshold": {"type": "integer", "minimum": 0},
    "retention-days": {"type": "integer", "minimum": 1, "maximum": contract.MAX_RETENTION_DAYS},
    "target": {"type": "string", "enum": list(all_targets()), "description": "module target"},
    "to": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": r"^([1-9][0-9]*)?$"}],
           "description": "version to restore; empty = the previous one"},
}

def cron_pattern() -> str:
    """A robfig/cron line as Argo accepts it: five fields (names for months and weekdays,
    `?` for day-of-month/weekday), a @descriptor, or `@every <Go duration>`."""
    months = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC"
    days = "SUN|MON|TUE|WED|THU|FRI|SAT"

    def field(value: str, question: bool = False) -> str:
        atom = rf"(\*|({value})(-({value}))?)(/[0-9]+)?"
        items = rf"{atom}(,{atom})*"
        return rf"(\?|{items})" if question else items

    five = " +".join([
        field("[0-5]?[0-9]"),
        field("[01]?[0-9]|2[0-3]"),
        field("0?[1-9]|[12][0-9]|3[01]", question=True),
        field(f"0?[1-9]|1[0-2]|{months}|{months.lower()}"),
        field(f"[0-6]|{days}|{days.lower()}", question=True),
    ])
    return rf"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|@every ([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+|{five})$"


# ------------------------------------------------------------------ small constructors


def closed(properties: dict[str, Any], required: tuple[str, ...] = (), description: str | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        node["required"] = list(required)
    if description:
        node["description"] = description
    return node


def string(description: str | None = None, **keywords: Any) -> dict[str, Any]:
    return {"type": "string", **keywords, **({"description": description} if description else {})}


def boolean() -> dict[str, Any]:
    return {"type": "boolean"}


def string_map(description: str) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": {"type": "string"}, "description": description}


def array_of(items: dict[str, Any], **keywords: Any) -> dict[str, Any]:
    return {"type": "array", "items": items, **keywords}


# ------------------------------------------------------------------ parts


def config_definitions() -> tuple[dict[str, Any], dict[str, Any]]:
    """(the `config` schema, its $defs) from PipelineConfig, refs renamed `config.<Model>`."""
    source = PipelineConfig.model_json_schema()

    def clean(node: Any, field_names: bool = False) -> Any:
        if isinstance(node, dict):
            if field_names:  # a `properties` map: its keys are field names, not keywords
                return {k: clean(v) for k, v in node.items()}
            return {
                k: (v.replace("#/$defs/", "#/$defs/config.") if k == "$ref" else clean(v, k == "properties"))
                for k, v in node.items() if k not in ("title", "default")  # defaults live in values.yaml
            }
        if isinstance(node, list):
            return [clean(v) for v in node]
        return node

    definitions = {f"config.{name}": clean(d) for name, d in source["$defs"].items() if name != "StorageConfig"}
    root = clean({k: v for k, v in source.items() if k != "$defs"})
    del root["properties"]["storage"]
    root["description"] = "The pipeline configuration (PipelineConfig) without `storage`: the chart derives it from objectStore."
    return root, definitions


def workflow_objects() -> dict[str, list[dict[str, Any]]]:
    """kind → the documents Hera rendered (workflows/*.yaml, the chart's files/)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(HERE.glob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        out.setdefault(document["kind"], []).append(document)
    return out


def parameter_schema(objects: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    declared = set()
    for document in objects.get("WorkflowTemplate", []) + objects.get("CronWorkflow", []):
        spec = document["spec"].get("workflowSpec", document["spec"])
        declared |= {p["name"] for p in spec.get("arguments", {}).get("parameters", [])}
    if missing := declared - PARAMETERS.keys():
        raise SystemExit(f"workflow parameters without a schema in {__file__}: {sorted(missing)}")
    return closed({name: PARAMETERS[name] for name in sorted(declared)},
                  description="workflow parameter defaults, by the names the workflows declare")


def security_contexts() -> tuple[dict[str, Any], dict[str, Any]]:
    profile = closed({"type": string(enum=["RuntimeDefault", "Localhost", "Unconfined"]), "localhostProfile": string()}, ("type",))
    selinux = closed({"level": string(), "role": string(), "type": string(), "user": string()})
    uid = {"type": "integer", "minimum": 0}
    pod = closed({
        "runAsNonRoot": boolean(), "runAsUser": uid, "runAsGroup": uid, "fsGroup": uid,
        "fsGroupChangePolicy": string(enum=["OnRootMismatch", "Always"]),
        "supplementalGroups": array_of(uid),
        "seccompProfile": profile, "appArmorProfile": profile, "seLinuxOptions": selinux,
    })
    container = closed({
        "allowPrivilegeEscalation": boolean(), "readOnlyRootFilesystem": boolean(), "runAsNonRoot": boolean(),
        "runAsUser": uid, "runAsGroup": uid, "privileged": boolean(),
        "capabilities": closed({"add": array_of(string()), "drop": array_of(string())}),
        "seccompProfile": profile, "appArmorProfile": profile, "seLinuxOptions": selinux,
        "procMount": string(enum=["Default", "Unmasked"]),
    })
    return pod, container


def pod_definitions() -> dict[str, Any]:
    """Closed schemas of the pod placement and metadata values (Kubernetes' own shapes)."""
    selector_requirement = closed({
        "key": string(minLength=1), "operator": string(enum=["In", "NotIn", "Exists", "DoesNotExist"]),
        "values": array_of(string()),
    }, ("key", "operator"))
    label_selector = closed({
        "matchLabels": string_map("labels to match"),
        "matchExpressions": array_of(selector_requirement),
    })
    node_requirement = closed({
        "key": string(minLength=1), "operator": string(enum=["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]),
        "values": array_of(string()),
    }, ("key", "operator"))
    node_term = closed({"matchExpressions": array_of(node_requirement), "matchFields": array_of(node_requirement)})
    weight = {"type": "integer", "minimum": 1, "maximum": 100}
    pod_term = closed({
        "labelSelector": label_selector, "namespaceSelector": label_selector,
        "namespaces": array_of(string(pattern=DNS_LABEL)), "topologyKey": string(minLength=1),
        "matchLabelKeys": array_of(string()), "mismatchLabelKeys": array_of(string()),
    }, ("topologyKey",))
    pod_affinity = closed({
        "requiredDuringSchedulingIgnoredDuringExecution": array_of(pod_term),
        "preferredDuringSchedulingIgnoredDuringExecution": array_of(
            closed({"weight": weight, "podAffinityTerm": pod_term}, ("weight", "podAffinityTerm"))),
    })
    return {
        "tolerations": array_of(closed({
            "key": string(), "operator": string(enum=["Exists", "Equal"]), "value": string(),
            "effect": string(enum=["NoSchedule", "PreferNoSchedule", "NoExecute"]),
            "tolerationSeconds": {"type": "integer"},
        })),
        "nodeSelector": string_map("node labels the workflow pods must match"),
        "podMetadata": closed({
            "labels": string_map("labels of the workflow pods"),
            "annotations": string_map("annotations of the workflow pods"),
        }, description="Argo podMetadata of the workflow pods"),
        "affinity": closed({
            "nodeAffinity": closed({
                "requiredDuringSchedulingIgnoredDuringExecution": closed(
                    {"nodeSelectorTerms": array_of(node_term, minItems=1)}, ("nodeSelectorTerms",)),
                "preferredDuringSchedulingIgnoredDuringExecution": array_of(
                    closed({"weight": weight, "preference": node_term}, ("weight", "preference"))),
            }),
            "podAffinity": pod_affinity,
            "podAntiAffinity": pod_affinity,
        }, description="Kubernetes affinity of the workflow pods"),
    }


def extra_env() -> dict[str, Any]:
    """workflowPods.extraEnv: EnvVars with a plain value or a ConfigMap/Secret/field reference."""
    key_ref = closed({"name": string(pattern=DNS_SUBDOMAIN), "key": string(pattern=DATA_KEY), "optional": boolean()},
                     ("name", "key"))
    value_from = {
        **closed({
            "configMapKeyRef": key_ref, "secretKeyRef": key_ref,
            "fieldRef": closed({"fieldPath": string(minLength=1), "apiVersion": string()}, ("fieldPath",)),
        }),
        "minProperties": 1, "maxProperties": 1,
    }
    variable = {
        **closed({"name": string(pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"), "value": string(), "valueFrom": value_from},
                 ("name",)),
        "not": {"required": ["value", "valueFrom"]},
    }
    return array_of(variable, description="extra env of every step container")


def tenant_schema(crons: list[str]) -> dict[str, Any]:
    """One entry of `tenants`: its id (the pipeline's own tenant-id rule), parameter defaults,
    per-cron overrides and pod placement."""
    cron = closed({
        "enabled": boolean(),
        "schedules": array_of({"$ref": "#/$defs/cronSchedule"}, minItems=1, uniqueItems=True),
        "timezone": {"$ref": "#/$defs/timezone"},
        "suspend": boolean(),
        "parameters": {"$ref": "#/$defs/tenantParameters"},
    })
    return closed({
        "id": string("tenant id (pipeline/tenant.py: a DNS label)", pattern=TENANT_ID_PATTERN, maxLength=63),
        "workflowParameters": {"$ref": "#/$defs/tenantParameters"},
        "cronWorkflows": closed({name: cron for name in crons}),
        "workflowPods": closed({
            "podMetadata": {"$ref": "#/$defs/podMetadata"},
            "nodeSelector": {"$ref": "#/$defs/nodeSelector"},
            "tolerations": {"$ref": "#/$defs/tolerations"},
            "affinity": {"$ref": "#/$defs/affinity"},
        }),
    }, ("id",))


def build() -> dict[str, Any]:
    config, config_defs = config_definitions()
    objects = workflow_objects()
    templates = sorted(d["metadata"]["name"] for d in objects.get("WorkflowTemplate", []))
    crons = sorted(d["metadata"]["name"] for d in objects.get("CronWorkflow", []))
    pod_context, container_context = security_contexts()
    parameters = parameter_schema(objects)
    # A tenant's parameters: every one but tenant-id, which is the tenant's `id`.
    tenant_parameters = closed({k: v for k, v in parameters["properties"].items() if k != "tenant-id"},
                               description="a tenant's parameter defaults (tenant-id is the tenant's id)")
    quantity = {"oneOf": [
        {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"},
        {"type": "number", "minimum": 0},
    ]}
    image_repository = r"^[a-z0-9]+([._-][a-z0-9]+)*(\.[a-z0-9]+([._-][a-z0-9]+)*)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+$"
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "cogniverse-optimization chart values (generated by workflows/values_schema.py)",
        "type": "object",
        "additionalProperties": False,
        "required": ["image", "serviceAccount", "rbac", "workflowPods", "objectStore", "artifactRepository",
                     "llmSecret", "config", "workflowParameters", "workflowTemplates", "cronWorkflows"],
        "properties": {
            "nameOverride": string("replaces the chart name in labels and in the chart's own object names",
                                   pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$", maxLength=56),
            "fullnameOverride": string("prefix of the chart's own object names (ConfigMap, Role)",
                                       pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$", maxLength=56),
            "tenants": array_of({"$ref": "#/$defs/tenant"}, description="tenants: each cron once per tenant"),
            "image": closed({
                "repository": string("registry/repository of the step images", pattern=image_repository),
                "tag": {"type": "string", "pattern": r"^([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$", "not": {"const": "latest"},
                        "description": "heavy image tag; empty = the chart's appVersion; never latest"},
                "digest": string("optional sha256 digest of the heavy image", pattern=DIGEST),
                "pullPolicy": string(enum=["Always", "IfNotPresent", "Never"]),
                "light": closed({
                    "enabled": boolean(),
                    "tagSuffix": string(pattern=r"^[A-Za-z0-9_.-]*$"),
                    "digest": string(pattern=DIGEST),
                    "commands": array_of(string(pattern=COMMAND), uniqueItems=True),
                }, ("enabled", "tagSuffix", "digest", "commands")),
            }, ("repository", "tag", "digest", "pullPolicy", "light")),
            "imagePullSecrets": array_of(string(pattern=DNS_SUBDOMAIN), description="names of existing Secrets"),
            "serviceAccount": closed({
                "create": boolean(), "name": string(pattern=DNS_SUBDOMAIN, maxLength=253),
                "annotations": string_map("ServiceAccount annotations (workload identity)"),
            }, ("create", "name")),
            "rbac": closed({"create": boolean()}, ("create",)),
            "workflowPods": closed({
                "podSecurityContext": pod_context,
                "containerSecurityContext": container_context,
                "resources": {
                    "type": "object", "description": "resources by cogniverse-optimize subcommand",
                    "propertyNames": {"pattern": COMMAND},
                    "additionalProperties": closed({
                        "requests": {"type": "object", "additionalProperties": quantity},
                        "limits": {"type": "object", "additionalProperties": quantity},
                    }),
                },
                "nodeSelector": {"$ref": "#/$defs/nodeSelector"},
                "tolerations": {"$ref": "#/$defs/tolerations"},
                "priorityClassName": string(pattern=OPTIONAL_DNS_SUBDOMAIN),
                "podMetadata": {"$ref": "#/$defs/podMetadata"},
                "affinity": {"$ref": "#/$defs/affinity"},
                "extraEnv": extra_env(),
            }, ("podSecurityContext", "containerSecurityContext", "resources", "nodeSelector", "tolerations", "priorityClassName")),
            "objectStore": closed({
                "bucket": string("bucket name", pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"),
                "endpoint": string("host[:port] without scheme; empty = AWS S3",
                                   pattern=r"^([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?)?$"),
                "insecure": boolean(),
                "region": string(minLength=1),
                "credentials": {
                    **closed({
                        "existingSecret": string(pattern=OPTIONAL_DNS_SUBDOMAIN),
                        "accessKeyIdKey": string(pattern=DATA_KEY),
                        "secretAccessKeyKey": string(pattern=DATA_KEY),
                        "create": {"type": "boolean", "description": "create the Secret from the values below (not recommended)"},
                        "accessKeyId": string(),
                        "secretAccessKey": string(),
                    }, ("existingSecret", "accessKeyIdKey", "secretAccessKeyKey", "create")),
                    "if": {"properties": {"create": {"const": True}}, "required": ["create"]},
                    "then": {
                        "properties": {"existingSecret": {"minLength": 1}, "accessKeyId": {"minLength": 1},
                                       "secretAccessKey": {"minLength": 1}},
                        "required": ["accessKeyId", "secretAccessKey"],
                    },
                },
            }, ("bucket", "endpoint", "insecure", "region", "credentials")),
            "artifactRepository": closed({
                "create": boolean(), "configMapName": string(pattern=DNS_SUBDOMAIN),
                "key": string(pattern=DATA_KEY), "keyFormat": string(minLength=1),
            }, ("create", "configMapName", "key", "keyFormat")),
            "llmSecret": closed({"existingSecret": string(pattern=DNS_SUBDOMAIN)}, ("existingSecret",)),
            "config": {"$ref": "#/$defs/config.PipelineConfig"},
            "workflowParameters": {"$ref": "#/$defs/parameters"},
            "workflowTemplates": closed({name: closed({"parameters": {"$ref": "#/$defs/parameters"}}) for name in templates}),
            "cronWorkflows": closed({name: {"$ref": "#/$defs/cronWorkflow"} for name in crons}, tuple(crons)),
        },
        "$defs": {
            "cronSchedule": {"type": "string", "pattern": cron_pattern(),
                             "description": "5-field cron (minute hour day-of-month month day-of-week), @daily or @every <duration>"},
            "cronWorkflow": closed({
                "schedules": array_of({"$ref": "#/$defs/cronSchedule"}, minItems=1, uniqueItems=True),
                "timezone": {"$ref": "#/$defs/timezone"},
                "suspend": boolean(),
                "parameters": {"$ref": "#/$defs/parameters"},
            }, ("schedules", "timezone", "suspend")),
            "timezone": string("IANA time zone, e.g. UTC or Europe/Paris", pattern=r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$"),
            "parameters": parameters,
            "tenantParameters": tenant_parameters,
            "tenant": tenant_schema(crons),
            **pod_definitions(),
            "config.PipelineConfig": config,
            **config_defs,
        },
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    SCHEMA_FILE.write_text(render())
    print(SCHEMA_FILE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
