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
    """Lap time minus the field's median clean lap time on that lap number; NaN where fewer than
    ``weather.field_min_cars`` clean laps make that median (a lap of a few cars, or of the car alone, is not a
    field to compare with)."""
    f = field_median_by_lap(laps)
    median = f["median_s"].where(f["n_clean"] >= cfg()["weather"]["field_min_cars"])
    return laps["lap_time_s"] - laps["lap"].map(median)


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


def lap_shape(lap: np.ndarray, race: np.ndarray | None = None, degree: int | None = None) -> np.ndarray:
    """The field-wide lap shape's columns: Legendre polynomials P_2 .. P_degree of the lap number scaled to
    [-1, 1] within each race, one set per race (``race``; None = one race). Degree 0 and 1 are in the units'
    levels and trends; ``degree`` < 2 gives no column."""
    degree = int(cfg()["weather"]["lap_shape_degree"]) if degree is None else int(degree)
    lap = np.asarray(lap, float)
    race = np.zeros(len(lap), int) if race is None else pd.factorize(np.asarray(race))[0]
    cols = []
    for r in np.unique(race):
        m = race == r
        lo, hi = lap[m].min(), lap[m].max()
        x = np.where(m, (2 * lap - lo - hi) / max(hi - lo, 1.0), 0.0)
        for j in range(2, degree + 1):
            cols.append(np.where(m, np.polynomial.legendre.legval(x, [0] * j + [1]), 0.0))
    return np.column_stack(cols) if cols else np.zeros((len(lap), 0))


def controls(d: pd.DataFrame, unit: pd.Series, race: pd.Series | None = None, degree: int | None = None) -> np.ndarray:
    """The temperature model's columns other than temperature: a constant, each unit's level (first dropped)
    and lap trend (lap − mean lap), and the field-wide lap shape (:func:`lap_shape`, per race)."""
    U = pd.get_dummies(pd.Series(unit, index=d.index).astype(str), dtype=float).to_numpy()
    lap = d["lap"].to_numpy(float)
    return np.column_stack([np.ones(len(d)), U[:, 1:], U * (lap - lap.mean())[:, None],
                            lap_shape(lap, None if race is None else np.asarray(race), degree)])


def _codes(g) -> np.ndarray:
    return pd.factorize(pd.Series(np.asarray(g)).astype(str))[0]


def slope_tests(Z: np.ndarray, X: np.ndarray, y: np.ndarray, groups: list[np.ndarray]) -> dict:
    """β, cluster-robust SE and VIF of each column of ``X`` (n × m, one candidate temperature each) in
    ``y ~ x + Z``, all at once by Frisch-Waugh-Lovell: x and y with ``Z`` projected out. SE: CRV1 by the one
    grouping in ``groups`` or, with two, Cameron-Gelbach-Miller two-way (V_1 + V_2 − V_12, each with the
    correction G/(G−1)·(N−1)/(N−K); max(V_1, V_2) where that sum is not positive), the same numbers as
    statsmodels' ``cov_type="cluster"``; t with min(G) − 1 df."""
    from scipy import sparse
    n, k = Z.shape[0], Z.shape[1] + 1
    Q, _ = np.linalg.qr(Z)
    Xr = X - Q @ (Q.T @ X)
    yr = y - Q @ (Q.T @ y)
    sxx = np.einsum("ij,ij->j", Xr, Xr)
    beta = (Xr.T @ yr) / sxx
    W = Xr * (yr[:, None] - Xr * beta)

    def crv1(codes):
        G = int(codes.max()) + 1
        S = sparse.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(G, n)) @ W
        return G / (G - 1) * (n - 1) / (n - k) * np.einsum("ij,ij->j", S, S) / sxx ** 2, G

    codes = [_codes(g) for g in groups]
    var, G0 = crv1(codes[0])
    sizes = [G0]
    if len(codes) == 2:
        v1, G1 = crv1(codes[1])
        v12, _ = crv1(_codes(pd.Series(codes[0]).astype(str) + "|" + pd.Series(codes[1]).astype(str)))
        both = var + v1 - v12
        var = np.where(both > 0, both, np.maximum(var, v1))
        sizes.append(G1)
    xc = X - X.mean(axis=0)
    return {"beta": beta, "se": np.sqrt(var), "df": min(sizes) - 1, "groups": sizes,
            "vif": np.einsum("ij,ij->j", xc, xc) / np.maximum(sxx, 1e-300)}


def race_clock(d: pd.DataFrame, race: pd.Series | None = None) -> np.ndarray:
    """Each row's place on its race's clock, 0 at the race's first row and 1 at its last: minutes of
    ``crossing_utc`` where every row has one and they follow lap number (correlation ≥ 0.9, as in every race),
    else lap number."""
    race = np.zeros(len(d), int) if race is None else _codes(race)
    t = d["lap"].to_numpy(float)
    if "crossing_utc" in d and len(d) > 2 and d["crossing_utc"].notna().all():
        secs = (d["crossing_utc"] - d["crossing_utc"].min()).dt.total_seconds().to_numpy(float)
        if np.ptp(secs) > 0 and np.ptp(t) > 0 and np.corrcoef(secs, t)[0, 1] >= 0.9:
            t = secs
    out = np.zeros(len(d))
    for r in np.unique(race):
        m = race == r
        out[m] = (t[m] - t[m].min()) / max(t[m].max() - t[m].min(), 1e-9)
    return out


def placebo_curves(clock: np.ndarray, race: np.ndarray, temp: np.ndarray, tries: int, seed: int) -> np.ndarray:
    """``tries`` smooth random curves over each race's clock (n × tries), independent of the temperature:
    a Gaussian process with a squared-exponential kernel (random Fourier features, ``weather.placebo_features``
    of them) whose length scale is drawn log-uniform in ``weather.placebo_length_scale`` (fractions of the race),
    one curve per race, each scaled to that race's temperature mean and SD."""
    c = cfg()["weather"]
    rng = np.random.default_rng(seed)
    K = int(c["placebo_features"])
    lo, hi = c["placebo_length_scale"]
    race = _codes(race)
    out = np.zeros((len(clock), tries))
    for r in np.unique(race):
        m = race == r
        ell = np.exp(rng.uniform(np.log(lo), np.log(hi), tries))
        w = rng.standard_normal((K, tries)) / ell
        phi = rng.uniform(0, 2 * np.pi, (K, tries))
        f = np.cos(clock[m][:, None, None] * w[None] + phi[None]).sum(axis=1)
        f = (f - f.mean(axis=0)) / np.maximum(f.std(axis=0), 1e-12)
        out[m] = temp[m].mean() + f * temp[m].std()
    return out


def placebo_check(Z: np.ndarray, y: np.ndarray, temp: np.ndarray, groups: list[np.ndarray], clock: np.ndarray,
                  race: np.ndarray, key: str, tries: int | None = None) -> dict:
    """The race's false-positive rate on smooth placebo curves (:func:`placebo_curves`, seed
    ``weather.placebo_seed`` and ``key``): the share of the curves the model would show as identifiable
    (VIF ≤ ``weather.vif_max``) whose slope's 95% interval excludes 0. A model whose errors follow the race's
    own pace shape finds slopes on curves that have nothing to do with lap time. The real temperature stays in
    the model beside each placebo (a real temperature effect is not the placebo's to find)."""
    import zlib
    from scipy import stats
    c = cfg()["weather"]
    tries = int(c["placebo_tries"]) if tries is None else int(tries)
    seed = int(c["placebo_seed"]) * 1_000_003 + zlib.crc32(key.encode())
    P = placebo_curves(clock, race, temp, tries, seed)
    r = slope_tests(np.column_stack([Z, temp]), P, y, groups)
    ok = r["vif"] <= c["vif_max"]
    sig = ok & (np.abs(r["beta"] / r["se"]) > stats.t.ppf(0.975, r["df"]))
    n_ok = int(ok.sum())
    return {"placebo_tries": tries, "placebo_identifiable": n_ok, "placebo_significant": int(sig.sum()),
            "placebo_false_positive_rate": float(sig.sum() / n_ok) if n_ok else None,
            "placebo_max_rate": float(c["placebo_max_rate"]), "placebo_seed": int(c["placebo_seed"])}


def temperature_model(d: pd.DataFrame, unit: pd.Series, cluster: pd.Series,
                      race: pd.Series | None = None, *, key: str = "race", degree: int | None = None,
                      two_way: bool | None = None, placebo: bool = True) -> dict:
    """β of ``lap_time_s ~ track_temp_c + C(unit) + C(unit):lap + f_race(lap)`` over the clean laps ``d`` (every
    row has a track temperature): each unit's level and lap trend, and the field-wide lap shape ``f_race``
    (:func:`lap_shape`, Legendre degree 2 .. ``weather.lap_shape_degree`` per race). SE clustered two-way by
    ``cluster`` (car) and lap (race × lap on a track) where ``weather.two_way_clusters``, else by ``cluster``.
    ``race`` (track scope) adds the confounded-with-race check. Then the placebo check (:func:`placebo_check`,
    seeded by ``key``): above ``weather.placebo_max_rate`` the slope is not identifiable.
    ``degree=0, two_way=False`` is the earlier model (bench/placebo.py); ``placebo=False`` skips the check.

    Returns ``identifiable``, ``n``, ``cars``, ``temp_span_c``, ``vif_track_temp``, the placebo fields and either
    ``track_temp_s_per_c`` (Estimate) with ``residual_sd_s``, ``temp_within_sd_c`` and ``qualification``, or
    ``reason``."""
    from scipy import stats
    from statsmodels.stats.outliers_influence import variance_inflation_factor
    c = cfg()["weather"]
    degree = int(c["lap_shape_degree"]) if degree is None else int(degree)
    two_way = bool(c["two_way_clusters"]) if two_way is None else bool(two_way)
    unit = pd.Series(unit, index=d.index).astype(str)
    keep = identifying_rows(d, unit)
    d, unit, cluster = d[keep], unit[keep], pd.Series(cluster, index=keep.index)[keep].astype(str)
    n = int(len(d))
    out = {"n": n, "cars": int(cluster.nunique()), "units": int(unit.nunique()), "lap_shape_degree": degree,
           "se_clusters": "car and lap" if two_way else "car"}
    if n < c["min_laps_model"]:
        return {**out, "identifiable": False,
                "reason": "no track-temperature readings on clean laps" if n == 0 else
                f"only {n} clean laps with a track temperature"}
    temp = d["track_temp_c"].to_numpy(float)
    span = float(temp.max() - temp.min())
    out["temp_span_c"] = span
    if span < c["min_temp_range_c"]:
        return {**out, "identifiable": False, "reason": f"track temperature spans only {span:.1f} °C"}
    race_s = pd.Series("race", index=d.index) if race is None else pd.Series(race, index=keep.index)[keep].astype(str)
    if race is not None:
        out["races_with_temp"] = int(race_s.nunique())
        if race_s.nunique() > 1:
            R = pd.get_dummies(race_s, drop_first=True, dtype=float).to_numpy()
            v_race = float(variance_inflation_factor(np.column_stack([temp, np.ones(n), R]), 0))
            out["vif_track_temp_with_race"] = v_race
            if v_race > c["vif_max"]:
                return {**out, "identifiable": False,
                        "reason": f"confounded with race: the race indicator explains the track temperature "
                                  f"(VIF {v_race:.1f} > {c['vif_max']}); a race-to-race difference is also a "
                                  "difference of everything else between the races"}
    Z = controls(d, unit, race_s, degree)
    X = np.column_stack([temp, Z])
    v = float(variance_inflation_factor(X, 0)) if np.linalg.matrix_rank(X) == X.shape[1] else float("inf")
    out["vif_track_temp"] = v
    shape = " and the field's lap shape" if degree >= 2 else ""
    if not np.isfinite(v) or v > c["vif_max"]:
        return {**out, "identifiable": False,
                "reason": f"temperature moves with the race's own pace shape: it is collinear with the cars' levels "
                          f"and lap trends{shape} (VIF {v:.1f} > {c['vif_max']})"}
    lap_key = (race_s + "|" + d["lap"].astype(int).astype(str)).to_numpy()
    groups = [cluster.to_numpy()] + ([lap_key] if two_way else [])
    y = d["lap_time_s"].to_numpy(float)
    r = slope_tests(Z, temp[:, None], y, groups)
    b, se, df = float(r["beta"][0]), float(r["se"][0]), int(r["df"])
    half = float(stats.t.ppf(0.975, df)) * se
    resid = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    # the temperature variation the model identifies β from: temp's residual on the other columns
    t_res = temp - Z @ np.linalg.lstsq(Z, temp, rcond=None)[0]
    se_text = "SE clustered by car and by lap (two-way)" if two_way else "SE clustered by car"
    method = (f"OLS on absolute lap time with a level and a lap trend per "
              f"{'car and race' if race is not None else 'car'}"
              + (f" and a field-wide degree-{degree} polynomial in lap{' per race' if race is not None else ''}"
                 if degree >= 2 else "") + f"; {se_text} (t, min(G)-1 df)")
    out.update({"track_temp_s_per_c": Estimate(b, b - half, b + half, n, method).to_dict(),
                "residual_sd_s": float(np.sqrt(resid @ resid / (n - X.shape[1]))),
                "temp_within_sd_c": float(np.std(t_res, ddof=1))})
    if not placebo:
        return {**out, "identifiable": True}
    pc = placebo_check(Z, y, temp, groups, race_clock(d, race_s), race_s.to_numpy(), key)
    out.update(pc)
    rate, cap = pc["placebo_false_positive_rate"], pc["placebo_max_rate"]
    if rate is None or rate > cap:
        out.pop("track_temp_s_per_c")
        said = ("no placebo curve was identifiable" if rate is None else
                f"{pc['placebo_significant']} of {pc['placebo_identifiable']} smooth placebo curves unrelated to the "
                f"temperature come out significant ({rate:.0%} > {cap:.0%})")
        return {**out, "identifiable": False,
                "reason": f"temperature moves with the race's own pace shape: {said}"}
    out["qualification"] = (f"placebo check: {pc['placebo_significant']} of {pc['placebo_identifiable']} smooth curves "
                            f"unrelated to the temperature come out significant ({rate:.0%}, at most {cap:.0%} "
                            "allowed); the field's lap shape and field-wide shocks per lap are allowed for")
    return {**out, "identifiable": True}


def within_lap_precision(d: pd.DataFrame, unit: pd.Series, race: pd.Series | None = None) -> dict:
    """What is left to identify a temperature slope from once the field's lap shape is free: ``lap_time_s ~
    track_temp_c + C(unit) + C(unit):lap + C(race x lap)`` over the model's rows (:func:`identifying_rows`), one
    level per lap number (any field-wide shape: start, restart, last laps, a cloud passing the whole field). The
    temperature then varies only between cars on the same lap (they cross the line minutes apart). Returns
    ``temp_within_lap_sd_c`` (the temperature's residual on the other columns), ``se_floor_s_per_c`` (the slope's
    SE with independent noise; clustering only widens it) and ``n``; a true slope well under 2x this floor
    cannot be shown by any model that leaves the field's lap shape free."""
    unit = pd.Series(unit, index=d.index).astype(str)
    keep = identifying_rows(d, unit)
    d, unit = d[keep], unit[keep]
    race_s = pd.Series("race", index=d.index) if race is None else pd.Series(race, index=keep.index)[keep].astype(str)
    U = pd.get_dummies(unit, dtype=float).to_numpy()
    lap = d["lap"].to_numpy(float)
    L = pd.get_dummies(race_s + "|" + d["lap"].astype(int).astype(str), dtype=float).to_numpy()[:, 1:]
    Z = np.column_stack([U, U * (lap - lap.mean())[:, None], L])
    temp, y = d["track_temp_c"].to_numpy(float), d["lap_time_s"].to_numpy(float)
    X = np.column_stack([temp, Z])
    res = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    dof = max(len(y) - np.linalg.matrix_rank(X), 1)
    t_res = temp - Z @ np.linalg.lstsq(Z, temp, rcond=None)[0]
    ss = float(t_res @ t_res)
    return {"n": int(len(y)), "temp_within_lap_sd_c": float(np.sqrt(ss / max(len(y) - 1, 1))),
            "se_floor_s_per_c": float(np.sqrt(res @ res / dof / ss)) if ss > 0 else float("inf")}


def added_variable(d: pd.DataFrame, unit: pd.Series) -> pd.DataFrame:
    """The temperature model's added-variable view (Frisch-Waugh-Lovell): lap time and track temperature,
    each with the unit levels, lap trends and the field's lap shape (:func:`controls`) regressed out
    (``time_resid_s``, ``temp_resid_c``), over the model's rows (:func:`identifying_rows`). Their OLS slope
    through the origin is exactly the model's β, so a plot of one against the other shows the evidence the
    estimate rests on."""
    d = d.dropna(subset=["track_temp_c", "lap_time_s"])
    unit = pd.Series(unit, index=d.index).astype(str) if len(d) else pd.Series(dtype=str)
    if len(d):
        keep = identifying_rows(d, unit)
        d, unit = d[keep], unit[keep]
    if len(d) == 0:
        return d.assign(time_resid_s=[], temp_resid_c=[])
    Z = controls(d, unit)
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


def shape_terms(degree: int) -> str:
    """The field's lap shape in a formula, as :func:`lap_shape` builds it: "P2(lap) + P3(lap)" for degree 3."""
    return " + ".join(f"P{j}(lap)" for j in range(2, int(degree) + 1))


def pace_vs_track_temp(laps: pd.DataFrame, **model) -> dict:
    """The within-race temperature model over the race's clean laps (:func:`temperature_model`; ``model``
    passes its options, bench/placebo.py)."""
    d = laps[laps["is_clean"]].dropna(subset=["track_temp_c", "lap_time_s"])
    key = str(d["race_id"].iloc[0]) if "race_id" in d and len(d) else "race"
    m = temperature_model(d, d["car"], d["car"], key=key, **model)
    shape = shape_terms(m["lap_shape_degree"])
    se = "SE clustered two-way by car and lap" if m["se_clusters"] == "car and lap" else "SE clustered by car"
    out = {"available": bool(m.pop("identifiable")), **m,
           "model": f"lap_time_s ~ track_temp_c + C(car) + C(car):lap{' + ' + shape if shape else ''}, OLS, {se}; "
                    "shown only where the placebo false-positive rate is at most "
                    f"{cfg()['weather']['placebo_max_rate']:.0%}"}
    if out["available"]:
        out["slope_s_per_c"] = out.pop("track_temp_s_per_c")
        out["evidence"] = evidence(d, d["car"])
        out["note"] = ("within one race: identified only by the temperature that moves neither linearly with lap "
                       "number nor with the field's lap shape; read with the track model")
    else:
        out["reason"] = f"not identifiable: {out['reason']}"
    return out


def analyse_race(laps: pd.DataFrame, weather: pd.DataFrame, race_id: str, **model) -> dict:
    """A race's weather document: conditions, series and the temperature model (``model``: its options)."""
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
               pace_vs_track_temp=pace_vs_track_temp(joined, **model) if joined["track_temp_c"].notna().any() else
               {"available": False, "n": 0, "reason": "no track-temperature readings (sensor absent)"})
    return plain(doc)


def vif(x: pd.DataFrame, column: str) -> float:
    """Variance inflation factor of ``column`` against the other columns and an intercept
    (statsmodels ``variance_inflation_factor``: 1 / (1 - R^2))."""
    from statsmodels.stats.outliers_influence import variance_inflation_factor
    cols = [column, *[c for c in x.columns if c != column]]
    X = np.column_stack([x[cols].to_numpy(float), np.ones(len(x))])
    return float(variance_inflation_factor(X, 0))


def analyse_track(races: list[tuple[pd.DataFrame, pd.DataFrame]], track_id: str, **model) -> dict:
    """A track's races pooled: ``lap_time_s ~ track_temp_c + C(car × race) + C(car × race):lap`` plus each race's
    field-wide lap shape over clean laps, SE clustered two-way by car number and race × lap, placebo-checked
    (:func:`temperature_model`; ``model`` passes its options)."""
    parts = []
    for laps, weather in races:
        j = join_weather(laps, weather)
        parts.append(j[j["is_clean"]])
    d = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    doc = {"engine": "weather", "scope": "track", "track_id": track_id,
           "races": sorted({str(r) for laps, _ in races for r in laps["race_id"].unique()}),
           "formula": ""}
    d = d.dropna(subset=["track_temp_c", "lap_time_s"]) if len(d) else pd.DataFrame(
        columns=["track_temp_c", "lap_time_s", "lap", "race_id", "number"])
    number = d["number"].astype(str)
    m = temperature_model(d, d["race_id"].astype(str) + "|" + number, number, race=d["race_id"], key=track_id, **model)
    shape = shape_terms(m["lap_shape_degree"])
    se = ("SE clustered two-way by car number and race × lap" if m["se_clusters"] == "car and lap"
          else "SE clustered by car number")
    doc["formula"] = ("lap_time_s ~ track_temp_c + C(car × race) + C(car × race):lap"
                      + (f" + C(race):({shape})" if shape else "") + f" (OLS, {se}; placebo-checked)")
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
            "slope_s_per_c": est.get("value"), "slope_lo": est.get("lo"), "slope_hi": est.get("hi"), "note": note,
            "placebo_false_positive_rate": doc.get("placebo_false_positive_rate")}


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
            "slope_hi": est.get("hi"), "note": note, "placebo_false_positive_rate": p.get("placebo_false_positive_rate")}


def track_documents(track_doc: dict) -> list[dict]:
    """The track's pooled model, one copy per race of the track (so ``?race_id=`` finds it beside the
    race's own weather document, and each copy is written by the one track task)."""
    fields = {k: v for k, v in track_doc.items() if k not in ("engine", "scope", "track_id")}
    if track_doc.get("identifiable"):
        s = track_doc["track_temp_s_per_c"]
        message = (f"{track_doc.get('track_id')}, races pooled: lap time changes {fmt3(s['value'])} s per °C of "
                   f"track temperature (95% CI {fmt3(s['lo'])} to {fmt3(s['hi'])}, n={s['n']})"
                   + (f"; {track_doc['note']}" if track_doc.get("note") else "")
                   + (f"; {track_doc['qualification']}" if track_doc.get("qualification") else ""))
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
                            f"(95% CI {fmt3(s['lo'])} to {fmt3(s['hi'])}, n={s['n']}); {p.get('note')}; "
                            f"{p.get('qualification')}")
        else:
            d["message"] = f"pace vs track temperature: {p.get('reason', 'not available')}"
    return [plain(d)]
