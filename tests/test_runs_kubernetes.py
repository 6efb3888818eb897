"""The run commands against a Kubernetes API: the real `kubernetes` client, a kubeconfig, and the
protocol-level API server of tests/k8s_server.py (REST paths, JSON shapes, watch streams,
Status errors) with a scripted controller. Nothing of the client is mocked."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.cli import main
from tests.k8s_server import KubeAPIServer, argo_pod_name, serve

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / "workflows"
FIXTURES = Path(__file__).resolve().parent / "runs_fixtures"


def documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.fixture
def api(tmp_path, monkeypatch) -> KubeAPIServer:
    # Nothing of this machine's own Kubernetes setup may leak in.
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    server = serve()
    for doc in documents(WORKFLOWS / "module-optimization.yaml") + documents(WORKFLOWS / "daily-optimization-check.yaml"):
        server.add(doc)
    for doc in documents(FIXTURES / "tiny-optimization.yaml"):
        server.add(doc)
    yield server
    server.stop()


@pytest.fixture
def kube(api, tmp_path):
    config = api.kubeconfig(tmp_path / "kubeconfig")

    def run(*argv: str) -> int:
        return main([*argv, "--kubeconfig", str(config)])

    return run


def created_workflows(api: KubeAPIServer) -> list[dict]:
    return [obj for (plural, _, _), obj in api.objects.items() if plural == "workflows"]


def test_submit_watch_outputs_from_the_workflow_template(api, kube, capsys):
    assert kube("submit", "--from", "workflowtemplate/module-optimization", "-p", "tenant-id=acme",
                "-p", "optimizer-type=routing", "-l", "team=search", "-o", "name") == 0
    name = capsys.readouterr().out.strip()
    assert name.startswith("module-optimization-") and len(name) == len("module-optimization-") + 5

    (created,) = created_workflows(api)
    assert created["metadata"]["name"] == name and created["metadata"]["namespace"] == "cogniverse"
    assert created["spec"] == {
        "workflowTemplateRef": {"name": "module-optimization"},
        "arguments": {"parameters": [{"name": "tenant-id", "value": "acme"}, {"name": "optimizer-type", "value": "routing"}]},
    }
    assert created["metadata"]["labels"] == {
        "workflows.argoproj.io/workflow-template": "module-optimization", "tenant-id": "acme", "team": "search",
    }
    assert api.calls("GET", "/workflowtemplates/module-optimization")  # read to build and check the workflow

    assert kube("watch", name) == 0
    lines = capsys.readouterr().out.splitlines()
    text = "\n".join(lines)
    assert f"{name} Running 0/1" in text and f"{name} Running 1/2" in text and f"{name} Succeeded 2/2" in text
    harvest_pod = argo_pod_name(name, f"{name}.harvest", "harvest")
    assert f"harvest (Pod harvest) Running pod {harvest_pod}" in text
    assert "✔ harvest (Pod harvest) Succeeded 12s" in text and "✔ gate (Pod gate) Succeeded 30s" in text
    assert lines[-1].endswith(f"✔ {name} Succeeded 2/2")
    watches = api.calls("GET", "/namespaces/cogniverse/workflows")
    assert any(q.get("watch") in ("true", "True") and q.get("fieldSelector") == f"metadata.name={name}" and q.get("resourceVersion")
               for q in watches)

    assert kube("outputs", name) == 0
    assert json.loads(capsys.readouterr().out) == {
        "improvements": {"routing": 7.5, "modality-video": None},
        "deployed": True,
        "report-location": f"s3://cogniverse-optimization/tenants/acme/runs/{name}/report/report.html",
    }
    assert kube("outputs", name, "--raw") == 0
    assert json.loads(capsys.readouterr().out)["deployed"] == "true"

    assert kube("get", name) == 0
    view = capsys.readouterr().out
    assert "Status:      Succeeded" in view and "Progress:    2/2" in view
    assert "  tenant-id: acme" in view and "  lookback-hours: 24" in view  # a default, from the stored template spec
    assert harvest_pod in view and argo_pod_name(name, f"{name}.gate", "gate") in view
    assert kube("get", "@latest", "-o", "json") == 0
    assert json.loads(capsys.readouterr().out)["metadata"]["name"] == name


def test_submit_watch_together_and_a_failed_run_exits_10(api, kube, capsys):
    assert kube("submit", "--from", "workflowtemplate/tiny-optimization", "-p", "fail=true", "--watch") == 10
    captured = capsys.readouterr()
    assert "Failed 0/1" in captured.out and "✖ harvest (Pod harvest) Failed 12s  Error (exit code 3)" in captured.out
    assert "error: workflow tiny-optimization-" in captured.err and "Failed: child" in captured.err
    assert kube("logs", "@latest", "harvest") == 0
    assert capsys.readouterr().out == "harvesting default\nharvest failed on purpose\n"


def test_submit_from_a_cron_workflow(api, kube, capsys):
    cron = api.objects[("cronworkflows", "cogniverse", "daily-optimization-check")]
    assert kube("submit", "--from", "cronwf/daily-optimization-check", "-p", "tenant-id=globex", "-o", "json") == 0
    created = json.loads(capsys.readouterr().out)
    meta = created["metadata"]
    assert meta["name"].startswith("daily-optimization-check-")
    assert meta["labels"]["workflows.argoproj.io/cron-workflow"] == "daily-optimization-check"
    assert meta["labels"]["tenant-id"] == "globex"
    assert "workflows.argoproj.io/scheduled-time" in meta["annotations"]
    assert meta["ownerReferences"] == [{"apiVersion": "argoproj.io/v1alpha1", "kind": "CronWorkflow", "name": "daily-optimization-check",
                                        "uid": cron["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]
    expected_spec = json.loads(json.dumps(cron["spec"]["workflowSpec"]))
    params = expected_spec["arguments"]["parameters"]
    expected_spec["arguments"]["parameters"] = [{"name": "tenant-id", "value": "globex"}] + [p for p in params if p["name"] != "tenant-id"]
    assert created["spec"] == expected_spec


def test_parameters_are_checked_before_anything_is_created(api, kube, capsys):
    assert kube("submit", "--from", "workflowtemplate/module-optimization", "-p", "tenant=acme") == 2
    assert "unknown workflow parameter 'tenant'" in capsys.readouterr().err
    assert kube("submit", "--from", "workflowtemplate/module-optimization", "-p", "use-synthetic-data=yes") == 2
    assert "must be one of true, false" in capsys.readouterr().err
    assert kube("submit", "--from", "workflowtemplate/module-optimization", "-p", "tenant-id=Not_A_Tenant") == 2
    assert "invalid tenant id" in capsys.readouterr().err
    assert kube("submit", "--from", "workflowtemplate/nope") == 7
    assert 'workflowtemplates.argoproj.io "nope" not found' in capsys.readouterr().err
    assert kube("submit", "--from", "job/x") == 2
    assert not created_workflows(api) and not api.calls("POST", "/workflows")


def test_submit_a_file_with_a_fixed_name_then_a_conflict(api, kube, capsys):
    path = WORKFLOWS / "batch-optimization.yaml"
    assert kube("submit", str(path), "--name", "batch-acme-1", "-p", "tenant-id=acme", "-o", "name") == 0
    assert capsys.readouterr().out.strip() == "batch-acme-1"
    (created,) = created_workflows(api)
    assert created["spec"]["workflowTemplateRef"] == {"name": "module-optimization"}
    assert created["metadata"]["labels"] == {"workflow-type": "optimization", "tenant-id": "acme"}
    assert kube("submit", str(path), "--name", "batch-acme-1", "-p", "tenant-id=acme") == 6
    assert "already exists" in capsys.readouterr().err


def test_list_filters_by_label_tenant_and_phase_and_pages(api, kube, capsys, monkeypatch):
    import pipeline.runs.kube

    monkeypatch.setattr(pipeline.runs.kube, "LIST_PAGE", 2)  # make the client follow `continue`
    for tenant in ("acme", "acme", "globex"):
        assert kube("submit", "--from", "workflowtemplate/module-optimization", "-p", f"tenant-id={tenant}", "-o", "name") == 0
    assert kube("submit", "--from", "workflowtemplate/tiny-optimization", "-l", "workflow-type=experiment", "-o", "name") == 0
    names = capsys.readouterr().out.split()
    for name in names:
        api.advance("cogniverse", name)  # the controller's first look: the template's workflowMetadata labels
    api.add({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
             "metadata": {"name": "by-hand", "labels": {"workflow-type": "optimization"}},
             "spec": {"arguments": {"parameters": [{"name": "tenant-id", "value": "acme"}]}},
             "status": {"phase": "Succeeded"}})

    assert kube("list", "-l", "workflow-type=optimization", "-o", "name") == 0
    assert set(capsys.readouterr().out.split()) == {*names[:3], "by-hand"}
    assert kube("list", "-l", "workflow-type=optimization", "--tenant", "acme", "-o", "name") == 0
    assert set(capsys.readouterr().out.split()) == {*names[:2], "by-hand"}  # label, or the parameter of one submitted otherwise
    assert kube("list", "--phase", "Succeeded", "-o", "name") == 0
    assert capsys.readouterr().out.split() == ["by-hand"]
    assert kube("list", "-l", "workflow-type in (experiment)") == 0
    table = capsys.readouterr().out
    assert names[3] in table and "NAME" in table.splitlines()[0] and names[0] not in table
    lists = [q for q in api.calls("GET", "/namespaces/cogniverse/workflows") if "watch" not in q]
    assert any(q.get("labelSelector") == "workflow-type=optimization" for q in lists)
    assert any(q.get("continue") for q in lists)  # more than one page was read
    assert kube("list", "-l", "bad key=x") == 2


def test_logs_by_node_and_for_the_whole_workflow(api, kube, capsys):
    assert kube("submit", "--from", "workflowtemplate/module-optimization", "-p", "tenant-id=acme", "--watch", "-o", "name") == 0
    name = capsys.readouterr().out.splitlines()[0]
    assert kube("logs", name, "gate") == 0
    assert capsys.readouterr().out == "gating 42 experiences\npromoted routing v3\n"
    assert kube("logs", name) == 0
    out = capsys.readouterr().out
    harvest, gate = argo_pod_name(name, f"{name}.harvest", "harvest"), argo_pod_name(name, f"{name}.gate", "gate")
    assert out.index(f"==> harvest ({harvest}) <==") < out.index("read 42 spans") < out.index(f"==> gate ({gate}) <==")
    assert all(q.get("container") == "main" for q in api.calls("GET", "/log"))
    assert kube("logs", name, "train") == 7
    assert "has no node 'train' (pod nodes: gate, harvest)" in capsys.readouterr().err
    del api.pods[("cogniverse", gate)]  # podGC deleted it
    assert kube("logs", name, "gate") == 7
    assert "deleted by the workflow's podGC" in capsys.readouterr().err


def test_offloaded_node_status_is_said_plainly(api, kube, capsys):
    api.controller.offload = True
    assert kube("submit", "--from", "workflowtemplate/module-optimization", "-p", "tenant-id=acme", "--watch", "-o", "name") == 0
    out = capsys.readouterr().out
    name = out.splitlines()[0]
    assert out.count("nodes unavailable: node status is offloaded to the Argo server's database") == 1
    assert f"{name} Succeeded 2/2" in out
    assert kube("get", name) == 0
    view = capsys.readouterr().out
    assert "Nodes: unavailable: node status is offloaded" in view and "argo get" in view and "STEP" not in view
    assert kube("outputs", name) == 0
    assert json.loads(capsys.readouterr().out)["deployed"] is True
    # Without the node table the pods are found by their workflow label.
    assert kube("logs", name) == 0
    logs = capsys.readouterr().out
    assert "harvesting acme" in logs and "gating 42 experiences" in logs
    assert any(q.get("labelSelector") == f"workflows.argoproj.io/workflow={name}" for q in api.calls("GET", "/api/v1/namespaces/cogniverse/pods"))


def test_watch_resumes_from_its_resource_version_and_after_410(api, kube, capsys):
    api.max_events_per_watch = 1  # every watch request ends after one event
    api.advance_on_get = False  # the three changes to come all arrive through watches, however many GETs
    assert kube("submit", "--from", "workflowtemplate/module-optimization", "-o", "name") == 0
    name = capsys.readouterr().out.strip()
    assert kube("watch", name) == 0
    assert f"{name} Succeeded 2/2" in capsys.readouterr().out
    versions = [int(q["resourceVersion"]) for q in api.calls("GET", "/workflows") if q.get("watch") and q.get("resourceVersion")]
    assert len(versions) >= 2 and versions == sorted(versions) and len(set(versions)) == len(versions)

    api.max_events_per_watch, api.advance_on_get = None, True
    assert kube("submit", "--from", "workflowtemplate/module-optimization", "-o", "name") == 0
    second = capsys.readouterr().out.strip()
    api.compacted_below = 10**9  # every version a client can hold is "too old"
    before = len(api.calls("GET", f"/workflows/{second}"))
    assert kube("watch", second) == 0
    assert f"{second} Succeeded 2/2" in capsys.readouterr().out
    assert len(api.calls("GET", f"/workflows/{second}")) >= before + 3  # re-read after each 410


def test_api_errors_map_to_exit_codes(api, kube, tmp_path, capsys):
    assert kube("get", "no-such-workflow") == 7
    assert 'workflows.argoproj.io "no-such-workflow" not found' in capsys.readouterr().err

    wrong = api.kubeconfig(tmp_path / "wrong-token", token="expired")
    assert main(["list", "--kubeconfig", str(wrong)]) == 2
    assert "refused the credentials" in capsys.readouterr().err

    api.forbid("create", "workflows")
    assert kube("submit", "--from", "workflowtemplate/module-optimization") == 2
    err = capsys.readouterr().err
    assert 'cannot create resource "workflows" in API group "argoproj.io"' in err and "kubectl auth can-i create" in err

    api.fail_next(2, 503)  # transient: retried
    assert kube("list", "-o", "name") == 0
    capsys.readouterr()
    api.fail_next(5, 500)
    assert kube("get", "anything") == 9
    assert "failed reading Workflow anything (500)" in capsys.readouterr().err

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gone = tmp_path / "gone"
    gone.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "u", "user": {"token": "t"}}], "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }))
    assert main(["get", "x", "--kubeconfig", str(gone)]) == 9
    assert f"the Kubernetes API at http://127.0.0.1:{port} is unreachable" in capsys.readouterr().err


def test_no_kubernetes_configuration_is_bad_input(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert main(["list"]) == 2
    assert "no Kubernetes configuration" in capsys.readouterr().err
    assert main(["list", "--kubeconfig", str(tmp_path / "missing")]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "broken").write_text("clusters: [")
    assert main(["list", "--kubeconfig", str(tmp_path / "broken")]) == 2


def test_the_stages_do_not_import_kubernetes():
    probe = (
        "import sys\n"
        "from pipeline.cli import main\n"
        "code = main(['harvest', '--tenant', 'Bad_Tenant', '--run-id', 'r1'])\n"
        "assert code == 2, code\n"
        "assert 'kubernetes' not in sys.modules and 'pipeline.runs.kube' not in sys.modules, 'kubernetes was imported'\n"
        "assert not any(m.startswith('opentelemetry') for m in sys.modules), 'opentelemetry was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
