"""Pattern detection: how consistent each car is, whether it improves or fades, and which section
drives its inconsistency.

Per car, over clean laps (``is_clean``: every lap with a valid lap time, splits or not): n, mean, median, SD, CV = SD / mean, IQR, robust SD = 1.4826 · MAD,
best-5 average, sanitized average (mean of laps within median ± 3 robust SD). Trend: Theil–Sen slope of
field-relative pace against lap number (s/lap; relative to the field, not absolute tyre wear) with its 95%
interval and the Kendall-tau p-value; "improving" (< 0) or "degrading" (> 0) only where the test survives
Benjamini–Hochberg over the race's cars (statsmodels ``multipletests``, FDR 5%). Consistency: the SD of the
car's clean lap times around its own OLS trend line (``residual_sd_s``; a fading car is not inconsistent), and
the consistency percentile = the share of the field's cars whose residual SD is larger (100 = most
consistent). Section share of lap-time variance: cov(section, lap) / var(lap) for each section (the shares
sum to 1 when the sections sum to the lap), over the car's laps clean for section statistics
(``is_clean_sections``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from kaizenlap.core.ids import doc_id
from kaizenlap.core.jsonclean import plain
from kaizenlap.engines.common import SECTION_SETS, fmt3, Estimate, cfg, clean, clean_sections, not_enough
from kaizenlap.engines.weather import field_relative_pace


def car_stats(times: np.ndarray) -> dict:
    c = cfg()["pattern"]
    n = len(times)
    med = float(np.median(times))
    rsd = float(stats.median_abs_deviation(times, scale="normal"))
    keep = times[np.abs(times - med) <= c["sanitize_robust_sd"] * rsd] if rsd > 0 else times
    q75, q25 = np.percentile(times, [75, 25])
    sd = float(np.std(times, ddof=1)) if n > 1 else float("nan")
    return {"n": n, "mean_s": float(times.mean()), "median_s": med, "sd_s": sd, "cv": sd / float(times.mean()),
            "iqr_s": float(q75 - q25), "robust_sd_s": rsd,
            "best5_avg_s": float(np.sort(times)[: c["best_n"]].mean()),
            "sanitized_avg_s": float(keep.mean()), "sanitized_n": int(len(keep))}


def trend(lap: np.ndarray, pace: np.ndarray) -> dict:
    """Theil-Sen slope of field-relative pace on lap number, its interval, the Kendall-tau p-value, and
    the residual robust SD (consistency net of the trend). ``label`` is set by :func:`label_trends`."""
    level = cfg()["pattern"]["trend_level"]
    res = stats.theilslopes(pace, lap, alpha=level)
    est = Estimate(float(res.slope), float(res.low_slope), float(res.high_slope), len(lap),
                   "Theil-Sen slope of field-relative pace on lap number (relative to the field)")
    p = float(stats.kendalltau(lap, pace).pvalue)
    # The fitted line passes through (median lap, median pace) (scipy's intercept = med(y) - slope * med(x));
    # the app draws the slope's interval as the two lines through that point (DATA_REFERENCE §10.4).
    order = np.argsort(lap, kind="stable")
    return {"slope_s_per_lap": est.to_dict(), "p_value": p if np.isfinite(p) else 1.0, "label": "no clear trend",
            "intercept_s": float(res.intercept), "pivot": {"lap": float(np.median(lap)), "pace_s": float(np.median(pace))},
            "points": {"lap": [int(x) for x in lap[order]], "field_pace_s": [round(float(x), 3) for x in pace[order]]}}


def residual_sd(lap: np.ndarray, times: np.ndarray) -> float:
    """Consistency net of the car's trend: SD of its clean laps' field-relative pace around its own OLS line on
    lap number (ddof 2). Field-relative, so the field's own shape over the race (start, restarts) is not read as
    the car's inconsistency. Clean laps have no outliers left (the flags removed them): the efficient SD."""
    if len(times) < 3 or np.unique(lap).size < 2:
        return float("nan")
    fit = stats.linregress(lap, times)
    return float(np.std(times - (fit.intercept + fit.slope * lap), ddof=2))


def consistency_estimate(sd: float, n: int) -> Estimate:
    """The residual SD with its 95% interval under Normal residuals: sd * sqrt(df / chi2_{1-a/2, df}) to
    sd * sqrt(df / chi2_{a/2, df}), df = n - 2."""
    df = n - 2
    if not np.isfinite(sd) or df < 1:
        return not_enough(n)
    a = 1 - cfg()["pattern"]["trend_level"]
    lo = sd * np.sqrt(df / stats.chi2.ppf(1 - a / 2, df))
    hi = sd * np.sqrt(df / stats.chi2.ppf(a / 2, df))
    return Estimate(float(sd), float(lo), float(hi), n, "SD of field-relative pace around the car's own lap "
                    "trend; chi-square interval (n - 2 degrees of freedom)")


def most_consistent(cars: list[dict]) -> dict:
    """The car to name as the most consistent, or why none is: among cars with at least
    ``pattern.consistency_min_laps`` clean laps, the lowest residual SD, named only when its variance is
    lower than the next car's by a one-sided F test at ``pattern.consistency_alpha``."""
    c = cfg()["pattern"]
    rated = sorted((e for e in cars if e.get("available") and e.get("consistency_n", 0) >= c["consistency_min_laps"]
                    and e.get("residual_sd_s") is not None and np.isfinite(e["residual_sd_s"])),
                   key=lambda e: (e["residual_sd_s"], e["car"]))
    if not rated:
        return {"car": None, "reason": f"no car has {c['consistency_min_laps']} clean laps to rate"}
    best = rated[0]
    if len(rated) == 1:
        # one car rated: nothing to be more consistent than, so no car is named (issue 19 item 4)
        return {"car": None, "p_value": None, "next": None, "closest": best["car"],
                "reason": f"only car {best['car']} has {c['consistency_min_laps']} clean laps to rate: no car to "
                          "compare it with"}
    nxt = rated[1]
    f = (nxt["residual_sd_s"] / best["residual_sd_s"]) ** 2 if best["residual_sd_s"] > 0 else float("inf")
    p = float(stats.f.sf(f, nxt["consistency_n"] - 2, best["consistency_n"] - 2))
    if p < c["consistency_alpha"]:
        return {"car": best["car"], "p_value": p, "next": nxt["car"]}
    return {"car": None, "p_value": p, "next": nxt["car"], "closest": best["car"],
            "reason": f"no car stands out for consistency: car {best['car']} is not clearly more consistent than "
                      f"car {nxt['car']}"}


def label_trends(trends: list[dict]) -> None:
    """'improving' / 'degrading' where the Kendall test survives Benjamini-Hochberg at the configured FDR
    over the race's cars (each dict gets ``q_value`` and ``label``)."""
    from statsmodels.stats.multitest import multipletests
    if not trends:
        return
    fdr = cfg()["pattern"]["trend_fdr"]
    reject, q, _, _ = multipletests([t["p_value"] for t in trends], alpha=fdr, method="fdr_bh")
    for t, r, qv in zip(trends, reject, q):
        t["q_value"] = float(qv)
        v = t["slope_s_per_lap"]["value"]
        t["label"] = ("improving" if v < 0 else "degrading") if r and v != 0 else "no clear trend"


def variance_shares(g: pd.DataFrame, cols: list[str]) -> dict | None:
    full = g.dropna(subset=cols)
    if len(full) < cfg()["min_clean_laps"]:
        return None
    lap = full[cols].sum(axis=1).to_numpy(float)
    var = lap.var(ddof=1)
    if var <= 0:
        return None
    return {col[:-2]: float(np.cov(full[col].to_numpy(float), lap, ddof=1)[0, 1] / var) for col in cols}


def analyse(laps: pd.DataFrame, race_id: str) -> dict:
    c = cfg()
    laps = laps.assign(field_pace_s=field_relative_pace(laps))
    cars = []
    for car, g in laps.groupby("car", sort=True):
        gc = clean(g)
        n = len(gc)
        entry = {"car": car, "class": g["class"].iloc[0], "n_laps": int(len(g)), "n_clean": n}
        if n < c["min_clean_laps"]:
            entry.update(available=False, reason=not_enough(n).note)
            cars.append(entry)
            continue
        entry.update(available=True, stats=car_stats(gc["lap_time_s"].to_numpy(float)))
        ok = gc.dropna(subset=["field_pace_s"])
        entry["residual_sd_s"] = residual_sd(ok["lap"].to_numpy(float), ok["field_pace_s"].to_numpy(float))
        entry["consistency_n"] = int(len(ok))
        entry["consistency"] = consistency_estimate(entry["residual_sd_s"], len(ok)).to_dict()
        entry["trend"] = trend(ok["lap"].to_numpy(float), ok["field_pace_s"].to_numpy(float)) \
            if len(ok) >= c["min_clean_laps"] and ok["lap"].nunique() > 1 else {"label": "not enough clean laps"}
        shares = {name: variance_shares(clean_sections(g), cols) for name, cols in SECTION_SETS.items()}
        entry["variance_share"] = {k: v for k, v in shares.items() if v is not None}
        for name in ("subsections", "sectors"):
            if shares.get(name):
                entry["inconsistency_driver"] = max(shares[name], key=shares[name].get)
                break
        cars.append(entry)
    label_trends([e["trend"] for e in cars if e.get("available") and "p_value" in e.get("trend", {})])
    rsd = {e["car"]: e["residual_sd_s"] for e in cars if e.get("available") and np.isfinite(e["residual_sd_s"])}
    values = np.array(list(rsd.values()))
    for e in cars:
        if e["car"] in rsd:
            beaten = int((values > rsd[e["car"]]).sum())
            e["more_consistent_than"] = beaten                    # of the other cars rated
            e["others"] = len(values) - 1
            e["consistency_percentile"] = int(round(100.0 * beaten / max(len(values) - 1, 1)))
            e["field_size"] = len(values)
    doc = {"engine": "pattern", "race_id": race_id, "track_id": str(laps["track_id"].iloc[0]),
           "n_laps": int(len(laps)), "n_clean": int(len(clean(laps))),
           "params": {"min_clean_laps": c["min_clean_laps"], **c["pattern"],
                      "field_min_cars": c["weather"]["field_min_cars"]},
           "cars": cars, "most_consistent": most_consistent(cars)}
    return plain(doc)


def stats_table(doc: dict) -> pd.DataFrame:
    rows = []
    for e in doc["cars"]:
        if not e.get("available"):
            rows.append({"car": e["car"], "n": e["n_clean"], "note": e["reason"]})
            continue
        s, t = e["stats"], e["trend"]
        rows.append({"car": e["car"], "n": s["n"], "median_s": s["median_s"], "robust_sd_s": s["robust_sd_s"],
                     "residual_sd_s": e.get("residual_sd_s"), "trend_q": t.get("q_value"),
                     "cv": s["cv"], "best5_avg_s": s["best5_avg_s"],
                     "trend_s_per_lap": t.get("slope_s_per_lap", {}).get("value"),
                     "trend_lo": t.get("slope_s_per_lap", {}).get("lo"),
                     "trend_hi": t.get("slope_s_per_lap", {}).get("hi"), "trend": t["label"],
                     "inconsistency_driver": e.get("inconsistency_driver"),
                     "consistency_pct": e.get("consistency_percentile")})
    # Fixed columns (a race where no car has enough clean laps still has them), the most consistent first.
    cols = ["car", "n", "median_s", "residual_sd_s", "robust_sd_s", "trend_q", "cv", "best5_avg_s",
            "trend_s_per_lap", "trend_lo", "trend_hi", "trend", "inconsistency_driver", "consistency_pct", "note"]
    return pd.DataFrame(rows, columns=cols).sort_values("residual_sd_s", na_position="last", kind="stable")


# ------------------------------------------------------------------ run index and store

def headline(doc: dict) -> dict:
    ok = [c for c in doc.get("cars", []) if c.get("available")]
    if not ok:
        return {"text": "no car has enough clean laps"}
    rated = [c for c in ok if c.get("residual_sd_s") is not None]
    labels = [c.get("trend", {}).get("label") for c in ok]
    fdr = (doc.get("params") or {}).get("trend_fdr", 0.05)
    trends = (f"{labels.count('improving')} improving, {labels.count('degrading')} degrading of {len(ok)} cars "
              f"(pace relative to the field, not absolute tyre wear; false discovery rate {fdr:.0%})")
    out = {"improving": labels.count("improving"), "degrading": labels.count("degrading"), "cars": len(ok)}
    if not rated:
        return {**out, "text": trends}
    pick = doc.get("most_consistent") or most_consistent(ok)
    if pick.get("car") is None:
        return {**out, "text": f"{pick.get('reason', 'no car stands out for consistency')}; " + trends,
                "most_consistent_car": None}
    best = next(c for c in ok if c["car"] == pick["car"])
    sd, n = best["residual_sd_s"], best.get("consistency_n", best["n_clean"])
    e = best.get("consistency") or {}
    ci = f", 95% CI {e['lo']:.3f} to {e['hi']:.3f}" if e.get("lo") is not None else ""
    return {**out, "text": f"most consistent: car {best['car']} (lap-to-lap SD {sd:.3f} s around its own trend "
                           f"relative to the field{ci}, n={n}); " + trends,
            "most_consistent_car": best["car"], "residual_sd_s": sd}


def documents(doc: dict) -> list[dict]:
    race_id = doc["race_id"]
    out = []
    for car in doc["cars"]:
        d = {"id": doc_id(race_id, car["car"], "pattern"), "type": "pattern", "engine": "pattern",
             "race_id": race_id, "track_id": doc.get("track_id"), "car": car["car"], "lap": None,
             # the section that drives the car's lap-time variance, so ?section= finds it
             "section": car.get("inconsistency_driver"), "scope": "car",
             **{k: v for k, v in car.items() if k != "car"}}
        if car.get("available"):
            st, tr = car["stats"], car.get("trend", {})
            d["message"] = (f"median {fmt3(st['median_s'])} s over {st['n']} clean laps, lap-to-lap SD "
                            f"{fmt3(car.get('residual_sd_s'))} s around its own trend; trend relative to the field: "
                            f"{tr.get('label', 'n/a')}"
                            + (f"; inconsistency mostly in {car['inconsistency_driver'].upper()}"
                               if car.get("inconsistency_driver") else ""))
        else:
            d["message"] = car.get("reason")
        out.append(plain(d))
    return out
