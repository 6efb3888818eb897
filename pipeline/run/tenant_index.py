"""The tenant's history page: every run with its decisions, each target's production timeline
(promotions, rollbacks), the primary metric of production over time as an inline SVG chart, and
links to each run's report and to the tenant's Phoenix project.

    tenants/{tenant}/index.json   what the page shows, for machines
    tenants/{tenant}/index.html   the page, for people (static: no script, nothing fetched)

Both are derived from what the store already holds — run start records, run records, committed
stage results, `modules/{target}/history/*.json` and `production.json` — and never hold a number
of their own: rebuilding reads everything again and replaces each object whole (local: write a
temp file, then rename; S3: one PUT), so a rebuild can be repeated, or run concurrently with
another, and a reader always sees one complete page. The page carries no clock of its own (its
"as of" is the newest time in the data), so rebuilding an unchanged store writes the same bytes.

Links are relative to the page (`runs/{run_id}/report/report.html`), so they resolve on the
local store (file://) and through an S3 web endpoint alike. The exit handler (`record`),
`maintenance` and `rollback` rebuild it; nothing reads it back.

The production measurements, one chart point each, oldest first:
- `promoted`: a promotion, at its time, with the candidate's score on its held-out set;
- `rolled back`: a rollback, at its time, with the score the restored version was promoted on;
- `measured`: a later run's evaluation of production as its baseline on that run's held-out
  set (the same primary metric), at the run's start.
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlparse

from pydantic import BaseModel

from pipeline import contract, layout
from pipeline.config import PipelineConfig
from pipeline.errors import ConfigError, NotFoundError
from pipeline.run.context import CONTENT_TYPES, StageContext
from pipeline.run.evaluate import PRIMARY_METRIC
from pipeline.storage import ObjectStore

# The stage results a run row is built from (everything else in a run folder is ignored).
_PER_TARGET = tuple(contract.PER_TARGET)


class IndexResult(BaseModel):
    """Where the rebuilt page is, and what it counted."""

    html_key: str
    json_key: str
    location: str  # full URL of the page in the store
    runs: int
    production_points: dict[str, int]  # per target: the chart's points


# ---------------------------------------------------------------------------- links
def phoenix_project(config: PipelineConfig, tenant: str) -> dict[str, str]:
    """The tenant's Phoenix project and a link to it: Phoenix's UI addresses a project by an id
    only the server knows, so the link opens its project list, where the project is by name."""
    endpoint = config.phoenix.endpoint.rstrip("/")
    web = urlparse(endpoint).scheme in ("http", "https")  # never a javascript: or file: link
    return {"endpoint": endpoint, "project": config.phoenix.project_for(tenant), "url": f"{endpoint}/projects" if web else ""}


def phoenix_link(phoenix: dict[str, str]) -> str:
    """The Phoenix project as a link (as text when the endpoint is not a web address)."""
    name = f"Phoenix project {html.escape(phoenix['project'])}"
    return f"<a id='phoenix' href='{html.escape(phoenix['url'])}'>{name}</a>" if phoenix["url"] else name


def run_report_href(run_id: str) -> str:
    """The run's HTML report, relative to the tenant's page."""
    return f"runs/{quote(run_id)}/report/{layout.HTML_FILE}"


# A run's report lives at runs/{run}/report/report.html (and, as the workflow's artifact, at
# runs/{run}/artifacts/report.html): three folders below the tenant's page, either way.
INDEX_HREF_FROM_REPORT = f"../../../{layout.INDEX_HTML_FILE}"


# ---------------------------------------------------------------------------- the data
def collect(config: PipelineConfig, store: ObjectStore, tenant: str) -> dict[str, Any]:
    """index.json: what the page shows, all of it read from the store now."""
    from pipeline import promotion
    from pipeline.modules import all_targets

    runs = [_run_row(config, store, tenant, run_id) for run_id in _run_ids(store, tenant)]
    # newest first, by start (a run that failed before its first stage: by its record); undated last
    runs.sort(key=lambda r: (r["started_at"] or r["recorded_at"] or "", r["run_id"]), reverse=True)
    production: dict[str, Any] = {}
    for target in all_targets():
        records = promotion.history(store, tenant, target)
        if not records and not any(target in r["measured_production"] for r in runs):
            continue
        now = promotion.current(store, tenant, target)
        timeline = [
            {
                "sequence": p.sequence,
                "action": p.action,
                "run_id": p.run_id,
                "at": p.promoted_at,
                "restored_sequence": p.restored_sequence,
                "metric": p.metrics.get("primary_metric", PRIMARY_METRIC),
                "value": _number(p.metrics.get("candidate")),
                "improvement_pct": _number(p.metrics.get("improvement_pct")),
                "heldout_n": p.metrics.get("heldout_n"),
                "reason": p.reason,
                "report": run_report_href(p.run_id) if _report_exists(store, tenant, p.run_id) else None,
            }
            for p in records
        ]
        production[target] = {
            "current_sequence": now.sequence if now else None,
            "timeline": timeline,
            "measurements": _measurements(target, timeline, runs),
        }
    times = [r["started_at"] for r in runs if r["started_at"]] + [
        e["at"] for p in production.values() for e in p["timeline"]
    ]
    for r in runs:
        r.pop("measured_production")
    return {
        "tenant": tenant,
        "as_of": max(times) if times else None,
        "primary_metric": PRIMARY_METRIC,
        "phoenix": phoenix_project(config, tenant),
        "runs": runs,
        "production": production,
    }


def _run_ids(store: ObjectStore, tenant: str) -> list[str]:
    ids = set()
    for key in store.list(layout.runs_prefix(tenant)):
        run_id = layout.run_id_of(tenant, key)
        if run_id:
            try:
                layout.check_name("run id", run_id)
            except ConfigError:
                continue  # a folder no run id names is not a run
            ids.add(run_id)
    return sorted(ids)


def _report_exists(store: ObjectStore, tenant: str, run_id: str) -> bool:
    return store.exists(layout.key(layout.stage_prefix(tenant, run_id, "report"), layout.HTML_FILE))


def _run_row(config: PipelineConfig, store: ObjectStore, tenant: str, run_id: str) -> dict[str, Any]:
    from pipeline.run import readers

    row: dict[str, Any] = {
        "run_id": run_id, "started_at": None, "status": None, "recorded_at": None, "targets": [],
        "lm_calls": {"training": 0, "evaluation": 0, "total": 0}, "report": None, "manifest": None,
        "unreadable": None, "measured_production": {},
    }
    try:
        row["started_at"] = _optional_json(store, layout.run_started_key(tenant, run_id), "started_at")
        record = _optional_json(store, layout.run_record_key(tenant, run_id))
        if record:
            row["status"], row["recorded_at"] = record.get("status"), record.get("recorded_at")
        stages = readers.run_results(StageContext(config=config, store=store, tenant=tenant, run_id=run_id))
    except (ConfigError, ValueError, KeyError, TypeError, AttributeError) as exc:  # a corrupted object: say so, go on
        row["unreadable"] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return row
    if _report_exists(store, tenant, run_id):
        row["report"] = run_report_href(run_id)
        row["manifest"] = f"runs/{quote(run_id)}/report/{layout.MANIFEST_FILE}"
    for part, results in stages["targets"].items():
        trained, ev, gate = (results.get(s) or {} for s in _PER_TARGET)
        target = ev.get("target") or trained.get("target") or gate.get("target") or part
        row["lm_calls"]["training"] += int(trained.get("compile_lm_calls") or 0)
        row["lm_calls"]["evaluation"] += sum(int(v or 0) for v in (ev.get("lm_calls") or {}).values())
        baseline = ev.get("baseline") or {}
        decision = gate.get("decision") or ("skipped" if trained.get("status") == "skipped" or ev.get("status") == "skipped"
                                            else None)
        row["targets"].append({
            "target": target,
            "part": part,
            "decision": decision,
            "deployed": bool(gate.get("deployed")),
            "production_sequence": gate.get("production_sequence"),
            "improvement_pct": _number(ev.get("improvement_pct")),
            "candidate": _number((ev.get("candidate_metrics") or {}).get(PRIMARY_METRIC)),
            "baseline": _number((ev.get("baseline_metrics") or {}).get(PRIMARY_METRIC)),
            "baseline_label": baseline.get("label"),
            "optimizer": trained.get("optimizer"),
            "reasons": list(gate.get("reasons") or ([ev["reason"]] if ev.get("reason") else
                                                     [trained["reason"]] if trained.get("reason") else [])),
        })
        if (ev.get("status") == "ok" and ev.get("dataset") == "held-out" and baseline.get("kind") == "production"
                and target not in row["measured_production"]):
            value = _number((ev.get("baseline_metrics") or {}).get(ev.get("primary_metric", PRIMARY_METRIC)))
            if value is not None:
                row["measured_production"][target] = {"sequence": baseline.get("sequence"), "value": value, "n": ev.get("n")}
    row["lm_calls"]["total"] = row["lm_calls"]["training"] + row["lm_calls"]["evaluation"]
    return row


def _measurements(target: str, timeline: list[dict[str, Any]], runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    points = []
    for event in timeline:
        if event["value"] is None:
            continue
        kind = "promoted" if event["action"] == "promote" else "rolled back"
        points.append({"at": event["at"], "kind": kind, "sequence": event["sequence"], "run_id": event["run_id"],
                       "value": event["value"], "n": event["heldout_n"],
                       "restored_sequence": event["restored_sequence"]})
    for run in runs:
        measured = run["measured_production"].get(target)
        if measured and run["started_at"]:
            points.append({"at": run["started_at"], "kind": "measured", "sequence": measured["sequence"],
                           "run_id": run["run_id"], "value": measured["value"], "n": measured["n"],
                           "restored_sequence": None})
    # by time; at one instant a measurement of production comes before what replaced it
    points.sort(key=lambda p: (p["at"], p["kind"] != "measured", p["sequence"] or 0))
    return points


def _optional_json(store: ObjectStore, key: str, field: str | None = None) -> Any:
    try:
        value = store.get_json(key)
    except NotFoundError:
        return None
    return value.get(field) if field is not None else value


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# ---------------------------------------------------------------------------- the page
_CSS = """
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#1d2433;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{margin-top:2.2rem;border-bottom:1px solid #e3e7ef;padding-bottom:.3rem}
.muted{color:#6b7385} table{border-collapse:collapse;margin:.6rem 0} td,th{padding:.3rem .7rem;border-bottom:1px solid #eef0f5;text-align:left;vertical-align:top}
th{font-weight:600;background:#f7f8fb} .num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:.1rem .55rem;border-radius:1rem;font-size:.85rem;font-weight:600}
.promoted,.promote{background:#d9f5e3;color:#136c34}.rejected,.rollback{background:#fde7e7;color:#9b1c1c}
.skipped,.conflict,.none{background:#eef0f5;color:#4a5263} .when,.run td:first-child{white-space:nowrap}
"""


def render_html(doc: dict[str, Any]) -> str:
    """The page for index.json's document (every string escaped; numbers formatted from it)."""
    esc = html.escape
    tenant, phoenix = doc["tenant"], doc["phoenix"]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Optimization history — {esc(tenant)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Optimization history: tenant <code>{esc(tenant)}</code></h1>",
        f"<p class='muted'>{len(doc['runs'])} runs · as of {esc(_when(doc['as_of']) if doc['as_of'] else 'no data yet')} · "
        f"primary metric {esc(doc['primary_metric'])} · "
        f"{phoenix_link(phoenix)} · "
        f"<a href='{esc(layout.INDEX_JSON_FILE)}'>index.json</a></p>",
    ]
    for target, prod in doc["production"].items():
        current = prod["current_sequence"]
        parts.append(f"<h2 id='production-{esc(target)}'>{esc(target)}: production "
                     f"{'v' + str(current) if current else 'none'}</h2>")
        parts.append(_chart_svg(target, prod["measurements"], doc["primary_metric"]))
        parts.append(_timeline_table(target, prod["timeline"]))
    parts.append(_runs_table(doc["runs"]))
    parts.append("</body></html>\n")
    return "".join(parts)


def _runs_table(runs: list[dict[str, Any]]) -> str:
    esc = html.escape
    rows = []
    for r in runs:
        run_cell = (f"<a class='report' href='{esc(r['report'])}'>{esc(r['run_id'])}</a>" if r["report"]
                    else f"{esc(r['run_id'])} <span class='muted'>(no report)</span>")
        if r["unreadable"]:
            decisions = f"<span class='muted'>unreadable: {esc(r['unreadable'])}</span>"
        elif not r["targets"]:
            decisions = "<span class='muted'>nothing trained</span>"
        else:
            decisions = "<br>".join(_decision_cell(t) for t in r["targets"])
        calls = r["lm_calls"]
        rows.append(
            f"<tr class='run' data-run='{esc(r['run_id'])}'><td>{run_cell}</td><td class='when'>{esc(_when(r['started_at']))}</td>"
            f"<td>{esc(r['status'] or 'no record')}</td><td>{decisions}</td>"
            f"<td class='num' title='training {calls['training']} · evaluation {calls['evaluation']}'>{calls['total']}</td></tr>"
        )
    body = "".join(rows) or "<tr><td colspan='5' class='muted'>no runs</td></tr>"
    return ("<h2 id='runs'>Runs</h2><table id='runs-table'><tr><th>run</th><th>started</th><th>status</th>"
            f"<th>decisions</th><th class='num'>LM calls</th></tr>{body}</table>")


def _decision_cell(t: dict[str, Any]) -> str:
    esc = html.escape
    decision = t["decision"] or "not run"
    scores = ""
    if t["candidate"] is not None and t["baseline"] is not None:
        scores = (f" {esc(t['baseline_label'] or 'baseline')} {_pct(t['baseline'])} → candidate {_pct(t['candidate'])}"
                  f" ({_signed(t['improvement_pct'])})")
    version = f" as v{t['production_sequence']}" if t["deployed"] and t["production_sequence"] else ""
    why = f" <span class='muted'>{esc('; '.join(t['reasons']))}</span>" if t["reasons"] and not t["deployed"] else ""
    return (f"<b>{esc(t['part'])}</b> <span class='badge {esc(decision)}'>{esc(decision)}{esc(version)}</span>"
            f"{esc(scores)}{why}")


def _timeline_table(target: str, timeline: list[dict[str, Any]]) -> str:
    esc = html.escape
    if not timeline:
        return "<p class='muted'>nothing was ever promoted</p>"
    rows = []
    for e in reversed(timeline):  # newest first
        action = "rollback" if e["action"] == "rollback" else "promote"
        what = f"rolled back to v{e['restored_sequence']}" if action == "rollback" else "promoted"
        run = (f"<a href='{esc(e['report'])}'>{esc(e['run_id'])}</a>" if e["report"] else esc(e["run_id"]))
        rows.append(
            f"<tr class='version'><td><b>v{e['sequence']}</b></td><td><span class='badge {action}'>{esc(what)}</span></td>"
            f"<td class='when'>{esc(_when(e['at']))}</td><td>{run}</td><td class='num'>{_pct(e['value'])}</td><td>{esc(e['reason'])}</td></tr>"
        )
    return (f"<table class='timeline' data-target='{esc(target)}'><tr><th>version</th><th>action</th><th>when</th>"
            f"<th>trained in run</th><th class='num'>{esc('held-out score')}</th><th>why</th></tr>{''.join(rows)}</table>")


def _chart_svg(target: str, points: list[dict[str, Any]], metric: str) -> str:
    """The primary metric of production, one point per measurement in time order, evenly spaced
    (the times are under the points); the y axis is the metric's full range, 0–100 %."""
    esc = html.escape
    if not points:
        return "<p class='muted'>no measurement of production yet</p>"
    width, height, left, right, top, bottom, pad = 900, 300, 56, 24, 20, 70, 60
    plot_w, plot_h = width - left - right, height - top - bottom
    step = (plot_w - 2 * pad) / max(len(points) - 1, 1)

    def x(i: int) -> float:
        return left + pad + (i * step if len(points) > 1 else (plot_w - 2 * pad) / 2)

    def y(v: float) -> float:
        return top + (1 - min(max(v, 0.0), 1.0)) * plot_h

    out = [f"<svg xmlns='http://www.w3.org/2000/svg' class='trend' data-target='{esc(target)}' width='{width}' "
           f"height='{height}' role='img' aria-label='{esc(f'{metric} of production over time, {target}')}'>"]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        out.append(f"<line x1='{left}' x2='{width - right}' y1='{y(tick):.1f}' y2='{y(tick):.1f}' stroke='#eef0f5'/>"
                   f"<text x='{left - 8}' y='{y(tick) + 4:.1f}' font-size='11' text-anchor='end' fill='#6b7385'>{tick:.0%}</text>")
    coords = " ".join(f"{x(i):.1f},{y(p['value']):.1f}" for i, p in enumerate(points))
    out.append(f"<polyline class='trend-line' points='{coords}' fill='none' stroke='#3767d6' stroke-width='2'/>")
    colors = {"promoted": "#2f9e5b", "rolled back": "#d64545", "measured": "#3767d6"}
    for i, p in enumerate(points):
        label = (f"v{p['restored_sequence']}" if p["kind"] == "rolled back" else f"v{p['sequence']}") if p["sequence"] else ""
        on = "" if p["n"] is None else f" on {p['n']} held-out examples"
        title = f"{p['kind']} {label} · run {p['run_id']} · {p['at']} · {_pct(p['value'])}{on}"
        out.append(f"<circle class='point' data-kind='{esc(p['kind'])}' data-value='{p['value']:.6f}' cx='{x(i):.1f}' "
                   f"cy='{y(p['value']):.1f}' r='5' fill='{colors[p['kind']]}'><title>{esc(title)}</title></circle>")
        out.append(f"<text x='{x(i):.1f}' y='{y(p['value']) - 10:.1f}' font-size='11' text-anchor='middle'>{_pct(p['value'])}</text>")
        out.append(f"<text x='{x(i):.1f}' y='{height - bottom + 18}' font-size='11' text-anchor='middle'>"
                   f"{esc(p['kind'])} {esc(label)}</text>")
        out.append(f"<text x='{x(i):.1f}' y='{height - bottom + 34}' font-size='10' text-anchor='middle' fill='#6b7385'>"
                   f"{esc(_when(p['at']))}</text>")
    out.append(f"<text x='{left}' y='{height - 8}' font-size='11' fill='#6b7385'>green: promoted (its held-out score) · "
               "blue: measured as a later run's baseline · red: rolled back</text></svg>")
    return "".join(out)


def _when(iso: str | None) -> str:
    """An ISO 8601 time as people read it, in UTC (the stored value is the data's)."""
    if not iso:
        return "—"
    try:
        at = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if at.tzinfo is not None:
        at = at.astimezone(timezone.utc)
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.1f}%"


# ---------------------------------------------------------------------------- rebuild
def rebuild(config: PipelineConfig, store: ObjectStore, tenant: str) -> IndexResult:
    """Read the tenant's history from the store and replace index.json, then index.html, whole."""
    doc = collect(config, store, tenant)
    json_key = layout.tenant_index_key(tenant, layout.INDEX_JSON_FILE)
    html_key = layout.tenant_index_key(tenant, layout.INDEX_HTML_FILE)
    store.put_overwrite(json_key, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode(), content_type=CONTENT_TYPES["json"])
    store.put_overwrite(html_key, render_html(doc).encode(), content_type=CONTENT_TYPES["html"])
    return IndexResult(
        html_key=html_key,
        json_key=json_key,
        location=store.describe(html_key),
        runs=len(doc["runs"]),
        production_points={t: len(p["measurements"]) for t, p in doc["production"].items()},
    )
