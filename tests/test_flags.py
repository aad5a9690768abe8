"""Clean-lap flags on the hand-made race (expected flags written by hand in minirace.py)."""
import numpy as np
import pandas as pd
import pytest

import minirace
from kaizenlap.ingest.flags import FLAG_CODES, SECTION_FLAGS, add_flags, exclusion_summary, modified_z
from kaizenlap.ingest.loader import load


@pytest.fixture(scope="module")
def race(tmp_path_factory):
    root = tmp_path_factory.mktemp("mini")
    minirace.write_race(root / "barber", 1)
    races, issues = load([root], use_cache=False)
    assert [r.race_id for r in races] == ["barber-r1"]
    return races[0]


def test_every_flag_as_hand_computed(race):
    got = {(r.car, r.lap): set(filter(None, r.section_exclusion_reasons.split(";"))) for r in race.laps.itertuples()}
    expected = {k: minirace.EXPECTED_FLAGS.get(k, set()) for k in got}
    assert got == expected
    # exclusion_reasons (lap-time statistics) lists the same flags less the split flags
    lap_time = {(r.car, r.lap): set(filter(None, r.exclusion_reasons.split(";"))) for r in race.laps.itertuples()}
    assert lap_time == {k: v - set(SECTION_FLAGS) for k, v in expected.items()}


def test_is_clean_and_summary(race):
    laps = race.laps
    assert (laps["is_clean"] == (laps["exclusion_reasons"] == "")).all()
    assert (laps["is_clean_sections"] == (laps["section_exclusion_reasons"] == "")).all()
    assert (laps["is_clean_sections"] <= laps["is_clean"]).all()
    # car 0's lap 7 lacks S1: clean for lap-time statistics, not for section statistics
    split_only = [k for k, v in minirace.EXPECTED_FLAGS.items() if v <= set(SECTION_FLAGS)]
    assert split_only == [("0", 7)]
    assert race.clean_laps == 24 - len(minirace.EXPECTED_FLAGS) + len(split_only)
    assert int(laps["is_clean_sections"].sum()) == 24 - len(minirace.EXPECTED_FLAGS)
    summary = exclusion_summary(laps).set_index("flag")
    assert summary.loc["first_lap", "laps"] == 3 and summary.loc["first_lap", "only_this_flag"] == 0
    assert summary.loc["deleted", "laps"] == 1 and summary.loc["deleted", "only_this_flag"] == 1
    assert summary.loc["slow", "laps"] == 7 and summary.loc["slow", "only_this_flag"] == 0
    assert summary.loc["pit_in", "only_this_flag"] == 1


def test_best_lap_follows_official_rules(race):
    cars = {c["car"]: (c["best_lap_s"], c["best_lap_number"]) for c in race.summary()["cars"]}
    assert cars == minirace.EXPECTED_BEST
    deleted = race.laps[race.laps["flag_deleted"]]
    assert list(zip(deleted["car"], deleted["lap"], deleted["deleted_by"])) == [("7", 7, "lap_improvement")]


def test_crossing_time_is_hour_in_track_zone(race):
    # Car 7 lap 1 crosses at 13:41:50 CDT = 18:41:50 UTC on 2025-09-06.
    row = race.laps[(race.laps["car"] == "7") & (race.laps["lap"] == 1)].iloc[0]
    assert race.date == "2025-09-06"
    assert row["crossing_utc"] == pd.Timestamp("2025-09-06 18:41:50", tz="UTC")


def test_modified_z_by_hand():
    x = pd.Series([10.0, 10.2, 10.4, 10.6, 20.0])
    # median 10.4, |dev| = .4 .2 0 .2 9.6 -> MAD 0.2; z(20) = 9.6 / (1.4826 * 0.2) (= 0.6745 * 9.6 / 0.2)
    z = modified_z(x)
    assert z.iloc[4] == pytest.approx(9.6 / (1.4826 * 0.2), rel=1e-4)
    assert z.iloc[2] == 0
    assert modified_z(pd.Series([5.0, 5.0, 5.0])).isna().all()  # MAD 0: no test


def _laps(times, sectors=None, number="9"):
    n = len(times)
    sectors = sectors or [(t * 0.3, t * 0.4, t * 0.3) for t in times]
    df = pd.DataFrame({
        "car": number, "number": number, "class": "Am", "lap": np.arange(1, n + 1), "lap_time_s": times,
        "s1_s": [s[0] for s in sectors], "s2_s": [s[1] for s in sectors], "s3_s": [s[2] for s in sectors],
        "flag": "GF", "pit_in": False, "pit_time_s": np.nan, "lap_improvement": pd.array([0] * n, dtype="Int64"),
    })
    for k in ("im1a", "im1", "im2a", "im2", "im3a", "fl"):
        df[f"{k}_s"] = np.nan
    return df


def test_outlier_within_car():
    times = [110.0, 100.0, 100.1, 99.9, 100.2, 100.0, 99.8, 104.0, 100.1]
    flagged = add_flags(_laps(times))
    # candidates: laps 2..9; median 100.05, MAD 0.1 -> z(104.0) = 0.6745 * 3.95 / 0.1 = 26.6
    assert flagged.loc[flagged["flag_outlier"], "lap"].tolist() == [8]
    assert not flagged.loc[flagged["lap"] == 8, "flag_slow"].item()  # 104 < 1.07 * 100.05


def test_glitch_and_sector_sum():
    times = [100.0] * 8
    sectors = [(30.0, 40.0, 30.0)] * 8
    sectors[3] = (30.0, 12.0, 58.0)     # S2 far below 0.85 x field median 40 s: timing glitch
    sectors[5] = (30.0, 40.0, 30.5)     # sums to 100.5 != 100.0
    flagged = add_flags(_laps(times, sectors))
    assert flagged.loc[flagged["flag_glitch"], "lap"].tolist() == [4]
    assert flagged.loc[flagged["flag_sector_sum"], "lap"].tolist() == [6]


def test_outlier_is_judged_from_the_cars_own_trend():
    # A car fading 0.4 s a lap with +-0.05 s noise; lap 7 is 1.5 s off its own trend. Within the spread
    # of the car's lap times (the raw-lap-time rule sees nothing), 30 noise SDs from its trend.
    noise = [0.0, 0.05, -0.05, 0.03, -0.02, 0.04, 0.0, -0.04, 0.02, -0.03, 0.05, -0.01, 0.0]
    times = [110.0] + [100.0 + 0.4 * k + e for k, e in enumerate(noise[1:], start=1)]
    times[6] += 1.5
    flagged = add_flags(_laps(times))
    assert flagged.loc[flagged["flag_outlier"], "lap"].tolist() == [7]
    raw = modified_z(flagged.loc[flagged["lap"] > 1, "lap_time_s"])
    assert raw.abs().max() < 3.5               # the raw-lap-time rule's view: no outlier at all


def test_official_best_lap_never_an_outlier():
    # Lap 5 is the car's LAP_IMPROVEMENT best and 2 s faster than its other laps: a robust outlier by
    # any rule on lap time, yet an official fastest lap is a valid timed lap.
    times = [110.0, 100.0, 100.1, 99.9, 98.0, 100.0, 99.8, 100.2, 100.1]
    laps = _laps(times)
    assert add_flags(laps).loc[4, "flag_outlier"]
    laps["lap_improvement"] = pd.array([0, 0, 0, 0, 2, 0, 0, 0, 0], dtype="Int64")
    flagged = add_flags(laps)
    assert not flagged.loc[4, "flag_outlier"] and flagged.loc[4, "is_clean"]


def test_official_fastest_laps_never_flagged_outlier_real(real_races):
    """Over every real race: the lap the official results give as a car's fastest lap (FL_TIME, matched to
    the car's lap of that time) is never a timing outlier."""
    checked = 0
    for rid, race in real_races.items():
        rec = race.reconciliation
        if rec is None:
            continue
        for car, fl in zip(rec["car"], rec["official_fl_time_s"]):
            if pd.isna(fl):
                continue
            laps = race.laps[(race.laps["car"] == car) & ((race.laps["lap_time_s"] - fl).abs() < 0.0005)]
            checked += len(laps)
            assert not laps["flag_outlier"].any(), (rid, car, laps["lap"].tolist())
    assert checked > 250
