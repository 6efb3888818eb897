"""report: the run manifest (JSON, for machines) and an HTML report (for people).

Every number comes from the committed results of this run's stages.
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel

from pipeline.layout import EVALUATION_FILE, HTML_FILE, MANIFEST_FILE, METADATA_FILE, PROGRAM_FILE
from pipeline.run import readers, tenant_index
from pipeline.run.commit import committed_stage
from pipeline.run.context import StageContext, StageOutput
from pipeline.run.report import STAGE, ReportResult, TargetSummary


def summarise(target: str, results: dict[str, Any]) -> TargetSummary:
    trained = results.get("train", {})
    ev = results.get("evaluate", {})
    gate = results.get("gate", {})
    reasons = list(gate.get("reasons") or [])
    for stage in ("train", "evaluate"):
        if results.get(stage, {}).get("status") == "skipped" and not reasons:
            reasons.append(results[stage].get("reason") or f"{stage} skipped")
    return TargetSummary(
        target=target,
        trained=trained.get("status") == "ok",
        optimizer=trained.get("optimizer"),
        improvement_pct=ev.get("improvement_pct"),
        candidate_accuracy=(ev.get("candidate_metrics") or {}).get("accuracy"),
        baseline_accuracy=(ev.get("baseline_metrics") or {}).get("accuracy"),
        baseline=(ev.get("baseline") or {}).get("label"),
        decision=gate.get("decision") or ("skipped" if trained.get("status") == "skipped" else None),
        deployed=bool(gate.get("deployed")),
        reasons=reasons,
        heldout_size=trained.get("heldout_size") if trained.get("status") == "ok" else None,
        orchestration_train=trained.get("orchestration_train"),
        primary_metric=ev.get("primary_metric") or "accuracy",
        candidate_score=(ev.get("candidate_metrics") or {}).get("mean_score"),
        baseline_score=(ev.get("baseline_metrics") or {}).get("mean_score"),
        distillation=ev.get("distillation"),
    )


@committed_stage(STAGE, ReportResult)
def run(ctx: StageContext, inputs: BaseModel | None, out: StageOutput) -> ReportResult:
    stages = readers.run_results(ctx)
    summaries = [summarise(t, r) for t, r in stages["targets"].items()]
    manifest = {
        "tenant": ctx.tenant,
        "run_id": ctx.run_id,
        "generated_at": datetime.now(timezone.utc).isoformat(),
        "store": ctx.store.url,
        "run_prefix": ctx.run_prefix,
        "config": ctx.config.model_dump(mode="json"),
        "stages": stages,
        "summary": [s.model_dump() for s in summaries],
    }
    manifest_key = out.put_json(MANIFEST_FILE, manifest)
    report_key = out.put_bytes(HTML_FILE, render_html(ctx, stages, summaries).encode())
    local = ctx.store.local_path(report_key)
    return ReportResult(
        tenant=ctx.tenant,
        run_id=ctx.run_id,
        targets=summaries,
        improvements={s.target: s.improvement_pct for s in summaries},
        deployed=[s.target for s in summaries if s.deployed],
        any_deployed=any(s.deployed for s in summaries),
        manifest_key=manifest_key,
        report_key=report_key,
        report_location=ctx.store.describe(report_key),
        report_path=str(local) if local else None,
    )


# ---------------------------------------------------------------------------- HTML
_CSS = """
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#1d2433;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{margin-top:2.2rem;border-bottom:1px solid #e3e7ef;padding-bottom:.3rem}
.muted{color:#6b7385} table{border-collapse:collapse;margin:.6rem 0} td,th{padding:.3rem .7rem;border-bottom:1px solid #eef0f5;text-align:left}
th{font-weight:600;background:#f7f8fb} .num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:.1rem .55rem;border-radius:1rem;font-size:.85rem;font-weight:600}
.promoted{background:#d9f5e3;color:#136c34}.rejected{background:#fde7e7;color:#9b1c1c}.skipped,.conflict{background:#eef0f5;color:#4a5263}
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #e3e7ef;border-radius:.6rem;padding:.8rem 1rem;min-width:150px}
.card b{display:block;font-size:1.4rem}
"""


def render_html(ctx: StageContext, stages: dict[str, Any], summaries: list[TargetSummary]) -> str:
    esc = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Optimization run {esc(ctx.run_id)} — {esc(ctx.tenant)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Optimization run <code>{esc(ctx.run_id)}</code></h1>",
        f"<p class='muted'>tenant <b>{esc(ctx.tenant)}</b> · store {esc(ctx.store.url)} · {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}</p>",
        _links(ctx),
        "<h2>Outcome</h2><table><tr><th>module</th><th>optimizer</th><th>baseline</th><th class='num'>baseline acc.</th>"
        "<th class='num'>candidate acc.</th><th class='num'>improvement</th><th>decision</th><th>why</th></tr>",
    ]
    for s in summaries:
        decision = s.decision or "not run"
        parts.append(
            f"<tr><td><b>{esc(s.target)}</b></td><td>{esc(s.optimizer or '—')}</td><td>{esc(s.baseline or '—')}</td>"
            f"<td class='num'>{_primary(s, s.baseline_accuracy, s.baseline_score)}</td>"
            f"<td class='num'>{_primary(s, s.candidate_accuracy, s.candidate_score)}</td>"
            f"<td class='num'>{'—' if s.improvement_pct is None else f'{s.improvement_pct:+.1f}%'}</td>"
            f"<td><span class='badge {esc(decision)}'>{esc(decision)}</span></td><td>{esc('; '.join(s.reasons))}</td></tr>"
        )
    parts.append("</table>")
    parts.append(_plan_section(stages.get("plan")))
    parts.append(_data_section(stages))
    parts.append(_provenance_section(ctx, stages))
    parts.append(_lm_calls_section(stages))
    parts.append(_orchestration_section(summaries))
    for target, results in stages["targets"].items():
        ev = results.get("evaluate") or {}
        if ev.get("status") != "ok":
            continue
        cand, base = ev["candidate_metrics"], ev["baseline_metrics"]
        parts.append(f"<h2>{esc(target)}: {esc(ev['baseline']['label'])} vs {esc(ev['candidate']['label'])}</h2>")
        parts.append(f"<p class='muted'>{ev['n']} {esc(ev['dataset'])} examples, LM <code>{esc(ev.get('lm') or '')}</code>; "
                     f"paired test: candidate-only right {ev['paired_test']['candidate_only_correct']}, baseline-only right "
                     f"{ev['paired_test']['baseline_only_correct']}, p = {ev['paired_test']['p_value']:.3f}</p>")
        parts.append(_evaluation_summary(ev, results.get("train") or {}))
        parts.append("<table><tr><th>metric</th><th class='num'>baseline</th><th class='num'>candidate</th></tr>")
        golden = cand.get("mean_score") is not None
        for name, fmt in ((("mean_score", _f3),) if golden else ()) + (
                ("accuracy", _pct), ("macro_f1", _pct), ("ece", _f3), ("mean_confidence", _f3),
                ("latency_p50_s", _f3), ("latency_p95_s", _f3), ("failures", str)):
            parts.append(f"<tr><td>{name.replace('_', ' ')}</td><td class='num'>{fmt(base[name])}</td><td class='num'>{fmt(cand[name])}</td></tr>")
        if ev.get("score_metric"):
            parts.append(f"<tr><td>mean {esc(ev['score_metric'])}</td><td class='num'>{_f3(ev.get('baseline_score'))}</td>"
                         f"<td class='num'>{_f3(ev.get('candidate_score'))}</td></tr>")
        parts.append("</table><h3>F1 per agent</h3>")
        parts.append(_bars_svg(base["per_agent"], cand["per_agent"]))
        parts.append("<h3>Confusion matrix (candidate; rows = correct agent)</h3>")
        parts.append(_confusion_svg(cand["confusion"]))
        parts.append(_golden_section(ctx, ev) if golden else _misrouted_section(ctx, ev))
    parts.append("</body></html>")
    return "".join(parts)


def _links(ctx: StageContext) -> str:
    """Relative links (the report is at runs/{run}/report/, and at runs/{run}/artifacts/ as the
    workflow's artifact: the same depth, with the manifest beside it) and the Phoenix project."""
    esc = html.escape
    phoenix = tenant_index.phoenix_project(ctx.config, ctx.tenant)
    return (f"<p class='links'><a id='history' href='{esc(tenant_index.INDEX_HREF_FROM_REPORT)}'>tenant history</a> · "
            f"<a href='{esc(MANIFEST_FILE)}'>{esc(MANIFEST_FILE)}</a> · "
            f"{tenant_index.phoenix_link(phoenix)}</p>")


def _stage_href(stage: str, part: str, name: str) -> str:
    return f"../{stage}/{quote(part)}/{name}"


def _provenance_section(ctx: StageContext, stages: dict[str, Any]) -> str:
    """Where the run's programs came from: the harvest window and its labels, and per trained
    target what its metadata.json recorded (git revision, optimizer and settings, data hashes,
    labels by source, LMs, library versions)."""
    esc = html.escape
    rows: list[tuple[str, str]] = []
    h = stages.get("harvest")
    if h:
        rows.append(("harvest window", f"{h.get('window_start')} → {h.get('window_end')} (Phoenix project {h.get('project')})"))
        rows.append(("labels by source (harvest)", _counts(h.get("labels_by_source"))))
    parts = ["<h2>Provenance</h2>"]
    if rows:
        parts.append("<table>" + "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in rows) + "</table>")
    for part, results in stages["targets"].items():
        trained = results.get("train") or {}
        if trained.get("status") != "ok" or not trained.get("artifact_prefix"):
            continue
        meta = readers.artifact_json(ctx.store, trained["artifact_prefix"], METADATA_FILE) or {}
        links = [f"<a href='{esc(_stage_href('train', part, name))}'>{esc(name)}</a>" for name in (METADATA_FILE, PROGRAM_FILE)]
        if (results.get("evaluate") or {}).get("status") == "ok":
            links.append(f"<a href='{esc(_stage_href('evaluate', part, EVALUATION_FILE))}'>{esc(EVALUATION_FILE)}</a>")
        facts = [
            ("git revision", str(meta.get("git_revision") or "unknown")),
            ("optimizer", f"{meta.get('optimizer') or trained.get('optimizer')} (strategy {meta.get('strategy') or '—'})"),
            ("data hashes", ", ".join(f"{k}: {v}" for k, v in sorted((meta.get("data_hashes") or {}).items())) or "—"),
            ("labels by source (training rows)", _counts(meta.get("labels_by_source"))),
            ("sizes", ", ".join(f"{k}: {v}" for k, v in (meta.get("sizes") or {}).items()) or "—"),
            ("LM · teacher", f"{meta.get('lm') or trained.get('lm') or '—'} · {meta.get('teacher_lm') or '—'}"),
            ("versions", ", ".join(f"{k} {v}" for k, v in sorted((meta.get("versions") or {}).items())) or "—"),
        ]
        body = "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in facts)
        settings = json.dumps(meta.get("optimizer_settings"), indent=2, sort_keys=True, default=str)
        parts.append(
            f"<h3>{esc(part)}</h3><p class='links'>{' · '.join(links)}</p><table>{body}</table>"
            f"<details><summary>optimizer settings</summary><pre>{esc(settings)}</pre></details>"
        )
    return "".join(parts) if len(parts) > 1 else ""


def _lm_calls_section(stages: dict[str, Any]) -> str:
    """The LM calls the run spent, as each stage metered them (cached answers cost none)."""
    esc = html.escape
    rows, total = [], 0
    for part, results in stages["targets"].items():
        trained, ev = results.get("train") or {}, results.get("evaluate") or {}
        if trained.get("compile_lm_calls") is not None:
            calls = int(trained["compile_lm_calls"])
            total += calls
            rows.append(("train", part, calls, f"{trained.get('compile_tokens') or 0} tokens"))
        if ev.get("lm_calls"):
            calls = sum(int(v or 0) for v in ev["lm_calls"].values())
            total += calls
            cached = ev.get("cached") or {}
            rows.append(("evaluate", part, calls, f"candidate {ev['lm_calls'].get('candidate', 0)} · baseline "
                         f"{ev['lm_calls'].get('baseline', 0)} · from the cache: {sum(int(v or 0) for v in cached.values())}"))
    if not rows:
        return ""
    body = "".join(f"<tr><td>{esc(s)}</td><td>{esc(p)}</td><td class='num'>{c}</td><td>{esc(d)}</td></tr>" for s, p, c, d in rows)
    a = stages.get("annotate") or {}
    note = ""
    if a:
        note = (f"<p class='muted'>annotate: the annotator LM answered {(a.get('verification') or {}).get('n') or 0} "
                f"verification examples and proposed {a.get('proposed') or 0} annotations ({a.get('failed') or 0} failed); "
                "annotate does not meter its calls, so they are not in the total.</p>")
    return (f"<h2>LM calls spent</h2><table id='lm-calls'><tr><th>stage</th><th>target</th><th class='num'>calls</th><th>detail</th></tr>"
            f"{body}<tr><td><b>total</b></td><td></td><td class='num'><b>{total}</b></td><td></td></tr></table>{note}")


def _counts(counts: Any) -> str:
    return ", ".join(f"{k}: {v}" for k, v in (counts or {}).items()) or "—"


def _evaluation_summary(ev: dict[str, Any], trained: dict[str, Any]) -> str:
    """Intervals, the production router's own accuracy, the tiers and the LM calls spent."""
    esc = html.escape
    rows = []
    ci, bi, diff = ev.get("candidate_interval"), ev.get("baseline_interval"), ev.get("difference")
    if ci and bi:
        rows.append(("accuracy, 95 % interval (Wilson)",
                     f"baseline {_pct(bi['low'])}–{_pct(bi['high'])} · candidate {_pct(ci['low'])}–{_pct(ci['high'])}"))
    if diff:
        rows.append(("candidate − baseline (Newcombe 95 %)",
                     f"{100 * diff['difference']:+.1f} points [{100 * diff['low']:+.1f}, {100 * diff['high']:+.1f}]"))
    inc = ev.get("incumbent")
    rows.append(("production router's own choices (human-labelled examples)",
                 f"{_pct(inc['accuracy'])} of {inc['n']} ({_pct(inc['low'])}–{_pct(inc['high'])})" if inc else
                 "no human-labelled example in this set (outcome labels are the router's own choices: they cannot grade it)"))
    for tier in ev.get("candidate_tiers") or []:
        mine = (f"; the classifier's own answers on these: {_pct(tier['classifier_accuracy'])}"
                if tier["tier"] == "lm" and tier.get("classifier_accuracy") is not None else "")
        rows.append((f"candidate's {tier['tier']} tier", f"answered {tier['n']}, {_pct(tier['accuracy'])} right{mine}"))
    calls, cached = ev.get("lm_calls") or {}, ev.get("cached") or {}
    if calls:
        rows.append(("LM calls (evaluation)", f"candidate {calls.get('candidate', 0)} · baseline {calls.get('baseline', 0)}"
                     f" ({cached.get('baseline', 0)} baseline answers from the cache)"))
    dist = ev.get("distillation")
    if dist:
        rows.append(("student before → after (held-out mean score)",
                     f"uncompiled {_f3(dist.get('uncompiled_student'))} → compiled {_f3(dist.get('compiled_student'))}; LM calls "
                     f"{(dist.get('lm_calls') or {}).get('uncompiled_student', 0)} → {(dist.get('lm_calls') or {}).get('compiled_student', 0)}; "
                     f"judge calls {dist.get('judge_lm_calls') or 0}"))
        rows.append(("teacher", f"{dist.get('teacher') or 'none'}: {dist.get('teacher_labelled') or 0} queries labelled, "
                                f"{dist.get('teacher_calls') or 0} teacher calls, {dist.get('cache_hits') or 0} cache hits"))
    for field, values in ((ev.get("field_agreement") or {}).get("candidate") or {}).items():
        base = ((ev.get("field_agreement") or {}).get("baseline") or {}).get(field)
        rows.append((f"field agreement: {field}", f"baseline {_pct(base)} · candidate {_pct(values)}"))
    if trained.get("compile_lm_calls") is not None:
        rows.append(("LM calls (training)", f"{trained['compile_lm_calls']} calls, {trained.get('compile_tokens') or 0} tokens, "
                     f"{trained.get('compile_seconds') or 0:.0f} s; dev accuracy {_pct(trained.get('dev_accuracy'))}"))
    body = "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _misrouted_section(ctx: StageContext, ev: dict[str, Any], limit: int = 25) -> str:
    """The examples the candidate got wrong, with what the baseline and the router chose."""
    esc = html.escape
    key = ev.get("report_key")
    if not key:
        return ""
    try:
        examples = ctx.store.get_json(key).get("examples", [])
    except Exception:  # a missing detail file must not break the report
        return ""
    wrong = [e for e in examples if (e.get("candidate") or {}).get("predicted") != e["gold"]]
    if not wrong:
        return "<h3>Misrouted by the candidate</h3><p>none</p>"
    rows = "".join(
        f"<tr><td>{esc(e['query'])}</td><td>{esc(e['gold'])}</td><td>{esc(str((e.get('candidate') or {}).get('predicted')))}"
        f"<span class='muted'> ({esc(str((e.get('candidate') or {}).get('tier') or ''))})</span></td>"
        f"<td>{esc(str((e.get('baseline') or {}).get('predicted')))}</td><td>{esc(str(e.get('router_choice') or '—'))}</td>"
        f"<td>{esc(str(e.get('label_source') or ''))}</td></tr>"
        for e in wrong[:limit]
    )
    more = f"<p class='muted'>… and {len(wrong) - limit} more (evaluation.json)</p>" if len(wrong) > limit else ""
    return (f"<h3>Misrouted by the candidate ({len(wrong)} of {len(examples)})</h3><table><tr><th>query</th><th>correct</th>"
            f"<th>candidate</th><th>baseline</th><th>router chose</th><th>label from</th></tr>{rows}</table>{more}")


def _golden_section(ctx: StageContext, ev: dict[str, Any], limit: int = 25) -> str:
    """A golden module's held-out examples the candidate scored lowest on, with both answers."""
    esc = html.escape
    try:
        examples = ctx.store.get_json(ev["report_key"]).get("examples", [])
    except Exception:  # a missing detail file must not break the report
        return ""
    worst = sorted(examples, key=lambda e: e.get("candidate_score") or 0.0)[:limit]
    rows = "".join(
        f"<tr><td>{esc(str(e.get('query')))}</td><td class='num'>{_f3(e.get('candidate_score'))}</td>"
        f"<td class='num'>{_f3(e.get('baseline_score'))}</td><td><code>{esc(str((e.get('candidate') or {}).get('predicted')))[:400]}</code></td>"
        f"<td><code>{esc(str(e.get('gold')))[:400]}</code></td></tr>"
        for e in worst
    )
    return ("<h3>Lowest-scored by the candidate</h3><table><tr><th>query</th><th class='num'>candidate</th>"
            f"<th class='num'>baseline</th><th>candidate answer</th><th>golden</th></tr>{rows}</table>")


def _plan_section(plan: dict[str, Any] | None) -> str:
    if not plan:
        return ""
    esc = html.escape
    rows = "".join(
        f"<tr><td><b>{esc(d['target'])}</b></td><td>{'train' if d['train'] else 'skip'}{' (forced)' if d.get('forced') else ''}</td>"
        f"<td>{esc(d['strategy'])}</td><td class='num'>{d['real_examples']}</td>"
        f"<td class='num'>{_signed_pct(d.get('expected_improvement_pct'))}</td>"
        f"<td>{esc(d['decided_by'])}</td><td>{esc(d['reason'])}</td></tr>"
        for d in plan.get("decisions", [])
    )
    return (
        "<h2>Plan</h2><table><tr><th>module</th><th>decision</th><th>strategy</th><th class='num'>labelled real</th>"
        f"<th class='num'>expected</th><th>decided by</th><th>why</th></tr>{rows}</table>"
    )


def _data_section(stages: dict[str, Any]) -> str:
    h, a, s = stages.get("harvest"), stages.get("annotate"), stages.get("synthesize")
    cards = []
    if h:
        cards += [("spans read", h["spans_read"]), ("experiences", h["experiences"]), ("duplicates dropped", h["duplicates"]),
                  ("malformed skipped", sum(h["malformed"].values())), ("labelled", h["labelled"])]
        if h.get("orchestration_spans_read"):
            cards += [("orchestration spans", h["orchestration_spans_read"]), ("workflow executions", h.get("executions", 0))]
    if a:
        cards += [("LLM annotations used", a["annotated"]), ("annotation failures", a["failed"])]
    if s:
        cards += [("synthetic examples", s["generated"])]
    body = "".join(f"<div class='card'><b>{v}</b>{html.escape(k)}</div>" for k, v in cards)
    extra = ""
    if h and h["malformed"]:
        extra = "<p class='muted'>malformed: " + html.escape(", ".join(f"{k}: {v}" for k, v in h["malformed"].items())) + "</p>"
    if h and h.get("orchestration_malformed"):
        extra += "<p class='muted'>malformed orchestration spans: " + html.escape(
            ", ".join(f"{k}: {v}" for k, v in h["orchestration_malformed"].items())) + "</p>"
    if h:
        extra += "<p class='muted'>labels by source: " + html.escape(", ".join(f"{k}: {v}" for k, v in h["labels_by_source"].items())) + "</p>"
    if a and a.get("verification"):
        verdict = a["verification"]
        extra += f"<p><b>LLM annotator:</b> {html.escape(verdict['reason'])}" + (
            "" if verdict["trusted"] else " — its annotations were not written to Phoenix and not used for training") + "</p>"
    return f"<h2>Data</h2><div class='cards'>{body}</div>{extra}"


def _orchestration_section(summaries: list[TargetSummary]) -> str:
    """Did orchestration data help routing? `unified` (routing + workflow executions) beside
    `routing` (traffic only): the executions' rows each trained on and their held-out accuracy
    (the same real routing labels when both trained in this run)."""
    by_target = {s.target: s for s in summaries}
    if "unified" not in by_target:
        return ""
    rows = []
    for name in ("routing", "unified"):
        s = by_target.get(name)
        if s is None:
            continue
        rows.append(f"<tr><td><b>{name}</b></td><td class='num'>{s.orchestration_train or 0}</td>"
                    f"<td class='num'>{'—' if s.heldout_size is None else s.heldout_size}</td>"
                    f"<td class='num'>{_pct(s.candidate_accuracy)}</td></tr>")
    verdict = ""
    routing, unified = by_target.get("routing"), by_target["unified"]
    if routing is not None and routing.candidate_accuracy is not None and unified.candidate_accuracy is not None:
        delta = unified.candidate_accuracy - routing.candidate_accuracy
        verdict = (f"<p>With {unified.orchestration_train or 0} orchestration rows, held-out accuracy "
                   f"{'rose' if delta > 0 else 'fell' if delta < 0 else 'did not change'} by {abs(delta) * 100:.1f} points.</p>")
    return ("<h2>Orchestration data in routing</h2><p class='muted'>unified = routing trained on routing traffic plus "
            "the workflow executions as routing experiences (label source <code>orchestration</code>, never held out)</p>"
            "<table><tr><th>module</th><th class='num'>orchestration rows used</th><th class='num'>held-out</th>"
            f"<th class='num'>held-out acc.</th></tr>{''.join(rows)}</table>{verdict}")


def _bars_svg(base: dict[str, Any], cand: dict[str, Any]) -> str:
    agents = sorted(set(base) | set(cand))
    row_h, label_w, bar_w = 34, 190, 420
    height = row_h * len(agents) + 30
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{label_w + bar_w + 80}' height='{height}' role='img' aria-label='F1 per agent'>"]
    for i, agent in enumerate(agents):
        y = 10 + i * row_h
        b = (base.get(agent) or {}).get("f1", 0.0)
        c = (cand.get(agent) or {}).get("f1", 0.0)
        out.append(f"<text x='0' y='{y + 17}' font-size='13'>{html.escape(agent)}</text>")
        out.append(f"<rect x='{label_w}' y='{y}' width='{b * bar_w:.1f}' height='12' fill='#a7b0c2'><title>baseline {b:.2f}</title></rect>")
        out.append(f"<rect x='{label_w}' y='{y + 14}' width='{c * bar_w:.1f}' height='12' fill='#3767d6'><title>candidate {c:.2f}</title></rect>")
        out.append(f"<text x='{label_w + max(b, c) * bar_w + 6:.1f}' y='{y + 20}' font-size='12' fill='#4a5263'>{b:.2f} → {c:.2f}</text>")
    out.append(f"<text x='{label_w}' y='{height - 4}' font-size='12' fill='#6b7385'>grey: baseline · blue: candidate</text></svg>")
    return "".join(out)


def _confusion_svg(confusion: dict[str, dict[str, int]]) -> str:
    gold = sorted(confusion)
    predicted = sorted({p for row in confusion.values() for p in row} | set(gold))
    cell, left, top = 44, 190, 150
    peak = max((v for row in confusion.values() for v in row.values()), default=1)
    # room on the right for the last column's slanted label
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{left + cell * len(predicted) + 140}' height='{top + cell * len(gold) + 10}' role='img' aria-label='confusion matrix'>"]
    for j, p in enumerate(predicted):
        x = left + j * cell + cell / 2
        out.append(f"<text transform='translate({x:.0f},{top - 6}) rotate(-55)' font-size='12'>{html.escape(p)}</text>")
    for i, g in enumerate(gold):
        y = top + i * cell
        out.append(f"<text x='0' y='{y + cell / 2 + 4:.0f}' font-size='12'>{html.escape(g)}</text>")
        for j, p in enumerate(predicted):
            v = confusion[g].get(p, 0)
            shade = 0.08 + 0.92 * v / peak if v else 0.0
            color = "#2f9e5b" if p == g else "#d64545"
            out.append(f"<rect x='{left + j * cell}' y='{y}' width='{cell - 2}' height='{cell - 2}' fill='{color}' fill-opacity='{shade:.2f}' stroke='#eef0f5'/>")
            if v:
                out.append(f"<text x='{left + j * cell + cell / 2 - 1:.0f}' y='{y + cell / 2 + 4:.0f}' font-size='12' text-anchor='middle'>{v}</text>")
    out.append("</svg>")
    return "".join(out)


def _signed_pct(value: Any) -> str:
    return "—" if value is None else f"{value:+.1f}%"


def _primary(summary: Any, accuracy: Any, score: Any) -> str:
    """Accuracy, or a golden module's mean metric score (its primary metric)."""
    return f"{_f3(score)} score" if summary.primary_metric == "mean_score" else _pct(accuracy)


def _pct(value: Any) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _f3(value: Any) -> str:
    return "—" if value is None else f"{value:.3f}"
