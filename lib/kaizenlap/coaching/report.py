"""What the coaching notebook shows, as Markdown built here (the notebook stays thin): every piece of text
that comes from the data — car numbers, team and driver names, headlines, hypotheses, actions, reasons —
is escaped (:func:`md_escape`), so ``<script>`` in a team name is shown as text in the executed report,
never run; and no Markdown in the data (``*``, ``[link](...)``, backticks) changes the page.
"""
from __future__ import annotations

import html
import re

import pandas as pd

from kaizenlap.coaching.brief import brief_for_car, race_cars
from kaizenlap.coaching.objective import section_places

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def md_escape(value) -> str:
    """``value`` as literal text inside Markdown: HTML-escaped (``<``, ``>``, ``&``) and Markdown's
    punctuation backslash-escaped; line breaks become spaces."""
    text = html.escape(str(value), quote=False)
    text = re.sub(r"[\r\n\u2028\u2029]+", " ", text)
    return _MD_SPECIAL.sub(r"\\\1", text)


def md_code(value) -> str:
    """``value`` in a code font, escaped as :func:`md_escape` escapes it (an HTML ``<code>`` element: a Markdown
    code span would show the escapes)."""
    return f"<code>{md_escape(value)}</code>"


def car_people(laps: pd.DataFrame | None) -> dict[str, dict]:
    """``{car: {"team", "driver"}}`` from a race's laps (the first non-empty value of each)."""
    out: dict[str, dict] = {}
    if laps is None or "car" not in getattr(laps, "columns", []):
        return out
    for car, g in laps.groupby(laps["car"].astype(str), sort=False):
        row = {}
        for col, key in (("team", "team"), ("driver_name", "driver")):
            if col in g.columns:
                v = g[col].dropna()
                v = v[v.astype(str).str.strip() != ""]
                row[key] = str(v.iloc[0]) if len(v) else None
        out[str(car)] = row
    return out


def shown_briefs(docs, n: int) -> list:
    """The briefs of the race's first ``n`` cars (a car whose brief fails is skipped here; the coaching
    document lists it among ``failed_cars``)."""

    out = []
    for car in race_cars(docs.race_docs):
        if len(out) >= n:
            break
        try:
            out.append(brief_for_car(car, docs.race_docs, docs.track_docs, docs.quality))
        except Exception:  # noqa: BLE001 - reported by the coaching document
            continue
    return out


def race_heading(race, setting: str, computed: list[str], inputs: dict | None) -> str:
    return (f"**{md_escape(race.race_id)}** — {md_escape(race.track_id)} race {md_escape(race.race_number)}, "
            f"{md_escape(race.date)}: {len(race.laps)} laps, {race.clean_laps} clean, "
            f"{race.laps['car'].nunique()} cars.  \n"
            f"Generator setting: {md_code(_setting_shown(setting))}.  \n"
            + (f"Computed here (not handed over by the run): {md_escape(', '.join(computed))}." if computed else
               f"Engine documents read from the run: {md_escape(', '.join(sorted(inputs or {})))}."))


def _setting_shown(setting: str) -> str:
    """The generator setting without credentials or a query string (``?key=``)."""
    return re.sub(r"//[^/@\s]*@", "//", str(setting)).split("?", 1)[0]


def _who(car: str, people: dict | None) -> str:
    p = (people or {}).get(str(car)) or {}
    bits = [md_escape(p[k]) for k in ("driver", "team") if p.get(k)]
    return f" ({', '.join(bits)})" if bits else ""


def brief_heading(b, people: dict | None = None) -> str:
    return (f"**Car {md_escape(b.car)}**{_who(b.car, people)} ({md_escape(b.car_class)}), {b.n_clean} clean laps "
            f"of {b.n_laps}: {len(b.facts)} facts")


def car_markdown(car: dict, people: dict | None = None) -> str:
    """One car's coaching: headline, hypotheses (confidence, cited facts), actions (section, measure)."""
    g = car["generator"]
    lines = [f"**Car {md_escape(car['car'])}**{_who(car['car'], people)} — {md_escape(car['headline'])}  ",
             f"*generator: {md_escape(g['label'])}; validation: {md_escape(g['validation'])}*"]
    lines += [f"- hypothesis ({md_escape(h['confidence'])}): {md_escape(h['text'])} "
              f"{md_code(', '.join(h['supported_by']))}" for h in car["hypotheses"]]
    where = section_places(car.get("track_id"), [a["section"] for a in car["actions"] if a.get("section")])
    lines += [f"- action \\[{md_escape(where.get(a['section'], a['section'].upper()) if a['section'] else 'LAP')}\\]: "
              f"{md_escape(a['action'])} — measure "
              f"{md_code(a['measure']['metric'])} target {md_escape(a['measure']['target'])} over "
              f"{md_escape(a['measure']['over_laps'])} laps {md_code(', '.join(a['evidence']))}"
              for a in car["actions"]]
    if car.get("follow_up"):           # race 1's finding checked here (issue 20, item 6)
        lines.append(f"- follow-up from race 1: {md_escape(car['follow_up']['text'])}")
    return "\n".join(lines)


def failures_markdown(doc: dict) -> str | None:
    failed = doc.get("failed_cars") or []
    if not failed:
        return None
    return "**Cars without coaching** (their failure is recorded; the race's other cars are coached):\n" + "\n".join(
        f"- car {md_escape(f['car'])}: {md_escape(f['stage'])} failed — {md_escape(f['error'])}" for f in failed)


def calls_summary(doc: dict, n_calls: int) -> str:
    if n_calls:
        return f"{n_calls} model calls in {doc['elapsed_s']:.2f} s"
    return (f"No model calls (generator: {md_escape(doc['generator']['label'])}); {doc['elapsed_s']:.2f} s for "
            f"{doc['n_cars']} cars.")


def summary_markdown(race_id: str, summary: dict, path, stored_line: str) -> str:
    return (f"**Summary ({md_escape(race_id)}, coaching).** {md_escape(summary['text'])}"
            + (f"  \nDocument: {md_code(path)}" if path else "  \n(no `output_dir`: document not written)")
            + "  \n" + stored_line)


__all__ = ["md_escape", "md_code", "car_people", "shown_briefs", "race_heading", "brief_heading", "car_markdown",
           "failures_markdown", "calls_summary", "summary_markdown"]
