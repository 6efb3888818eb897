"""The history page and the run reports in a real headless browser (the distribution's
Chromium, no Python browser package): three runs of the demo tenant (tests/history_runs.py), the
page rebuilt, its DOM as Chromium built it (`--dump-dom`) checked — one row per run, the chart's
polyline with one point per production measurement, every relative link resolving to a file
of the store — and a screenshot taken (`$HISTORY_SCREENSHOT` keeps it, else the test's tmp dir).

Skipped when /usr/bin/chromium is missing (`apt-get install -y --no-install-recommends
chromium`; `.ci/run` installs it when it runs as root).
"""

from __future__ import annotations

import os
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest

from pipeline.layout import INDEX_JSON_FILE, tenant_index_key
from pipeline.run import tenant_index
from tests.history_runs import RUNS, TENANT, build_history
from tests.test_history_page import Page, relative_targets

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=(
    "needs Chromium at /usr/bin/chromium (apt-get install -y --no-install-recommends chromium)"))


def chromium(*args: str, timeout: float = 90) -> str:
    """One headless Chromium call with a fresh profile; offline switches as the machine notes say."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        done = subprocess.run(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def test_the_history_page_renders_links_resolve_and_the_chart_has_its_points(tmp_path, monkeypatch):
    config, store = build_history(tmp_path / "store", monkeypatch)
    tenant_index.rebuild(config, store, TENANT)
    doc = store.get_json(tenant_index_key(TENANT, INDEX_JSON_FILE))
    page_key = tenant_index_key(TENANT)
    url = store.local_path(page_key).as_uri()

    dom = Page(chromium("--dump-dom", url))
    assert [r["data-run"] for r in dom.rows] == list(reversed(RUNS))
    (polyline,) = dom.polylines
    measurements = doc["production"]["routing"]["measurements"]
    assert len(polyline.split()) == len(dom.points) == len(measurements) == 4
    assert [p["data-kind"] for p in dom.points] == ["promoted", "measured", "measured", "promoted"]
    targets = relative_targets(page_key, dom.hrefs)
    assert {f"tenants/{TENANT}/runs/{r}/report/report.html" for r in RUNS} <= set(targets)
    assert all(store.exists(k) for k in targets), [k for k in targets if not store.exists(k)]

    for run_id in RUNS:  # each report, as the browser built it: its links resolve too
        report_key = f"tenants/{TENANT}/runs/{run_id}/report/report.html"
        report = Page(chromium("--dump-dom", store.local_path(report_key).as_uri()))
        report_targets = relative_targets(report_key, report.hrefs)
        assert page_key in report_targets and f"tenants/{TENANT}/runs/{run_id}/train/routing/metadata.json" in report_targets
        assert all(store.exists(k) for k in report_targets), [k for k in report_targets if not store.exists(k)]

    shot = Path(os.environ.get("HISTORY_SCREENSHOT") or tmp_path / "history.png")
    chromium(f"--screenshot={shot}", "--window-size=1200,1600", "--hide-scrollbars", url)
    assert png_size(shot) == (1200, 1600) and shot.stat().st_size > 20_000
