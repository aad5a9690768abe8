"""Best-case composite: the lap the field (or a car) would do by joining its best sections.

Field composite (per race, per class and for the whole field): for each section, the fastest time of that
section among the laps clean for section statistics (``is_clean_sections``), with the car and lap it came
from; the composite is the smaller of their sum and the scope's best clean lap (``is_clean``: every lap with a
valid lap time, splits or not), so no composite is slower than a lap actually driven. Computed for the 3
sectors and, separately, the 6 sub-sections. Per car: the personal composite (the same rule over the car's own
laps) and the personal best-k (per section, the median of the car's k fastest clean times, summed), each with
a residual-bootstrap interval under the car's own lap trend (order statistics: the percentile bootstrap
undercovers them; docs/DATA_REFERENCE.md §10.1), and the potential gain (best clean lap − personal composite)
against its distribution under the car's own noise alone (``potential_gain_beats_noise``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from kaizenlap.core.ids import doc_id
from kaizenlap.core.jsonclean import plain
from kaizenlap.core.laptime import format_lap
from kaizenlap.engines.common import (NOT_ENOUGH, SECTION_SETS, Estimate, order_stat_interval, order_stat_method, cfg, clean, clean_sections,
                                      interval_draws, interval_lap_draws, median_of_k_fastest, min_stat, not_enough,
                                      rng, scale_ratio, studentized, trend_model_draws,
                                      trend_model_fit)

ALL_CLASSES = "all"


def best_lap(laps: pd.DataFrame) -> dict | None:
    """The fastest lap of ``laps`` (already clean for lap-time statistics): time, car, lap, race; None if none."""
    t = laps["lap_time_s"].dropna()
    if t.empty:
        return None
    i = t.idxmin()
    return {"time_s": float(t[i]), "car": str(laps.at[i, "car"]), "lap": int(laps.at[i, "lap"]),
            "race_id": str(laps.at[i, "race_id"]), "n_laps": int(len(t))}


def bounded(doc: dict, best: dict | None) -> dict:
    """A field composite (``field_composite``) bounded by the scope's best clean lap: ``sections_sum_s`` = the
    sum of the components, ``total_s`` = min(sections_sum_s, best clean lap), ``bounded_by`` = which one gave it
    (``"sections"`` or ``"best_clean_lap"``), ``best_clean_lap`` = that lap."""
    if not doc.get("available"):
        return doc
    total = doc["total_s"]
    out = {**doc, "sections_sum_s": total, "best_clean_lap": best, "bounded_by": "sections"}
    if best is not None and best["time_s"] < total:
        out.update(total_s=round(best["time_s"], 3), bounded_by="best_clean_lap")
    return out


def field_composite(laps: pd.DataFrame, cols: list[str]) -> dict:
    """Fastest time of each section among ``laps`` (already clean for section statistics), with its car and
    lap; ``total_s`` their sum (see :func:`bounded` for the composite's bound by the best clean lap)."""
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


def other_lap_draws(x: np.ndarray, lap: np.ndarray, other_laps: np.ndarray, reps: int, salt: str) -> np.ndarray | None:
    """The car's clean laps without every split (``other_laps``: their lap numbers) simulated as whole laps: the
    sections' OLS lap trends summed, Normal noise with SD sqrt(sum of the sections' residual variances).
    Shape (reps, len(other_laps)); None when there are none."""
    if not len(other_laps):
        return None
    line, sd = trend_model_fit(x, lap)
    mean = line(other_laps).sum(axis=1)
    return mean[None] + rng(salt + "|other").standard_normal((reps, len(other_laps))) * np.sqrt((sd ** 2).sum())


def potential_gain_vs_noise(x: np.ndarray, lap: np.ndarray, other_laps: np.ndarray, observed: float,
                            draws: np.ndarray, salt: str) -> dict:
    """The car's potential gain (best clean lap − personal composite) against its distribution under the car's
    own noise alone: laps simulated as in the interval (per section the car's OLS lap trend + independent
    Normal noise, ``draws`` at the laps having every section, shape (reps, n, sections)); the car's other clean
    laps (splits missing) simulated as whole laps (the sections' trends summed, noise SD sqrt(Σ σ²)). Per draw,
    gap* = best simulated lap − min(sum of per-section minima, best simulated lap). No put-together potential
    exists in that model: gap* is what noise alone gives. ``potential_gain_beats_noise`` = observed gap > the
    ``composite.potential_gain_level`` (95%) quantile of gap*; p-value = (1 + #{gap* ≥ observed}) / (reps + 1)."""
    level = cfg()["composite"]["potential_gain_level"]
    laps_sum = draws.sum(axis=-1)                                   # (reps, n): simulated lap times
    best = laps_sum.min(axis=1)
    sim = other_lap_draws(x, lap, other_laps, draws.shape[0], salt)
    if sim is not None:
        best = np.minimum(best, sim.min(axis=1))
    gap = best - np.minimum(min_stat(draws), best)
    p95 = float(np.quantile(gap, level))
    return {"potential_gain_s": round(observed, 3), "noise_gap_expected_s": float(gap.mean()),
            "noise_gap_p95_s": p95, "potential_gain_beats_noise": bool(observed > p95 + 1e-9),
            "potential_gain_excess_s": float(observed - p95),
            "potential_gain_p_value": float((1 + (gap >= observed - 1e-9).sum()) / (len(gap) + 1)),
            "potential_gain_method": (f"parametric simulation of the car's clean laps under its own noise (per section "
                                      f"the OLS lap trend + independent Normal noise, {len(gap)} draws): gap* = best "
                                      f"lap − personal composite; beats noise = observed gap > its "
                                      f"{level:.0%} quantile")}


def car_composites(laps: pd.DataFrame, cols: list[str], salt: str, lap_laps: pd.DataFrame | None = None) -> dict:
    """One car's personal composite and best-k over its laps clean for section statistics (``laps``) having
    every section of ``cols``. ``lap_laps``: the car's laps clean for lap-time statistics (default: ``laps``):
    the personal composite is bounded by their best lap, and the potential gain is tested against noise."""
    c = cfg()
    k = c["best_k"]
    lap_laps = laps if lap_laps is None else lap_laps
    full = laps.dropna(subset=cols)
    n = len(full)
    if n < c["min_clean_laps"]:
        return {"n": n, "personal_composite": not_enough(n).to_dict(), "best_k": not_enough(n).to_dict(),
                "potential_gain_beats_noise": False}
    x = full[cols].to_numpy(dtype=float)
    lap = full["lap"].to_numpy(float)
    # Order statistics: the percentile bootstrap of a minimum has lo == value (coverage 41 % on the sample);
    # a residual bootstrap under the car's own lap trend, centred on the observed value, covers.
    # The potential gain's noise-only test keeps the Normal trend model (its documented rule, 10.1); the intervals
    # use the residual bootstrap, whose lower tail is the car's own (10.5).
    draws = trend_model_draws(x, lap, salt)
    # The track scope pools races: each race is drawn at its own level (a damp race's slower laps shift that
    # race, they are not noise; 10.1).
    race = full["race_id"].astype(str).to_numpy() if "race_id" in full else None
    idraws = interval_draws(x, lap, salt, race=race)
    method = order_stat_method()
    p_sum = float(min_stat(x[None])[0])
    times = lap_laps["lap_time_s"].dropna()
    best = float(times.min()) if len(times) else float(full["lap_time_s"].min())
    p = min(p_sum, best)
    bound = "best_clean_lap" if best < p_sum else "sections"
    others = lap_laps.loc[~lap_laps.index.isin(full.index)].dropna(subset=["lap_time_s"])
    # The bounded statistic in every draw: a lap without every split can be faster than the sections' sum (a
    # lap with them never is: a sum of minima is at most any lap's sum).
    ratio = scale_ratio(x, lap, idraws, race)            # bootstrap-t: each section's term by its draw's spread
    bounded = studentized(idraws.min(axis=1), ratio).sum(axis=-1)
    other_laps = others["lap"].to_numpy(float)
    other_sim = (interval_lap_draws(x, lap, other_laps, idraws.shape[0], salt, race=race,
                                    other_race=others["race_id"].astype(str).to_numpy() if race is not None else None,
                                    other_times=others["lap_time_s"].to_numpy(float))
                 if len(other_laps) else None)
    if other_sim is not None:
        bounded = np.minimum(bounded, other_sim.min(axis=1))
    lo, hi = order_stat_interval(np.array(p), bounded)
    pc = Estimate(round(p, 3), float(lo), float(hi), n,
                  "min(sum of the car's fastest clean time per section, its best clean lap); " + method
                  + "; laps without every split simulated as whole laps and the minimum taken in every draw")
    stat = median_of_k_fastest(k)
    pk = float(stat(x[None])[0])
    lo, hi = order_stat_interval(np.array(pk), studentized(np.median(np.sort(idraws, axis=1)[:, :k], axis=1),
                                                           ratio).sum(axis=-1))
    bk = Estimate(round(pk, 3), float(lo), float(hi), n, f"sum over sections of the median of the car's {k} fastest "
                                                        f"clean times; {method}")
    gain = potential_gain_vs_noise(x, lap, others["lap"].to_numpy(float), best - round(p, 3), draws, salt)
    races = {}
    if race is not None and len(set(lap_laps["race_id"].astype(str))) > 1:
        # Which race's conditions the car's composite is in: the race of each section's fastest time (and of
        # the bounding lap), and the car's median clean lap per race.
        src = [str(race[int(np.argmin(x[:, j]))]) for j in range(len(cols))]
        if bound == "best_clean_lap":
            src.append(str(lap_laps.loc[times.idxmin(), "race_id"]))
        races = {"composite_races": sorted(set(src)),
                 "median_lap_by_race_s": {str(k): float(v) for k, v in
                                          lap_laps.groupby("race_id")["lap_time_s"].median().items()}}
    return {"n": n, "personal_composite": pc.to_dict(), "best_k": bk.to_dict(),
            "sections_sum_s": round(p_sum, 3), "best_clean_lap_s": best, "bounded_by": bound, **gain, **races,
            "sections": {col[:-2]: {"fastest_s": float(np.min(x[:, j])),
                                    "best_k_s": float(np.median(np.sort(x[:, j])[:k]))}
                         for j, col in enumerate(cols)}}


def analyse(laps: pd.DataFrame, race_id: str, scope: str = "race") -> dict:
    """The composite document for one race (``scope='race'``) or a track's races pooled (``'track'``)."""
    pool = clean(laps)                 # lap-time statistics: the best clean lap that bounds every composite
    spool = clean_sections(laps)       # section statistics: the sections joined
    classes = sorted(c for c in pool["class"].dropna().unique())
    field = []
    # A class split only where the race has more than one class (otherwise it repeats the field's).
    for cls in [ALL_CLASSES, *(classes if len(classes) > 1 else [])]:
        sub = pool if cls == ALL_CLASSES else pool[pool["class"] == cls]
        ssub = spool if cls == ALL_CLASSES else spool[spool["class"] == cls]
        for set_name, cols in SECTION_SETS.items():
            doc = bounded(field_composite(ssub, cols), best_lap(sub))
            field.append({"class": cls, "section_set": set_name, **doc})
    cars = []
    for car, g in laps.groupby("car", sort=True):
        gc, gs = clean(g), clean_sections(g)
        entry = {"car": car, "number": str(g["number"].iloc[0]), "class": g["class"].iloc[0],
                 "race_id": str(g["race_id"].iloc[0]) if scope == "race" else None,
                 "n_laps": int(len(g)), "n_clean": int(len(gc)), "n_clean_sections": int(len(gs)),
                 "best_clean_lap_s": float(gc["lap_time_s"].min()) if len(gc) else None}
        for set_name, cols in SECTION_SETS.items():
            entry[set_name] = car_composites(gs, cols, f"{race_id}|{car}|{set_name}", lap_laps=gc)
        cars.append(entry)
    doc = {"engine": "composite", "scope": scope, "race_id": race_id if scope == "race" else None,
           "track_id": str(laps["track_id"].iloc[0]) if len(laps) else None,
           "races": sorted(laps["race_id"].unique().tolist()),
           "n_laps": int(len(laps)), "n_clean": int(len(pool)), "n_clean_sections": int(len(spool)),
           "params": {"best_k": cfg()["best_k"], "bootstrap": cfg()["bootstrap"],
                      "min_clean_laps": cfg()["min_clean_laps"],
                      "potential_gain_level": cfg()["composite"]["potential_gain_level"]},
           "field": field, "cars": cars}
    if scope != "race":
        doc["race_levels"] = race_levels(pool)
    doc["invariants"] = check_invariants(doc, pool)
    return plain(doc)


def race_levels(pool: pd.DataFrame) -> dict:
    """The track scope's races and their conditions: per race the field's median clean lap and the median over
    the cars that ran every race of their own difference to the fastest race (``offset_s``, n = those cars);
    ``reference_race``: the race with the lowest median, whose conditions the track's composites are in
    (each section's minimum, and the minima in every draw of the intervals, come from it unless another
    race was as fast there; 10.1)."""
    med = pool.groupby("race_id")["lap_time_s"].median()
    if med.empty:
        return {"reference_race": None, "races": {}}
    ref = str(med.idxmin())
    by_car = pool.groupby(["car", "race_id"])["lap_time_s"].median().unstack()
    both = by_car.dropna()
    out = {}
    for r, m in med.items():
        d = (both[r] - both[ref]) if len(both) else pd.Series(dtype=float)
        out[str(r)] = {"field_median_lap_s": float(m), "n_laps": int((pool["race_id"] == r).sum()),
                       "offset_s": float(d.median()) if len(d) else None, "offset_n_cars": int(len(d))}
    return {"reference_race": ref, "races": out,
            "note": (f"each race at its own level: a slower race (a damp track) shifts its own laps and is not "
                     f"noise; the composites are in the conditions of {ref}, the race with the faster laps (a "
                     f"section comes from another race only where that race was faster there)")}


def check_invariants(doc: dict, pool: pd.DataFrame) -> dict:
    """Composite <= every clean lap of its scope (``pool``: clean for lap-time statistics, splits or not), the
    field's, a class's and each car's; sub-section composite <= sector composite."""
    tol = cfg()["composite"]["invariant_tolerance_s"]
    out = {}
    for f in doc["field"]:
        if not f.get("available"):
            continue
        sub = pool if f["class"] == ALL_CLASSES else pool[pool["class"] == f["class"]]
        out[f"{f['class']}/{f['section_set']}: composite <= every clean lap"] = \
            bool((sub["lap_time_s"].dropna() >= f["total_s"] - tol).all())
    best = pool.groupby("car")["lap_time_s"].min()
    out["cars: personal composite <= every clean lap of the car"] = all(
        c[s]["personal_composite"]["value"] <= best[c["car"]] + tol for c in doc["cars"] for s in SECTION_SETS
        if c[s]["personal_composite"]["value"] is not None and c["car"] in best)
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
                     "potential_gain_s": s.get("potential_gain_s"), "noise_gap_p95_s": s.get("noise_gap_p95_s"),
                     "beats_noise": s.get("potential_gain_beats_noise"),
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
    if f.get("bounded_by") == "best_clean_lap":
        lap = f["best_clean_lap"]
        text += f" (car {lap['car']}'s lap {lap['lap']}, faster than the sections joined)"
    if fs.get("available"):
        text += f" (sub-sections {format_lap(fs['total_s'])})"
    return {"text": text + f"; n={f['n_laps']} clean laps", "composite_s": f["total_s"],
            "composite_subsections_s": fs.get("total_s")}


def documents(doc: dict) -> list[dict]:
    """The store's composite document (one per race; ``track~<id>`` for the track's pooled composite)."""
    key = doc["race_id"] if doc.get("scope", "race") == "race" else doc_id("track", doc["track_id"])
    return [plain({"id": key, **doc})]


__all__ = ["headline", "documents", "analyse", "field_composite", "bounded", "best_lap", "car_composites",
           "potential_gain_vs_noise", "field_table", "cars_table", "NOT_ENOUGH"]
