"""The CLI maps typed errors to exit codes, in one place."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.cli import main


@pytest.fixture
def config_file(tmp_path):
    def make(**sections):
        data = {"storage": {"url": f"file://{tmp_path / 'store'}"}, "retry_attempts": 1, "retry_backoff_s": 0.01, **sections}
        path = tmp_path / "config.yaml"
        path.write_text(json.dumps(data))
        return str(path)

    return make


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("tenant", ["../x", "a/b", "x" * 200, "Acme"])
def test_bad_tenant_is_exit_2_before_touching_anything(tenant, config_file, tmp_path, capsys):
    code = main(["harvest", "--config", config_file(), "--tenant", tenant, "--run-id", "r1"])
    assert code == 2
    assert "invalid tenant id" in capsys.readouterr().err
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").rglob("*"))


def test_unreachable_phoenix_is_exit_3(config_file, capsys):
    cfg = config_file(phoenix={"endpoint": f"http://127.0.0.1:{closed_port()}", "timeout_s": 1})
    code = main(["harvest", "--config", cfg, "--tenant", "acme", "--run-id", "r1"])
    assert code == 3
    assert "127.0.0.1" in capsys.readouterr().err


def test_a_404_for_everything_endpoint_is_exit_3_and_the_run_id_stays_usable(config_file, tmp_path, phoenix_url, capsys):
    """A wrong Phoenix URL must not commit "skipped: insufficient data" under the run id: the
    re-run against the right endpoint must still harvest."""
    import uuid

    from tests.http_servers import answering

    tenant = f"t-{uuid.uuid4().hex[:8]}"  # a project no test sends spans to
    result_key = tmp_path / "store" / "tenants" / tenant / "runs" / "r1" / "harvest" / "result.json"
    with answering(404, "<html><h1>404 Not Found</h1></html>") as wrong:
        code = main(["harvest", "--config", config_file(phoenix={"endpoint": wrong}), "--tenant", tenant, "--run-id", "r1"])
    assert code == 3
    assert wrong in capsys.readouterr().err
    assert not result_key.exists()
    code = main(["harvest", "--config", config_file(phoenix={"endpoint": phoenix_url}), "--tenant", tenant, "--run-id", "r1"])
    assert code == 0 and result_key.exists()
    assert json.loads(capsys.readouterr().out)["status"] == "skipped"  # a project Phoenix does not have


def test_missing_prerequisite_is_exit_7(config_file, capsys):
    code = main(["evaluate", "--config", config_file(), "--tenant", "acme", "--run-id", "r1", "--target", "routing"])
    assert code == 7
    assert "train has not completed" in capsys.readouterr().err


def test_bad_config_and_bad_target_are_exit_2(config_file, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("storage: [unclosed")
    assert main(["report", "--config", str(bad), "--tenant", "acme", "--run-id", "r1"]) == 2
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("storage: {urll: x}")
    assert main(["report", "--config", str(unknown), "--tenant", "acme", "--run-id", "r1"]) == 2
    assert main(["train", "--config", config_file(), "--tenant", "acme", "--run-id", "r1", "--target", "modality-smell"]) == 2
    assert main(["nonsense"]) == 2


def test_rollback_with_nothing_in_production_is_exit_7(config_file, capsys):
    assert main(["rollback", "--config", config_file(), "--tenant", "acme", "--target", "routing"]) == 7


def test_report_writes_the_result_file(config_file, tmp_path, capsys):
    result_file = tmp_path / "out" / "result.json"
    assert main(["report", "--config", config_file(), "--tenant", "acme", "--run-id", "r1", "--result-file", str(result_file)]) == 0
    result = json.loads(result_file.read_text())
    assert result["run_id"] == "r1" and result["targets"] == [] and Path(result["report_path"]).is_file()


def test_console_script_help_works_without_heavy_imports():
    code = "import sys, pipeline.cli; pipeline.cli.main(['--help']); print(sorted(m for m in ('dspy', 'phoenix', 'xgboost') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().endswith("[]"), out.stdout + out.stderr


def test_stages_that_do_not_need_dspy_do_not_import_it():
    code = (
        "import sys\n"
        "import pipeline.cli, pipeline.stages.harvest, pipeline.stages.gate, pipeline.stages.report, pipeline.phoenix_io, pipeline.promotion\n"
        "print(sorted(m for m in ('dspy', 'litellm', 'phoenix.server', 'xgboost') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_outputs_dir_holds_one_file_per_field_and_record_runs_after_failure(config_file, tmp_path):
    outputs = tmp_path / "outputs"
    assert main(["report", "--config", config_file(), "--tenant", "acme", "--run-id", "r1", "--outputs-dir", str(outputs)]) == 0
    assert (outputs / "any-deployed").read_text() == "false"
    assert json.loads((outputs / "improvements").read_text()) == {}
    assert (outputs / "report-location").read_text().endswith("tenants/acme/runs/r1/report/report.html")
    record_dir = tmp_path / "record"
    failures = '[{"displayName": "harvest", "message": "exit 3"}]'
    args = ["record", "--config", config_file(), "--tenant", "acme", "--run-id", "r1", "--status", "Failed", "--failures", failures]
    assert main([*args, "--outputs-dir", str(record_dir)]) == 0
    record = json.loads((record_dir / "result.json").read_text())
    assert record["status"] == "Failed" and record["failures"][0]["displayName"] == "harvest"
    assert record["stages_committed"] == []
    assert main(args) == 0  # a retried exit handler finds the record and keeps it
    assert main([*args[:-2], "--failures", "not json"]) == 2


def test_unreachable_lm_is_exit_4_and_leaves_no_committed_output(config_file, tmp_path, capsys):
    from pipeline.config import load_config
    from pipeline.run.context import StageContext
    from pipeline.storage import open_store
    from tests.test_stages import QUERIES, commit_harvest

    cfg = config_file(llm={"primary": {"model": "openai/router", "api_base": f"http://127.0.0.1:{closed_port()}/v1", "num_retries": 0, "timeout_s": 2}})
    config = load_config(cfg)
    ctx = StageContext(config=config, store=open_store(config.storage), tenant="acme", run_id="r1")
    commit_harvest(ctx, QUERIES[:5], confidence=0.3)  # unsure decisions: annotation candidates
    code = main(["annotate", "--config", cfg, "--tenant", "acme", "--run-id", "r1"])
    assert code == 4
    assert "openai/router" in capsys.readouterr().err
    assert ctx.output("annotate").committed() is None
