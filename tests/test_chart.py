"""The Helm chart (charts/cogniverse-optimization), rendered offline by Helm's own engine
(helm-python-sdk) for the default values and every scenario in tests/chart-scenarios/.

Checked per scenario: helm lint --strict; every core object against Kubernetes' schema
(kubernetes-validate, strict, a missing schema fails); every Argo object with the strict Argo
schema and reference checks (pipeline.argo.lint); the references between objects (service
account, RBAC, artifact repository, ConfigMap keys, Secrets, images, template refs); and that the
pipeline accepts the ConfigMap's configuration. Wrong values must be rejected by the schema.
What no test here can show (admission, the Argo controller's behaviour): see images/README.md.
"""

from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import helm_python  # PyPI helm-python-sdk: Helm's Go engine, offline
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "charts" / "cogniverse-optimization"
SCENARIOS = ROOT / "tests" / "chart-scenarios"
WORKFLOWS = ROOT / "workflows"
KUBE_VERSION = "1.31.0"
NAMESPACE = "ml-workflows"
RELEASE = "cogniverse"
ARGO_GROUP = "argoproj.io/"
CLI = "cogniverse-optimize"


def scenario_files() -> list[Path]:
    files = sorted(SCENARIOS.glob("*.yaml"))
    assert len(files) >= 3, "at least three scenario values files"
    return files


SCENARIO_IDS = ["default", *(p.stem for p in scenario_files())]


def scenario_values(name: str) -> dict[str, Any]:
    return {} if name == "default" else yaml.safe_load((SCENARIOS / f"{name}.yaml").read_text())


@lru_cache(maxsize=1)
def chart() -> Any:
    return helm_python.Chart.load(str(CHART))


@lru_cache(maxsize=1)
def defaults() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values.yaml").read_text())


def merged(values: dict[str, Any]) -> dict[str, Any]:
    """Helm's coalescing of user values over values.yaml (maps merge, the rest replaces)."""

    def merge(base: Any, over: Any) -> Any:
        if isinstance(base, dict) and isinstance(over, dict):
            out = dict(base)
            for key, value in over.items():
                if value is None:
                    out.pop(key, None)
                else:
                    out[key] = merge(base.get(key), value)
            return out
        return copy.deepcopy(over)

    return merge(defaults(), values)


def render(values: dict[str, Any]) -> dict[str, str]:
    return chart().render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)


def documents(rendered: dict[str, str]) -> list[dict[str, Any]]:
    docs = []
    for path, text in rendered.items():
        if path.endswith("NOTES.txt"):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


@lru_cache(maxsize=None)
def rendered_scenario(name: str) -> tuple[dict[str, str], str]:
    rendered = render(scenario_values(name))
    return rendered, json.dumps(documents(rendered))


def docs_of(name: str) -> list[dict[str, Any]]:
    return json.loads(rendered_scenario(name)[1])  # a fresh copy per test


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def workflow_specs(docs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(object, its workflow spec) for every WorkflowTemplate and CronWorkflow."""
    specs = []
    for doc in docs:
        if doc["kind"] == "WorkflowTemplate":
            specs.append((doc, doc["spec"]))
        elif doc["kind"] == "CronWorkflow":
            specs.append((doc, doc["spec"]["workflowSpec"]))
    return specs


def step_containers(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(t["name"], t["container"]) for t in spec.get("templates", []) if "container" in t]


# ------------------------------------------------------------------ one source of truth


def test_chart_files_are_the_rendered_workflows():
    """files/ is written by the render step with workflows/*.yaml (python -m workflows.render), never edited by hand."""
    source = {p.name: p.read_text() for p in WORKFLOWS.glob("*.yaml")}
    copied = {p.name: p.read_text() for p in (CHART / "files").glob("*.yaml")}
    assert source, "workflows/*.yaml not rendered yet: python -m workflows.render"
    stale = sorted(n for n in source.keys() | copied.keys() if source.get(n) != copied.get(n))
    assert not stale, f"charts/cogniverse-optimization/files/ differs from workflows/ for {stale}: run python -m workflows.render"


def test_default_values_reproduce_the_workflow_definitions():
    """With values.yaml as shipped, only chart-owned fields differ from the Hera rendering:
    labels, pull policy and the light image tag. Schedules, parameters, resources, security
    contexts and names are the files' own."""
    docs = docs_of("default")
    values = defaults()
    for path in sorted((CHART / "files").glob("*.yaml")):
        source = yaml.safe_load(path.read_text())
        if source["kind"] == "Workflow":
            continue  # a submission example, not installed
        installed = one(docs, source["kind"], source["metadata"]["name"])
        assert installed["metadata"]["labels"]["workflow-type"] == source["metadata"]["labels"]["workflow-type"]
        for container_source, container in (
            (c, dict(step_containers(spec_of(installed)))[n]) for n, c in step_containers(spec_of(source))
        ):
            assert container.pop("imagePullPolicy") == values["image"]["pullPolicy"]
            image = container.pop("image")
            assert container_source.pop("image").split(":")[-1] in image, image
            assert container == container_source
        installed_spec, source_spec = installed["spec"], source["spec"]
        if source["kind"] == "CronWorkflow":
            cron = values["cronWorkflows"][source["metadata"]["name"]]
            assert installed_spec.pop("suspend") is cron["suspend"] is source_spec.pop("suspend", False)
        for spec in (installed_spec, source_spec):
            target = spec.get("workflowSpec", spec)
            for template in target.get("templates", []):
                template.pop("container", None)
        assert installed_spec == source_spec, f"{path.name}: values.yaml defaults differ from the definition"


def spec_of(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"]["workflowSpec"] if doc["kind"] == "CronWorkflow" else doc["spec"]


def test_versions_agree():
    """One version: the package's, the chart's appVersion (the default image tag) and the tag
    the workflow definitions were rendered with."""
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"] == version
    images = {c["image"] for path in (CHART / "files").glob("*.yaml")
              for _, c in step_containers(spec_of(yaml.safe_load(path.read_text())))}
    assert images == {f"ghcr.io/cogniverse/optimization:{version}"}, images
    assert defaults()["image"]["repository"] == "ghcr.io/cogniverse/optimization"


def test_batch_workflow_is_not_installed():
    docs = docs_of("default")
    assert not by_kind(docs, "Workflow"), "a Workflow would start running at helm install"
    assert {d["metadata"]["name"] for d in by_kind(docs, "WorkflowTemplate")} == {"module-optimization", "module-rollback"}
    assert {d["metadata"]["name"] for d in by_kind(docs, "CronWorkflow")} == set(defaults()["cronWorkflows"])


# ------------------------------------------------------------------ lint and schemas, per scenario


@pytest.mark.parametrize("scenario", SCENARIO_IDS)
def test_helm_lint_strict(scenario):
    report = helm_python.lint(str(CHART), scenario_values(scenario), strict=True, namespace=NAMESPACE,
                              kube_version=f"v{KUBE_VERSION}")
    problems = [m for m in report["messages"] if m["severity"] >= 2]  # 2 warning, 3 error
    assert not report["errors"] and not problems, report


@pytest.mark.parametrize("scenario", SCENARIO_IDS)
def test_core_objects_validate_against_kubernetes(scenario):
    core = [d for d in docs_of(scenario) if not d["apiVersion"].startswith(ARGO_GROUP)]
    assert {"ConfigMap", "Role", "RoleBinding"} <= {d["kind"] for d in core}
    for doc in core:
        # A missing schema raises SchemaNotFoundError: a kind Kubernetes does not know fails here.
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


@pytest.mark.parametrize("scenario", SCENARIO_IDS)
def test_argo_objects_pass_the_argo_lint(scenario, tmp_path):
    from pipeline.argo.lint import lint

    docs = docs_of(scenario)
    argo = [d for d in docs if d["apiVersion"].startswith(ARGO_GROUP)]
    assert argo and all(d["kind"] in ("WorkflowTemplate", "CronWorkflow") for d in argo)
    path = tmp_path / "rendered.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))  # one file: refs between objects resolve
    # Errors only: warnings (raw parameters in `when`, issue 8 defect 10) are reported by
    # tests/argo/test_workflows.py until those parameters get an enum.
    findings = [f for f in lint([path]) if f.severity == "error"]
    assert not findings, "\n".join(str(f) for f in findings)


@pytest.mark.parametrize("scenario", SCENARIO_IDS)
def test_artifact_repository_is_a_valid_argo_s3_repository(scenario):
    from jsonschema import validators

    from pipeline.argo.schema import load_raw, strict

    values = merged(scenario_values(scenario))
    repo = values["artifactRepository"]
    docs = docs_of(scenario)
    maps = [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"] == repo["configMapName"]]
    if not repo["create"]:
        assert not maps, "an existing repository ConfigMap must not be created (or overwritten)"
        return
    (config_map,) = maps
    repository = yaml.safe_load(config_map["data"][repo["key"]])
    schema = strict(load_raw())
    root = {k: v for k, v in schema.items() if k not in ("oneOf", "type")}
    validator_schema = {**root, "$ref": "#/definitions/io.argoproj.workflow.v1alpha1.ArtifactRepository"}
    errors = list(validators.validator_for(validator_schema)(validator_schema).iter_errors(repository))
    assert not errors, [e.message for e in errors]
    s3 = repository["s3"]
    store = values["objectStore"]
    assert s3["bucket"] == store["bucket"] and s3["insecure"] == store["insecure"]
    if store["credentials"]["existingSecret"]:
        assert s3["accessKeySecret"] == {"name": store["credentials"]["existingSecret"], "key": store["credentials"]["accessKeyIdKey"]}
        assert s3["secretKeySecret"] == {"name": store["credentials"]["existingSecret"], "key": store["credentials"]["secretAccessKeyKey"]}
    else:
        assert s3.get("useSDKCreds") is True and "accessKeySecret" not in s3


# ------------------------------------------------------------------ cross-object references


@pytest.mark.parametrize("scenario", SCENARIO_IDS)
def test_service_account_and_rbac_are_consistent_and_least_privilege(scenario):
    values = merged(scenario_values(scenario))
    docs = docs_of(scenario)
    name = values["serviceAccount"]["name"]
    accounts = {d["metadata"]["name"] for d in by_kind(docs, "ServiceAccount")}
    assert accounts == ({name} if values["serviceAccount"]["create"] else set())
    used = {spec["serviceAccountName"] for _, spec in workflow_specs(docs) if "serviceAccountName" in spec}
    assert used == {name}, f"workflows run as {used}, the chart provides {name}"
    assert not [d for d in docs if d["kind"] in ("ClusterRole", "ClusterRoleBinding")], "nothing cluster-wide"
    (role,) = by_kind(docs, "Role")
    (binding,) = by_kind(docs, "RoleBinding")
    assert role["rules"] == [{"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}]


@pytest.mark.parametrize("scenario", SCENARIO_IDS)
def test_artifact_repository_ref_names_a_configured_repository(scenario):
    values = merged(scenario_values(scenario))
    docs = docs_of(scenario)
    repo = values["artifactRepository"]
    refs = [spec["artifactRepositoryRef"] for _, spec in workflow_specs(docs) if "artifactRepositoryRef" in spec]
    assert refs, "module-optimization stores its report through the artifact repository"
    assert all(ref == {"configMap": repo["configMapName"], "key": repo["key"]} for ref in refs)
    if repo["create"]:
        config_map = one(docs, "ConfigMap", repo["configMapName"])
        assert repo["key"] in config_map["data"]


@pytest.mark.parametrize("scenario", SCENARIO_IDS)
def test_configmap_keys_and_secrets_the_steps_read_exist(scenario):
    values = merged(scenario_values(scenario))
    docs = docs_of(scenario)
    config_maps = {d["metadata"]["name"]: d for d in by_kind(docs, "ConfigMap")}
    secrets = {d["metadata"]["name"]: d for d in by_kind(docs, "Secret")}
    credentials = values["objectStore"]["credentials"]
    checked = 0
    for doc, spec in workflow_specs(docs):
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                data = config_maps[volume["configMap"]["name"]]["data"]
                assert all(item["key"] in data for item in volume["configMap"].get("items", []))
        for template, container in step_containers(spec):
            where = f"{doc['metadata']['name']}/{template}"
            for env in container.get("env", []):
                source = env.get("valueFrom", {})
                if "configMapKeyRef" in source:
                    ref = source["configMapKeyRef"]
                    assert ref["name"] in config_maps, f"{where}: ConfigMap {ref['name']} is not in the chart"
                    assert ref["key"] in config_maps[ref["name"]]["data"], f"{where}: key {ref['key']} missing"
                    checked += 1
                if "secretKeyRef" in source:
                    ref = source["secretKeyRef"]
                    assert ref["name"] == credentials["existingSecret"], f"{where}: Secret {ref['name']}"
                    assert ref["key"] in (credentials["accessKeyIdKey"], credentials["secretAccessKeyKey"])
                    if ref["name"] in secrets:
                        assert ref["key"] in secrets[ref["name"]]["stringData"]
            if not credentials["existingSecret"]:
                assert not any("secretKeyRef" in e.get("valueFrom", {}) for e in container.get("env", [])), where
            env_from = [e["secretRef"]["name"] for e in container.get("envFrom", []) if "secretRef" in e]
            assert env_from == [values["llmSecret"]["existingSecret"]], where
    assert checked, "the steps read their settings from the ConfigMap"
    if credentials["create"]:
        secret = secrets[credentials["existingSecret"]]
        assert set(secret["stringData"]) == {credentials["accessKeyIdKey"], credentials["secretAccessKeyKey"]}
    else:
        assert not secrets, "the chart never creates a Secret unless told to"


@pytest.mark.parametrize("scenario", SCENARIO_IDS)
def test_the_pipeline_accepts_the_configmap_configuration(scenario, tmp_path):
    """The steps' view: config.yaml through load_config, with the ConfigMap's override keys as
    the env vars the workflows map them to."""
    from pipeline.config import load_config

    values = merged(scenario_values(scenario))
    docs = docs_of(scenario)
    data = one(docs, "ConfigMap", config_map_name(values))["data"]
    (config_file := tmp_path / "config.yaml").write_text(data["config.yaml"])
    env = {}
    for _, spec in workflow_specs(docs):
        for _, container in step_containers(spec):
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("configMapKeyRef")
                if ref:
                    env[entry["name"]] = data[ref["key"]]
    assert {"COGNIVERSE_PHOENIX_ENDPOINT", "COGNIVERSE_STORAGE_URL", "COGNIVERSE_LM_MODEL"} <= set(env)
    config = load_config(config_file, env=env)
    store = values["objectStore"]
    assert config.storage.url == f"s3://{store['bucket']}"
    assert config.storage.allow_http is store["insecure"]
    assert config.storage.endpoint == (f"{'http' if store['insecure'] else 'https'}://{store['endpoint']}" if store["endpoint"] else None)
    assert config.phoenix.endpoint == values["config"]["phoenix"]["endpoint"]
    assert config.llm.primary.model == values["config"]["llm"]["primary"]["model"]
    assert config.gate.improvement_threshold == values["config"]["gate"]["improvement_threshold"]
    assert config.content.vespa.endpoint == values["config"]["content"]["vespa"]["endpoint"]


@pytest.mark.parametrize("scenario", SCENARIO_IDS)
def test_step_images_come_from_values_and_are_never_latest(scenario):
    values = merged(scenario_values(scenario))
    image = values["image"]
    tag = image["tag"] or yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    heavy = f"{image['repository']}:{tag}" + (f"@{image['digest']}" if image["digest"] else "")
    light = f"{image['repository']}:{tag}{image['light']['tagSuffix']}" + (
        f"@{image['light']['digest']}" if image["light"]["digest"] else "")
    steps = 0
    for doc, spec in workflow_specs(docs_of(scenario)):
        for template, container in step_containers(spec):
            assert container["command"] == [CLI]
            command = container["args"][0]
            use_light = image["light"]["enabled"] and command in image["light"]["commands"]
            assert container["image"] == (light if use_light else heavy), f"{doc['metadata']['name']}/{template}"
            assert not container["image"].endswith(":latest") and ":" in container["image"]
            assert container["imagePullPolicy"] == image["pullPolicy"]
            steps += 1
    assert steps >= 10


def test_every_step_runs_an_existing_cli_command():
    from pipeline.cli import COMMANDS

    commands = set(COMMANDS)
    used = {c["args"][0] for _, spec in workflow_specs(docs_of("default")) for _, c in step_containers(spec)}
    assert used - commands == set(), f"workflow steps run commands the CLI does not have: {sorted(used - commands)}"


@pytest.mark.parametrize("scenario", SCENARIO_IDS)
def test_cron_workflows_reference_installed_templates_and_carry_values(scenario):
    values = merged(scenario_values(scenario))
    docs = docs_of(scenario)
    templates = {d["metadata"]["name"] for d in by_kind(docs, "WorkflowTemplate")}
    crons = by_kind(docs, "CronWorkflow")
    assert sorted(c["metadata"]["name"] for c in crons) == sorted(expected_crons(values))
    for cron in crons:
        name = cron["metadata"]["name"]
        wanted = expected_crons(values)[name]
        assert cron["spec"]["schedules"] == wanted["schedules"]
        assert cron["spec"]["suspend"] is wanted["suspend"]
        assert cron["spec"]["timezone"] == wanted["timezone"]
        assert cron["metadata"]["labels"]["workflow-type"] == "optimization"
        ref = cron["spec"]["workflowSpec"].get("workflowTemplateRef")
        if ref:
            assert ref["name"] in templates
        parameters = {p["name"]: p["value"] for p in cron["spec"]["workflowSpec"]["arguments"]["parameters"]}
        for key, value in wanted["parameters"].items():
            if key in parameters:
                assert parameters[key] == (str(value).lower() if isinstance(value, bool) else str(value)), (name, key)


def config_map_name(values: dict[str, Any]) -> str:
    """The pipeline ConfigMap: `<fullnameOverride or nameOverride or chart name>-config`."""
    return f"{values.get('fullnameOverride') or values.get('nameOverride') or 'cogniverse-optimization'}-config"


def cron_name(cron: str, tenant: str) -> str:
    """What the chart names a tenant's CronWorkflow (cogniverse.cronName), independently computed."""
    import hashlib

    name = f"{cron}-{tenant}"
    if len(name) <= 52:
        return name
    return f"{name[:43].removesuffix('-')}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def expected_crons(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """name → schedules, timezone, suspend, parameters, source cron and tenant: the values'
    meaning, stated once here. No tenants: each cron once, as named. Tenants: each cron per
    tenant (unless it disables it), the tenant's settings over the cron's, parameters in the
    order workflowParameters < cron parameters < tenant workflowParameters < tenant cron
    parameters < tenant-id = the tenant's id."""
    out = {}
    for source, base in values["cronWorkflows"].items():
        for tenant in values.get("tenants") or [None]:
            own = (tenant or {}).get("cronWorkflows", {}).get(source, {})
            if not own.get("enabled", True):
                continue
            parameters = {**values["workflowParameters"], **base.get("parameters", {})}
            if tenant:
                parameters |= {**tenant.get("workflowParameters", {}), **own.get("parameters", {}), "tenant-id": tenant["id"]}
            out[cron_name(source, tenant["id"]) if tenant else source] = {
                "schedules": own.get("schedules", base["schedules"]), "timezone": own.get("timezone", base["timezone"]),
                "suspend": own.get("suspend", base["suspend"]), "parameters": parameters,
                "source": source, "tenant": tenant["id"] if tenant else None,
            }
    return out


@pytest.mark.parametrize("scenario", SCENARIO_IDS)
def test_pods_are_locked_down(scenario):
    for doc, spec in workflow_specs(docs_of(scenario)):
        if "templates" not in spec:
            continue  # runs a WorkflowTemplate: its pods are that template's
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 10001 and pod["seccompProfile"]["type"] == "RuntimeDefault"
        for template, container in step_containers(spec):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False and context["readOnlyRootFilesystem"] is True
            assert context["capabilities"]["drop"] == ["ALL"], f"{doc['metadata']['name']}/{template}"
            assert any(m["mountPath"] == "/tmp" for m in container["volumeMounts"]), "a writable /tmp"


def test_scenario_values_reach_the_objects():
    custom = docs_of("custom-schedules-image")
    template = one(custom, "WorkflowTemplate", "module-optimization")["spec"]
    parameters = {p["name"]: p["value"] for p in template["arguments"]["parameters"]}
    assert parameters["max-iterations"] == "50" and parameters["use-synthetic-data"] == "true"
    assert template["nodeSelector"] == {"workload": "batch"} and template["podPriorityClassName"] == "batch-low"
    assert template["imagePullSecrets"] == [{"name": "registry-example-com"}]
    train = dict(step_containers(template))["train"]
    assert train["resources"] == {"requests": {"cpu": "4", "memory": "8Gi"}, "limits": {"cpu": "8", "memory": "16Gi"}}
    assert dict(step_containers(template))["evaluate"]["resources"]["limits"]["memory"] == "4Gi"  # untouched
    weekly = one(custom, "CronWorkflow", "weekly-optimization")
    weekly_parameters = {p["name"]: p["value"] for p in weekly["spec"]["workflowSpec"]["arguments"]["parameters"]}
    assert weekly_parameters["tenant-id"] == "globex" and weekly_parameters["improvement-threshold"] == "2"

    s3 = docs_of("s3-existing-secret")
    template = one(s3, "WorkflowTemplate", "module-optimization")["spec"]
    parameters = {p["name"]: p["value"] for p in template["arguments"]["parameters"]}
    # config.gate.improvement_threshold is the parameter's default; the tenant is set once for all.
    assert parameters["improvement-threshold"] == "3.5" and parameters["tenant-id"] == "acme"
    env = {e["name"]: e for e in dict(step_containers(template))["harvest"]["env"]}
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"] == {"name": "acme-s3-keys", "key": "AWS_ACCESS_KEY_ID", "optional": True}

    suspended = docs_of("suspended-crons")
    assert all(c["spec"]["suspend"] is True for c in by_kind(suspended, "CronWorkflow"))
    maintenance = one(suspended, "CronWorkflow", "scheduled-maintenance")["spec"]["workflowSpec"]
    assert {p["name"]: p["value"] for p in maintenance["arguments"]["parameters"]}["retention-days"] == "14"


# ------------------------------------------------------------------ values schema


def rejected(values: dict[str, Any]) -> str:
    with pytest.raises(helm_python.HelmError) as error:
        render(values)
    return str(error.value)


@pytest.mark.parametrize(
    "values, where",
    [
        ({"imageTag": "0.1.0"}, "imageTag"),
        ({"config": {"gate": {"improvment_threshold": 3}}}, "improvment_threshold"),
        ({"config": {"storage": {"url": "s3://elsewhere"}}}, "storage"),  # derived from objectStore only
        ({"workflowPods": {"podSecurityContext": {"runAsUsr": 0}}}, "runAsUsr"),
        ({"cronWorkflows": {"weekly-optimisation": {"schedules": ["0 3 * * 0"], "timezone": "UTC", "suspend": False}}}, "weekly-optimisation"),
        ({"workflowParameters": {"tenant": "acme"}}, "tenant"),
    ],
)
def test_schema_rejects_unknown_keys(values, where):
    message = rejected(values)
    assert "additional properties" in message and where in message, message


CRON_OK = ["0 3 * * 0", "*/15 * * * *", "30 1 1,15 * ?", "0 9-17/2 * * MON-FRI", "0 0 1 JAN *", "@daily", "@every 6h30m"]
CRON_BAD = ["every monday", "0 3 * *", "0 3 * * 0 2026", "60 3 * * 0", "0 24 * * *", "0 3 32 * *", "0 3 * 13 *", "0 3 * * 8", "@fortnightly", ""]


@pytest.mark.parametrize("schedule", CRON_BAD)
def test_schema_rejects_bad_cron_schedules(schedule):
    cron = {"schedules": [schedule], "timezone": "UTC", "suspend": False}
    message = rejected({"cronWorkflows": {"weekly-optimization": cron}})
    assert "/cronWorkflows/weekly-optimization/schedules/0" in message, message


def test_schema_accepts_valid_cron_schedules():
    docs = documents(render({"cronWorkflows": {"weekly-optimization": {"schedules": CRON_OK, "timezone": "Europe/Paris", "suspend": True}}}))
    assert one(docs, "CronWorkflow", "weekly-optimization")["spec"]["schedules"] == CRON_OK


@pytest.mark.parametrize(
    "values, where",
    [
        ({"config": {"gate": {"improvement_threshold": -1}}}, "/config/gate/improvement_threshold"),
        ({"config": {"annotation_confidence_threshold": -0.1}}, "/config/annotation_confidence_threshold"),
        ({"config": {"gate": {"max_p_value": 1.5}}}, "/config/gate/max_p_value"),
        ({"workflowParameters": {"improvement-threshold": -5}}, "/workflowParameters/improvement-threshold"),
        ({"workflowParameters": {"annotation-threshold": -1}}, "/workflowParameters/annotation-threshold"),
        ({"workflowParameters": {"min-confidence": -0.5}}, "/workflowParameters/min-confidence"),
    ],
)
def test_schema_rejects_negative_or_out_of_range_thresholds(values, where):
    assert where in rejected(values)


@pytest.mark.parametrize(
    "values, where",
    [
        ({"cronWorkflows": {"daily-optimization-check": {"schedules": ["0 4 * * *"], "timezone": "UTC", "suspend": "yes"}}}, "suspend"),
        ({"cronWorkflows": {"daily-optimization-check": {"schedules": "0 4 * * *", "timezone": "UTC", "suspend": False}}}, "schedules"),
        ({"workflowParameters": {"max-iterations": "many"}}, "max-iterations"),
        ({"rbac": {"create": "true"}}, "rbac"),
        ({"image": {"tag": "latest"}}, "/image/tag"),
        ({"image": {"digest": "sha256:abc"}}, "/image/digest"),
        ({"objectStore": {"endpoint": "https://minio:9000"}}, "/objectStore/endpoint"),
        ({"workflowParameters": {"tenant-id": "Acme_Corp"}}, "tenant-id"),
        ({"objectStore": {"credentials": {"create": True}}}, "/objectStore/credentials"),
    ],
)
def test_schema_rejects_wrong_types_and_formats(values, where):
    assert where in rejected(values)


def test_a_parameter_the_workflow_does_not_declare_fails_the_render():
    message = rejected({"workflowTemplates": {"module-optimization": {"parameters": {"retention-days": 7}}}})
    assert "declares no parameter" in message and "retention-days" in message


def test_values_schema_is_generated_from_its_sources():
    """values.schema.json is generated (config from PipelineConfig, object and parameter names
    from files/): `python -m workflows.values_schema` after changing either."""
    from workflows import values_schema as generator

    assert (CHART / "values.schema.json").read_text() == generator.render(), "stale: python -m workflows.values_schema"


def walk(node: Any, path: str = "$"):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}[{i}]")


def test_every_object_in_the_values_schema_is_closed():
    schema = json.loads((CHART / "values.schema.json").read_text())
    open_objects = [p for p, node in walk(schema) if "properties" in node and node.get("additionalProperties") is not False
                    and not p.endswith((".if", ".then"))]  # conditions refine an already closed object
    assert not open_objects, open_objects
    maps = [p for p, node in walk(schema) if node.get("type") == "object" and "properties" not in node
            and not isinstance(node.get("additionalProperties"), dict) and "$ref" not in node]
    assert not maps, f"object schemas that accept anything: {maps}"


def shape(node: Any, defs: dict[str, Any], prefix: str) -> Any:
    """The structure of a JSON schema node: property names and types, refs resolved."""
    if "$ref" in node:
        return shape(defs[node["$ref"].split("/")[-1].removeprefix(prefix)], defs, prefix)
    if "anyOf" in node:
        return sorted((shape(n, defs, prefix) for n in node["anyOf"]), key=json.dumps)
    out: dict[str, Any] = {"type": node.get("type"), "enum": node.get("enum")}
    if "properties" in node:
        out["properties"] = {k: shape(v, defs, prefix) for k, v in node["properties"].items()}
    if isinstance(node.get("additionalProperties"), dict):
        out["values"] = shape(node["additionalProperties"], defs, prefix)
    if "items" in node:
        out["items"] = shape(node["items"], defs, prefix)
    return out


def test_config_schema_matches_the_pipeline_configuration():
    """values.schema.json's `config` has exactly PipelineConfig's fields and types (minus
    `storage`, which the chart derives): a field added to pipeline/config.py fails here until
    the chart's schema knows it."""
    from pipeline.config import PipelineConfig

    pipeline_schema = PipelineConfig.model_json_schema()
    pipeline_schema["properties"].pop("storage")
    expected = shape(pipeline_schema, pipeline_schema["$defs"], "")
    chart_schema = json.loads((CHART / "values.schema.json").read_text())
    chart_defs = {k.removeprefix("config."): v for k, v in chart_schema["$defs"].items()}
    actual = shape(chart_schema["properties"]["config"], chart_defs, "config.")
    differ = sorted(set(flatten(actual)) ^ set(flatten(expected)))
    assert not differ, f"values.schema.json `config` vs PipelineConfig (path, type, enum): {differ}"


def flatten(node: Any, path: str = "config") -> list[tuple[str, str]]:
    if isinstance(node, list):
        return [item for i, n in enumerate(node) for item in flatten(n, f"{path}|{i}")]
    out = [(path, json.dumps([node.get("type"), node.get("enum")]))]
    for key, child in node.get("properties", {}).items():
        out += flatten(child, f"{path}.{key}")
    for key in ("values", "items"):
        if key in node:
            out += flatten(node[key], f"{path}[{key}]")
    return out


# ------------------------------------------------------------------ documentation


def test_every_value_is_documented_where_it_is_defined():
    """Every key of values.yaml down to the second level has a comment right above it; deeper
    keys sit in a documented block."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    undocumented = []
    for i, line in enumerate(lines):
        match = re.match(r"^( *)([A-Za-z0-9_-]+):", line)
        if not match or len(match.group(1)) > 2:
            continue
        above = lines[i - 1].strip() if i else ""
        if not above.startswith("#"):
            undocumented.append(line.strip())
    assert not undocumented, undocumented


def test_chart_readme_is_generated_from_the_values_comments(tmp_path, monkeypatch):
    """charts/cogniverse-optimization/README.md = `python -m workflows.chart_readme` (from
    Chart.yaml and the comments of values.yaml): a value documented in values.yaml but not in the
    README, or the other way round, fails here."""
    from workflows import chart_readme

    readme = (CHART / "README.md").read_text()
    assert readme == chart_readme.render(), "stale: python -m workflows.chart_readme"
    values = defaults()
    _, entries = chart_readme.parse((CHART / "values.yaml").read_text())
    assert {e.path[0] for e in entries} == set(values)  # every top-level value has its section
    for entry in entries:
        assert f"`{'.'.join(entry.path)}`" in readme
    for key in ("tenants", "nameOverride", "fullnameOverride", "workflowPods.podMetadata", "workflowPods.affinity",
                "workflowPods.extraEnv", "artifactRepository.create"):
        assert f"`{key}`" in readme, key
    monkeypatch.setattr(chart_readme, "README", tmp_path / "README.md")
    assert chart_readme.main(["--check"]) == 1  # missing
    assert chart_readme.main([]) == 0 and chart_readme.main(["--check"]) == 0


def test_chart_metadata():
    chart_yaml = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart_yaml["home"].startswith("https://") and chart_yaml["sources"]
    assert all(m["name"] for m in chart_yaml["maintainers"])


def test_notes_name_real_objects():
    rendered, _ = rendered_scenario("default")
    notes = rendered["cogniverse-optimization/templates/NOTES.txt"]
    docs = docs_of("default")
    for name in re.findall(r"workflowtemplate/([a-z0-9-]+)", notes):
        one(docs, "WorkflowTemplate", name)
    for name in re.findall(r"argo -n \S+ cron (?:suspend|resume) ([a-z0-9-]+)", notes):
        one(docs, "CronWorkflow", name)
    label = re.search(r"get cronworkflows -l ([a-z-]+)=([a-z-]+)", notes)
    assert all(c["metadata"]["labels"][label.group(1)] == label.group(2) for c in by_kind(docs, "CronWorkflow"))


def test_readme_commands_name_real_objects():
    """The README's Kubernetes walk-through must use the chart's real names."""
    check_walkthrough((ROOT / "README.md").read_text())


def check_walkthrough(readme: str) -> None:
    docs = docs_of("default")
    templates = re.findall(r"workflowtemplate/([a-z0-9-]+)", readme)
    assert templates, "README.md has no `argo submit --from workflowtemplate/...` walk-through"
    for name in templates:
        one(docs, "WorkflowTemplate", name)
    # `--from workflowtemplate/NAME -p k=v ...`: every parameter shown is one the template declares.
    for name, rest in re.findall(r"--from workflowtemplate/([a-z0-9-]+)((?: +(?:-p +[a-z-]+=\S+|\\\n|--?[a-z-]+))*)", readme):
        declared = {p["name"] for p in one(docs, "WorkflowTemplate", name)["spec"]["arguments"]["parameters"]}
        shown = set(re.findall(r"-p +([a-z-]+)=", rest))
        assert shown <= declared, f"README: {name} does not declare {sorted(shown - declared)}"
    for chart_path in re.findall(r"helm (?:install|upgrade)[^\n]*?(charts/[a-z0-9-]+)", readme):
        assert (ROOT / chart_path / "Chart.yaml").is_file(), chart_path
    texts = re.findall(r"```yaml\n(.*?)```", readme, re.DOTALL)
    blocks = [yaml.safe_load(b) for b in texts]
    values_files = [yaml.safe_load(t) for t in texts if t.startswith("# my-values.yaml")]
    assert values_files, "README.md shows no `# my-values.yaml` block"
    crons = {d["metadata"]["name"] for d in by_kind(docs, "CronWorkflow")}
    for values in values_files:  # a values file shown must be accepted by the chart
        crons |= {d["metadata"]["name"] for d in by_kind(documents(render(values)), "CronWorkflow")}
    # A CronWorkflow named in a command: the default install's, or one a values file shown creates.
    for name in re.findall(r"(?:cron (?:suspend|resume)|--from cronwf/) *([a-z0-9-]+)", readme):
        assert name in crons, f"README names CronWorkflow {name}, which no install shown has"
    from pipeline.config import PipelineConfig

    for text in texts:  # a pipeline configuration shown must be accepted by the pipeline
        if text.startswith("# my-config.yaml"):
            PipelineConfig.model_validate(yaml.safe_load(text))
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for job in (b for b in blocks if isinstance(b, dict) and b.get("kind") == "Job"):
        kubernetes_validate.validate(job, KUBE_VERSION, strict=True)
        pod = job["spec"]["template"]["spec"]
        assert ("ServiceAccount", pod["serviceAccountName"]) in names
        for volume in pod["volumes"]:
            if "configMap" in volume:
                assert ("ConfigMap", volume["configMap"]["name"]) in names
        (container,) = pod["containers"]
        assert container["image"] == f"{defaults()['image']['repository']}:{yaml.safe_load((CHART / 'Chart.yaml').read_text())['appVersion']}{defaults()['image']['light']['tagSuffix']}"
        credentials = defaults()["objectStore"]["credentials"]
        for env in container["env"]:
            if ref := env.get("valueFrom", {}).get("secretKeyRef"):
                assert ref["name"] == credentials["existingSecret"]
                assert ref["key"] in (credentials["accessKeyIdKey"], credentials["secretAccessKeyKey"])
        from pipeline.cli import build_parser

        try:
            build_parser().parse_args(container["args"])  # the CLI accepts the command as shown
        except SystemExit as exc:
            raise AssertionError(f"cogniverse-optimize rejects {container['args']}") from exc


# ------------------------------------------------------------------ many tenants, customised pods

TENANTS = "three-tenants-custom-pods"
LONG_TENANT = "initech-research-and-development-emea-production-cluster-0001"


def cron_parameters(cron: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in cron["spec"]["workflowSpec"]["arguments"]["parameters"]}


def test_three_tenants_get_their_own_cron_workflows():
    docs = docs_of(TENANTS)
    crons = {c["metadata"]["name"]: c for c in by_kind(docs, "CronWorkflow")}
    assert sorted(d["metadata"]["name"] for d in by_kind(docs, "WorkflowTemplate")) == ["module-optimization", "module-rollback"]
    # 3 crons x 3 tenants, minus globex's disabled maintenance; the un-suffixed crons are gone.
    assert len(crons) == 8 and not set(crons) & set(defaults()["cronWorkflows"])
    assert {"weekly-optimization-acme", "daily-optimization-check-acme", "scheduled-maintenance-acme",
            "weekly-optimization-globex", "daily-optimization-check-globex"} <= set(crons)
    assert "scheduled-maintenance-globex" not in crons
    for name, cron in crons.items():
        tenant = cron["metadata"]["labels"]["tenant-id"]
        assert cron_parameters(cron)["tenant-id"] == tenant
        assert cron["spec"]["workflowMetadata"] == {"labels": {"tenant-id": tenant}}  # `list --tenant` finds its runs
        assert name == cron_name(cron["metadata"]["labels"]["cogniverse.io/cron-workflow"], tenant)
    assert len(docs) == 2 + 8 + 4  # + ServiceAccount, Role, RoleBinding, pipeline ConfigMap

    acme_daily = crons["daily-optimization-check-acme"]
    assert acme_daily["spec"]["schedules"] == ["30 5 * * *"] and acme_daily["spec"]["timezone"] == "Europe/Berlin"
    assert cron_parameters(acme_daily)["lookback-hours"] == "48" and cron_parameters(acme_daily)["min-confidence"] == "0.8"
    assert cron_parameters(acme_daily)["annotation-threshold"] == "20"  # the definition's own, untouched
    # A tenant's workflowParameters beat the cron's global parameters; undeclared ones are ignored.
    assert cron_parameters(crons["scheduled-maintenance-acme"])["retention-days"] == "60"
    globex_weekly = crons["weekly-optimization-globex"]
    assert globex_weekly["spec"]["suspend"] is True and cron_parameters(globex_weekly)["annotation-threshold"] == "10"
    assert cron_parameters(globex_weekly)["lookback-hours"] == "36"  # the global workflowParameters
    assert crons["daily-optimization-check-globex"]["spec"]["suspend"] is False
    long_maintenance = crons[cron_name("scheduled-maintenance", LONG_TENANT)]
    assert cron_parameters(long_maintenance)["retention-days"] == "14"
    assert long_maintenance["spec"]["schedules"] == ["0 2 * * 6"]


def effective_mutexes(cron: dict[str, Any], docs: list[dict[str, Any]]) -> list[str]:
    """The mutex names a run of this cron holds: its own spec's or the referenced template's
    synchronization, with the run's tenant-id substituted (as the controller does)."""
    spec = cron["spec"]["workflowSpec"]
    if "workflowTemplateRef" in spec:
        spec = one(docs, "WorkflowTemplate", spec["workflowTemplateRef"]["name"])["spec"]
    tenant = cron_parameters(cron)["tenant-id"]
    return [m["name"].replace("{{workflow.parameters.tenant-id}}", tenant) for m in spec["synchronization"]["mutexes"]]


def test_every_tenant_run_takes_its_tenant_mutex():
    docs = docs_of(TENANTS)
    by_tenant: dict[str, set[str]] = {}
    for cron in by_kind(docs, "CronWorkflow"):
        tenant = cron["metadata"]["labels"]["tenant-id"]
        by_tenant.setdefault(tenant, set()).update(effective_mutexes(cron, docs))
    assert by_tenant == {t: {f"cogniverse-{t}"} for t in ("acme", "globex", LONG_TENANT)}
    for template in by_kind(docs, "WorkflowTemplate"):  # manual runs (optimization, rollback) too
        assert template["spec"]["synchronization"] == {"mutexes": [{"name": "cogniverse-{{workflow.parameters.tenant-id}}"}]}


def test_workflow_pods_are_customised_globally_and_per_tenant():
    values = merged(scenario_values(TENANTS))
    pods = values["workflowPods"]
    docs = docs_of(TENANTS)
    for template in by_kind(docs, "WorkflowTemplate"):
        spec = template["spec"]
        assert spec["podMetadata"] == pods["podMetadata"]
        assert spec["affinity"] == pods["affinity"] and spec["nodeSelector"] == {"workload": "batch"}
        assert spec["tolerations"] == pods["tolerations"]
        assert spec["imagePullSecrets"] == [{"name": "ghcr-pull"}, {"name": "mirror-pull"}]
        assert spec["securityContext"]["runAsNonRoot"] is True  # kept
        for name, container in step_containers(spec):
            env = [e["name"] for e in container["env"]]
            assert env[-3:] == ["HTTPS_PROXY", "NO_PROXY", "NODE_NAME"], name  # after the workflow's own
            assert container["env"][-1]["valueFrom"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    crons = {c["metadata"]["name"]: c["spec"]["workflowSpec"] for c in by_kind(docs, "CronWorkflow")}
    acme = crons["weekly-optimization-acme"]  # a workflowTemplateRef: the tenant's placement over the template's
    assert acme["nodeSelector"] == {"workload": "batch", "pool": "acme"}
    assert acme["tolerations"] == [*pods["tolerations"], {"key": "tenant", "operator": "Equal", "value": "acme", "effect": "NoSchedule"}]
    assert acme["podMetadata"]["labels"] == {"team": "ml-platform", "cost-center": "cc-1234", "tenant": "acme"}
    assert acme["podMetadata"]["annotations"] == pods["podMetadata"]["annotations"] and acme["affinity"] == pods["affinity"]
    assert crons["scheduled-maintenance-acme"]["nodeSelector"] == acme["nodeSelector"]  # a full spec: the same
    globex = crons["daily-optimization-check-globex"]
    assert globex["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"] == 10
    assert "podAntiAffinity" not in globex["affinity"] and globex["nodeSelector"] == {"workload": "batch"}
    plain = crons[cron_name("weekly-optimization", LONG_TENANT)]  # no own placement: the template's applies
    assert not {"nodeSelector", "tolerations", "affinity", "podMetadata"} & set(plain)
    long_maintenance = crons[cron_name("scheduled-maintenance", LONG_TENANT)]
    assert long_maintenance["affinity"] == pods["affinity"] and long_maintenance["tolerations"] == pods["tolerations"]


def test_cron_workflow_names_fit_argos_limit():
    """<= 52 characters (Argo's run name adds 11), DNS labels, unique, stable: the long
    tenant's (61-character id) names are cut to 43 characters plus an 8-digit hash; ids up to 63 too."""
    docs = docs_of(TENANTS)
    names = [c["metadata"]["name"] for c in by_kind(docs, "CronWorkflow")]
    long_names = [n for n in names if n.startswith(("weekly-optimization-initech", "daily-optimization-check-initech",
                                                       "scheduled-maintenance-initech"))]
    # 43 characters (one less when the cut ends in "-", which is dropped), "-", 8 hex digits.
    assert sorted(long_names) == [
        "daily-optimization-check-initech-research-a-87eec343",
        "scheduled-maintenance-initech-research-and-e112f353",
        "weekly-optimization-initech-research-and-de-c4c10eaa",
    ]
    assert all(n == cron_name(n.split("-initech")[0], LONG_TENANT) for n in long_names)
    # Tenant ids up to the 63-character limit, differing only in their last characters.
    ids = ["a", "b" * 27, "c" * 28, "d" * 63, "d" * 62 + "e", "d" * 61 + "-f", "x-" * 31 + "y"]
    crons = by_kind(documents(render({"tenants": [{"id": i} for i in ids]})), "CronWorkflow")
    names = [c["metadata"]["name"] for c in crons]
    assert len(names) == len(set(names)) == 3 * len(ids)
    for cron in crons:
        name = cron["metadata"]["name"]
        assert len(name) <= 52 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), name
        assert name == cron_name(cron["metadata"]["labels"]["cogniverse.io/cron-workflow"], cron["metadata"]["labels"]["tenant-id"])
    assert "weekly-optimization-" + "b" * 27 in names  # 47 characters: kept whole
    assert all(len(d["metadata"]["name"]) <= 52 for d in by_kind(docs_of("default"), "CronWorkflow"))


def test_an_existing_artifact_repository_is_referenced_not_created():
    docs = docs_of(TENANTS)
    assert not [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"] == "artifact-repositories"]
    assert [d["metadata"]["name"] for d in by_kind(docs, "ConfigMap")] == ["cogniverse-platform-config"]
    refs = [spec["artifactRepositoryRef"] for _, spec in workflow_specs(docs) if "artifactRepositoryRef" in spec]
    assert refs == [{"configMap": "artifact-repositories", "key": "platform-s3"}]  # module-optimization's
    notes = rendered_scenario(TENANTS)[0]["cogniverse-optimization/templates/NOTES.txt"]
    assert "artifact repository" not in notes and "Tenants (3): acme, globex, " + LONG_TENANT in notes
    assert by_kind(docs_of("default"), "ConfigMap")[0]["metadata"]["name"] in ("artifact-repositories", "cogniverse-optimization-config")


def test_name_overrides_rename_the_charts_own_objects_and_every_reference():
    docs = docs_of(TENANTS)
    assert one(docs, "Role", "cogniverse-platform-workflow") and one(docs, "RoleBinding", "cogniverse-platform-workflow")
    assert all(d["metadata"]["labels"]["app.kubernetes.io/name"] == "cogniverse" for d in docs)
    text = json.dumps(docs)
    assert "cogniverse-optimization-config" not in text  # volumes and configMapKeyRefs follow the ConfigMap
    volumes = [v for _, spec in workflow_specs(docs) for v in spec.get("volumes", []) if "configMap" in v]
    assert volumes and all(v["configMap"]["name"] == "cogniverse-platform-config" for v in volumes)
    # Without overrides: the names the workflow definitions use.
    default = docs_of("default")
    assert one(default, "Role", "cogniverse-optimization-workflow")
    assert one(default, "ConfigMap", "cogniverse-optimization-config")
    assert all(d["metadata"]["labels"]["app.kubernetes.io/name"] == "cogniverse-optimization" for d in default)


def test_a_single_tenant_install_has_no_tenant_objects():
    docs = docs_of("default")
    assert sorted(c["metadata"]["name"] for c in by_kind(docs, "CronWorkflow")) == sorted(defaults()["cronWorkflows"])
    for cron in by_kind(docs, "CronWorkflow"):
        assert "tenant-id" not in cron["metadata"]["labels"] and "workflowMetadata" not in cron["spec"]
        assert not {"nodeSelector", "tolerations", "affinity", "podMetadata"} & set(cron["spec"]["workflowSpec"])


BAD_TENANT_IDS = ["Acme", "-acme", "acme-", "ac_me", "acme.corp", "a" * 64, "", "acme corp", "ümlaut"]


@pytest.mark.parametrize("tenant", BAD_TENANT_IDS)
def test_the_chart_rejects_bad_tenant_ids_as_the_pipeline_does(tenant):
    from pipeline.errors import InvalidTenantError
    from pipeline.tenant import validate_tenant_id

    with pytest.raises(InvalidTenantError):
        validate_tenant_id(tenant)
    assert "/tenants/0/id" in rejected({"tenants": [{"id": tenant}]})


def test_the_chart_accepts_the_tenant_ids_the_pipeline_accepts():
    from pipeline.tenant import validate_tenant_id

    ids = ["a", "0", "acme", "acme-eu-1", "a" * 63]
    for tenant in ids:
        validate_tenant_id(tenant)
    assert len(by_kind(documents(render({"tenants": [{"id": t} for t in ids]})), "CronWorkflow")) == 3 * len(ids)


@pytest.mark.parametrize(
    "values, where",
    [
        ({"tenants": [{"id": "acme", "workflowParameters": {"tenant-id": "globex"}}]}, "tenant-id"),
        ({"tenants": [{"id": "acme", "cronWorkflows": {"weekly-optimisation": {"suspend": True}}}]}, "weekly-optimisation"),
        ({"tenants": [{"id": "acme", "tenant": "x"}]}, "tenant"),
        ({"tenants": [{"workflowParameters": {}}]}, "id"),
        ({"tenants": [{"id": "acme", "workflowPods": {"podSecurityContext": {"runAsUser": 0}}}]}, "podSecurityContext"),
        ({"tenants": [{"id": "acme", "cronWorkflows": {"daily-optimization-check": {"schedules": ["every day"]}}}]}, "schedules"),
        ({"workflowPods": {"affinity": {"nodeAfinity": {}}}}, "nodeAfinity"),
        ({"workflowPods": {"extraEnv": [{"name": "A", "value": "1", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}]}}, "extraEnv"),
        ({"workflowPods": {"extraEnv": [{"value": "1"}]}}, "extraEnv"),
        ({"workflowPods": {"podMetadata": {"labels": {"a": 1}}}}, "podMetadata"),
        ({"fullnameOverride": "Cogniverse_Platform"}, "fullnameOverride"),
    ],
)
def test_schema_rejects_bad_tenant_and_pod_values(values, where):
    assert where in rejected(values)


def test_render_rejects_duplicate_tenants_and_redefined_env():
    assert 'tenant id "acme" is listed twice' in rejected({"tenants": [{"id": "acme"}, {"id": "acme"}]})
    message = rejected({"workflowPods": {"extraEnv": [{"name": "HOME", "value": "/root"}]}})
    assert "HOME is set by the workflows themselves" in message
    message = rejected({"tenants": [{"id": "acme", "cronWorkflows": {"weekly-optimization": {"parameters": {"retention-days": 3}}}}]})
    assert "declares no parameter" in message and "retention-days" in message


def test_the_tenant_render_lints_strict(tmp_path):
    """No warnings either (`lint --strict`): the per-tenant objects add no raw `when` parameter."""
    from pipeline.argo.lint import lint

    argo = [d for d in docs_of(TENANTS) if d["apiVersion"].startswith(ARGO_GROUP)]
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump_all(argo, sort_keys=False))
    assert [str(f) for f in lint([path])] == []
