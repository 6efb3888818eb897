"""The run commands with --local, for real on one machine: `submit` starts the local Argo executor
on the rendered YAML as a detached process; get/list/watch/outputs/logs read its status document
and node logs while it runs and after."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
import yaml

from pipeline.cli import main

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "runs_fixtures"


@pytest.fixture
def local(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    # The steps' `cogniverse-optimize` imports this checkout's pipeline (not wherever the venv's
    # editable install points, e.g. another worktree).
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    state = tmp_path / "argo"

    def run(*argv: str, workflows: Path = FIXTURES) -> int:
        extra = ["--workflows", str(workflows)] if argv[0] == "submit" else []
        return main([*argv, "--local", "--state-dir", str(state), *extra])

    run.state = state  # type: ignore[attr-defined]
    return run


def test_submit_watch_outputs_locally(local, capsys):
    assert local("submit", "--from", "workflowtemplate/tiny-optimization", "-p", "tenant-id=acme", "-o", "name") == 0
    name = capsys.readouterr().out.strip()
    assert name.startswith("tiny-optimization-") and len(name) == len("tiny-optimization-") + 5
    manifest = yaml.safe_load((local.state / "submitted" / f"{name}.yaml").read_text())
    assert manifest["spec"]["workflowTemplateRef"] == {"name": "tiny-optimization"}
    assert manifest["metadata"]["labels"]["tenant-id"] == "acme"

    assert local("watch", name) == 0
    out = capsys.readouterr().out
    assert f"{name} Running" in out  # seen while it ran, not only at the end
    assert "✔ harvest (Pod harvest) Succeeded" in out and "✔ gate (Pod gate) Succeeded" in out
    assert out.strip().splitlines()[-1].endswith(f"✔ {name} Succeeded 2/2")

    assert local("outputs", name) == 0
    assert json.loads(capsys.readouterr().out) == {
        "improvements": {"routing": 7.5},
        "deployed": True,
        "report-location": f"file:///store/tenants/acme/runs/{name}/report/report.html",
    }
    assert local("get", "@latest") == 0
    view = capsys.readouterr().out
    assert f"Name:        {name}" in view and "Status:      Succeeded" in view and "  optimizer-type: routing" in view
    assert local("logs", name) == 0
    logs = capsys.readouterr().out
    assert logs.index("harvesting acme") < logs.index("gating 42 experiences for routing")


def test_a_cron_workflow_locally_failing_listing_and_logs(local, capsys):
    assert local("submit", "--from", "cronwf/tiny-nightly", "-p", "fail=true", "--watch", "-o", "name") == 10
    captured = capsys.readouterr()
    name = captured.out.splitlines()[0]
    assert name.startswith("tiny-nightly-") and "✖ harvest (Pod harvest) Failed" in captured.out
    assert f"workflow {name} Failed" in captured.err
    assert local("submit", "--from", "workflowtemplate/tiny-optimization", "-p", "tenant-id=acme", "--watch", "-o", "name") == 0
    other = capsys.readouterr().out.splitlines()[0]

    assert local("list", "-l", "workflows.argoproj.io/cron-workflow=tiny-nightly,schedule=nightly", "-o", "name") == 0
    assert capsys.readouterr().out.split() == [name]
    assert local("list", "--tenant", "acme", "-o", "name") == 0
    assert capsys.readouterr().out.split() == [other]
    assert local("list", "--phase", "Failed", "--phase", "Error", "-o", "name") == 0
    assert capsys.readouterr().out.split() == [name]
    assert local("list") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[1].startswith(other) and table[2].startswith(name) and "globex" in table[2]  # newest first
    assert local("logs", name, "harvest") == 0
    assert capsys.readouterr().out == "harvesting globex\nharvest failed on purpose\n"


def test_the_real_maintenance_cron_workflow_runs_locally(local, tmp_path, capsys):
    """`--from cronwf/scheduled-maintenance` from the repository's rendered YAML: the real
    `cogniverse-optimize maintenance` step against a local store."""
    configmap = tmp_path / "configmap"
    configmap.mkdir()
    (configmap / "config.yaml").write_text(yaml.safe_dump({"storage": {"url": f"file://{tmp_path / 'store'}"}}))
    code = local("submit", "--from", "cronwf/scheduled-maintenance", "-p", "tenant-id=acme", "-p", "retention-days=7",
                 "--configmap", f"cogniverse-optimization-config={configmap}", "--watch", "-o", "name", workflows=REPO / "workflows")
    out = capsys.readouterr().out
    assert code == 0, out
    name = out.splitlines()[0]
    assert local("list", "-l", "workflow-type=optimization", "--tenant", "acme", "-o", "name") == 0
    assert capsys.readouterr().out.split() == [name]  # the label the controller takes from workflowMetadata
    assert local("logs", name) == 0
    result = json.loads(capsys.readouterr().out.split("<==\n", 1)[1])
    assert result["status"] == "ok" and result["retention_days"] == 7.0


def test_local_errors(local, tmp_path, capsys):
    assert local("get", "nothing-here") == 7
    assert "no workflow nothing-here" in capsys.readouterr().err
    assert local("submit", "--from", "workflowtemplate/nope") == 7
    err = capsys.readouterr().err
    assert "no WorkflowTemplate nope" in err and "WorkflowTemplate/tiny-optimization" in err  # it says what there is
    assert local("submit", "--from", "workflowtemplate/tiny-optimization", "-p", "optimizer-type=everything") == 2
    assert "must be one of routing, modality, all" in capsys.readouterr().err
    assert local("watch", "@latest") == 7  # nothing ran yet

    refused = tmp_path / "refused.yaml"
    refused.write_text(yaml.safe_dump({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"generateName": "refused-"},
        "spec": {"entrypoint": "main", "templates": [{"name": "main", "resource": {"action": "create", "manifest": "{}"}}]},
    }))
    assert local("submit", str(refused)) == 2
    assert "the local executor refused workflow refused-" in capsys.readouterr().err

    assert local("submit", "--from", "workflowtemplate/tiny-optimization", "-o", "name", "--name", "fixed") == 0
    capsys.readouterr()
    assert local("watch", "fixed") == 0
    capsys.readouterr()
    assert local("submit", "--from", "workflowtemplate/tiny-optimization", "--name", "fixed") == 2
    assert "already ran" in capsys.readouterr().err


def test_watch_notices_an_executor_that_was_killed(local, tmp_path, capsys):
    slow = tmp_path / "slow.yaml"
    slow.write_text(yaml.safe_dump({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "slow"},
        "spec": {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "alpine", "command": ["sleep", "30"]}}]},
    }))
    assert local("submit", str(slow), "-o", "name") == 0
    capsys.readouterr()
    pid = int((local.state / "submitted" / "slow.pid").read_text())
    os.killpg(os.getpgid(pid), signal.SIGKILL)  # the executor and its pod, as a crash would
    started = time.monotonic()
    assert local("watch", "slow") == 1
    assert "the local executor of workflow slow is gone" in capsys.readouterr().err
    assert time.monotonic() - started < 10


def test_the_rollback_template_restores_the_previous_version_locally(local, tmp_path, capsys):
    """Promote twice, then `submit --from workflowtemplate/module-rollback` (the repository's
    rendered YAML, the real `cogniverse-optimize rollback` and `history` steps): production
    serves the first artifact again, as a new sequence; a second run with `to` goes forward."""
    from pipeline import promotion
    from pipeline.config import StorageConfig
    from pipeline.layout import stage_prefix
    from pipeline.storage import open_store

    store = open_store(StorageConfig(url=f"file://{tmp_path / 'store'}"))
    prefixes = []
    for run in ("run-a", "run-b"):
        prefix = f"{stage_prefix('acme', run, 'train')}/routing"
        store.put_json_new(f"{prefix}/program.json", {"run": run})
        store.put_json_new(f"{prefix}/metadata.json", {"run": run})
        promotion.promote(store, "acme", "routing", artifact_prefix=prefix, run_id=run, metrics={"accuracy": 0.5},
                          reason=f"promote {run}", expected="read")
        prefixes.append(prefix)
    assert promotion.current(store, "acme", "routing").artifact_prefix == prefixes[1]

    configmap = tmp_path / "configmap"
    configmap.mkdir()
    (configmap / "config.yaml").write_text(yaml.safe_dump({"storage": {"url": f"file://{tmp_path / 'store'}"}}))

    def submit(*parameters: str) -> str:
        code = local("submit", "--from", "workflowtemplate/module-rollback", "-p", "tenant-id=acme", "-p", "target=routing",
                     *(x for p in parameters for x in ("-p", p)),
                     "--configmap", f"cogniverse-optimization-config={configmap}", "--watch", "-o", "name",
                     workflows=REPO / "workflows")
        out = capsys.readouterr().out
        assert code == 0, out
        return out.splitlines()[0]

    name = submit()
    assert name.startswith("module-rollback-")
    now = promotion.current(store, "acme", "routing")
    assert (now.sequence, now.action, now.restored_sequence, now.artifact_prefix) == (3, "rollback", 1, prefixes[0])
    assert local("logs", name, "history") == 0
    assert "rollback from sequence 2 to sequence 1" in capsys.readouterr().out  # the history step ran after it

    submit("to=2")  # back to run-b
    now = promotion.current(store, "acme", "routing")
    assert (now.sequence, now.restored_sequence, now.artifact_prefix) == (4, 2, prefixes[1])

    # Nothing to roll back to for another target: the rollback step fails with exit 7, no retry.
    code = local("submit", "--from", "workflowtemplate/module-rollback", "-p", "tenant-id=acme", "-p", "target=modality-video",
                 "--configmap", f"cogniverse-optimization-config={configmap}", "--watch", "-o", "name",
                 workflows=REPO / "workflows")
    assert code == 10
    assert "✖ rollback" in capsys.readouterr().out
    # A target the template does not know is refused before anything runs.
    assert local("submit", "--from", "workflowtemplate/module-rollback", "-p", "tenant-id=acme", "-p", "target=nope",
                 workflows=REPO / "workflows") == 2
    capsys.readouterr()


def test_a_chart_rendered_tenant_cron_workflow_runs_locally(local, tmp_path, capsys):
    """The Helm chart's per-tenant CronWorkflow (three tenants, customised pods, renamed
    ConfigMap) through the local executor: the maintenance step of tenant acme runs for acme,
    and its run carries the tenant label. (The scenario's `fieldRef` env is cluster-only: the
    local executor resolves ConfigMap and Secret refs, not pod fields, so it is left out here.)"""
    import helm_python

    values = yaml.safe_load((REPO / "tests" / "chart-scenarios" / "three-tenants-custom-pods.yaml").read_text())
    values["workflowPods"]["extraEnv"] = [e for e in values["workflowPods"]["extraEnv"] if "valueFrom" not in e]
    rendered = helm_python.Chart.load(str(REPO / "charts" / "cogniverse-optimization")).render(
        values, name="cogniverse", namespace="ml-workflows", is_install=True)
    workflows = tmp_path / "rendered"
    workflows.mkdir()
    for path, text in rendered.items():
        for doc in yaml.safe_load_all(text) if path.endswith(".yaml") else ():
            if doc and doc["apiVersion"].startswith("argoproj.io/"):
                (workflows / f"{doc['metadata']['name']}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    configmap = tmp_path / "configmap"
    configmap.mkdir()
    (configmap / "config.yaml").write_text(yaml.safe_dump({"storage": {"url": f"file://{tmp_path / 'store'}"}}))
    code = local("submit", "--from", "cronwf/scheduled-maintenance-acme", "--configmap", f"cogniverse-platform-config={configmap}",
                 "--watch", "-o", "name", workflows=workflows)
    out = capsys.readouterr().out
    assert code == 0, out
    name = out.splitlines()[0]
    assert name.startswith("scheduled-maintenance-acme-")
    assert local("list", "--tenant", "acme", "-l", "tenant-id=acme", "-o", "name") == 0
    assert capsys.readouterr().out.split() == [name]
    assert local("logs", name) == 0
    result = json.loads(capsys.readouterr().out.split("<==\n", 1)[1])
    assert result["status"] == "ok" and result["retention_days"] == 60.0  # acme's own workflowParameters
