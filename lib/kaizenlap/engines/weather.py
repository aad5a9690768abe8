"""Weather correlation: conditions through each race, and what track temperature does to pace.

Each lap takes the latest weather reading at or before its UTC line crossing (as-of join, tolerance in
params). Field-relative pace of a lap = its lap time - the field's median clean lap time on the same
lap number. Per race: a conditions summary and the slope of field-relative pace on track temperature
(OLS, clean laps, standard errors clustered by car). Per track (both races pooled, so temperature is not
just a copy of lap number): a linear mixed model ``lap_time ~ lap_number + track_temp`` with a random
intercept and lap slope per car and race (statsmodels MixedLM; the random-intercept-only model
``(1 | car)`` is reported beside it), the variance inflation factor of track_temp, and
``identifiable: false`` with the reason when temperature is missing, too narrow, or collinear with lap
number.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .common import Estimate, cfg, jsonable

SENSORS = {"air_temp_c": "air temperature (°C)", "track_temp_c": "track temperature (°C)",
           "humidity_pct": "humidity (%)", "wind_speed_kph": "wind speed (km/h)", "pressure_hpa": "pressure (hPa)"}


def join_weather(laps: pd.DataFrame, weather: pd.DataFrame) -> pd.DataFrame:
    """Laps with the weather reading in force at their line crossing (as-of, backward, tolerance)."""
    tol = pd.Timedelta(seconds=cfg()["weather"]["asof_tolerance_s"])
    out = laps.copy()
    out["_row"] = np.arange(len(out))
    have = out[out["crossing_utc"].notna()].sort_values("crossing_utc")
    if weather.empty or have.empty:
        for col in SENSORS:
            out[col] = np.nan
        return out.drop(columns="_row")
    w = weather.sort_values("time_utc")[["time_utc", *SENSORS]]
    merged = pd.merge_asof(have, w, left_on="crossing_utc", right_on="time_utc", direction="backward",
                           tolerance=tol)
    merged = merged.set_index("_row").reindex(out["_row"])
    for col in SENSORS:
        out[col] = merged[col].to_numpy()
    return out.drop(columns="_row")


def field_relative_pace(laps: pd.DataFrame) -> pd.Series:
    """Lap time minus the field's median clean lap time on that lap number (NaN where no clean lap)."""
    med = laps["lap_time_s"].where(laps["is_clean"]).groupby(laps["lap"]).transform("median")
    return laps["lap_time_s"] - med


def conditions(weather: pd.DataFrame) -> dict:
    """Range, mean and drift (OLS slope per hour) of every sensor through the race."""
    out = {}
    if weather.empty:
        return out
    hours = (weather["time_utc"] - weather["time_utc"].iloc[0]).dt.total_seconds() / 3600
    for col, label in SENSORS.items():
        v = weather[col]
        ok = v.notna()
        if ok.sum() < 2:
            out[col] = {"label": label, "n": int(ok.sum()), "available": False}
            continue
        slope = float(np.polyfit(hours[ok], v[ok], 1)[0]) if hours[ok].nunique() > 1 else 0.0
        out[col] = {"label": label, "n": int(ok.sum()), "available": True, "min": float(v.min()),
                    "max": float(v.max()), "mean": float(v.mean()), "first": float(v[ok].iloc[0]),
                    "last": float(v[ok].iloc[-1]), "drift_per_hour": slope}
    return out


def pace_vs_track_temp(laps: pd.DataFrame) -> dict:
    """OLS of field-relative pace on track temperature over clean laps; SE clustered by car."""
    import statsmodels.api as sm
    c = cfg()["weather"]
    d = laps[laps["is_clean"]].dropna(subset=["track_temp_c", "field_pace_s"])
    n = len(d)
    if n < c["min_laps_model"]:
        return {"available": False, "n": n, "reason": f"only {n} clean laps with a track temperature"}
    span = float(d["track_temp_c"].max() - d["track_temp_c"].min())
    if span < c["min_temp_range_c"]:
        return {"available": False, "n": n, "reason": f"track temperature spans only {span:.1f} °C in this race"}
    X = sm.add_constant(d[["track_temp_c"]].to_numpy(float))
    fit = sm.OLS(d["field_pace_s"].to_numpy(float), X).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(d["car"])[0]})
    lo, hi = fit.conf_int(alpha=0.05)[1]
    return {"available": True, "n": n, "cars": int(d["car"].nunique()), "temp_span_c": span,
            "slope_s_per_c": Estimate(float(fit.params[1]), float(lo), float(hi), n,
                                      "OLS, SE clustered by car").to_dict(),
            "note": "within one race temperature drifts with lap number: read with the track model"}


def analyse_race(laps: pd.DataFrame, weather: pd.DataFrame, race_id: str) -> dict:
    joined = join_weather(laps, weather)
    joined["field_pace_s"] = field_relative_pace(joined)
    doc = {"engine": "weather", "scope": "race", "race_id": race_id, "track_id": str(laps["track_id"].iloc[0]),
           "n_laps": int(len(laps)), "n_clean": int(laps["is_clean"].sum()),
           "weather_rows": int(len(weather)),
           "params": {"asof_tolerance_s": cfg()["weather"]["asof_tolerance_s"]}}
    if weather.empty:
        doc.update(usable=False, reason="no weather file for this race: no weather analysis is possible")
        return jsonable(doc)
    joined_ok = joined["air_temp_c"].notna() | joined["track_temp_c"].notna()
    doc.update(usable=True, laps_with_weather=int(joined_ok.sum()), conditions=conditions(weather),
               pace_vs_track_temp=pace_vs_track_temp(joined) if joined["track_temp_c"].notna().any() else
               {"available": False, "n": 0, "reason": "no track-temperature readings (sensor absent)"})
    return jsonable(doc)


def vif(x: pd.DataFrame, column: str) -> float:
    """Variance inflation factor of ``column`` against the other columns: 1 / (1 - R^2)."""
    y = x[column].to_numpy(float)
    others = x.drop(columns=[column]).to_numpy(float)
    A = np.column_stack([np.ones(len(y)), others])
    beta, *_ = np.linalg.lstsq(A, y, rcond=None)
    resid = y - A @ beta
    r2 = 1 - resid.var() / y.var() if y.var() > 0 else 1.0
    return float(np.inf if r2 >= 1 else 1 / (1 - r2))


def analyse_track(races: list[tuple[pd.DataFrame, pd.DataFrame]], track_id: str) -> dict:
    """Both races of a track pooled: lap_time ~ lap + track_temp + (1 + lap | car, race), clean laps; the
    (1 | car) model beside it."""
    import statsmodels.formula.api as smf
    c = cfg()["weather"]
    parts = []
    for laps, weather in races:
        j = join_weather(laps, weather)
        parts.append(j[j["is_clean"]])
    d = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    doc = {"engine": "weather", "scope": "track", "track_id": track_id,
           "races": sorted({str(r) for laps, _ in races for r in laps["race_id"].unique()}),
           "formula": "lap_time_s ~ lap + track_temp_c + (1 + lap | car number, race)"}
    d = d.dropna(subset=["track_temp_c"]) if len(d) else d
    n = len(d)
    doc["n"] = n
    if n < c["min_laps_model"]:
        doc.update(identifiable=False, reason="no track-temperature readings for this track's clean laps"
                   if n == 0 else f"only {n} clean laps with a track temperature")
        return jsonable(doc)
    span = float(d["track_temp_c"].max() - d["track_temp_c"].min())
    v = vif(d[["lap", "track_temp_c"]], "track_temp_c")
    doc.update(temp_span_c=span, vif_track_temp=v, cars=int(d["number"].nunique()),
               races_with_temp=int(d["race_id"].nunique()))
    if span < c["min_temp_range_c"]:
        doc.update(identifiable=False, reason=f"track temperature spans only {span:.1f} °C")
        return jsonable(doc)
    if v > c["vif_max"]:
        doc.update(identifiable=False, reason=f"track temperature is collinear with lap number (VIF {v:.1f} > "
                                              f"{c['vif_max']})")
        return jsonable(doc)
    d = d.assign(car_key=d["number"].astype(str), car_race=d["race_id"].astype(str) + "|" + d["number"].astype(str))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Primary model: each car gets its own intercept and lap trend in each race (fuel and tyres
        # differ race to race); with one common trend, a race's average trend leaks into temperature,
        # which drifts with lap number (docs/DESIGN.md).
        fit = smf.mixedlm("lap_time_s ~ lap + track_temp_c", d, groups=d["car_race"], re_formula="~lap").fit(reml=True)
        simple = smf.mixedlm("lap_time_s ~ lap + track_temp_c", d, groups=d["car_key"]).fit(reml=True)
    ci = fit.conf_int(alpha=0.05)
    est = {}
    for name, key in (("track_temp_c", "track_temp_s_per_c"), ("lap", "lap_number_s_per_lap")):
        est[key] = Estimate(float(fit.params[name]), float(ci.loc[name, 0]), float(ci.loc[name, 1]), n,
                            "MixedLM (REML), random intercept and lap slope per car and race; Wald 95% "
                            "interval").to_dict()
    sci = simple.conf_int(alpha=0.05)
    doc["random_intercept_only"] = {
        "formula": "lap_time_s ~ lap + track_temp_c + (1 | car number)",
        "track_temp_s_per_c": Estimate(float(simple.params["track_temp_c"]), float(sci.loc["track_temp_c", 0]),
                                       float(sci.loc["track_temp_c", 1]), n, "MixedLM (REML), Wald").to_dict(),
        "note": "shown for comparison: it assumes one lap trend for every car in both races"}
    # With two races, a between-race temperature difference is also a between-race difference of
    # everything else (rubber, wind, session): report how much of track_temp the race explains.
    if d["race_id"].nunique() > 1:
        race_dummies = pd.get_dummies(d["race_id"], drop_first=True, dtype=float)
        v_race = vif(pd.concat([d[["lap", "track_temp_c"]], race_dummies], axis=1), "track_temp_c")
        doc["vif_track_temp_with_race"] = v_race
        if v_race > c["vif_max"]:
            doc["caveat"] = (f"track temperature is largely a race-to-race difference (VIF {v_race:.1f} with a race "
                             "indicator): the estimate also carries everything else that differed between races")
    else:
        doc["caveat"] = "only one race of this track has track temperature: the estimate is within-race only"
    doc.update(identifiable=True, converged=bool(fit.converged), **est,
               car_sd_s=float(np.sqrt(max(fit.cov_re.iloc[0, 0], 0.0))),
               car_trend_sd_s_per_lap=float(np.sqrt(max(fit.cov_re.iloc[1, 1], 0.0))),
               residual_sd_s=float(np.sqrt(fit.scale)))
    return jsonable(doc)
