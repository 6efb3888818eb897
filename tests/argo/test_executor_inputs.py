"""Artifacts, environment (ConfigMaps, Secrets), WorkflowTemplates, workflowTemplateRef, crons."""

from __future__ import annotations

import base64
import gzip
import json
import tarfile
from pathlib import Path

import pytest
import yaml

from pipeline.argo.loader import WorkflowLoadError
from tests.argo.executor_support import WORKFLOWS, node, run_fixture, venv_python_first  # noqa: F401


def test_artifacts_pass_through_the_local_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    result = run_fixture("artifact-passing.yaml", tmp_path, artifact_root=repo)

    assert result.phase == "Succeeded", result.message
    # archive: none stores the file as is; the default archive is a gzipped tarball.
    assert (repo / "runs/artifact-passing/hello.txt").read_text() == "hello world\n"
    with gzip.open(repo / "runs/artifact-passing/tree.tgz") as zipped, tarfile.open(fileobj=zipped) as tar:
        assert sorted(tar.getnames()) == ["tree", "tree/sub", "tree/sub/leaf.txt"]
    generate = node(result, "generate-artifact")
    assert {a["name"]: a["s3"]["key"] for a in generate["outputs"]["artifacts"]} == {
        "hello-art": "runs/artifact-passing/hello.txt",
        "tree": "runs/artifact-passing/tree.tgz",
    }
    consume = node(result, "consume-artifact")
    assert consume["outputs"]["result"] == "hello world\nleaf"
    assert consume["inputs"]["artifacts"][0] == {"name": "message", "s3": {"key": "runs/artifact-passing/hello.txt"}}


def test_environment_from_values_configmaps_and_secrets(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pipeline-config"},
        "data": {"phoenix-url": "http://127.0.0.1:6006", "region": "eu", "log-level": "DEBUG"},
    }))
    secret = tmp_path / "secret.yaml"
    secret.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s3-credentials"},
        "data": {"access-key": base64.b64encode(b"AKIA-local").decode()},
    }))
    result = run_fixture(
        "env-config.yaml", tmp_path,
        parameters={"dir": str(tmp_path)},
        configmaps={"pipeline-config": config},
        secrets={"s3-credentials": secret},
    )

    assert result.phase == "Succeeded", result.message
    env = json.loads((tmp_path / "env.json").read_text())
    assert env == {
        "PLAIN": "plain-env-config",
        "FROM_CONFIGMAP": "http://127.0.0.1:6006",
        "FROM_SECRET": "AKIA-local",
        "CFG_region": "eu",
        "OPTIONAL_MISSING": None,
        "LOG_LEVEL": "DEBUG",
        "cwd": str(tmp_path),
        "has_path": True,
    }


def test_plain_mapping_files_and_secret_directories(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("phoenix-url: http://phoenix:6006\nregion: us\nlog-level: INFO\n")
    secret_dir = tmp_path / "secret"
    secret_dir.mkdir()
    (secret_dir / "access-key").write_text("from-a-file")
    result = run_fixture(
        "env-config.yaml", tmp_path,
        parameters={"dir": str(tmp_path)},
        configmaps={"pipeline-config": config},
        secrets={"s3-credentials": secret_dir},
    )

    assert result.phase == "Succeeded", result.message
    env = json.loads((tmp_path / "env.json").read_text())
    assert (env["FROM_CONFIGMAP"], env["FROM_SECRET"], env["CFG_region"], env["LOG_LEVEL"]) == (
        "http://phoenix:6006", "from-a-file", "us", "INFO",
    )


def test_workflow_template_runs_with_parameters(tmp_path: Path) -> None:
    result = run_fixture("workflow-template.yaml", tmp_path, parameters={"dir": str(tmp_path), "category": "dspy"})

    assert result.phase == "Succeeded", result.message
    assert result.name.startswith("greeting-template-")
    assert (tmp_path / "greeting").read_text() == f"default dspy {result.name}\n"
    meta = result.status["metadata"]
    assert meta["labels"]["workflows.argoproj.io/workflow-template"] == "greeting-template"
    assert {"name": "category", "value": "dspy"} in result.status["spec"]["arguments"]["parameters"]


def test_workflow_template_ref_resolves_from_the_templates_files(tmp_path: Path) -> None:
    result = run_fixture(
        "workflow-template-ref.yaml", tmp_path,
        templates=[WORKFLOWS / "workflow-template.yaml"],
        parameters={"dir": str(tmp_path)},
    )

    assert result.phase == "Succeeded", result.message
    assert result.name.startswith("greeting-")
    assert (tmp_path / "greeting").read_text() == f"acme routing {result.name}\n"


def test_cron_workflow_runs_as_if_triggered_now(tmp_path: Path) -> None:
    result = run_fixture(
        "cron-workflow.yaml", tmp_path,
        templates=[WORKFLOWS / "workflow-template.yaml"],
        parameters={"dir": str(tmp_path)},
    )

    assert result.phase == "Succeeded", result.message
    prefix, _, stamp = result.name.rpartition("-")
    assert prefix == "weekly-greeting" and stamp.isdigit()
    assert (tmp_path / "greeting").read_text() == f"weekly dspy {result.name}\n"
    labels = result.status["metadata"]["labels"]
    assert labels == {"workflow-type": "optimization", "workflows.argoproj.io/cron-workflow": "weekly-greeting"}


def test_volumes_emptydir_configmap_and_secret(tmp_path: Path) -> None:
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "config.yaml").write_text("storage: file:///data\n")  # kubectl --from-file style
    (config_dir / "unlisted").write_text("not mounted: items names config.yaml only\n")
    token = tmp_path / "token.yaml"
    token.write_text("token: s3cr3t\n")
    result = run_fixture(
        "volumes.yaml", tmp_path, parameters={"dir": str(tmp_path)},
        configmaps={"app-config": config_dir}, secrets={"app-token": token},
    )

    assert result.phase == "Succeeded", result.message
    pods = sorted((n for n in result.status["status"]["nodes"].values() if n["type"] == "Pod"), key=lambda n: n["name"])
    assert len(pods) == 2
    for index, pod in enumerate(pods, start=1):
        values = {p["name"]: p["value"] for p in pod["outputs"]["parameters"]}
        assert values["mine"] == str(index)  # the two concurrent pods each had their own /tmp
        assert values["config"] == "storage: file:///data"
        assert values["token"] == "s3cr3t"
        assert values["optional-files"].strip() == "0"
        assert values["home"] == str(result.run_dir / "nodes" / pod["id"] / "fs" / "tmp")


def test_volume_from_a_missing_configmap_is_a_load_error(tmp_path: Path) -> None:
    import pytest

    from pipeline.argo.loader import WorkflowLoadError

    with pytest.raises(WorkflowLoadError) as caught:
        run_fixture("volumes.yaml", tmp_path, parameters={"dir": str(tmp_path)}, secrets={"app-token": tmp_path})
    assert "spec.volumes[config].configMap: configmap 'app-config' not given: pass --configmap app-config=FILE" in str(caught.value)


def test_workflow_artifact_arguments_reach_the_entrypoint(tmp_path: Path) -> None:
    """Argo's examples/arguments-artifacts.yaml, with a raw artifact instead of an http one."""
    doc = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "arguments-artifacts"},
        "spec": {
            "entrypoint": "kubectl-input-artifact",
            "arguments": {"artifacts": [{"name": "kubectl", "raw": {"data": "#!/bin/sh\necho from {{workflow.name}}\n"}}]},
            "templates": [{
                "name": "kubectl-input-artifact",
                "inputs": {"artifacts": [{"name": "kubectl", "path": "/usr/local/bin/kubectl", "mode": 0o755}]},
                "container": {"image": "debian:9.4", "command": ["sh", "-c"], "args": ["/usr/local/bin/kubectl"]},
            }],
        },
    }
    path = tmp_path / "arguments-artifacts.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = run_fixture(str(path), tmp_path)

    assert result.phase == "Succeeded", result.message
    assert node(result, "arguments-artifacts")["outputs"]["result"] == "from arguments-artifacts"


def test_workflow_and_its_template_in_one_multi_document_file(tmp_path: Path) -> None:
    both = tmp_path / "both.yaml"
    both.write_text((WORKFLOWS / "workflow-template.yaml").read_text() + "---\n" + (WORKFLOWS / "workflow-template-ref.yaml").read_text())

    result = run_fixture(str(both), tmp_path, parameters={"dir": str(tmp_path)})
    assert result.phase == "Succeeded" and result.name.startswith("greeting-")  # the Workflow, not the template

    chosen = run_fixture(str(both), tmp_path, parameters={"dir": str(tmp_path)}, name="greeting-template")
    assert chosen.name.startswith("greeting-template-")
    assert (tmp_path / "greeting").read_text().startswith("default routing greeting-template-")


def test_script_file_is_executable_and_follows_the_args(tmp_path: Path) -> None:
    result = run_fixture("script-args.yaml", tmp_path)

    assert result.phase == "Succeeded", result.message
    # command + args + [script]: `sh -c CMD first second <script>` sees $0=first $1=second $2=script.
    assert node(result, "with-args")["outputs"]["result"] == "argv: first second\nsourced"
    # `env <script>` executes the file itself: it needs its execute bit, as Argo gives it (0755).
    assert node(result, "executable")["outputs"]["result"] == "ran as a program"


def test_template_ref_inline_and_template_defaults(tmp_path: Path) -> None:
    result = run_fixture("template-ref.yaml", tmp_path, templates=[WORKFLOWS / "library" / "shared-templates.yaml"])

    assert result.phase == "Succeeded", result.message
    assert node(result, "say-it")["outputs"]["result"] == "shared: hi!"
    assert node(result, "say-it")["templateName"] == "say"  # Argo shows the template's own name
    assert node(result, "cluster")["outputs"]["result"] == "cluster: hi"
    assert node(result, "inline")["outputs"]["result"] == "inline yes"
    # The library file's ConfigMap document stands for the object applied to the cluster.
    assert node(result, "configmap")["outputs"]["result"] == "hello from a ConfigMap document"


def test_a_missing_template_ref_is_named(tmp_path: Path) -> None:
    with pytest.raises(WorkflowLoadError) as caught:
        run_fixture("template-ref.yaml", tmp_path)
    assert "dag.tasks[shared].templateRef: WorkflowTemplate 'shared-say' not found: pass its file with --templates" in str(caught.value)


def test_artifact_argument_sub_path(tmp_path: Path) -> None:
    result = run_fixture("artifact-subpath.yaml", tmp_path, artifact_root=tmp_path / "repo")

    assert result.phase == "Succeeded", result.message
    assert node(result, "plain")["outputs"]["result"] == "hello"
    assert node(result, "tarred")["outputs"]["result"] == "hello"
