"""The tenant's history page (pipeline.run.tenant_index) and the run report's links and
provenance, without a browser: three runs of the demo tenant through the real stages at DummyLM
cost (tests/history_runs.py), the page's numbers checked against the stored results they come
from, rebuilt by record and maintenance, idempotent, escaped, on both store backends."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from posixpath import normpath
from urllib.parse import unquote, urlparse

import pytest

from pipeline import promotion
from pipeline.layout import INDEX_HTML_FILE, INDEX_JSON_FILE, tenant_index_key
from pipeline.run import tenant_index
from tests.history_runs import RUNS, TENANT, build_history


class Page(HTMLParser):
    """What the tests look at in a page: links, table rows, the chart's polyline and points."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.rows: list[dict[str, str]] = []
        self.polylines: list[str] = []
        self.points: list[dict[str, str]] = []
        self.scripts = 0
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])
        elif tag == "tr" and "run" in a.get("class", "").split():
            self.rows.append(a)
        elif tag == "polyline" and "trend-line" in a.get("class", ""):
            self.polylines.append(a["points"])
        elif tag == "circle" and "point" in a.get("class", ""):
            self.points.append(a)
        elif tag == "script":
            self.scripts += 1


def relative_targets(page_key: str, hrefs: list[str]) -> list[str]:
    """The store keys a page's relative links point to (absolute URLs left out)."""
    base = page_key.rsplit("/", 1)[0]
    out = []
    for href in hrefs:
        parsed = urlparse(href)
        if parsed.scheme or parsed.netloc:
            continue
        out.append(normpath(f"{base}/{unquote(parsed.path)}"))
    return out


@pytest.fixture
def history(tmp_path, monkeypatch):
    config, store = build_history(tmp_path / "store", monkeypatch)
    return config, store


def test_the_page_shows_every_run_and_production_over_time_from_stored_data(history):
    config, store = history
    doc = store.get_json(tenant_index_key(TENANT, INDEX_JSON_FILE))
    assert [r["run_id"] for r in doc["runs"]] == list(reversed(RUNS))  # newest first
    decisions = {r["run_id"]: [(t["target"], t["decision"], t["production_sequence"]) for t in r["targets"]] for r in doc["runs"]}
    assert decisions == {"run-1": [("routing", "promoted", 1)], "run-2": [("routing", "rejected", 1)],
                         "run-3": [("routing", "promoted", 2)]}
    assert all(r["status"] == "Succeeded" and r["report"] == f"runs/{r['run_id']}/report/report.html" for r in doc["runs"])

    # the numbers are the stored ones: each run's evaluation and train results, production's records
    for row in doc["runs"]:
        run = f"tenants/{TENANT}/runs/{row['run_id']}"
        ev = store.get_json(f"{run}/evaluate/routing/result.json")
        trained = store.get_json(f"{run}/train/routing/result.json")
        (target,) = row["targets"]
        assert (target["candidate"], target["baseline"]) == (ev["candidate_metrics"]["accuracy"], ev["baseline_metrics"]["accuracy"])
        assert target["improvement_pct"] == ev["improvement_pct"]
        assert row["lm_calls"] == {"training": trained["compile_lm_calls"], "evaluation": sum(ev["lm_calls"].values()),
                                   "total": trained["compile_lm_calls"] + sum(ev["lm_calls"].values())}
    routing = doc["production"]["routing"]
    records = promotion.history(store, TENANT, "routing")
    assert routing["current_sequence"] == 2 == promotion.current(store, TENANT, "routing").sequence
    assert [(e["sequence"], e["action"], e["run_id"], e["value"]) for e in routing["timeline"]] == [
        (p.sequence, p.action, p.run_id, p.metrics["candidate"]) for p in records]
    measured = {r: store.get_json(f"tenants/{TENANT}/runs/{r}/evaluate/routing/result.json")["baseline_metrics"]["accuracy"]
                for r in ("run-2", "run-3")}
    assert [(m["kind"], m["sequence"], m["run_id"], m["value"]) for m in routing["measurements"]] == [
        ("promoted", 1, "run-1", records[0].metrics["candidate"]),
        ("measured", 1, "run-2", measured["run-2"]),
        ("measured", 1, "run-3", measured["run-3"]),
        ("promoted", 2, "run-3", records[1].metrics["candidate"]),
    ]

    html_key = tenant_index_key(TENANT, INDEX_HTML_FILE)
    page = Page(store.get(html_key).decode())
    assert [r["data-run"] for r in page.rows] == list(reversed(RUNS))
    (polyline,) = page.polylines
    assert len(polyline.split()) == len(page.points) == len(routing["measurements"]) == 4
    assert [float(p["data-value"]) for p in page.points] == pytest.approx([m["value"] for m in routing["measurements"]])
    assert page.scripts == 0  # static: nothing runs, nothing is fetched
    assert "http://phoenix.example:6006/projects" in page.hrefs
    targets = relative_targets(html_key, page.hrefs)
    assert {f"tenants/{TENANT}/runs/{r}/report/report.html" for r in RUNS} <= set(targets)
    assert all(store.exists(k) for k in targets), [k for k in targets if not store.exists(k)]


def test_the_report_links_back_and_shows_provenance_and_lm_calls(history):
    config, store = history
    key = f"tenants/{TENANT}/runs/run-3/report/report.html"
    text = store.get(key).decode()
    page = Page(text)
    targets = relative_targets(key, page.hrefs)
    assert tenant_index_key(TENANT) in targets and f"tenants/{TENANT}/runs/run-3/train/routing/metadata.json" in targets
    assert f"tenants/{TENANT}/runs/run-3/evaluate/routing/evaluation.json" in targets
    assert all(store.exists(k) for k in targets), [k for k in targets if not store.exists(k)]
    # the Argo artifact copy of the report sits at the same depth: its links resolve the same way
    artifact_targets = relative_targets(f"tenants/{TENANT}/runs/run-3/artifacts/report.html", page.hrefs)
    assert tenant_index_key(TENANT) in artifact_targets
    meta = store.get_json(f"tenants/{TENANT}/runs/run-3/train/routing/metadata.json")
    for fact in (meta["git_revision"], meta["optimizer"], *meta["data_hashes"].values(), "outcome: 43"):
        assert fact in text
    trained = store.get_json(f"tenants/{TENANT}/runs/run-3/train/routing/result.json")
    ev = store.get_json(f"tenants/{TENANT}/runs/run-3/evaluate/routing/result.json")
    total = trained["compile_lm_calls"] + sum(ev["lm_calls"].values())
    assert f"<td class='num'><b>{total}</b></td>" in text
    assert "harvest window" in text and "Phoenix project cogniverse-demo" in text


def test_rebuilding_is_idempotent_and_a_rollback_shows_on_the_timeline(history):
    config, store = history
    keys = [tenant_index_key(TENANT, name) for name in (INDEX_JSON_FILE, INDEX_HTML_FILE)]
    before = [store.get(k) for k in keys]
    result = tenant_index.rebuild(config, store, TENANT)
    assert [store.get(k) for k in keys] == before  # an unchanged store gives the same bytes
    assert result.runs == 3 and result.production_points == {"routing": 4}

    # `cogniverse-optimize rollback` rebuilds the page itself
    from pipeline.cli import main

    cfg = Path(config.storage.url[len("file://"):]).parent / "rollback.yaml"
    cfg.write_text(json.dumps({"storage": {"url": config.storage.url}, "phoenix": {"endpoint": config.phoenix.endpoint}}))
    assert main(["rollback", "--config", str(cfg), "--tenant", TENANT, "--target", "routing"]) == 0
    doc = store.get_json(keys[0])
    result = tenant_index.rebuild(config, store, TENANT)
    assert store.get_json(keys[0]) == doc
    last = doc["production"]["routing"]["measurements"][-1]
    v1 = promotion.history(store, TENANT, "routing")[0]
    assert (last["kind"], last["restored_sequence"], last["value"]) == ("rolled back", 1, v1.metrics["candidate"])
    assert doc["production"]["routing"]["current_sequence"] == 3 and result.production_points == {"routing": 5}
    text = store.get(keys[1]).decode()
    assert "rolled back to v1" in text and "routing: production v3" in text


def test_everything_on_the_page_is_escaped_and_a_corrupted_run_is_named(tmp_path):
    from pipeline.config import PipelineConfig, StorageConfig
    from pipeline.storage import open_store

    config = PipelineConfig(storage=StorageConfig(url=f"file://{tmp_path / 'store'}"))
    config.phoenix.project_pattern = "cogniverse-{tenant}<b>'\""
    config.phoenix.endpoint = "javascript:alert(1)"
    store = open_store(config.storage)
    evil = "<script>alert('x')</script>"
    store.put_json_new(f"tenants/{TENANT}/runs/r1/gate/routing/result.json",
                       {"target": "routing", "decision": f"rejected{evil}", "deployed": False, "reasons": [evil]})
    store.put_json_new(f"tenants/{TENANT}/runs/r1/run/record.json", {"status": evil})
    store.put_overwrite(f"tenants/{TENANT}/runs/r2/harvest/result.json", b"{not json")
    tenant_index.rebuild(config, store, TENANT)
    text = store.get(tenant_index_key(TENANT)).decode()
    assert "<script" not in text and "&lt;script&gt;" in text and "<b>'" not in text
    assert "javascript:" not in text  # a Phoenix endpoint that is no web address is named, not linked
    doc = store.get_json(tenant_index_key(TENANT, INDEX_JSON_FILE))
    broken = next(r for r in doc["runs"] if r["run_id"] == "r2")
    assert broken["unreadable"] and "r2" in text  # named, and the page still built


def test_record_and_maintenance_rebuild_the_page(history, tmp_path, capsys):
    from pipeline.cli import main

    config, store = history
    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps({"storage": {"url": config.storage.url}}))
    page = tenant_index_key(TENANT)
    store.delete(page)
    assert main(["record", "--config", str(cfg), "--tenant", TENANT, "--run-id", "run-4", "--status", "Failed",
                 "--failures", json.dumps([{"message": "harvest: Phoenix unreachable"}])]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["index_location"] == store.describe(page) and store.exists(page)
    assert "index_location" not in store.get_json(f"tenants/{TENANT}/runs/run-4/run/record.json")
    doc = store.get_json(tenant_index_key(TENANT, INDEX_JSON_FILE))
    assert doc["runs"][0]["run_id"] == "run-4" and doc["runs"][0]["status"] == "Failed"

    # maintenance: run-2 made old; it goes, and so does its row and its measurement of production
    started = f"tenants/{TENANT}/runs/run-2/run/started.json"
    store.put_overwrite(started, json.dumps({"started_at": "2026-01-01T00:00:00+00:00"}).encode())
    assert main(["maintenance", "--config", str(cfg), "--tenant", TENANT, "--run-id", "m1", "--retention-days", "30"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["runs_deleted"] == ["run-2"] and out["index_location"] == store.describe(page)
    doc = store.get_json(tenant_index_key(TENANT, INDEX_JSON_FILE))
    assert [r["run_id"] for r in doc["runs"]] == ["run-4", "run-3", "run-1"]
    assert [m["run_id"] for m in doc["production"]["routing"]["measurements"]] == ["run-1", "run-3", "run-3"]
    assert len(Page(store.get(page).decode()).points) == 3


def test_on_s3_the_page_is_served_as_html(history, s3_storage_config):
    import obstore

    from pipeline.storage import open_store

    config, local = history
    s3 = open_store(s3_storage_config())
    for key in local.list(f"tenants/{TENANT}"):
        if not key.endswith(("/index.html", "/index.json")):
            s3.put_overwrite(key, local.get(key))
    tenant_index.rebuild(config, s3, TENANT)
    assert s3.get(tenant_index_key(TENANT, INDEX_JSON_FILE)) == local.get(tenant_index_key(TENANT, INDEX_JSON_FILE))
    got = obstore.get(s3._store, tenant_index_key(TENANT))
    assert got.attributes.get("Content-Type") == "text/html; charset=utf-8"
