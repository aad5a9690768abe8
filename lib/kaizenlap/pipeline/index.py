"""The run's pages and lines: ``index.html`` (every race × task kind with status, duration, headline,
links; each race's data quality: ledger and reconciliation summary; track tasks; failures with the cell
that failed) and what ``run`` prints."""
from __future__ import annotations

import html
import math
import os
from pathlib import Path

from kaizenlap.core import params
from kaizenlap.core.atomic import write_json
from kaizenlap.pipeline.manifest import MANIFEST
from kaizenlap.store.ingest_documents import quality_document
from kaizenlap.tasks.registry import race_tasks, track_tasks
from kaizenlap.tasks.model import RunResult, first_line, where

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem;color:#222}
h1{font-size:1.4rem;margin-bottom:.2rem} .meta{color:#555;font-size:.9rem;margin-bottom:1rem}
table{border-collapse:collapse;width:100%;font-size:.85rem} th,td{border:1px solid #ddd;padding:.35rem .5rem;
vertical-align:top;text-align:left} th{background:#f4f4f4;position:sticky;top:0}
.ok{color:#1a7f37;font-weight:600} .reused{color:#0969da;font-weight:600} .failed{color:#cf222e;font-weight:700}
.hl{display:block;margin:.15rem 0} .links a{margin-right:.4rem} .dur{color:#777}
td.failed-cell{background:#fff5f5} code{font-size:.8rem} .err{white-space:pre-wrap;font-family:monospace;font-size:.8rem}
.warning{color:#9a6700;font-weight:600} .error{color:#cf222e;font-weight:700} .info{color:#555}
"""

QUALITY_FILE = "data_quality.json"


def _num(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def quality_summary(race, file: str | None = None) -> dict:
    """One race's data quality for ``run.json`` (field ``quality``) and the index: status, laps, clean laps,
    the ledger (issues by severity and by code), the exclusions (laps per flag) and the reconciliation with
    the official timing (cars; cars with an official best lap; of those, how many agree on the best lap
    within ``params/ingest.yaml`` ``reconcile.time_tolerance_s`` and on the lap count). ``file``: where the
    full quality document was written, relative to the run folder (:func:`write_quality`)."""
    q = quality_document(race)
    tol = float(params.load("ingest")["reconcile"]["time_tolerance_s"])
    rec = q.get("reconciliation") or []
    official = [r for r in rec if _num(r.get("official_best_lap_s")) is not None]
    best_agree = sum(1 for r in official if _num(r.get("best_lap_s")) is not None
                     and abs(_num(r["best_lap_s"]) - _num(r["official_best_lap_s"])) <= tol)
    with_laps = [r for r in rec if _num(r.get("official_laps")) is not None]
    laps_agree = sum(1 for r in with_laps if _num(r.get("laps")) == _num(r.get("official_laps")))
    return {"race_id": q["race_id"], "track_id": q["track_id"], "status": q["status"], "laps": q["n_laps"],
            "clean_laps": q["n_clean"], "ledger": {"entries": len(q.get("issues") or []),
                                                   "by_severity": q.get("counts") or {},
                                                   "by_code": q.get("by_code") or {}},
            "exclusions": {e["flag"]: int(e["laps"]) for e in q.get("exclusions") or [] if e.get("laps")},
            "reconciliation": {"cars": len(rec), "official_best_lap": len(official),
                               "best_lap_agrees": best_agree, "official_laps": len(with_laps),
                               "laps_agree": laps_agree, "tolerance_s": tol},
            "file": file}


def write_quality(run_dir: str | os.PathLike, races) -> dict[str, dict]:
    """Write each race's full quality document (ledger entries, exclusions, per-car reconciliation) to
    ``<run_dir>/<race_id>/data_quality.json`` and return ``{race_id: quality_summary}`` for ``run.json``'s
    field ``quality`` (which :func:`render_index` shows and links)."""
    run_dir = Path(run_dir)
    out: dict[str, dict] = {}
    for race in races:
        rel = f"{race.race_id}/{QUALITY_FILE}"
        (run_dir / race.race_id).mkdir(parents=True, exist_ok=True)
        write_json(run_dir / rel, quality_document(race))
        out[race.race_id] = quality_summary(race, rel)
    return out


def _quality_row(rid: str, q: dict) -> str:
    led = q.get("ledger") or {}
    sev = led.get("by_severity") or {}
    sev_text = ", ".join(f'<span class="{html.escape(k)}">{int(v)} {html.escape(k)}</span>'
                         for k, v in sorted(sev.items())) or "no entries"
    codes = ", ".join(f"{html.escape(k)} {int(v)}" for k, v in sorted((led.get("by_code") or {}).items()))
    rec = q.get("reconciliation") or {}
    rec_text = (f"{rec.get('cars', 0)} cars; best lap agrees with the official for {rec.get('best_lap_agrees', 0)}"
                f"/{rec.get('official_best_lap', 0)}; lap count for {rec.get('laps_agree', 0)}"
                f"/{rec.get('official_laps', 0)}") if rec else "-"
    excl = ", ".join(f"{html.escape(k)} {v}" for k, v in (q.get("exclusions") or {}).items()) or "-"
    link = f' <a href="{html.escape(q["file"])}">quality document</a>' if q.get("file") else ""
    status = html.escape(str(q.get("status")))
    return (f"<tr id='quality-{html.escape(rid)}'><th>{html.escape(rid)}</th>"
            f"<td><span class='{'ok' if status == 'loaded' else 'failed'}'>{status}</span>{link}</td>"
            f"<td>{q.get('laps', '-')} / {q.get('clean_laps', '-')}</td>"
            f"<td>{sev_text}{'<br><span class=dur>' + codes + '</span>' if codes else ''}</td>"
            f"<td>{html.escape(rec_text)}</td><td>{excl}</td></tr>")


def _cell(t: dict) -> str:
    if t is None:
        return "<td>-</td>"
    status = t["status"]
    dur = f"{t['duration_s']:.1f} s" if t.get("duration_s") else ("reused" if status == "reused" else "")
    parts = [f'<span class="{status}">{status}</span> <span class="dur">{html.escape(dur)}</span>']
    if status == "reused" and t.get("reused_from"):
        parts.append(f'<span class="dur">from {html.escape(t["reused_from"])}</span>')
    if t.get("headline", {}).get("text"):
        parts.append(f'<span class="hl">{html.escape(t["headline"]["text"])}</span>')
    if status == "failed" and t.get("error"):
        e = t["error"]
        parts.append(f'<span class="hl">{html.escape(where(e))}<b>{html.escape(str(e.get("ename")))}</b>: '
                     f'{html.escape(first_line(e.get("evalue")))}</span>')
    links = []
    for kind, label in (("html", "report"), ("ipynb", "notebook"), ("json", "json")):
        if t.get("files", {}).get(kind):
            href = f"{t['target']}/{t['files'][kind]}"
            links.append(f'<a href="{html.escape(href)}">{label}</a>')
    if links:
        parts.append(f'<span class="links">{" ".join(links)}</span>')
    cls = ' class="failed-cell"' if status == "failed" else ""
    return f"<td{cls}>{'<br>'.join(parts)}</td>"


def render_index(run: dict) -> str:
    """The run's index page: every race × engine (status, duration, headline, links), track models,
    failures with the cell that failed."""
    tasks = run["tasks"]
    by = {(t["target"], t["name"]): t for t in tasks}
    race_ids = list(dict.fromkeys(t["target"] for t in tasks if t["kind"] == "race"))
    tracks = [t for t in tasks if t["kind"] == "track"]
    c = run["counts"]
    out = ["<!doctype html><html><head><meta charset='utf-8'>",
           f"<title>KaizenLap run {html.escape(run['run_id'])}</title><style>{_CSS}</style></head><body>",
           f"<h1>KaizenLap run {html.escape(run['run_id'])}</h1>",
           f"<div class='meta'>started {html.escape(run['started_utc'])}, wall {run['wall_s']:.1f} s, "
           f"{len(tasks)} tasks: <span class='ok'>{c.get('ok', 0)} ok</span>, "
           f"<span class='reused'>{c.get('reused', 0)} reused</span>, "
           f"<span class='failed'>{c.get('failed', 0)} failed</span>; workers {run['workers']}; "
           f"data {html.escape(', '.join(run['data']))}; kaizenlap {html.escape(run['kaizenlap_version'])} "
           f"(library {run['library_hash'][:10]}); machine-readable: <a href='run.json'>run.json</a>, "
           f"<a href='{MANIFEST}'>{MANIFEST}</a></div>"]
    st = run.get("store")
    if st:
        if st.get("published"):
            out.append(f"<p>Results store <code>{html.escape(str(st['url']))}</code>: published as run "
                       f"<code>{html.escape(st['run_id'])}</code>, data version <code>{html.escape(st['data_version'])}"
                       f"</code>, {st.get('parts')} parts, {st.get('failed_tasks')} failed task(s) recorded.</p>")
        else:
            out.append(f"<p class='failed'>Results store <code>{html.escape(str(st['url']))}</code>: not published "
                       f"({html.escape(str(st.get('error')))}); it keeps serving its previous run.</p>")
    if run.get("races_missing"):
        out.append(f"<p class='failed'>Not found in the data: {html.escape(', '.join(run['races_missing']))}</p>")
    race_engines = [n for n in race_tasks() if any(t["name"] == n for t in tasks)] or list(race_tasks())
    track_names = [n for n in track_tasks() if any(t["name"] == n for t in tracks)]
    out.append("<h2>Races</h2><table><tr><th>race</th>"
               + "".join(f"<th>{e}</th>" for e in race_engines) + "</tr>")
    quality = run.get("quality") or {}
    for rid in race_ids:
        head = (f"<a href='#quality-{html.escape(rid)}'>{html.escape(rid)}</a>" if rid in quality
                else html.escape(rid))
        out.append(f"<tr><th>{head}</th>" + "".join(_cell(by.get((rid, e))) for e in race_engines) + "</tr>")
    out.append("</table>")
    if quality:
        out.append("<h2>Data quality</h2><table><tr><th>race</th><th>status</th><th>laps / clean</th>"
                   "<th>ledger</th><th>reconciliation with the official timing</th><th>excluded laps by flag</th></tr>")
        for rid in [*race_ids, *(r for r in quality if r not in race_ids)]:
            if rid in quality:
                out.append(_quality_row(rid, quality[rid]))
        out.append("</table>")
    if tracks:
        out.append("<h2>Tracks (races pooled)</h2><table><tr><th>track</th><th>races</th>"
                   + "".join(f"<th>{n}</th>" for n in track_names) + "</tr>")
        for tid in dict.fromkeys(t["target"] for t in tracks):
            first = next(t for t in tracks if t["target"] == tid)
            out.append(f"<tr><th>{html.escape(tid)}</th><td>{html.escape(', '.join(first['race_ids']))}</td>"
                       + "".join(_cell(by.get((tid, n))) for n in track_names) + "</tr>")
        out.append("</table>")
    failed = [t for t in tasks if t["status"] == "failed"]
    if failed:
        out.append("<h2 class='failed'>Failures</h2><table><tr><th>task</th><th>cell</th><th>error</th></tr>")
        for t in failed:
            e = t.get("error") or {}
            src = html.escape((e.get("source") or "").strip()[:400])
            link = (f" <a href='{html.escape(t['target'] + '/' + t['files']['html'])}'>report</a>"
                    if t.get("files", {}).get("html") else "")
            out.append(f"<tr><td>{html.escape(t['key'])}{link}</td><td>{html.escape(where(e).strip() or '-')}"
                       f"{'<br><code>' + src + '</code>' if src else ''}</td>"
                       f"<td class='err'>{html.escape(str(e.get('ename')))}: {html.escape(str(e.get('evalue')))}</td></tr>")
        out.append("</table>")
    out.append("</body></html>\n")
    return "\n".join(out)


def summary_lines(result: RunResult, reports_dir: str | os.PathLike) -> list[str]:
    """What ``run`` prints on stdout."""
    c = result.counts()
    lines = [f"run {result.run_id}: {len(result.tasks)} tasks, {c.get('ok', 0)} ok, {c.get('reused', 0)} reused, "
             f"{c.get('failed', 0)} failed in {result.wall_s:.1f} s",
             f"reports: {result.run_dir / 'index.html'}  (latest: {Path(reports_dir) / 'latest'})"]
    for t in result.failed:
        e = t.error or {}
        lines.append(f"  FAILED {t.key}: {where(e)}{e.get('ename')}: {first_line(e.get('evalue'))}")
    return lines


__all__ = ["render_index", "summary_lines", "quality_summary", "write_quality", "QUALITY_FILE"]
