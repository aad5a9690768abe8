"""The synthetic season (kaizenlap.sample): deterministic, in the TRD formats, and the ingest
recovers exactly what was injected (ledger, best laps, flags) -- see docs/SAMPLE.md."""
from __future__ import annotations

import collections
import json
import zipfile
from pathlib import Path

import pytest

from kaizenlap.core import params
from kaizenlap.ingest.loader import load
from kaizenlap.sample import write_season

SEED = 2025


@pytest.fixture(scope="session")
def season(tmp_path_factory):
    out = tmp_path_factory.mktemp("season")
    truth = write_season(out, seed=SEED)
    return out, truth, None


@pytest.fixture(scope="session")
def loaded(season):
    out, truth, _ = season
    races, issues = load([out], use_cache=False)
    return {r.race_id: r for r in races}, issues


@pytest.fixture(scope="session")
def truth_by_race(season):
    return {r["race_id"]: r for r in season[1]["races"]}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------------- determinism

def test_same_seed_identical_bytes(season, tmp_path):
    out, truth, _ = season
    again = write_season(tmp_path / "again", seed=SEED)
    assert again == truth
    a, b = _files(out), _files(tmp_path / "again")
    assert a.keys() == b.keys()
    assert all(a[k] == b[k] for k in a), [k for k in a if a[k] != b[k]]


def test_different_seed_differs(season, tmp_path):
    out, _, _ = season
    write_season(tmp_path / "other", seed=SEED + 1)
    a, b = _files(out), _files(tmp_path / "other")
    same = [k for k in a.keys() & b.keys() if a[k] == b[k]]
    assert len(same) == 0, same


def test_race_effects_are_in_the_files(season, loaded):
    """The race-level effects of ground_truth.json are in the written files: the damp race is near-saturated
    and slower than its twin by about its race effect; a cloud's dip is in the track temperature readings."""
    import numpy as np
    out, _, _ = season
    races, _ = loaded
    truth = {r["race_id"]: r for r in json.loads((out / "ground_truth.json").read_text())["races"]}
    damp = [rid for rid, t in truth.items() if t["damp"]]
    assert damp == ["road-america-r1"]
    w = races["road-america-r1"].weather
    assert w["humidity_pct"].min() > 88 and races["road-america-r2"].weather["humidity_pct"].max() < 85
    med = {rid: races[rid].laps.loc[races[rid].laps["is_clean"], "lap_time_s"].median()
           for rid in ("road-america-r1", "road-america-r2")}
    want = truth["road-america-r1"]["race_effect_s"] - truth["road-america-r2"]["race_effect_s"]
    assert abs(med["road-america-r1"] - med["road-america-r2"] - want) < 1.5, (med, want)
    for rid, t in truth.items():
        w = races[rid].weather
        if not t["cloud"] or w.empty:
            continue
        hours = (w["time_utc"] - w["time_utc"].iloc[0]).dt.total_seconds()
        ok = w["track_temp_c"].notna()
        line = np.polyval(np.polyfit(hours[ok], w.loc[ok, "track_temp_c"], 1), hours[ok])
        assert (w.loc[ok, "track_temp_c"] - line).min() < -0.4 * t["cloud"]["depth_c"], rid


# ----------------------------------------------------------------------------- layout and formats

def test_season_shape(season):
    _, truth, _ = season
    races = truth["races"]
    assert len(races) == 14
    assert sorted({r["track_id"] for r in races}) == sorted(params.tracks())
    for r in races:
        assert 20 <= len(r["cars"]) <= 30
        assert 14 <= r["laps_scheduled"] <= 25
        assert r["race_id"] == f"{r['track_id']}-r{r['race_number']}"


def test_layouts_and_names(season):
    out, _, _ = season
    names = set(_files(out))
    assert "barber/23_AnalysisEnduranceWithSections_Race 1_Anonymized.CSV" in names
    assert "barber/23_AnalysisEnduranceWithSections_Race 2_Anonymized.CSV" in names
    assert "COTA/Race 2/23_AnalysisEnduranceWithSections_ Race 2_Anonymized.CSV" in names
    assert "road-america/Road America/Race 1/road_america_lap_time_R1.csv" in names
    assert "Sonoma/Race 1/03_Results_Anonymized.CSV" in names
    assert "Sonoma/Race 2/26_Weather_Race 2_Anonymized.CSV" not in names
    assert "indianapolis/23_AnalysisEnduranceWithSections_Race 1.CSV" in names
    for zname, prefix in (("sebring.zip", "Sebring/Race 1/"), ("virginia-international-raceway.zip", "VIR/Race 1/")):
        with zipfile.ZipFile(out / zname) as zf:
            infos = zf.infolist()
            assert any(i.filename.startswith(prefix + "23_") for i in infos)
            assert {i.date_time for i in infos} == {(2025, 11, 1, 12, 0, 0)}


def test_sections_header_quirks(season):
    out, _, _ = season
    barber = (out / "barber/23_AnalysisEnduranceWithSections_Race 1_Anonymized.CSV").read_bytes()
    head = barber.split(b"\n", 1)[0].decode()
    assert head.startswith("NUMBER; DRIVER_NUMBER; LAP_NUMBER; LAP_TIME;") and "; HOUR;S1_LARGE;" in head
    assert len(head.split(";")) == 39 and b"\r" not in barber
    indy = (out / "indianapolis/23_AnalysisEnduranceWithSections_Race 1.CSV").read_bytes()
    assert indy.startswith(b"\xef\xbb\xbf")
    lines = indy[3:].split(b"\r\n")
    assert lines[-1] == b"" and all(line.endswith(b";") for line in lines[:-1])
    assert b";DRIVER_NAME;" in lines[0] and b";TEAM;" in lines[0]
    sonoma = (out / "Sonoma/Race 1/23_AnalysisEnduranceWithSections_Race 1_Anonymized.CSV").read_text()
    assert ";INT-1_time;INT-1_elapsed;" in sonoma.split("\n", 1)[0]


def test_lap_event_schemas(season):
    out, _, _ = season
    s1 = (out / "barber/R1_barber_lap_time.csv").read_bytes()
    assert s1.startswith(b"expire_at,lap,meta_event,meta_session,meta_source,meta_time,original_vehicle_id,")
    assert s1.endswith(b"\r\n") and b",32768," in s1
    s2 = (out / "road-america/Road America/Race 1/road_america_lap_start_R1.csv").read_bytes()
    assert s2.startswith(b"expire_at,lap,meta_event,meta_session,meta_source,meta_time,outing,timestamp,value,")
    s3t = (out / "Sonoma/Race 1/sonoma_lap_time_R1.csv").read_bytes()
    s3e = (out / "Sonoma/Race 1/sonoma_lap_end_time_R1.csv").read_bytes()
    assert s3t.split(b"\n", 1)[0].endswith(b'"value","expire_at"')
    assert s3e.split(b"\n", 1)[0].endswith(b'"expire_at","value"')
    assert not s3t.endswith(b"\n") and b"\r" not in s3t
    assert b"I_R01_2025-03-30" in s3t


# ----------------------------------------------------------------------------- round trip

def test_every_race_loads(season, loaded):
    _, truth, _ = season
    races, issues = loaded
    assert issues == []
    assert sorted(races) == sorted(r["race_id"] for r in truth["races"])
    assert all(r.status == "loaded" for r in races.values())


def test_ledger_is_exactly_the_injected_one(loaded, truth_by_race):
    races, _ = loaded
    for race_id, race in races.items():
        got = collections.Counter((i.code, i.car) for i in race.issues)
        want = collections.Counter((c, car) for c, car in truth_by_race[race_id]["expected_ledger"])
        assert got == want, (race_id, dict(got - want), dict(want - got))


def test_every_injected_code_appears(loaded):
    races, _ = loaded
    codes = {i.code for r in races.values() for i in r.issues}     # what the ingest emitted
    assert codes >= {"sentinel_value", "missing_file", "subsections_from_elapsed", "shared_car_number",
                     "missing_sectors", "missing_subsections", "timing_glitch", "deleted_lap",
                     "lap_events_mismatch", "results_amended"}


def test_dates(loaded, truth_by_race):
    races, _ = loaded
    for race_id, race in races.items():
        assert race.date == truth_by_race[race_id]["date"], race_id
        assert race.date_source == ("weather" if truth_by_race[race_id]["weather_file"] else "lap_events")


def test_best_laps_match_generated(loaded, truth_by_race):
    races, _ = loaded
    for race_id, race in races.items():
        rec = race.reconciliation.set_index("car")
        cars = truth_by_race[race_id]["cars"]
        assert set(rec.index) == set(cars), race_id
        for car, t in cars.items():
            assert rec.at[car, "laps"] == t["laps"]
            assert abs(rec.at[car, "best_lap_s"] - t["best_lap_s"]) < 5e-4, (race_id, car)
            assert rec.at[car, "best_lap_number"] == t["best_lap_number"], (race_id, car)


def test_lap_times_round_trip(loaded, truth_by_race):
    races, _ = loaded
    for race_id, race in races.items():
        for car, t in truth_by_race[race_id]["cars"].items():
            got = race.laps.loc[race.laps["car"] == car].sort_values("lap")["lap_time_s"].round(3).tolist()
            assert got == t["lap_times_s"], (race_id, car)


def test_sector_sums_exact(loaded):
    races, _ = loaded
    for race_id, race in races.items():
        laps = race.laps
        full = laps.dropna(subset=["s1_s", "s2_s", "s3_s"])
        assert ((full["s1_s"] + full["s2_s"] + full["s3_s"] - full["lap_time_s"]).abs() < 1e-6).all(), race_id
        subs = laps.dropna(subset=["im1a_s", "im1_s", "s1_s"])
        assert ((subs["im1a_s"] + subs["im1_s"] - subs["s1_s"]).abs() < 1e-6).all(), race_id


def test_clean_laps_plausible(loaded, truth_by_race):
    races, _ = loaded
    for race_id, race in races.items():
        ref = truth_by_race[race_id]["reference_lap_s"]
        clean = race.laps.loc[race.laps["is_clean"], "lap_time_s"]
        assert len(clean) > 0.5 * len(race.laps), race_id
        assert clean.between(0.92 * ref, 1.08 * ref).all(), (race_id, clean.min(), clean.max())


def test_flags_fire_only_on_injected_laps(loaded, truth_by_race):
    races, _ = loaded
    for race_id, race in races.items():
        t = truth_by_race[race_id]
        laps = race.laps
        basic = (laps["flag_first_lap"] | laps["flag_caution"] | laps["flag_after_caution"]
                 | laps["flag_pit_in"] | laps["flag_pit_out"])
        stray = laps[(laps["flag_slow"] | laps["flag_outlier"] | laps["flag_sector_sum"]) & ~basic]
        assert stray.empty, (race_id, stray[["car", "lap", "exclusion_reasons"]].to_dict("records"))

        def pairs(mask):
            return {(c, int(k)) for c, k in zip(laps.loc[mask, "car"], laps.loc[mask, "lap"])}
        assert pairs(laps["flag_glitch"]) == {(c, g[0]) for c, gs in t["glitch_laps"].items() for g in gs}
        assert pairs(laps["flag_deleted"]) == {(c, k) for c, ks in t["deleted_laps"].items() for k in ks}
        assert pairs(laps["flag_missing_sectors"]) == {(c, k) for c, ks in t["missing_sector_laps"].items()
                                                       for k in ks}
        assert pairs(laps["flag_caution"]) == {(c, k) for c in t["cars"] for k in t["fcy_laps"]
                                               if k <= t["cars"][c]["laps"]}
        assert pairs(laps["flag_pit_in"]) == {(c, k) for c, ks in t["pit_laps"].items() for k in ks}
