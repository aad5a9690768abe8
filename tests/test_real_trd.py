"""The lap table reconciled against the official files of the ten real races in ../shared/trd.

The oracle is read here with the csv module and a four-line time conversion, independent of
KaizenLap's readers.
"""
import csv
import io
import shutil
import zipfile
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from kaizenlap.ingest.loader import load

RACES = {"barber-r1", "barber-r2", "cota-r1", "cota-r2", "indianapolis-r1", "indianapolis-r2",
         "road-america-r1", "road-america-r2", "sonoma-r1", "sonoma-r2"}
RECONCILE_CODES = {"best_lap_mismatch", "best10_mismatch", "laps_completed_mismatch", "fastest_lap_mismatch"}


def secs(text):
    text = text.strip()
    if not text:
        return None
    return sum(float(p) * 60 ** i for i, p in enumerate(reversed(text.split(":"))))


def rows_of(path: Path):
    text = path.read_bytes().decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text), delimiter=";")
    header = [h.strip() for h in next(reader)]
    return [dict(zip(header, (v.strip() for v in row))) for row in reader if row]


def official(trd: Path, race_id: str, prefix: str):
    track, race = race_id.rsplit("-r", 1)
    hits = []
    for p in trd.rglob(f"{prefix}*"):
        low = str(p).lower().replace("_", " ").replace("-", " ")
        if track.replace("-", " ") in low and (f"race {race}" in low or f"race{race}" in low):
            hits.append(p)
    return sorted(hits)


def test_ten_races_load(real_races):
    assert set(real_races) == RACES
    assert all(r.status == "loaded" for r in real_races.values())


@pytest.mark.parametrize("race_id", sorted(RACES))
def test_best_laps_equal_official_best10(real_races, trd_dir, race_id):
    race = real_races[race_id]
    [path] = official(trd_dir, race_id, "99_")
    theirs = Counter()
    for row in rows_of(path):
        t = secs(row["BESTLAP_1"])
        theirs[(row["NUMBER"], t and round(t, 3), int(row["BESTLAP_1_LAPNUM"]) if t else None)] += 1
    ours = Counter()
    for car in race.summary()["cars"]:
        ours[(car["number"], car["best_lap_s"] and round(car["best_lap_s"], 3), car["best_lap_number"])] += 1
    assert ours == theirs
    assert not [i for i in race.issues if i.code in RECONCILE_CODES]


@pytest.mark.parametrize("race_id", sorted(RACES))
def test_ten_best_equal_official(real_races, trd_dir, race_id):
    race = real_races[race_id]
    [path] = official(trd_dir, race_id, "99_")
    laps = race.laps
    # the official lists hold no lap 1, no deleted lap and no lap that ends or begins in the pit lane
    eligible = laps[(laps["lap"] > 1) & ~laps["flag_deleted"] & ~laps["flag_pit_in"] & ~laps["flag_pit_out"]]
    ours = Counter(tuple(sorted(round(t, 3) for t in g["lap_time_s"])[:10]) + (n,)
                   for (car, n), g in eligible.groupby(["car", "number"]))
    theirs = Counter()
    for row in rows_of(path):
        times = tuple(sorted(round(secs(row[f"BESTLAP_{k}"]), 3) for k in range(1, 11) if row[f"BESTLAP_{k}"]))
        if times:
            theirs[times + (row["NUMBER"],)] += 1
    assert ours == theirs


@pytest.mark.parametrize("race_id", sorted(RACES))
def test_laps_completed_equal_results(real_races, trd_dir, race_id):
    race = real_races[race_id]
    files = official(trd_dir, race_id, "03_") + official(trd_dir, race_id, "00_")
    # Sonoma's results files carry no race number in the name: find them by folder.
    if not files:
        files = [p for p in trd_dir.rglob("0[03]_*") if f"Race {race_id[-1]}" in str(p)
                 and race.track_id in str(p).lower()]
    chosen = race.results_choice["results_overall"]["file"]
    [path] = [p for p in files if p.relative_to(trd_dir.parent).as_posix() == chosen]   # named from the input's parent
    theirs = Counter((r["NUMBER"], int(r["LAPS"])) for r in rows_of(path) if r["LAPS"] and int(r["LAPS"]) > 0)
    ours = Counter((c["number"], c["laps"]) for c in race.summary()["cars"])
    assert ours == theirs


def test_every_car_and_lap_once(real_races):
    for race in real_races.values():
        laps = race.laps
        assert not laps.duplicated(["car", "lap"]).any()
        assert (laps.groupby("car")["lap"].apply(lambda s: s.is_monotonic_increasing)).all()
        # car 0 / '03' vs '3' / '021' vs '21' are distinct cars, never merged or dropped
        assert laps["number"].str.len().min() >= 1


def test_text_car_numbers_kept(real_races):
    indy = real_races["indianapolis-r1"].laps
    assert {"03", "3", "021", "21"} <= set(indy["car"])


def test_shared_numbers_become_instances(real_races):
    for race_id in ("cota-r1", "cota-r2", "sonoma-r1", "sonoma-r2"):
        race = real_races[race_id]
        assert {"3-1", "3-2"} <= set(race.laps["car"])
        assert [i.car for i in race.issues if i.code == "shared_car_number"] == ["3"]


def test_sixty_second_sectors_parse(real_races):
    # Sectors of 60 s or more are written M:SS.fff; they must not read as missing.
    laps = pd.concat([r.laps for r in real_races.values()])
    assert (laps[["s1_s", "s2_s", "s3_s"]] >= 60).any(axis=None)
    full = laps.dropna(subset=["s1_s", "s2_s", "s3_s"])
    assert ((full[["s1_s", "s2_s", "s3_s"]].sum(axis=1) - full["lap_time_s"]).abs() <= 0.011).mean() > 0.99


def test_weather_sentinels(real_races):
    barber = real_races["barber-r1"]
    assert barber.weather["track_temp_c"].isna().all() and barber.weather["air_temp_c"].notna().all()
    assert any(i.code == "sentinel_value" and i.column == "TRACK_TEMP" for i in barber.issues)
    ra2 = real_races["road-america-r2"]
    assert any(i.code == "sentinel_value" for i in ra2.issues)
    assert not (ra2.weather.select_dtypes("number") <= -999).any(axis=None)
    sonoma2 = real_races["sonoma-r2"]
    assert len(sonoma2.weather) == 0
    assert any(i.code == "missing_file" and "Weather" in i.message for i in sonoma2.issues)


def test_sonoma_r2_subsections_absent_not_zero(real_races):
    laps = real_races["sonoma-r2"].laps
    assert laps[["im1a_s", "im2a_s", "im3a_s"]].isna().all(axis=None)
    assert laps[["s1_s", "s2_s", "s3_s"]].notna().all(axis=None)


def test_crossings_fall_inside_weather_window(real_races):
    for race in real_races.values():
        if race.weather.empty:
            continue
        lo = race.weather["time_utc"].min() - pd.Timedelta(minutes=15)
        hi = race.weather["time_utc"].max() + pd.Timedelta(minutes=15)
        assert race.laps["crossing_utc"].between(lo, hi).mean() > 0.95, race.race_id


def test_race_dates(real_races):
    dates = {rid: r.date for rid, r in real_races.items()}
    assert dates["cota-r1"] == "2025-04-26" and dates["cota-r2"] == "2025-04-27"
    assert dates["indianapolis-r1"] == "2025-10-18" and dates["sonoma-r2"] == "2025-03-30"
    assert real_races["sonoma-r2"].date_source == "lap_events"


def test_lap_events_align_by_time(real_races):
    for race in real_races.values():
        ev = race.lap_events
        timed = ev[(ev["role"] == "lap_time") & ev["lap"].notna()]
        both = timed.merge(race.laps[["car", "lap", "lap_time_s"]], on=["car", "lap"])
        assert len(both) > 0.3 * len(race.laps), race.race_id
        # ECU lap durations agree with the official lap times they were aligned to
        assert (both["duration_s"] - both["lap_time_s"]).abs().median() < 0.2, race.race_id
    # COTA's ECU trigger sits ~296 m past the timing line: a ~7.4 s constant offset
    assert real_races["cota-r1"].lap_event_offset_s == pytest.approx(7.4, abs=0.5)


def test_deleted_laps_found(real_races):
    cota = real_races["cota-r1"].laps
    d = cota[cota["flag_deleted"]]
    # car 47: LAP_IMPROVEMENT marks lap 10 as its official best, yet lap 7 is faster
    assert ("47", 7, "lap_improvement") in set(zip(d["car"], d["lap"], d["deleted_by"]))
    assert (d["deleted_by"] == "best10").any()
    # a pit lap missing from the official list is a pit lap, not a deleted one
    assert not (d["flag_pit_in"] | d["flag_pit_out"]).any()
    assert not cota.loc[cota["flag_deleted"], "is_clean"].any()


def test_zips_read_in_place_equal_folders(real_races, trd_dir, tmp_path):
    # Build official-style zips of two tracks (in tmp only) and ingest them without extraction.
    for track in ("COTA", "barber"):
        with zipfile.ZipFile(tmp_path / f"{track}.zip", "w") as zf:
            for p in sorted((trd_dir / track).rglob("*")):
                if p.is_file():
                    zf.write(p, str(p.relative_to(trd_dir)))
    races, issues = load([tmp_path / "COTA.zip", tmp_path / "barber.zip"], use_cache=False)
    assert {r.race_id for r in races} == {"cota-r1", "cota-r2", "barber-r1", "barber-r2"}
    for r in races:
        a, b = r.summary(), real_races[r.race_id].summary()
        for key in ("laps", "clean_laps", "weather_rows", "cars", "date"):
            assert a[key] == b[key], (r.race_id, key)
        assert Counter(i.code for i in r.issues) == Counter(i.code for i in real_races[r.race_id].issues)


def test_cache_round_trip(trd_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("KAIZENLAP_CACHE", str(tmp_path / "cache"))
    shutil.copytree(trd_dir / "barber", tmp_path / "barber")
    first, _ = load([tmp_path / "barber"])
    assert len(list((tmp_path / "cache").iterdir())) == 2
    second, _ = load([tmp_path / "barber"])
    for a, b in zip(first, second):
        pd.testing.assert_frame_equal(a.laps, b.laps)
        assert a.summary() == b.summary()
    # a changed input file is parsed again, never served stale
    f = next((tmp_path / "barber").glob("23_*Race 1*"))
    f.write_bytes(f.read_bytes().replace(b"\n", b"\r\n"))
    third, _ = load([tmp_path / "barber"])
    assert len(list((tmp_path / "cache").iterdir())) == 3
    assert third[0].summary()["laps"] == first[0].summary()["laps"]
