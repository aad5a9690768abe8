"""Best-case composite: the lap the field (or a car) would do by joining its best sections.

Field composite (per race, per class and for the whole field): for each section, the fastest clean
time of that section, with the car and lap it came from; the composite is their sum. Computed for the
3 sectors and, separately, the 6 sub-sections. Per car: the personal composite (sum of the car's
fastest clean section times) and the personal best-k (per section, the median of the car's k fastest
clean times, summed), each with a parametric-bootstrap interval under the car's own lap trend (order
statistics: the percentile bootstrap undercovers them; docs/DATA_REFERENCE.md §10.1).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from kaizenlap.core.ids import doc_id
from kaizenlap.core.jsonclean import plain
from kaizenlap.core.laptime import format_lap
from kaizenlap.engines.common import (NOT_ENOUGH, SECTION_SETS, Estimate, centred_interval, cfg, clean, median_of_k_fastest, min_stat, not_enough, trend_model_draws)

ALL_CLASSES = "all"


def field_composite(laps: pd.DataFrame, cols: list[str]) -> dict:
    """Fastest clean time of each section among ``laps`` (already clean), with its car and lap."""
    components = []
    for col in cols:
        v = laps[col].dropna()
        if v.empty:
            return {"available": False, "reason": f"no clean lap has a {col[:-2].upper()} time",
                    "n_laps": int(len(laps))}
        i = v.idxmin()
        components.append({"section": col[:-2], "time_s": float(v[i]), "car": str(laps.at[i, "car"]),
                           "lap": int(laps.at[i, "lap"]), "race_id": str(laps.at[i, "race_id"]),
                           "n_laps": int(len(v))})
    total = round(sum(c["time_s"] for c in components), 3)
    return {"available": True, "total_s": total, "n_laps": int(len(laps)), "components": components}


def car_composites(laps: pd.DataFrame, cols: list[str], salt: str) -> dict:
    """One car's personal composite and best-k over its clean laps having every section of ``cols``."""
    c = cfg()
    k = c["best_k"]
    full = laps.dropna(subset=cols)
    n = len(full)
    if n < c["min_clean_laps"]:
        return {"n": n, "personal_composite": not_enough(n).to_dict(), "best_k": not_enough(n).to_dict()}
    x = full[cols].to_numpy(dtype=float)
    # Order statistics: the percentile bootstrap of a minimum has lo == value (coverage 41 % on the sample);
    # a parametric bootstrap under the car's own lap trend, centred on the observed value, covers.
    draws = trend_model_draws(x, full["lap"].to_numpy(float), salt)
    method = ("parametric bootstrap (per section: the car's OLS lap trend + Normal noise), interval centred on "
              "the observed value")
    p = float(min_stat(x[None])[0])
    lo, hi = centred_interval(np.array(p), min_stat(draws))
    pc = Estimate(round(p, 3), float(lo), float(hi), n, f"sum of the car's fastest clean time per section; {method}")
    stat = median_of_k_fastest(k)
    p = float(stat(x[None])[0])
    lo, hi = centred_interval(np.array(p), stat(draws))
    bk = Estimate(round(p, 3), float(lo), float(hi), n, f"sum over sections of the median of the car's {k} fastest "
                                                       f"clean times; {method}")
    return {"n": n, "personal_composite": pc.to_dict(), "best_k": bk.to_dict(),
            "sections": {col[:-2]: {"fastest_s": float(np.min(x[:, j])),
                                    "best_k_s": float(np.median(np.sort(x[:, j])[:k]))}
                         for j, col in enumerate(cols)}}


def analyse(laps: pd.DataFrame, race_id: str, scope: str = "race") -> dict:
    """The composite document for one race (``scope='race'``) or a track's races pooled (``'track'``)."""
    pool = clean(laps)
    classes = sorted(c for c in pool["class"].dropna().unique())
    field = []
    # A class split only where the race has more than one class (otherwise it repeats the field's).
    for cls in [ALL_CLASSES, *(classes if len(classes) > 1 else [])]:
        sub = pool if cls == ALL_CLASSES else pool[pool["class"] == cls]
        for set_name, cols in SECTION_SETS.items():
            doc = field_composite(sub, cols)
            field.append({"class": cls, "section_set": set_name, **doc})
    cars = []
    for car, g in laps.groupby("car", sort=True):
        gc = clean(g)
        entry = {"car": car, "number": str(g["number"].iloc[0]), "class": g["class"].iloc[0],
                 "race_id": str(g["race_id"].iloc[0]) if scope == "race" else None,
                 "n_laps": int(len(g)), "n_clean": int(len(gc)),
                 "best_clean_lap_s": float(gc["lap_time_s"].min()) if len(gc) else None}
        for set_name, cols in SECTION_SETS.items():
            entry[set_name] = car_composites(gc, cols, f"{race_id}|{car}|{set_name}")
        cars.append(entry)
    doc = {"engine": "composite", "scope": scope, "race_id": race_id if scope == "race" else None,
           "track_id": str(laps["track_id"].iloc[0]) if len(laps) else None,
           "races": sorted(laps["race_id"].unique().tolist()),
           "n_laps": int(len(laps)), "n_clean": int(len(pool)),
           "params": {"best_k": cfg()["best_k"], "bootstrap": cfg()["bootstrap"],
                      "min_clean_laps": cfg()["min_clean_laps"]},
           "field": field, "cars": cars}
    doc["invariants"] = check_invariants(doc, pool)
    return plain(doc)


def check_invariants(doc: dict, pool: pd.DataFrame) -> dict:
    """Composite <= every clean lap (with all its sections); sub-section composite <= sector composite."""
    tol = cfg()["composite"]["invariant_tolerance_s"]
    out = {}
    for f in doc["field"]:
        if not f.get("available"):
            continue
        sub = pool if f["class"] == ALL_CLASSES else pool[pool["class"] == f["class"]]
        cols = SECTION_SETS[f["section_set"]]
        full = sub.dropna(subset=cols)
        out[f"{f['class']}/{f['section_set']}: composite <= every clean lap"] = \
            bool((full["lap_time_s"] >= f["total_s"] - tol).all())
    by = {(f["class"], f["section_set"]): f for f in doc["field"] if f.get("available")}
    for cls in {c for c, _ in by}:
        if (cls, "sectors") in by and (cls, "subsections") in by:
            out[f"{cls}: subsection composite <= sector composite"] = \
                by[(cls, "subsections")]["total_s"] <= by[(cls, "sectors")]["total_s"] + tol
    return out


def field_table(doc: dict, section_set: str = "sectors") -> pd.DataFrame:
    """The composite's components as a table (for notebooks and reports)."""
    rows = []
    for f in doc["field"]:
        if f["section_set"] != section_set:
            continue
        if not f.get("available"):
            rows.append({"class": f["class"], "section": "-", "time_s": None, "car": None, "lap": None,
                         "note": f.get("reason")})
            continue
        for c in f["components"]:
            rows.append({"class": f["class"], **{k: c[k] for k in ("section", "time_s", "car", "lap", "n_laps")}})
        rows.append({"class": f["class"], "section": "TOTAL", "time_s": f["total_s"], "n_laps": f["n_laps"]})
    return pd.DataFrame(rows)


def cars_table(doc: dict, section_set: str = "sectors") -> pd.DataFrame:
    rows = []
    for c in doc["cars"]:
        s = c[section_set]
        pc, bk = s["personal_composite"], s["best_k"]
        rows.append({"car": c["car"], "class": c["class"], "n_clean": s["n"],
                     "best_clean_lap_s": c["best_clean_lap_s"],
                     "personal_composite_s": pc["value"], "pc_lo": pc.get("lo"), "pc_hi": pc.get("hi"),
                     "best_k_s": bk["value"], "bk_lo": bk.get("lo"), "bk_hi": bk.get("hi"),
                     "note": pc.get("note") or ""})
    return pd.DataFrame(rows).sort_values("best_k_s", na_position="last").reset_index(drop=True)



# ------------------------------------------------------------------ run index and store

def headline(doc: dict) -> dict:
    by = {(f["class"], f["section_set"]): f for f in doc.get("field", [])}
    f = by.get(("all", "sectors"), {})
    fs = by.get(("all", "subsections"), {})
    if not f.get("available"):
        return {"text": f"no composite: {f.get('reason', 'no clean laps')}"}
    text = f"composite {format_lap(f['total_s'])}"
    if fs.get("available"):
        text += f" (sub-sections {format_lap(fs['total_s'])})"
    return {"text": text + f"; n={f['n_laps']} clean laps", "composite_s": f["total_s"],
            "composite_subsections_s": fs.get("total_s")}


def documents(doc: dict) -> list[dict]:
    """The store's composite document (one per race; ``track~<id>`` for the track's pooled composite)."""
    key = doc["race_id"] if doc.get("scope", "race") == "race" else doc_id("track", doc["track_id"])
    return [plain({"id": key, **doc})]


__all__ = ["headline", "documents", "analyse", "field_composite", "car_composites", "field_table", "cars_table", "NOT_ENOUGH"]
