"""maintenance: old runs go, production's artifacts stay, young and undated runs stay."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from pipeline import promotion
from pipeline.cli import main


def test_retention_keeps_production_artifacts(tmp_path, capsys):
    from pipeline.config import PipelineConfig, StorageConfig
    from pipeline.storage import open_store

    config = PipelineConfig(storage=StorageConfig(url=f"file://{tmp_path / 'store'}"))
    store = open_store(config.storage)
    now = datetime.now(timezone.utc)

    def make_run(run_id, age_days, with_start=True):
        base = f"tenants/acme/runs/{run_id}"
        if with_start:
            store.put_json_new(f"{base}/run/started.json", {"started_at": (now - timedelta(days=age_days)).isoformat()})
        store.put_json_new(f"{base}/harvest/result.json", {"status": "ok"})
        store.put_json_new(f"{base}/train/routing/program.json", {"state": 1})
        store.put_json_new(f"{base}/train/routing/metadata.json", {})

    make_run("old-promoted", 90)
    make_run("old", 60)
    make_run("young", 2)
    make_run("undated", 90, with_start=False)
    promotion.promote(store, "acme", "routing", artifact_prefix="tenants/acme/runs/old-promoted/train/routing",
                      run_id="old-promoted", metrics={}, reason="test", expected=None)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps({"storage": {"url": f"file://{tmp_path / 'store'}"}}))

    args = ["maintenance", "--config", str(cfg), "--tenant", "acme", "--run-id", "m1", "--retention-days", "30"]
    assert main([*args, "--dry-run", "true"]) == 0
    assert store.exists("tenants/acme/runs/old/harvest/result.json")  # a dry run deletes nothing

    capsys.readouterr()
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["runs_deleted"] == ["old", "old-promoted"] and result["runs_kept_unknown_age"] == ["undated"]
    assert result["objects_kept_for_production"] == 2
    keys = store.list("tenants/acme/runs")
    assert not any(k.startswith("tenants/acme/runs/old/") for k in keys)
    assert "tenants/acme/runs/old-promoted/train/routing/program.json" in keys  # rollback still works
    assert "tenants/acme/runs/old-promoted/harvest/result.json" not in keys
    assert any(k.startswith("tenants/acme/runs/young/") for k in keys)
    assert any(k.startswith("tenants/acme/runs/undated/") for k in keys)
    assert promotion.current(store, "acme", "routing").artifact_prefix.endswith("old-promoted/train/routing")
    assert main([*args[:-2], "--retention-days", "0"]) == 2


def test_compaction_removes_old_temp_files_but_never_a_lock_file(tmp_path, capsys):
    """The local store's locks are OS locks on their files: deleting an old-looking one while a
    writer waits on it would let a second writer lock a new file and both win."""
    import os
    import time

    from pipeline.config import PipelineConfig, StorageConfig
    from pipeline.storage import open_store

    store = open_store(PipelineConfig(storage=StorageConfig(url=f"file://{tmp_path / 'store'}")).storage)
    promotion.promote(store, "acme", "routing", artifact_prefix=_artifact(store), run_id="r1", metrics={}, reason="t", expected=None)
    promotion.promote(store, "acme", "routing", artifact_prefix=_artifact(store, "r2"), run_id="r2", metrics={}, reason="t", expected="read")
    modules = tmp_path / "store" / "tenants" / "acme" / "modules" / "routing"
    lock = modules / "production.json.lock"
    temp = modules / ".tmp-0123-production.json"
    temp.write_bytes(b"torn")
    old = time.time() - 7200
    for path in (lock, temp):
        assert path.exists()
        os.utime(path, (old, old))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps({"storage": {"url": f"file://{tmp_path / 'store'}"}}))
    assert main(["maintenance", "--config", str(cfg), "--tenant", "acme", "--run-id", "m1"]) == 0
    assert json.loads(capsys.readouterr().out)["temp_files_removed"] == 1
    assert lock.exists() and not temp.exists()


def _artifact(store, run_id="r1"):
    prefix = f"tenants/acme/runs/{run_id}/train/routing"
    store.put_json_new(f"{prefix}/program.json", {"state": 1})
    return prefix
