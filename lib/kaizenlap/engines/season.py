"""A car's season (issue 21, item 4): one car number across the races it ran, from the published documents.

Per race: the finish (official position, laps, status against the winner), the pace gap to the field with its
interval, the consistency estimate of the pattern engine, the race's finding (:func:`persistence.findings`),
whether the previous race's finding at the same track held (:func:`persistence.check`), and the coaching
objective (the coaching document's first action). DATA_REFERENCE 10.8 has the formulas.

Pure functions on documents: :func:`car_season` takes what the store holds and reads nothing itself.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from kaizenlap.core.median_interval import order_rank

from . import persistence

MEDIAN_METHOD = ("median over the car's clean laps of (lap time − the field's median clean lap on that lap "
                 "number); distribution-free 95% interval from order statistics")


def median_interval(x: list[float] | np.ndarray, level: float = 0.95) -> dict:
    """The median of ``x`` and its distribution-free interval [x(k), x(n+1-k)] (order statistics, 1-based):
    k is the largest with P(Binomial(n, 1/2) <= k-1) <= (1-level)/2, so the coverage is at least ``level``.
    Fewer than 6 values give no interval at 95% (lo and hi None)."""
    a = np.sort(np.asarray([v for v in x if v is not None and math.isfinite(v)], dtype=float))
    n = len(a)
    if n == 0:
        return {"value": None, "lo": None, "hi": None, "n": 0, "method": MEDIAN_METHOD}
    j, cover = order_rank(n, float(level))   # one rule for order-statistic intervals (core.median_interval)
    lo, hi = (float(a[j - 1]), float(a[n - j])) if cover >= level else (None, None)
    return {"value": float(np.median(a)), "lo": lo, "hi": hi, "n": n, "method": MEDIAN_METHOD}


def dnf_laps(winner_laps: int) -> int:
    """A car this many laps (or more) down on the winner stopped early (the web app's ``dnfLaps``)."""
    return max(3, math.ceil(winner_laps * 0.1))


def finish(quality: dict | None, cars: list[dict], car: str) -> dict:
    """The car's result from the quality document's reconciliation with the results file: official position
    (overall and in class), laps, laps down on the winner and a status (winner, lead lap, +n laps, DNF).
    Mirrors web/src/results.ts."""
    rec = {r["car"]: r for r in (quality or {}).get("reconciliation", [])}

    def laps_of(c: dict) -> int:
        r = rec.get(c["car"], {})
        v = r.get("official_laps")
        return int(v if v is not None else (r.get("laps") if r.get("laps") is not None else c.get("laps") or 0))

    winner = next((c for c in cars if rec.get(c["car"], {}).get("official_position") == 1), None) \
        or max(cars, key=laps_of, default=None)
    me = next((c for c in cars if c["car"] == car), None)
    if me is None:
        return {}
    wl = laps_of(winner) if winner else 0
    laps = laps_of(me)
    pos = rec.get(car, {}).get("official_position")
    down = max(0, wl - laps)
    dnf = laps < wl and (down >= dnf_laps(wl) or (quality is not None and pos is None))
    status = ("winner" if winner is me else f"DNF ({laps} lap{'' if laps == 1 else 's'})" if dnf
              else f"+{down} lap{'' if down == 1 else 's'}" if down else "lead lap")
    return {"position": pos, "class_position": rec.get(car, {}).get("official_class_position"),
            "laps": laps, "laps_down": down, "winner_laps": wl, "status": status, "dnf": dnf,
            "field_size": len(cars)}


def sections_doc(car: str, section_docs: list[dict]) -> dict:
    """The sections engine's race document (``sections.analyse``) for one car, rebuilt from its published
    car-scope section documents (``ml_section_recommendations``, scope car), as :mod:`persistence` reads it."""
    entry: dict[str, Any] = {"car": car, "preferred_set": None}
    for d in section_docs:
        if d.get("scope") != "car" or d.get("car") != car:
            continue
        s = entry.setdefault(d["section_set"], {"available": False, "sections": []})
        s["available"] = s["available"] or bool(d.get("available"))
        s["sections"].append({"section": d["section"], "section_loss": d.get("section_loss")})
        if d.get("preferred"):
            entry["preferred_set"] = d["section_set"]
    return {"cars": [entry]}


def pace_gap(pattern: dict | None) -> dict:
    """Pace gap to the field: :func:`median_interval` of the pattern document's field-relative pace per clean
    lap (``trend.points.field_pace_s``: lap time − the field's median clean lap on that lap number)."""
    pts = ((pattern or {}).get("trend") or {}).get("points") or {}
    return median_interval(pts.get("field_pace_s") or [])


def objective(coaching: dict | None) -> dict | None:
    """The coaching objective: the document's first action (the one a model answer must keep), with the
    headline. Reads only the fields the coaching document has today."""
    if not coaching:
        return None
    acts = coaching.get("actions") or []
    a = acts[0] if acts else {}
    return {"section": a.get("section"), "action": a.get("action"), "measure": a.get("measure"),
            "headline": coaching.get("headline")}


def car_season(car: str, races: list[dict], per_race: dict[str, dict]) -> dict:
    """Car ``car`` across ``races`` (race documents with their ``cars``), in date order. ``per_race`` maps a
    race id to its ``quality``, ``pattern`` (the car's), ``sections`` (the car's car-scope section documents)
    and ``coaching`` (the car's) documents, any of them absent. Races the car did not run are left out."""
    ran = [r for r in races if any(c["car"] == car for c in r.get("cars", []))]
    ran.sort(key=lambda r: (r.get("date") or "", r.get("track_id") or "", r.get("race_number") or 0))
    out, docs = [], {}
    for r in ran:
        rid = r["race_id"]
        got = per_race.get(rid, {})
        docs[rid] = sections_doc(car, got.get("sections") or [])
        found = persistence.findings(docs[rid]).get(car)
        entry = next(c for c in r["cars"] if c["car"] == car)
        pattern = got.get("pattern")
        row = {"race_id": rid, "track_id": r.get("track_id"), "race_number": r.get("race_number"),
               "date": r.get("date"), "class": entry.get("class"), "laps": entry.get("laps"),
               "clean_laps": entry.get("clean_laps"), "best_lap_s": entry.get("best_lap_s"),
               "finish": finish(got.get("quality"), r.get("cars", []), car),
               "pace_gap": pace_gap(pattern),
               "consistency": (pattern or {}).get("consistency"),
               "finding": found, "objective": objective(got.get("coaching")), "previous": None}
        prev = [p for p in out if p["track_id"] == row["track_id"] and (p["race_number"] or 0) < (row["race_number"] or 0)]
        if prev:
            p = prev[-1]
            held = persistence.check(docs[p["race_id"]], docs[rid])
            h = next((x for x in held if x["car"] == car), None)
            row["previous"] = {"race_id": p["race_id"], "finding": p["finding"],
                               "held": h["held"] if h else None,
                               "now": h["race2"] if h else None,
                               "chance": h["chance"] if h else None}
        out.append(row)
    checked = [x["previous"] for x in out if x["previous"] and x["previous"]["held"] is not None]
    return {"car": car, "n_races": len(out), "races": out,
            "findings_checked": len(checked), "findings_held": sum(bool(x["held"]) for x in checked)}
