"""Engines on small hand-computed races: exact expected numbers."""
import math

import numpy as np
import pandas as pd
import pytest

from kaizenlap.engines import composite, pattern, sections, weather
from kaizenlap.engines.common import engine_settings, NOT_ENOUGH


def make_laps(spec: dict[str, list[tuple[float, float, float]]], clean=True, track="barber", race="barber-r1"):
    """spec: car -> list of (s1, s2, s3); sub-sections split each sector 40/60."""
    rows = []
    for car, laps in spec.items():
        for i, (a, b, c) in enumerate(laps, start=1):
            rows.append({"track_id": track, "race_id": race, "car": car, "number": car, "class": "Am", "lap": i,
                         "s1_s": a, "s2_s": b, "s3_s": c, "lap_time_s": round(a + b + c, 3),
                         "im1a_s": round(0.4 * a, 3), "im1_s": round(a - round(0.4 * a, 3), 3),
                         "im2a_s": round(0.4 * b, 3), "im2_s": round(b - round(0.4 * b, 3), 3),
                         "im3a_s": round(0.4 * c, 3), "fl_s": round(c - round(0.4 * c, 3), 3),
                         "is_clean": clean, "exclusion_reasons": ""})
    return pd.DataFrame(rows)


SPEC = {
    "A": [(30.0, 40.0, 30.0), (30.2, 39.8, 30.1), (29.9, 40.3, 30.0), (30.1, 40.1, 29.8), (30.0, 40.0, 30.2)],
    "B": [(30.5, 39.5, 30.5), (30.6, 39.7, 30.4), (30.4, 39.6, 30.6), (30.5, 39.9, 30.5), (30.7, 39.6, 30.5)],
    "C": [(31.0, 41.0, 31.0), (31.0, 41.0, 31.0)],   # too few clean laps for personal statistics
}


def test_field_composite_by_hand():
    doc = composite.analyse(make_laps(SPEC), "barber-r1")
    f = next(x for x in doc["field"] if x["class"] == "all" and x["section_set"] == "sectors")
    # S1 fastest 29.9 (A lap 3), S2 39.5 (B lap 1), S3 29.8 (A lap 4)
    assert [(c["section"], c["time_s"], c["car"], c["lap"]) for c in f["components"]] == [
        ("s1", 29.9, "A", 3), ("s2", 39.5, "B", 1), ("s3", 29.8, "A", 4)]
    assert f["total_s"] == pytest.approx(99.2)
    assert all(doc["invariants"].values())


def test_personal_composite_and_best_k_by_hand():
    doc = composite.analyse(make_laps(SPEC), "barber-r1")
    a = next(c for c in doc["cars"] if c["car"] == "A")["sectors"]
    # personal composite: 29.9 + 39.8 + 29.8; best-3: median of 3 fastest = 30.0 + 40.0 + 30.0
    assert a["personal_composite"]["value"] == pytest.approx(99.5)
    assert a["best_k"]["value"] == pytest.approx(100.0)
    assert a["best_k"]["lo"] <= 100.0 <= a["best_k"]["hi"] and a["best_k"]["n"] == 5
    c = next(c for c in doc["cars"] if c["car"] == "C")["sectors"]
    assert c["best_k"]["value"] is None and c["best_k"]["note"] == NOT_ENOUGH and c["n"] == 2


def test_unclean_laps_never_used():
    laps = make_laps(SPEC)
    laps.loc[(laps["car"] == "A") & (laps["lap"] == 3), ["is_clean", "s1_s"]] = [False, 20.0]
    doc = composite.analyse(laps, "barber-r1")
    f = next(x for x in doc["field"] if x["class"] == "all" and x["section_set"] == "sectors")
    assert f["components"][0]["time_s"] == 30.0      # not the 20.0 of the unclean lap


def test_section_loss_by_hand():
    doc = sections.analyse(make_laps(SPEC), "barber-r1")
    a = next(c for c in doc["cars"] if c["car"] == "A")["sectors"]
    s2 = next(s for s in a["sections"] if s["section"] == "s2")
    # A's S2 times 40.0 39.8 40.3 40.1 40.0: median 40.0, best-3 median 40.0; composite S2 = 39.5 (B)
    assert s2["median"]["value"] == pytest.approx(40.0)
    assert s2["best_k"]["value"] == pytest.approx(40.0)
    assert s2["pace_gap"]["value"] == pytest.approx(0.5)
    assert s2["consistency_cost"]["value"] == pytest.approx(0.0)
    assert s2["loss"]["value"] == pytest.approx(0.5)
    # field typical F (median over A and B of their medians) = 30.25, 39.8, 30.25; A's deviations
    # -0.25, 0.2, -0.25 sum to -0.3, spread by F / 100.3: S2's own section loss = 0.2 + 0.3 * 39.8 / 100.3
    assert s2["section_loss"]["value"] == pytest.approx(0.2 + 0.3 * 39.8 / 100.3)
    s1 = next(s for s in a["sections"] if s["section"] == "s1")
    assert s1["section_loss"]["value"] == pytest.approx(-0.25 + 0.3 * 30.25 / 100.3)
    assert sum(s["section_loss"]["value"] for s in a["sections"]) == pytest.approx(0.0, abs=1e-9)
    assert s2["rank"] == 1 and s2["significant"]
    # loss = pace gap + consistency cost, for every section of every car
    for car in doc["cars"]:
        for s in car["sectors"].get("sections", []):
            assert s["loss"]["value"] == pytest.approx(s["pace_gap"]["value"] + s["consistency_cost"]["value"])
    assert next(c for c in doc["cars"] if c["car"] == "C")["sectors"]["reason"] == NOT_ENOUGH
    per_lap = pd.DataFrame(doc["laps"])
    row = per_lap[(per_lap["car"] == "B") & (per_lap["lap"] == 2) & (per_lap["section"] == "s2")].iloc[0]
    assert row["delta_to_composite_s"] == pytest.approx(0.2) and row["delta_to_own_best_s"] == pytest.approx(0.2)


def test_pattern_stats_by_hand():
    t = np.array([100.0, 101.0, 102.0, 103.0, 104.0, 130.0])
    s = pattern.car_stats(t)
    assert s["median_s"] == pytest.approx(102.5)
    assert s["mean_s"] == pytest.approx(640.0 / 6)
    assert s["robust_sd_s"] == pytest.approx(1.4826 * 1.5, rel=1e-4)      # |dev| .5 .5 1.5 1.5 2.5 27.5 -> MAD 1.5
    assert s["iqr_s"] == pytest.approx(103.75 - 101.25)
    assert s["best5_avg_s"] == pytest.approx(102.0)
    assert s["sanitized_avg_s"] == pytest.approx(102.0) and s["sanitized_n"] == 5   # 130 is > 3 robust SD out


def test_trend_sign_and_interval():
    lap = np.arange(2, 22, dtype=float)
    noise = np.tile([0.1, -0.1, 0.05, -0.05], 5)
    up = pattern.trend(lap, 0.08 * lap + noise)
    flat = pattern.trend(lap, noise)
    pattern.label_trends([up, flat])
    assert up["label"] == "degrading" and up["slope_s_per_lap"]["lo"] > 0
    assert flat["label"] == "no clear trend"


def test_trend_line_passes_through_the_pivot():
    lap = np.array([5.0, 2, 3, 4, 6, 7])
    pace = np.array([0.5, 0.2, 0.1, 0.4, 0.6, 0.9])
    t = pattern.trend(lap, pace)
    # the median of the 15 pairwise slopes is 0.14 s/lap; the line goes through (median lap 4.5, median pace 0.45)
    assert t["slope_s_per_lap"]["value"] == pytest.approx(0.14)
    assert t["pivot"] == {"lap": 4.5, "pace_s": pytest.approx(0.45)}
    assert t["intercept_s"] + 0.14 * 4.5 == pytest.approx(0.45)
    assert t["points"]["lap"] == [2, 3, 4, 5, 6, 7] and t["points"]["field_pace_s"] == [0.2, 0.1, 0.4, 0.5, 0.6, 0.9]


def test_trend_labels_survive_false_discovery_control():
    # 60 cars with no trend at all: per car, a 5% test labels about 3 of them by chance; Benjamini-Hochberg
    # over the race's cars labels none.
    rng = np.random.default_rng(2)
    rows = [{"track_id": "barber", "race_id": "barber-r1", "car": str(c), "number": str(c), "class": "Am",
             "lap": k, "lap_time_s": 100 + 0.01 * c + rng.normal(0, 0.2), "is_clean": True}
            for c in range(60) for k in range(2, 20)]
    laps = pd.DataFrame(rows)
    for col in ("s1_s", "s2_s", "s3_s", "im1a_s", "im1_s", "im2a_s", "im2_s", "im3a_s", "fl_s"):
        laps[col] = np.nan
    doc = pattern.analyse(laps, "barber-r1")
    trends = [c["trend"] for c in doc["cars"]]
    assert sum(t["p_value"] < 0.05 for t in trends) == 2
    assert all(t["label"] == "no clear trend" for t in trends)
    assert all(t["q_value"] >= t["p_value"] for t in trends)


def test_variance_shares_sum_to_one():
    laps = make_laps(SPEC)
    shares = pattern.variance_shares(laps[laps["car"] == "A"], ["s1_s", "s2_s", "s3_s"])
    assert sum(shares.values()) == pytest.approx(1.0)
    # A's S3 (30.0 30.1 30.0 29.8 30.2) moves with the lap time more than S1 or S2 do
    assert max(shares, key=shares.get) == "s3"


def test_weather_asof_join_and_field_pace():
    laps = make_laps(SPEC)
    base = pd.Timestamp("2025-09-06 18:40:00", tz="UTC")
    laps["crossing_utc"] = base + pd.to_timedelta(laps["lap"] * 100, unit="s")
    w = pd.DataFrame({"time_utc": base + pd.to_timedelta([0, 150, 290, 5000], unit="s"),
                      "air_temp_c": [20.0, 21.0, 22.0, 30.0], "track_temp_c": [30.0, 31.0, 32.0, 40.0],
                      "humidity_pct": 50.0, "wind_speed_kph": 5.0, "pressure_hpa": 990.0})
    j = weather.join_weather(laps, w)
    # lap 1 at +100 s -> reading of +0; lap 2 (+200) -> +150; lap 3 (+300) -> +290;
    # lap 5 (+500): latest reading +290 is 210 s old > 180 s tolerance -> missing, not a stale value
    got = dict(zip(j.loc[j["car"] == "A", "lap"], j.loc[j["car"] == "A", "track_temp_c"]))
    assert got[1] == 30.0 and got[2] == 31.0 and got[3] == 32.0 and got[4] == 32.0 and math.isnan(got[5])
    lap1 = laps["lap"] == 1
    # three cars: fewer than weather.field_min_cars (5) clean laps on the lap, so no field to compare with
    assert weather.field_relative_pace(laps)[lap1].isna().all()
    with engine_settings({"weather": {"field_min_cars": 3}}):
        pace = weather.field_relative_pace(laps)
    # lap 1 times 100.0, 100.5, 103.0: the field's median is 100.5
    assert pace[lap1].tolist() == pytest.approx((laps.loc[lap1, "lap_time_s"] - 100.5).tolist())


def test_race_series_window_minutes_and_lap_axis():
    laps = make_laps(SPEC)
    base = pd.Timestamp("2025-09-06 18:40:00", tz="UTC")
    # every car's lap k crosses the line at base + 100 k s (A half a second earlier)
    laps["crossing_utc"] = base + pd.to_timedelta(laps["lap"] * 100, unit="s")
    laps.loc[laps["car"] == "A", "crossing_utc"] -= pd.Timedelta(seconds=0.5)
    w = pd.DataFrame({"time_utc": base + pd.to_timedelta([-600, -240, 60, 300, 780, 1200], unit="s"),
                      "air_temp_c": [19.0, 20.0, 21.0, 22.0, 23.0, 30.0],
                      "track_temp_c": [29.0, 30.0, 31.0, np.nan, 33.0, 40.0],
                      "humidity_pct": 50.0, "wind_speed_kph": 5.0, "pressure_hpa": 990.0})
    s = weather.race_series(w, laps)
    # lap 1 minus its time: A 99.5 - 100.0, B 100 - 100.5, C 100 - 103.0 -> the median over cars is base - 0.5 s
    # (C's slow lap 1 does not move it)
    start = base - pd.Timedelta(seconds=0.5)
    assert s["start_utc"] == start.isoformat() and s["start_basis"].startswith("race start")
    # window: start - 5 min .. last crossing (base + 500 s) + 5 min = base - 300.5 s .. base + 800 s
    expected = [(t + 0.5) / 60 for t in (-240, 60, 300, 780)]
    assert s["minutes"] == pytest.approx([round(m, 2) for m in expected]) and s["n"] == 4
    assert s["sensors"]["track_temp_c"]["values"] == [30.0, 31.0, None, 33.0]
    assert s["sensors"]["track_temp_c"]["n"] == 3 and s["sensors"]["air_temp_c"]["n"] == 4
    lap1 = s["laps"][0]
    # lap 1 crossings at base + 99.5, 100, 100 s -> median 100 s = 100.5 s after the start; times 100.0, 100.5, 103.0
    assert lap1["lap"] == 1 and lap1["minute"] == pytest.approx(round(100.5 / 60, 2))
    assert lap1["field_median_s"] == pytest.approx(100.5) and lap1["n_clean"] == 3
    assert [x["lap"] for x in s["laps"]] == [1, 2, 3, 4, 5] and s["laps"][4]["n_clean"] == 2   # C ran 2 laps
    # the conditions summary covers the same readings as the chart (not the -600 s and +1200 s ones)
    doc = weather.analyse_race(laps, w, "barber-r1")
    assert doc["conditions"]["air_temp_c"]["min"] == 20.0 and doc["conditions"]["air_temp_c"]["max"] == 23.0
    assert doc["conditions"]["air_temp_c"]["n"] == doc["series"]["sensors"]["air_temp_c"]["n"] == 4
    # without lap-1 times the clock starts at the first crossing, and says so
    later = weather.race_series(w, laps[laps["lap"] > 1])
    assert later["start_utc"] == (base + pd.Timedelta(seconds=199.5)).isoformat()
    assert later["start_basis"].startswith("first line crossing")


def test_race_series_keeps_every_reading_when_clocks_disagree():
    laps = make_laps(SPEC)
    base = pd.Timestamp("2025-09-06 18:40:00", tz="UTC")
    laps["crossing_utc"] = base + pd.to_timedelta(laps["lap"] * 100, unit="s")
    w = pd.DataFrame({"time_utc": base + pd.to_timedelta([7200, 7260], unit="s"), "air_temp_c": [20.0, 21.0],
                      "track_temp_c": [30.0, 31.0], "humidity_pct": 50.0, "wind_speed_kph": 5.0, "pressure_hpa": 990.0})
    s = weather.race_series(w, laps)
    assert s["n"] == 2 and "clock may differ" in s["note"] and s["minutes"][0] > 100
    no_times = weather.race_series(w, laps.assign(crossing_utc=pd.NaT))
    assert no_times["start_basis"].startswith("first reading") and no_times["minutes"] == [0.0, 1.0]
    assert no_times["laps"] == []


def test_race_without_weather_says_so():
    doc = weather.analyse_race(make_laps(SPEC).assign(crossing_utc=pd.NaT), pd.DataFrame(), "barber-r1")
    assert doc["usable"] is False and "no weather" in doc["reason"]
    assert "conditions" not in doc


def test_vif_by_hand():
    x = pd.DataFrame({"lap": [1.0, 2, 3, 4, 5, 6], "t": [1.0, 2, 3, 4, 5, 7]})
    r = np.corrcoef(x["lap"], x["t"])[0, 1]
    assert weather.vif(x, "t") == pytest.approx(1 / (1 - r ** 2))


def _track_races(coef: float, collinear: bool = False, seed: int = 1):
    rng = np.random.default_rng(seed)
    skills = rng.normal(0, 0.5, size=12)       # one driver per car number across both races
    out = []
    for race, base_temp in (("barber-r1", 30.0), ("barber-r2", 30.5)):
        rows = []
        for car in range(12):
            skill = skills[car]
            for lap in range(2, 20):
                temp = base_temp + 0.3 * lap if collinear else base_temp + rng.normal(0, 3)
                rows.append({"track_id": "barber", "race_id": race, "car": str(car), "number": str(car),
                             "lap": lap, "track_temp_c": temp, "is_clean": True,
                             "lap_time_s": 100 + skill + 0.02 * lap + coef * temp + rng.normal(0, 0.15)})
        laps = pd.DataFrame(rows)
        t0 = pd.Timestamp("2025-09-06 18:00", tz="UTC")
        laps["crossing_utc"] = t0 + pd.to_timedelta(np.arange(len(laps)), unit="s")
        w = pd.DataFrame({"time_utc": laps["crossing_utc"], "air_temp_c": 25.0,
                          "track_temp_c": laps["track_temp_c"], "humidity_pct": 50.0, "wind_speed_kph": 3.0,
                          "pressure_hpa": 990.0})
        out.append((laps.drop(columns="track_temp_c"), w))
    return out


def test_track_model_recovers_known_coefficient():
    # the estimator (the placebo gate is tested in test_weather_placebo.py); a 95% interval, so over 8 seeds
    # at most one miss (the two-way SE on 12 cars: seed 1's interval ends at 0.0496)
    covered = 0
    for seed in range(1, 9):
        doc = weather.analyse_track(_track_races(0.05, seed=seed), "barber", placebo=False)
        est = doc["track_temp_s_per_c"]
        assert doc["identifiable"] and est["n"] == 2 * 12 * 18
        covered += est["lo"] <= 0.05 <= est["hi"]
    assert covered >= 7


def test_track_model_not_identifiable_when_collinear_or_missing():
    races = _track_races(0.05, collinear=True)
    races = [(laps[laps["race_id"] == "barber-r1"], w) for laps, w in races[:1]]
    doc = weather.analyse_track(races, "barber")
    assert doc["identifiable"] is False and "collinear" in doc["reason"]
    nowx = [(laps, w.assign(track_temp_c=np.nan)) for laps, w in _track_races(0.05)]
    doc = weather.analyse_track(nowx, "barber")
    assert doc["identifiable"] is False and "no track-temperature" in doc["reason"]


def test_track_model_confounded_with_race():
    # Race 2 is 12 degC warmer and 3 s a lap slower for another reason (damp): temperature varies little
    # within each race, so the race difference cannot be told from a temperature effect.
    races = []
    for laps, w in _track_races(0.0):
        if laps["race_id"].iloc[0] == "barber-r2":
            laps = laps.assign(lap_time_s=laps["lap_time_s"] + 3.0)
            w = w.assign(track_temp_c=(w["track_temp_c"] - 30.5) / 3 + 42.0)
        else:
            w = w.assign(track_temp_c=(w["track_temp_c"] - 30.0) / 3 + 30.0)
        races.append((laps, w))
    doc = weather.analyse_track(races, "barber")
    assert doc["identifiable"] is False and doc["reason"].startswith("confounded with race")
    assert "track_temp_s_per_c" not in doc and doc["vif_track_temp_with_race"] > 5


def _race_with_temperature(coef: float, shape: str, seed: int = 3):
    """One race, 16 cars with their own level and lap trend; temperature linear in lap number, or with a
    mid-race dip (a passing cloud) that lap trends cannot mimic. The field as a whole shares the effect."""
    rng = np.random.default_rng(seed)
    rows = []
    for car in range(16):
        level, trend = rng.normal(0, 0.5), rng.uniform(-0.08, 0.08)
        for lap in range(2, 22):
            temp = 30 + 0.25 * lap - (5 * np.exp(-0.5 * ((lap - 11) / 2.0) ** 2) if shape == "cloud" else 0)
            rows.append({"track_id": "barber", "race_id": "barber-r1", "car": str(car), "number": str(car),
                         "lap": lap, "track_temp_c": temp, "is_clean": True,
                         "lap_time_s": 100 + level + trend * lap + coef * temp + rng.normal(0, 0.2)})
    laps = pd.DataFrame(rows)
    return laps


def test_race_model_sees_a_shared_temperature_effect():
    laps = _race_with_temperature(0.05, "cloud")
    fit = weather.pace_vs_track_temp(laps, placebo=False)   # the estimator; the placebo gate: test_weather_placebo
    est = fit["slope_s_per_c"]
    assert fit["available"] and est["lo"] <= 0.05 <= est["hi"] and est["lo"] > 0 and est["n"] == 16 * 20
    # field-relative pace (lap minus the field's median on that lap) removes the shared effect
    pace = weather.field_relative_pace(laps)
    assert abs(np.polyfit(laps["track_temp_c"], pace, 1)[0] - 0.05) > 0.03


def test_evidence_points_reproduce_the_estimate(monkeypatch):
    # Frisch-Waugh-Lovell: the slope through the origin of the stored added-variable points is the model's beta.
    # Car 99 has laps at two lap numbers only: the model leaves it out, and so must the evidence.
    laps = _race_with_temperature(0.05, "cloud")
    extra = laps[laps["car"] == "0"].head(2).assign(car="99", number="99", lap_time_s=lambda d: d["lap_time_s"] + 5)
    laps = pd.concat([laps, extra], ignore_index=True)
    fit = weather.pace_vs_track_temp(laps, placebo=False)
    ev = fit["evidence"]
    x, y = np.array(ev["temp_resid_c"]), np.array(ev["time_resid_s"])
    assert ev["n"] == fit["n"] == len(x) == 16 * 20 and not ev["thinned"] and "99" not in ev["car"]
    # exact up to the points' rounding to 3 decimals
    assert float(x @ y / (x @ x)) == pytest.approx(fit["slope_s_per_c"]["value"], rel=2e-3)
    assert len(ev["car"]) == len(ev["lap"]) == len(x)
    # above the cap every k-th point is kept, and the document says so; n still counts all
    cfg = weather.cfg()
    monkeypatch.setitem(cfg["weather"], "evidence_max_points", 100)
    thin = weather.pace_vs_track_temp(laps, placebo=False)["evidence"]
    assert thin["thinned"] and thin["n"] == 320 and len(thin["temp_resid_c"]) == 80   # every 4th of 320


def test_race_model_not_identifiable_when_temperature_is_linear_in_lap():
    fit = weather.pace_vs_track_temp(_race_with_temperature(0.05, "linear"))
    assert fit["available"] is False and fit["reason"].startswith("not identifiable") and "collinear" in fit["reason"]
    assert "slope_s_per_c" not in fit


def test_class_split_only_with_several_classes():
    laps = make_laps(SPEC)
    assert {f["class"] for f in composite.analyse(laps, "barber-r1")["field"]} == {"all"}
    laps.loc[laps["car"] == "B", "class"] = "Pro"
    assert {f["class"] for f in composite.analyse(laps, "barber-r1")["field"]} == {"all", "Am", "Pro"}


def _two_race_track(offset: float = 2.0, n: int = 12, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cars A-D at one track: race 1, and race 2 the same laps with every section ``offset`` s slower (a damp
    track). Returns (race 1's laps, both races' laps)."""
    g = np.random.default_rng(seed)
    base = {"A": (30.0, 40.0, 30.0), "B": (30.3, 40.2, 30.1), "C": (30.1, 40.4, 30.3), "D": (30.5, 40.1, 30.2)}
    spec = {car: [tuple(round(m + 0.15 * abs(z) + 0.05 * z, 3) for m, z in zip(mu, g.standard_normal(3)))
                  for _ in range(n)] for car, mu in base.items()}
    r1 = make_laps(spec, track="barber", race="barber-r1")
    r2 = make_laps({car: [tuple(round(t + offset, 3) for t in lap) for lap in laps] for car, laps in spec.items()},
                   track="barber", race="barber-r2")
    return r1, pd.concat([r1, r2], ignore_index=True)


def test_track_composite_models_the_race_offset():
    """Race 2 is 2 s slower in every section: the pooled track composite's intervals keep about the one-race
    width (the slower race's laps never set a minimum), not a width of seconds; the document says whose
    conditions it is in (race 1, offset 6 s per lap from the cars that ran both)."""
    r1, both = _two_race_track()
    one = composite.analyse(r1, "barber-r1")
    track = composite.analyse(both, "barber", scope="track")
    for car in "ABCD":
        a = next(c for c in one["cars"] if c["car"] == car)
        t = next(c for c in track["cars"] if c["car"] == car)
        for set_name in ("sectors", "subsections"):
            for stat in ("personal_composite", "best_k"):
                e1, et = a[set_name][stat], t[set_name][stat]
                assert et["value"] == pytest.approx(e1["value"])       # the minima come from race 1
                w1, wt = e1["hi"] - e1["lo"], et["hi"] - et["lo"]
                assert wt < 1.5 * w1 + 0.02, (car, set_name, stat, w1, wt)
                assert et["lo"] <= et["value"] <= et["hi"]
        assert t["sectors"]["composite_races"] == ["barber-r1"]
        assert t["sectors"]["median_lap_by_race_s"]["barber-r2"] == pytest.approx(
            t["sectors"]["median_lap_by_race_s"]["barber-r1"] + 6.0, abs=0.002)
    lv = track["race_levels"]
    assert lv["reference_race"] == "barber-r1"
    assert lv["races"]["barber-r2"]["offset_s"] == pytest.approx(6.0, abs=0.002)
    assert lv["races"]["barber-r2"]["offset_n_cars"] == 4 and lv["races"]["barber-r1"]["offset_s"] == 0.0
    assert all(track["invariants"].values())


def test_track_composite_race_offset_off_is_the_old_pooled_model():
    """With ``bootstrap.race_offset: false`` the races are pooled as one (the rule up to issue 19): the 6 s
    offset then widens every interval far beyond the one-race width."""
    r1, both = _two_race_track()
    with engine_settings({"bootstrap.race_offset": False}):
        track = composite.analyse(both, "barber", scope="track")
    one = composite.analyse(r1, "barber-r1")
    a = next(c for c in one["cars"] if c["car"] == "A")["sectors"]["best_k"]
    t = next(c for c in track["cars"] if c["car"] == "A")["sectors"]["best_k"]
    assert t["hi"] - t["lo"] > 3 * (a["hi"] - a["lo"])
