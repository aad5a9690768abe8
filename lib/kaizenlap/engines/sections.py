"""Section analysis: where, section by section, each car loses time to the field's best.

For each car and section (laps clean for section statistics, ``is_clean_sections``: splits present and
consistent):
    best_k            = median of the car's k fastest times in the section
    pace_gap          = best_k - field composite section      (speed the car has not shown)
    consistency_cost  = median - best_k                       (what inconsistency costs per lap)
    loss              = median - field composite section      (= pace_gap + consistency_cost)
    section_loss      = (median - F) - sum_sections(median - F) * F / sum(F)
where F is the field's typical time in the section (median over the cars of their median). section_loss
is the time lost in the section beyond what the car's overall deficit, spread over the lap in proportion
to section time, explains: a car 1% off everywhere has section_loss 0 everywhere, and a positive value is
a weakness specific to that section (negative: a relative strength). median, consistency_cost, loss and
section_loss have a percentile-bootstrap interval (the car's clean laps resampled); best_k and pace_gap,
order statistics, a residual bootstrap under the car's own lap trend (docs/DATA_REFERENCE.md §10); the
references are the race's fixed values. Sections are ranked by the lower bound of section_loss; an interval that crosses zero is "not
significant". Why not rank by the raw loss: it grows with section length for any slower car and with the
section's noise (the composite is a minimum), so it points at long sections, not at the driver's weakness
(docs/DESIGN.md).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from kaizenlap.core.ids import doc_id, lap_key
from kaizenlap.core.jsonclean import plain
from kaizenlap.core.section_formulas import beyond_overall, best_k
from kaizenlap.engines.common import (SECTION_SET_OF, fmt3, SECTION_SETS, Estimate, order_stat_interval,
                                      order_stat_method, cfg, clean_sections, interval_draws, not_enough,
                                      ratio_interval, rng, scale_ratio, studentized)
from kaizenlap.ingest.flags import SECTION_REASONS, sections_clean
from kaizenlap.engines.composite import field_composite

STATS = ("median", "best_k", "pace_gap", "consistency_cost", "loss", "section_loss")


def lap_sections(laps: pd.DataFrame, reference: dict[str, float]) -> pd.DataFrame:
    """Every car-lap-section with its time, delta to the field composite section and to the car's own
    fastest clean time in that section. Flags are carried along; rows are never dropped: ``is_clean`` and
    ``exclusion_reasons`` here are the section rule's (``is_clean_sections``, ``section_exclusion_reasons``)."""
    rows = []
    pool = clean_sections(laps)
    own_best = {col: pool.groupby("car")[col].min() for cols in SECTION_SETS.values() for col in cols}
    reasons = laps[SECTION_REASONS] if SECTION_REASONS in laps else laps["exclusion_reasons"]
    base = laps[["race_id", "car", "lap"]].assign(is_clean=sections_clean(laps), exclusion_reasons=reasons)
    for cols in SECTION_SETS.values():
        for col in cols:
            section = col[:-2]
            part = base.assign(time_s=laps[col])
            part.insert(3, "section", section)
            part["delta_to_composite_s"] = part["time_s"] - reference.get(section, np.nan)
            part["delta_to_own_best_s"] = part["time_s"] - part["car"].map(own_best[col])
            rows.append(part)
    return pd.concat(rows, ignore_index=True)


def section_stats(a: np.ndarray, reference: np.ndarray, typical: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Every statistic per section of ``a`` (shape (..., n laps, sections)); reductions over the lap axis."""
    med = np.median(a, axis=-2)
    bk = best_k(a, k)
    section_loss = beyond_overall(med - typical, typical)
    return {"median": med, "best_k": bk, "pace_gap": bk - reference, "consistency_cost": med - bk,
            "loss": med - reference, "section_loss": section_loss}


ORDER_STATS = ("best_k", "pace_gap")     # intervals from the trend-model residual bootstrap
PERCENTILE_METHOD = "percentile bootstrap over the car's clean laps"   # the other statistics (ORDER_STATS: common)
RATIO_METHOD = ("smoothed residual bootstrap (per section: the car's OLS lap trend + its resampled residuals), "
                "ratio pivot: the observed value divided by the quantiles of draw / mean of the draws")


def consistency_ratio() -> bool:
    """``bootstrap.consistency_interval``: ``ratio`` (default; the trend-model draws, ratio pivot,
    :func:`kaizenlap.engines.common.ratio_interval`) or ``percentile`` (the percentile bootstrap of the laps, the
    rule up to issue 19 item 5, whose misses all fell above: DATA_REFERENCE 10.5)."""
    rule = cfg()["bootstrap"].get("consistency_interval", "ratio")
    if rule not in ("ratio", "percentile"):
        raise ValueError(f"bootstrap.consistency_interval: {rule!r}; known: ratio, percentile")
    return rule == "ratio"


def car_section_stats(x: np.ndarray, reference: np.ndarray, typical: np.ndarray, salt: str,
                      lap: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Point values and interval bounds of every statistic, per section (columns of ``x``).
    ``reference``: the field composite per section; ``typical``: the field's median per section.
    median, consistency_cost, loss, section_loss: percentile bootstrap of the car's clean laps. best_k and
    pace_gap (order statistics, where the percentile bootstrap undercovers): residual bootstrap under the
    car's own lap trend (``lap``: the laps' numbers), :func:`order_stat_interval` (calibrated arms)."""
    c = cfg()
    k, reps, level = c["best_k"], c["bootstrap"]["reps"], c["bootstrap"]["level"]
    from scipy import stats as sps
    point = section_stats(x, reference, typical, k)
    m = x.shape[1]

    def packed(*cols, axis=-1):        # every statistic of every section as one output vector
        a = np.moveaxis(np.stack(cols, axis=-1), axis - 1 if axis < 0 else axis, -2)
        st = section_stats(a, reference, typical, k)
        return np.moveaxis(np.concatenate([st[name] for name in STATS], axis=-1), -1, 0)

    # Percentile bootstrap of the car's clean laps, rows resampled together (paired).
    res = sps.bootstrap(tuple(x.T), packed, paired=True, vectorized=True, n_resamples=reps,
                        confidence_level=level, method="percentile", rng=rng(salt))
    lo_all, hi_all = res.confidence_interval.low, res.confidence_interval.high
    out = {}
    for i, name in enumerate(STATS):
        out[name] = (point[name], lo_all[i * m:(i + 1) * m], hi_all[i * m:(i + 1) * m])
    lap = np.arange(len(x), dtype=float) if lap is None else np.asarray(lap, float)
    draws = interval_draws(x, lap, salt)
    pdist = section_stats(draws, reference, typical, k)
    ratio = scale_ratio(x, lap, draws)
    for name in ORDER_STATS:
        lo, hi = order_stat_interval(point[name], studentized(pdist[name], ratio))
        out[name] = (point[name], lo, hi)
    if consistency_ratio():
        # The consistency cost (median - best-k) is a spread: from the same trend-model draws, a ratio pivot. A
        # cost that came out small comes with draws of a small cost, so an additive interval is narrow exactly
        # when the value is too low: the percentile bootstrap of the laps put every miss above (DATA_REFERENCE 10.5).
        lo, hi = ratio_interval(point["consistency_cost"], pdist["consistency_cost"])
        out["consistency_cost"] = (point["consistency_cost"], lo, hi)
    return out


def analyse(laps: pd.DataFrame, race_id: str) -> dict:
    c = cfg()
    ratio_rule = consistency_ratio()
    order_method = order_stat_method()
    pool = clean_sections(laps)
    reference, ref_docs = {}, {}
    for set_name, cols in SECTION_SETS.items():
        f = field_composite(pool, cols)
        ref_docs[set_name] = f
        if f.get("available"):
            reference.update({comp["section"]: comp["time_s"] for comp in f["components"]})
    # The field's typical time per section: median over cars (with enough clean laps) of their median.
    typical = {}
    for set_name, cols in SECTION_SETS.items():
        meds = [g.dropna(subset=cols)[cols].median() for _, g in pool.groupby("car")
                if len(g.dropna(subset=cols)) >= c["min_clean_laps"]]
        if meds:
            typical[set_name] = pd.concat(meds, axis=1).median(axis=1).to_numpy(float)
    cars = []
    for car, g in pool.groupby("car", sort=True):
        entry = {"car": car, "class": g["class"].iloc[0], "n_clean": int(len(g))}
        for set_name, cols in SECTION_SETS.items():
            if not ref_docs[set_name].get("available"):
                entry[set_name] = {"available": False, "reason": ref_docs[set_name].get("reason")}
                continue
            full = g.dropna(subset=cols)
            n = len(full)
            if n < c["min_clean_laps"]:
                entry[set_name] = {"available": False, "n": n, "reason": not_enough(n).note}
                continue
            ref = np.array([reference[col[:-2]] for col in cols])
            st = car_section_stats(full[cols].to_numpy(float), ref, typical[set_name], f"{race_id}|{car}|{set_name}",
                                   lap=full["lap"].to_numpy(float))
            sections = []
            for j, col in enumerate(cols):
                item = {"section": col[:-2], "n": n, "composite_s": float(ref[j]),
                        "field_typical_s": float(typical[set_name][j])}
                for name in STATS:
                    p, lo, hi = st[name]
                    how = RATIO_METHOD if name == "consistency_cost" and ratio_rule else \
                        order_method if name in ORDER_STATS else PERCENTILE_METHOD
                    item[name] = Estimate(float(p[j]), float(lo[j]), float(hi[j]), n, how).to_dict()
                item["significant"] = bool(st["section_loss"][1][j] > 0)
                sections.append(item)
            sections.sort(key=lambda s: s["section_loss"]["lo"], reverse=True)
            for rank, s in enumerate(sections, start=1):
                s["rank"] = rank
            entry[set_name] = {"available": True, "n": n, "sections": sections,
                               "total_loss_s": float(sum(s["loss"]["value"] for s in sections))}
        # The set used for coaching: sub-sections when the car has them, else sectors.
        entry["preferred_set"] = "subsections" if entry.get("subsections", {}).get("available") else "sectors"
        cars.append(entry)
    missing = sorted(set(laps["car"]) - {c_["car"] for c_ in cars})
    for car in missing:
        cars.append({"car": car, "class": laps.loc[laps["car"] == car, "class"].iloc[0], "n_clean": 0,
                     "sectors": {"available": False, "n": 0, "reason": not_enough(0).note},
                     "subsections": {"available": False, "n": 0, "reason": not_enough(0).note},
                     "preferred_set": "sectors"})
    per_lap = lap_sections(laps, reference)
    doc = {"engine": "sections", "race_id": race_id, "track_id": str(laps["track_id"].iloc[0]),
           "n_laps": int(len(laps)), "n_clean": int(len(pool)),
           "params": {"best_k": c["best_k"], "bootstrap": c["bootstrap"], "min_clean_laps": c["min_clean_laps"]},
           "reference": {k: v for k, v in ref_docs.items()},
           "cars": sorted(cars, key=lambda e: e["car"]),
           "laps": per_lap.to_dict(orient="records"),
           # each car-lap's race clock at the finish line and its lap time: the timing-line crossings the coaching's
           # traffic rule reads (coaching/traffic.py; DATA_REFERENCE 10.2)
           "crossings": laps[["car", "lap", "elapsed_s", "lap_time_s"]].to_dict(orient="records")
           if {"elapsed_s", "lap_time_s"} <= set(laps.columns) else []}
    return plain(doc)


def loss_matrix(doc: dict, section_set: str = "subsections", stat: str = "loss") -> pd.DataFrame:
    """Car x section table of one statistic (for the heatmap)."""
    rows = {}
    for c in doc["cars"]:
        s = c.get(section_set, {})
        if s.get("available"):
            rows[c["car"]] = {x["section"]: x[stat]["value"] for x in s["sections"]}
    return pd.DataFrame.from_dict(rows, orient="index")


def ranking_table(doc: dict, section_set: str = "subsections") -> pd.DataFrame:
    rows = []
    for c in doc["cars"]:
        s = c.get(section_set, {})
        if not s.get("available"):
            rows.append({"car": c["car"], "n": s.get("n", 0), "note": s.get("reason")})
            continue
        for x in s["sections"][:3]:
            rows.append({"car": c["car"], "rank": x["rank"], "section": x["section"], "n": x["n"],
                         "section_loss_s": x["section_loss"]["value"], "sl_lo": x["section_loss"]["lo"],
                         "sl_hi": x["section_loss"]["hi"], "loss_s": x["loss"]["value"],
                         "pace_gap_s": x["pace_gap"]["value"], "consistency_cost_s": x["consistency_cost"]["value"],
                         "note": "" if x["significant"] else "not significant"})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ run index and store

def headline(doc: dict) -> dict:
    """The field's most common specific weakness: each car's rank-1 section (by the lower bound of its
    section loss), counted only where that section loss is significant; the runner-up beside it."""
    firsts: dict[str, int] = {}
    cars = 0
    for car in doc.get("cars", []):
        s = car.get(car.get("preferred_set", "sectors"), {})
        if s.get("available") and s.get("sections"):
            cars += 1
            top = s["sections"][0]
            if top.get("significant"):
                firsts[top["section"]] = firsts.get(top["section"], 0) + 1
    if not cars:
        return {"text": "no car has enough clean laps"}
    n_sig = sum(firsts.values())
    if not firsts:
        return {"text": f"no significant section-specific loss among {cars} cars", "cars": cars,
                "cars_significant": 0}
    ranked = sorted(firsts, key=lambda k: (-firsts[k], k))
    top, second = ranked[0], (ranked[1] if len(ranked) > 1 else None)
    out = {"top_section": top, "cars_with_it_first": firsts[top], "cars": cars, "cars_significant": n_sig,
           "runner_up": second, "cars_with_runner_up_first": firsts.get(second, 0) if second else 0}
    tail = f"; {cars - n_sig} of {cars} cars have no significant section-specific loss"
    if second and firsts[second] == firsts[top]:
        tied = [k.upper() for k in ranked if firsts[k] == firsts[top]]
        return {**out, "top_section": None,
                "text": f"no single most common weakness: {', '.join(tied)} each rank 1 (significant) for "
                        f"{firsts[top]} cars" + tail}
    text = f"most common significant weakness {top.upper()}: rank 1 for {firsts[top]} of {cars} cars"
    if second:
        text += f" (next {second.upper()}: {firsts[second]})"
    return {**out, "text": text + tail}


def documents(doc: dict) -> list[dict]:
    race_id, track_id = doc["race_id"], doc.get("track_id")
    base = {"type": "section", "engine": "sections", "race_id": race_id, "track_id": track_id}
    out = []
    for car in doc["cars"]:
        for set_name in ("sectors", "subsections"):
            s = car.get(set_name) or {}
            common = {**base, "car": car["car"], "class": car.get("class"), "lap": None, "scope": "car",
                      "section_set": set_name, "preferred": car.get("preferred_set") == set_name}
            if not s.get("available"):
                out.append({"id": doc_id(race_id, car["car"], "a", set_name), **common, "section": None,
                            "available": False, "n": s.get("n", 0), "reason": s.get("reason"),
                            "message": f"{set_name}: {s.get('reason') or 'not available'}"})
                continue
            for item in s["sections"]:
                loss, gap, cons = item["loss"], item["pace_gap"], item["consistency_cost"]
                own = item.get("section_loss") or {}
                v = own.get("value")
                way = "slower" if v is None or v >= 0 else "quicker"
                msg = (f"{item['section'].upper()} (rank {item['rank']}): {fmt3(None if v is None else abs(v))} s/lap "
                       f"{way} there than the car's overall pace predicts (95% CI {fmt3(own.get('lo'))} to "
                       f"{fmt3(own.get('hi'))}, n={item['n']} clean laps)"
                       + ("" if item["significant"] else ", an interval that includes zero")
                       + f"; {fmt3(loss['value'])} s slower than the field's best (95% CI {fmt3(loss['lo'])} to "
                       f"{fmt3(loss['hi'])}): pace {fmt3(gap['value'])} s, consistency {fmt3(cons['value'])} s")
                out.append({"id": doc_id(race_id, car["car"], "a", set_name, item["section"]), **common,
                            "section": item["section"], "available": True, "total_loss_s": s.get("total_loss_s"),
                            **{k: item.get(k) for k in ("rank", "n", "composite_s", "field_typical_s", "median",
                                                        "best_k", "pace_gap", "consistency_cost", "loss",
                                                        "section_loss", "significant")},
                            "message": msg})
    reference = {}
    for ref in (doc.get("reference") or {}).values():
        for comp in ref.get("components", []) if ref.get("available") else []:
            reference[comp["section"]] = comp["time_s"]
    for rec in doc.get("laps", []):
        reasons = rec.get("exclusion_reasons")
        out.append({"id": doc_id(race_id, rec["car"], lap_key(rec["lap"]), rec["section"]), **base,
                    "car": rec["car"], "lap": int(rec["lap"]), "section": rec["section"], "scope": "lap",
                    "section_set": SECTION_SET_OF.get(rec["section"]), "time_s": rec.get("time_s"),
                    "composite_s": reference.get(rec["section"]),
                    "delta_to_composite_s": rec.get("delta_to_composite_s"),
                    "delta_to_own_best_s": rec.get("delta_to_own_best_s"), "is_clean": bool(rec.get("is_clean")),
                    "exclusion_reasons": [r for r in reasons.split(";") if r] if isinstance(reasons, str) else
                    list(reasons or [])})
    return [plain(d) for d in out]
