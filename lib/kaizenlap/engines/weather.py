"""Weather correlation: conditions through each race, and what track temperature does to pace.

Each lap takes the latest weather reading at or before its UTC line crossing (as-of join, tolerance in
params). The temperature model, per race and per track (a track's races pooled), is one OLS on clean laps'
absolute lap times (statsmodels):

    lap_time_s = β · track_temp_c + α_u + δ_u · lap + ε          u = car (race) or car × race (track)

each unit with its own level and its own lap trend (fuel burn, tyre wear, and anything else that moves
linearly with lap number, the field's track evolution included), standard errors clustered by car (t with
G − 1 degrees of freedom). β is identified only by the part of the temperature that is neither a car's
level nor linear in its lap number; the model says ``identifiable: false`` with the reason when that part
is too small: temperature missing, spanning under ``weather.min_temp_range_c``, its variance inflation factor
(statsmodels ``variance_inflation_factor``) against the unit levels and trends above ``weather.vif_max``,
or, pooled over a track's races, against the race indicator alone ("confounded with race": a race-to-race
temperature difference is also a difference of everything else between the races -- damp track, rubber,
wind). No field-relative pace enters: subtracting the field's median at each lap removes every effect the
whole field shares, temperature included.
"""
from __future__ import annotations


import numpy as np
import pandas as pd

from kaizenlap.core.ids import doc_id, weather_track_id
from kaizenlap.core.jsonclean import plain
from kaizenlap.engines.common import Estimate, cfg, fmt3, interval_text

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


def field_median_by_lap(laps: pd.DataFrame) -> pd.DataFrame:
    """The field's pace on each lap number: ``median_s`` = median clean lap time, ``n_clean`` = its clean
    laps (every lap number of ``laps``; median NaN where none is clean). The one rule behind field-relative
    pace and the weather series' pace row."""
    clean = laps["lap_time_s"].where(laps["is_clean"]).groupby(laps["lap"])
    return pd.DataFrame({"median_s": clean.median(), "n_clean": clean.count()})


def field_relative_pace(laps: pd.DataFrame) -> pd.Series:
    """Lap time minus the field's median clean lap time on that lap number (NaN where no clean lap)."""
    return laps["lap_time_s"] - laps["lap"].map(field_median_by_lap(laps)["median_s"])


def conditions(weather: pd.DataFrame) -> dict:
    """Range, mean and drift (OLS slope per hour since the first reading) of every sensor over ``weather``
    (the race's readings: :func:`race_window`)."""
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


def identifying_rows(d: pd.DataFrame, unit: pd.Series) -> pd.Series:
    """The rows the temperature model uses: a unit identifies its level and lap trend only with laps at three
    lap numbers or more."""
    unit = pd.Series(unit, index=d.index).astype(str)
    return unit.map(d.groupby(unit)["lap"].nunique()) >= 3


def race_start_utc(laps: pd.DataFrame) -> tuple[pd.Timestamp | None, str]:
    """The origin of the race's clock and what it is. The green flag as the timing implies it: the median over
    cars of (lap-1 line crossing − lap-1 time), robust to one car's odd lap-1 time; without lap-1 times, the
    first line crossing of any lap (a lap later than the start, and said so); None without crossing times."""
    t = laps["crossing_utc"].dropna()
    if t.empty:
        return None, "first reading (no line-crossing times)"
    first = laps[(laps["lap"] == 1) & laps["crossing_utc"].notna() & laps["lap_time_s"].notna()]
    if len(first):
        implied = first["crossing_utc"] - pd.to_timedelta(first["lap_time_s"], unit="s")
        return implied.median(), \
            "race start (median over cars of lap-1 crossing minus lap-1 time)"
    return t.min(), "first line crossing (no lap-1 times: about a lap after the start)"


def race_window(weather: pd.DataFrame, laps: pd.DataFrame) -> tuple[pd.DataFrame, pd.Timestamp | None, str, str | None]:
    """The readings during the race, ``(readings, origin, origin_basis, note)``: from the start
    (:func:`race_start_utc`) minus ``weather.series_margin_min`` to the last line crossing plus the margin.
    Without crossing times, or where no reading falls inside that window (the two clocks disagree), every
    reading is kept; ``note`` says the latter. ``origin`` is the start, else the first reading."""
    margin = pd.Timedelta(minutes=cfg()["weather"]["series_margin_min"])
    start, basis = race_start_utc(laps)
    w = weather.sort_values("time_utc")
    note = None
    if start is not None:
        end = laps["crossing_utc"].max()
        inside = w[(w["time_utc"] >= start - margin) & (w["time_utc"] <= end + margin)]
        if inside.empty and len(w):
            note = (f"no reading falls within the race (start {start:%H:%M} UTC, last crossing {end:%H:%M} UTC): "
                    f"all {len(w)} readings shown, their clock may differ from the timing's")
        else:
            w = inside
    origin = start if start is not None else (w["time_utc"].iloc[0] if len(w) else None)
    return w, origin, basis, note


def race_series(weather: pd.DataFrame, laps: pd.DataFrame, window: tuple | None = None) -> dict:
    """Conditions through the race, for a chart: the readings of :func:`race_window` (``window``, when the
    caller has it) as minutes since its origin, one list per sensor (None where the sensor gave nothing); and
    per lap number the field's median crossing minute and median clean lap time with its n
    (:func:`field_median_by_lap`, ``laps``), so pace and conditions share the time axis (empty without
    crossing times)."""
    w, origin, basis, note = window if window is not None else race_window(weather, laps)
    minutes = ((w["time_utc"] - origin).dt.total_seconds() / 60).round(2) if origin is not None else pd.Series(dtype=float)

    def values(col):
        v = w[col].round(2) if col in w else pd.Series(np.nan, index=w.index)
        return [None if pd.isna(x) else float(x) for x in v]
    out = {"start_utc": None if origin is None else origin.isoformat(), "start_basis": basis,
           "n": int(len(w)), "minutes": [float(m) for m in minutes],
           "sensors": {col: {"label": label, "values": values(col), "n": int(w[col].notna().sum()) if col in w else 0}
                       for col, label in SENSORS.items()},
           "laps": []}
    if note:
        out["note"] = note
    crossed = laps[laps["crossing_utc"].notna()]
    if origin is not None and len(crossed):
        mins = ((crossed["crossing_utc"] - origin).dt.total_seconds() / 60).groupby(crossed["lap"]).median()
        pace = field_median_by_lap(laps)
        out["laps"] = [{"lap": int(lap), "minute": round(float(m), 2),
                        "field_median_s": None if pd.isna(pace.at[lap, "median_s"]) else round(float(pace.at[lap, "median_s"]), 3),
                        "n_clean": int(pace.at[lap, "n_clean"])} for lap, m in mins.items()]
    return out


def temperature_model(d: pd.DataFrame, unit: pd.Series, cluster: pd.Series,
                      race: pd.Series | None = None) -> dict:
    """β of ``lap_time_s ~ track_temp_c + C(unit) + C(unit):lap`` over the clean laps ``d`` (every row has a
    track temperature); SE clustered by ``cluster``. ``race`` (track scope) adds the confounded-with-race check.

    Returns ``identifiable``, ``n``, ``cars``, ``temp_span_c``, ``vif_track_temp`` and either
    ``track_temp_s_per_c`` (Estimate) with ``residual_sd_s`` and ``temp_within_sd_c``, or ``reason``."""
    import statsmodels.api as sm
    from statsmodels.stats.outliers_influence import variance_inflation_factor
    c = cfg()["weather"]
    unit = pd.Series(unit, index=d.index).astype(str)
    keep = identifying_rows(d, unit)
    d, unit, cluster = d[keep], unit[keep], pd.Series(cluster, index=keep.index)[keep].astype(str)
    n = int(len(d))
    out = {"n": n, "cars": int(cluster.nunique()), "units": int(unit.nunique())}
    if n < c["min_laps_model"]:
        return {**out, "identifiable": False,
                "reason": "no track-temperature readings on clean laps" if n == 0 else
                f"only {n} clean laps with a track temperature"}
    temp = d["track_temp_c"].to_numpy(float)
    span = float(temp.max() - temp.min())
    out["temp_span_c"] = span
    if span < c["min_temp_range_c"]:
        return {**out, "identifiable": False, "reason": f"track temperature spans only {span:.1f} °C"}
    if race is not None:
        race = pd.Series(race, index=keep.index)[keep].astype(str)
        out["races_with_temp"] = int(race.nunique())
        if race.nunique() > 1:
            R = pd.get_dummies(race, drop_first=True, dtype=float).to_numpy()
            v_race = float(variance_inflation_factor(np.column_stack([temp, np.ones(n), R]), 0))
            out["vif_track_temp_with_race"] = v_race
            if v_race > c["vif_max"]:
                return {**out, "identifiable": False,
                        "reason": f"confounded with race: the race indicator explains the track temperature "
                                  f"(VIF {v_race:.1f} > {c['vif_max']}); a race-to-race difference is also a "
                                  "difference of everything else between the races"}
    U = pd.get_dummies(unit, dtype=float)
    lap = d["lap"].to_numpy(float)
    trends = U.to_numpy() * (lap - lap.mean())[:, None]
    X = np.column_stack([temp, np.ones(n), U.to_numpy()[:, 1:], trends])
    v = float(variance_inflation_factor(X, 0)) if np.linalg.matrix_rank(X) == X.shape[1] else float("inf")
    out["vif_track_temp"] = v
    if not np.isfinite(v) or v > c["vif_max"]:
        return {**out, "identifiable": False,
                "reason": f"track temperature is collinear with the cars' levels and lap trends (VIF "
                          f"{v:.1f} > {c['vif_max']}): it moves almost linearly with lap number"}
    groups = pd.factorize(cluster)[0]
    fit = sm.OLS(d["lap_time_s"].to_numpy(float), X).fit(cov_type="cluster", cov_kwds={"groups": groups},
                                                       use_t=True)
    lo, hi = fit.conf_int(alpha=0.05)[0]
    # the temperature variation the model identifies β from: temp's residual on the other columns
    t_res = sm.OLS(temp, X[:, 1:]).fit().resid
    return {**out, "identifiable": True,
            "track_temp_s_per_c": Estimate(float(fit.params[0]), float(lo), float(hi), n,
                                           "OLS on absolute lap time with a level and a lap trend per "
                                           f"{'car and race' if race is not None else 'car'}; SE clustered "
                                           "by car (t, G-1 df)").to_dict(),
            "residual_sd_s": float(np.sqrt(fit.scale)), "temp_within_sd_c": float(np.std(t_res, ddof=1))}


def added_variable(d: pd.DataFrame, unit: pd.Series) -> pd.DataFrame:
    """The temperature model's added-variable view (Frisch-Waugh-Lovell): lap time and track temperature,
    each with the unit levels and lap trends regressed out (``time_resid_s``, ``temp_resid_c``), over the
    model's rows (:func:`identifying_rows`). Their OLS slope through the origin is exactly the model's β, so a
    plot of one against the other shows the evidence the estimate rests on."""
    d = d.dropna(subset=["track_temp_c", "lap_time_s"])
    unit = pd.Series(unit, index=d.index).astype(str) if len(d) else pd.Series(dtype=str)
    if len(d):
        keep = identifying_rows(d, unit)
        d, unit = d[keep], unit[keep]
    if len(d) == 0:
        return d.assign(time_resid_s=[], temp_resid_c=[])
    U = pd.get_dummies(unit, dtype=float).to_numpy()
    lap = d["lap"].to_numpy(float)
    Z = np.column_stack([U, U * (lap - lap.mean())[:, None]])
    def resid(y):
        beta, *_ = np.linalg.lstsq(Z, y, rcond=None)
        return y - Z @ beta
    return d.assign(time_resid_s=resid(d["lap_time_s"].to_numpy(float)),
                    temp_resid_c=resid(d["track_temp_c"].to_numpy(float)))


def evidence(d: pd.DataFrame, unit: pd.Series) -> dict:
    """The added-variable points (:func:`added_variable`) as lists for the app's chart: at most
    ``weather.evidence_max_points`` (every ``k``-th row beyond that, ``thinned`` says so); ``n`` counts all."""
    av = added_variable(d, unit)
    cap = int(cfg()["weather"]["evidence_max_points"])
    step = max(1, -(-len(av) // cap))
    kept = av.iloc[::step]
    return {"n": int(len(av)), "thinned": step > 1, "temp_resid_c": [round(float(x), 3) for x in kept["temp_resid_c"]],
            "time_resid_s": [round(float(x), 3) for x in kept["time_resid_s"]],
            "car": [str(c) for c in kept["car"]], "lap": [int(x) for x in kept["lap"]]}


def pace_vs_track_temp(laps: pd.DataFrame) -> dict:
    """The within-race temperature model over the race's clean laps (:func:`temperature_model`)."""
    d = laps[laps["is_clean"]].dropna(subset=["track_temp_c", "lap_time_s"])
    m = temperature_model(d, d["car"], d["car"])
    out = {"available": bool(m.pop("identifiable")), **m,
           "model": "lap_time_s ~ track_temp_c + C(car) + C(car):lap, OLS, SE clustered by car"}
    if out["available"]:
        out["slope_s_per_c"] = out.pop("track_temp_s_per_c")
        out["evidence"] = evidence(d, d["car"])
        out["note"] = ("within one race: identified only by the temperature that does not move linearly with "
                       "lap number; read with the track model")
    else:
        out["reason"] = f"not identifiable: {out['reason']}"
    return out


def analyse_race(laps: pd.DataFrame, weather: pd.DataFrame, race_id: str) -> dict:
    joined = join_weather(laps, weather)
    doc = {"engine": "weather", "scope": "race", "race_id": race_id, "track_id": str(laps["track_id"].iloc[0]),
           "n_laps": int(len(laps)), "n_clean": int(laps["is_clean"].sum()),
           "weather_rows": int(len(weather)),
           "params": {"asof_tolerance_s": cfg()["weather"]["asof_tolerance_s"]}}
    if weather.empty:
        doc.update(usable=False, reason="no weather file for this race: no weather analysis is possible")
        return plain(doc)
    joined_ok = joined["air_temp_c"].notna() | joined["track_temp_c"].notna()
    window = race_window(weather, laps)       # one window: the table and the chart cover the same readings
    doc.update(usable=True, laps_with_weather=int(joined_ok.sum()), conditions=conditions(window[0]),
               series=race_series(weather, laps, window),
               pace_vs_track_temp=pace_vs_track_temp(joined) if joined["track_temp_c"].notna().any() else
               {"available": False, "n": 0, "reason": "no track-temperature readings (sensor absent)"})
    return plain(doc)


def vif(x: pd.DataFrame, column: str) -> float:
    """Variance inflation factor of ``column`` against the other columns and an intercept
    (statsmodels ``variance_inflation_factor``: 1 / (1 - R^2))."""
    from statsmodels.stats.outliers_influence import variance_inflation_factor
    cols = [column, *[c for c in x.columns if c != column]]
    X = np.column_stack([x[cols].to_numpy(float), np.ones(len(x))])
    return float(variance_inflation_factor(X, 0))


def analyse_track(races: list[tuple[pd.DataFrame, pd.DataFrame]], track_id: str) -> dict:
    """A track's races pooled: ``lap_time_s ~ track_temp_c + C(car × race) + C(car × race):lap`` over clean
    laps, SE clustered by car number (:func:`temperature_model`)."""
    parts = []
    for laps, weather in races:
        j = join_weather(laps, weather)
        parts.append(j[j["is_clean"]])
    d = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    doc = {"engine": "weather", "scope": "track", "track_id": track_id,
           "races": sorted({str(r) for laps, _ in races for r in laps["race_id"].unique()}),
           "formula": "lap_time_s ~ track_temp_c + C(car × race) + C(car × race):lap (OLS, SE clustered by car "
                      "number)"}
    d = d.dropna(subset=["track_temp_c", "lap_time_s"]) if len(d) else pd.DataFrame(
        columns=["track_temp_c", "lap_time_s", "lap", "race_id", "number"])
    number = d["number"].astype(str)
    m = temperature_model(d, d["race_id"].astype(str) + "|" + number, number, race=d["race_id"])
    doc.update(m)
    if m["identifiable"] and m.get("races_with_temp", 1) == 1:
        doc["note"] = "only one race of this track has track temperature: the estimate is within-race only"
    elif m["identifiable"]:
        doc["note"] = ("within-race temperature variation only: each car has its own level and trend in each race, "
                       "so nothing that differs between races enters the estimate")
    return plain(doc)


# ------------------------------------------------------------------ run index and store

def headline_track(doc: dict) -> dict:
    if not doc.get("identifiable"):
        return {"text": f"not identifiable: {doc.get('reason')}", "identifiable": False}
    est = doc["track_temp_s_per_c"]
    note = doc.get("note")
    return {"text": f"track temp {interval_text(est, 's/°C')}" + (f"; {note}" if note else ""), "identifiable": True,
            "slope_s_per_c": est.get("value"), "slope_lo": est.get("lo"), "slope_hi": est.get("hi"), "note": note}


def headline(doc: dict) -> dict:
    if doc.get("scope") == "track":
        return headline_track(doc)
    if not doc.get("usable"):
        return {"text": doc.get("reason", "no weather"), "usable": False}
    p = doc.get("pace_vs_track_temp", {})
    if not p.get("available"):
        reason = str(p.get("reason"))
        return {"text": reason if reason.startswith("not identifiable") else f"not identifiable: {reason}",
                "usable": True, "identifiable": False}
    est = p["slope_s_per_c"]
    note = p.get("note")
    return {"text": f"pace vs track temp {interval_text(est, 's/°C')}" + (f"; {note}" if note else ""), "usable": True,
            "identifiable": True, "slope_s_per_c": est.get("value"), "slope_lo": est.get("lo"),
            "slope_hi": est.get("hi"), "note": note}


def track_documents(track_doc: dict) -> list[dict]:
    """The track's pooled model, one copy per race of the track (so ``?race_id=`` finds it beside the
    race's own weather document, and each copy is written by the one track task)."""
    fields = {k: v for k, v in track_doc.items() if k not in ("engine", "scope", "track_id")}
    if track_doc.get("identifiable"):
        s = track_doc["track_temp_s_per_c"]
        message = (f"{track_doc.get('track_id')}, races pooled: lap time changes {fmt3(s['value'])} s per °C of "
                   f"track temperature (95% CI {fmt3(s['lo'])} to {fmt3(s['hi'])}, n={s['n']})"
                   + (f"; {track_doc['note']}" if track_doc.get("note") else ""))
    else:
        message = f"{track_doc.get('track_id')}, races pooled: not identifiable: {track_doc.get('reason')}"
    return [plain({"id": weather_track_id(race_id), "type": "weather", "engine": "weather", "race_id": race_id,
                   "track_id": track_doc.get("track_id"), "car": None, "lap": None, "section": None,
                   "scope": "track", **fields, "message": message})
            for race_id in track_doc.get("races") or []]


def documents(doc: dict) -> list[dict]:
    race_id = doc["race_id"]
    d = {"id": doc_id(race_id, "weather"), "type": "weather", "engine": "weather", "race_id": race_id,
         "track_id": doc.get("track_id"), "car": None, "lap": None, "section": None, "scope": "race",
         **{k: v for k, v in doc.items() if k not in ("engine", "race_id", "track_id", "scope")}}
    if not doc.get("usable"):
        d["message"] = doc.get("reason")
    else:
        p = doc.get("pace_vs_track_temp") or {}
        if p.get("available"):
            s = p["slope_s_per_c"]
            d["message"] = (f"lap time changes {fmt3(s['value'])} s per °C of track temperature "
                            f"(95% CI {fmt3(s['lo'])} to {fmt3(s['hi'])}, n={s['n']}); {p.get('note')}")
        else:
            d["message"] = f"pace vs track temperature: {p.get('reason', 'not available')}"
    return [plain(d)]
