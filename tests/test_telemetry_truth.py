"""Synthetic telemetry (issue 22, item 2) and the telemetry engine (item 3) against the sample's truth: the files
have the real format; each lap's profile takes the timing's lap time; the engine recovers brake points (5 m),
minimum speeds (1 km/h) and per-corner time deltas (0.02 s) that add up to the lap's time difference; the real
10,000-row sample goes through and says what it could not compute."""
from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kaizenlap.core import params
from kaizenlap.engines import telemetry as te
from kaizenlap.ingest.loader import load
from kaizenlap.sample import write_season
from kaizenlap.sample_telemetry import (RACES, Track, _calibrated, car_parameters, lap_parameters, lap_profile,
                                        write_big)

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "trd-telemetry-sample" / \
    "R1_barber_telemetry_data_sample.csv"


@pytest.fixture(scope="module")
def season(tmp_path_factory):
    out = tmp_path_factory.mktemp("season")
    t0 = time.perf_counter()
    truth = write_season(out, seed=2025)
    return out, truth, time.perf_counter() - t0


@pytest.fixture(scope="module")
def analysed(season, tmp_path_factory):
    out, truth, _ = season
    ids = [f"{t}-r{n}" for t, n in RACES]
    races, _ = load([out], use_cache=False, race_ids=ids)
    docs = {}
    for race in races:
        src = te.find_telemetry(out, race.track_id, int(race.race_id.rsplit("r", 1)[1]))
        cache = te.load(src, tmp_path_factory.mktemp(race.race_id))
        docs[race.race_id] = te.analyse(cache, race.laps, params.tracks()[race.track_id], race.race_id)
    by_id = {r["race_id"]: r for r in truth["races"]}
    return docs, by_id


def test_files_in_the_real_format_and_places(season):
    out, truth, _ = season
    with_tel = [r for r in truth["races"] if "telemetry" in r]
    assert {(r["track_id"], r["race_number"]) for r in with_tel} == set(RACES)
    assert len(with_tel) < len(truth["races"])                     # races without telemetry exist
    barber = out / "barber" / "R1_barber_telemetry_data.csv"
    with open(barber, "rb") as fh:
        head = fh.read(200_000).decode().splitlines()
    assert head[0] == ("expire_at,lap,meta_event,meta_session,meta_source,meta_time,original_vehicle_id,outing,"
                       "telemetry_name,telemetry_value,timestamp,vehicle_id,vehicle_number")
    rows = pd.DataFrame([line.split(",") for line in head[1:-1]], columns=head[0].split(","))
    assert set(rows["telemetry_name"]) == {"speed", "nmot", "gear", "aps", "pbrake_f", "pbrake_r", "accx_can",
                                          "accy_can", "Steering_Angle", "VBOX_Lat_Min", "VBOX_Long_Minutes",
                                          "Laptrigger_lapdist_dls"}
    assert rows["vehicle_id"].str.match(r"^GR86-\d{3}-\d+$").all()
    lag = pd.to_datetime(rows["meta_time"]) - pd.to_datetime(rows["timestamp"])
    assert 42.0 < lag.dt.total_seconds().median() / 3600 < 42.5
    fast = rows[rows.telemetry_name == "aps"]
    slow = rows[rows.telemetry_name == "speed"]
    assert 4.5 < len(fast) / len(slow) < 5.5
    gaps = np.diff(np.sort(pd.to_datetime(fast["timestamp"]).astype("int64").unique() // 10**6))
    assert 40 <= np.median(gaps) <= 46
    with zipfile.ZipFile(out / "virginia-international-raceway.zip") as zf:
        name = "VIR/Race 1/R1_vir_telemetry_data.csv"
        assert name in zf.namelist()
        with zf.open(name) as fh:
            vir = fh.read(100_000).decode().splitlines()[1:-1]
    names = {line.split(",")[8] for line in vir}
    assert "ath" in names and "aps" not in names and not names & {"VBOX_Lat_Min", "Laptrigger_lapdist_dls"}


def test_size_and_time_budget(season):
    out, _, seconds = season
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert size < 30e6
    assert seconds < 20            # the whole season, telemetry included (about 4 s here; +~1.5 s for telemetry)


def test_each_lap_profile_takes_the_timing_lap_time(season):
    _, truth, _ = season
    for race in truth["races"]:
        for car, tel in race.get("telemetry", {}).get("cars", {}).items():
            times = race["cars"][car]["lap_times_s"]
            for lap in tel["per_lap"]:
                assert abs(lap["integrated_lap_s"] - times[lap["lap"] - 1]) < 0.001
                assert 0.9 < lap["scale"] < 1.1
    # and directly: a profile scaled to an arbitrary time integrates to it
    tr = Track(params.tracks()["vir"])
    v_top, a_full = _calibrated(tr)
    nom = car_parameters(tr, 1, 2, 3, 0.01)
    lp = lap_parameters(nom, np.random.default_rng(4))
    prof = lap_profile(tr, lp["vmin"], lp["decel"], lp["pickup"], 131.234, v_top, a_full)
    inv = 1 / prof["v"]
    ds = tr.L / len(tr.s)
    assert abs(((inv[:-1] + inv[1:]) / 2 * ds).sum() + (inv[-1] + inv[0]) / 2 * ds - 131.234) < 1e-6


def test_recovery_against_the_truth(analysed):
    docs, truth = analysed
    errs = {"brake_m": [], "min_kph": [], "delta_s": [], "duration_s": []}
    for race_id, doc in docs.items():
        tel = truth[race_id]["telemetry"]
        assert doc["available"] and len(doc["cars"]) == len(tel["cars"])
        for car in doc["cars"]:
            per = {p["lap"]: p for p in tel["cars"][car["car"]]["per_lap"]}
            assert sorted(r["lap"] for r in car["laps"]) == sorted(per)      # laps matched to the timing
            ref = per[car["reference"]["lap"]]
            for lap in car["laps"]:
                p = per[lap["lap"]]
                errs["duration_s"].append(lap["duration_s"] - p["lap_time_s"])
                for i, x in enumerate(lap["corners"]):
                    brake, vmin, _, _, _, seg = p["corners"][i]
                    if brake is not None:
                        errs["brake_m"].append(x["brake_m"] - brake)
                    errs["min_kph"].append(x["min_kph"] - vmin)
                    errs["delta_s"].append(x["delta_s"] - (seg - ref["corners"][i][5]))
    e = {k: np.abs(np.array(v)) for k, v in errs.items()}
    assert len(e["brake_m"]) > 300 and len(e["min_kph"]) > 300
    assert e["brake_m"].max() < 5.0
    assert e["min_kph"].max() < 1.0
    assert e["delta_s"].max() < 0.02
    assert e["duration_s"].max() < 0.002


def test_corner_deltas_add_up_to_the_lap_time_difference(analysed):
    docs, _ = analysed
    n = 0
    for doc in docs.values():
        for car in doc["cars"]:
            ref = car["reference"]["time_s"]
            for lap in car["laps"]:
                parts = sum(x["delta_s"] for x in lap["corners"])
                assert abs(parts - lap["delta_s"]) < 1e-9
                assert abs(lap["delta_s"] - (lap["lap_time_s"] - ref)) < 0.002      # the timing's difference
                trace = car["delta_trace"]["laps"][str(lap["lap"])]
                assert len(trace) == len(car["delta_trace"]["distance_m"]) and abs(trace[0]) < 1e-9
                n += 1
            assert all(x["delta_s"] == 0 for r in car["laps"] if r["lap"] == car["reference"]["lap"]
                       for x in r["corners"])
    assert n >= 30


def test_medians_intervals_and_what_is_not_computed(analysed):
    docs, truth = analysed
    vir = docs["vir-r1"]
    cover = []
    for car in vir["cars"]:
        nominal = truth["vir-r1"]["telemetry"]["cars"][car["car"]]["nominal"]
        for item in car["corners"]:
            for m in ("brake_m", "min_kph"):
                est = item[m]
                assert est["n"] >= 5 and est["lo"] <= est["value"] <= est["hi"]
                cover.append(est["lo"] <= nominal[item["corner"]][m] <= est["hi"])
    assert np.mean(cover) >= 0.85
    barber = docs["barber-r1"]                    # 2 laps a car: per-lap values, no medians
    item = barber["cars"][0]["corners"][0]["brake_m"]
    assert item["value"] is None and "not enough laps" in item["note"]
    partial = [x for x in barber["not_computed"] if "partial lap" in x["reason"]]
    assert len(partial) == 2 * len(barber["cars"])
    assert all(r["crossing_basis"] == "lap trigger + timing" for c in barber["cars"] for r in c["laps"])
    assert all(r["crossing_basis"] == "counter + timing" for c in vir["cars"] for r in c["laps"])
    docs_out = te.documents(vir)
    assert len({d["id"] for d in docs_out}) == len(docs_out) > 0
    assert "C" in te.headline(vir)["text"]


def test_a_lap_the_timing_does_not_know_is_said_not_computed(analysed, season, tmp_path):
    out, _, _ = season
    src = te.find_telemetry(out, "barber", 1)
    cache = te.load(src, tmp_path / "c")
    doc = te.analyse(cache, None, params.tracks()["barber"], "barber-r1")     # no timing at all
    assert doc["available"]
    assert all(r["lap"] is None and r["is_clean"] is None for c in doc["cars"] for r in c["laps"])
    assert any(x["what"] == "timing" for x in doc["not_computed"])
    nocorners = te.analyse(cache, None, {**params.tracks()["barber"], "corners": []}, "barber-r1")
    assert not nocorners["available"] and "no corners" in nocorners["reason"]


def test_the_real_sample_goes_through_and_says_what_it_could_not_compute(tmp_path):
    if not SAMPLE.exists():
        pytest.skip(f"telemetry sample not found at {SAMPLE}")
    cache = te.load(SAMPLE, tmp_path / "real")
    doc = te.analyse(cache, None, params.tracks()["barber"], "barber-r1")
    json.dumps(doc)
    assert doc["available"] is False and doc["reason"] == "no car has a complete lap"
    reasons = [x["reason"] for x in doc["not_computed"]]
    assert any("carries no car number" in r for r in reasons)
    assert sum("partial lap" in r for r in reasons) == 2
    assert te.headline(doc)["text"].startswith("telemetry:")


def test_write_big_reaches_its_size(tmp_path):
    info = write_big(tmp_path / "big.csv", 3)
    size = (tmp_path / "big.csv").stat().st_size
    assert 2.9e6 < size <= 3e6 and info["bytes"] == size and info["rows"] > 20_000
    assert (tmp_path / "big.csv").read_bytes().endswith(b"\n")


def test_the_sample_command_writes_a_bench_file_of_the_size_asked(tmp_path, capsys):
    """``run_pipeline.py sample OUT --telemetry-size MB``: one telemetry file of that size and nothing else (no
    season: a bench file beside the sample would be found as a race's telemetry); it reads clean."""
    from kaizenlap import cli
    from kaizenlap.ingest.telemetry import read_telemetry
    assert cli.main(["sample", str(tmp_path / "out"), "--telemetry-size", "2"]) == 0
    [path] = (tmp_path / "out").iterdir()
    assert path.name == "R1_bench_telemetry_data.csv" and 1.9e6 < path.stat().st_size <= 2e6
    cache = read_telemetry(path, tmp_path / "cache")
    assert cache.issues == [] and cache.kept == cache.rows == path.read_bytes().count(b"\n") - 1
    assert len(cache.files) == 1                       # 2 MB: one car's 20 laps, cut at a line end
    assert cli.main(["sample", str(tmp_path / "zero"), "--telemetry-size", "0"]) == 2


def test_the_fast_engine_writes_the_first_engines_document(season, tmp_path):
    """``impl="arrow"`` (the default: pyarrow/numpy per channel) and ``impl="pandas"`` (the first: the pandas
    pivot) give the same document, number for number, with the timing and without it (bench/telemetry.py
    times both)."""
    out, _, _ = season
    [race], _ = load([out], use_cache=False, race_ids=["barber-r1"])
    cache = te.load(te.find_telemetry(out, "barber", 1), tmp_path / "c")
    for laps in (race.laps, None):
        fast = te.analyse(cache, laps, params.tracks()["barber"], "barber-r1")
        first = te.analyse(cache, laps, params.tracks()["barber"], "barber-r1", impl="pandas")
        assert json.dumps(fast, sort_keys=True) == json.dumps(first, sort_keys=True)
        assert fast["available"] and sum(len(c["laps"]) for c in fast["cars"]) >= 4     # 2 cars, 2 complete laps each
    with pytest.raises(ValueError, match="impl"):
        te.analyse(cache, None, params.tracks()["barber"], "barber-r1", impl="polars")


def test_the_median_lap_and_every_lap_against_the_cars_own_best(analysed):
    """The trace document keeps the median clean lap (rank n // 2 + 1 by time) with its channels and every other
    lap's 10 m delta trace; a lap rebuilt from its 10 m trace agrees with its exact 5 m trace within 3 ms, and the
    parts of any lap against the best add up to the laps' difference."""
    from kaizenlap.engines import telemetry_views as tv
    assert te.typical_lap([], lambda r: r["t"]) is None
    pool = [{"car_lap": k, "t": t} for k, t in ((1, 90.5), (2, 90.1), (3, 91.0), (4, 90.3))]
    assert te.typical_lap(pool, lambda r: r["t"])["car_lap"] == 1          # 90.1 90.3 [90.5] 91.0
    assert te.typical_lap(pool[:3], lambda r: r["t"])["car_lap"] == 1      # 90.1 [90.5] 91.0
    docs, _ = analysed
    n = 0
    for doc in docs.values():
        summ, *traces = [d for d in tv.store_documents(doc) if d["type"] in ("telemetry_race", "telemetry_trace")]
        for tr in traces:
            typ = tr["typical_lap"]
            if typ is None:
                assert sum(1 for x in tr["laps"] if x["is_clean"]) < 2
                continue
            times = sorted(x["lap_time_s"] for x in tr["laps"] if x["is_clean"])
            assert typ["lap_time_s"] == times[len(times) // 2] and typ["n"] == len(times)
            exact = tv.compare(tr, tr, summ["corners"], own=True)
            coarse = tv.compare({**tr, "typical_lap": None}, tr, summ["corners"], lap=typ["lap"], own=True)
            assert exact["lap_kind"] == "median" and coarse["lap_kind"] == "chosen"
            gap = np.abs(np.subtract(exact["delta_s"], coarse["delta_s"]))
            assert gap.max() < 0.005, gap.max()              # 3.9 ms seen (10 m vs 5 m)
            for lap in tr["laps"]:
                out = tv.compare(tr, tr, summ["corners"], lap=lap["lap"], own=True)
                assert abs(sum(x["delta_s"] for x in out["corners"]) - out["lap_delta_s"]) < 1e-3
                assert abs(out["lap_delta_s"] - (lap["duration_s"] - tr["best_lap"]["duration_s"])) < 1e-4
                n += 1
    assert n >= 30


# ----------------------------------------------------------------------------- interval coverage (issue 22 target)

def test_coverage_table_counts_by_hand():
    """The pure table on hand-made intervals: 3 of 4 cover, one miss with the truth below; ranks by hand."""
    from kaizenlap import coverage as cv
    rows = pd.DataFrame({"quantity": ["brake_m"] * 4, "value": [10.0, 20, 30, 40], "lo": [9.0, 19, 29, 41],
                         "hi": [11.0, 21, 31, 43], "truth": [10.5, 19, 31.0, 40.5], "n": [7] * 4,
                         "stated": [127 / 128] * 4, "rank": [1] * 4, "laps_below": [4, 0, 7, 0],
                         "laps_n": [7] * 4})
    r = cv.telemetry_coverage_table(rows).iloc[0]
    assert (r.n_intervals, r.n_covering, r.miss_below, r.miss_above) == (4, 3, 1, 0)
    assert r.coverage == 0.75 and r.share_below == 11 / 28
    assert r.inner == 0.25                                   # only 4 laps below: 2..5 laps on either side
    assert abs(r.rank_dispersion - (0.25 + 12.25 * 3) / 7) < 1e-12     # sum (b - 3.5)^2 / sum 7/4
    assert abs(r.inner_stated - 0.875) < 1e-12              # 1 - 2 P(Bin(7, 1/2) <= 1) = 1 - 16/128


def test_the_truth_of_a_median_is_the_median_of_the_laps_it_is_taken_over():
    """Rows from a two-lap pool: the truth is the median of the pooled lap values; the delta's truth takes the
    reference lap's recorded segment time off; a quantity without a value in the document gives no row."""
    from kaizenlap import coverage as cv
    doc = {"race_id": "x-r1", "params": {"level": 0.95}, "cars": [{
        "car": "7", "reference": {"lap": 3},
        "laps": [{"lap": 3, "is_clean": True, "corners": [{"brake_m": 99.5, "delta_s": 0.0}]},
                 {"lap": 4, "is_clean": True, "corners": [{"brake_m": 103.0, "delta_s": 0.2}]},
                 {"lap": 5, "is_clean": False, "corners": [{"brake_m": 150.0, "delta_s": 9.0}]}],
        "corners": [{"corner": "C1", "brake_m": {"value": 101.25, "lo": 99.5, "hi": 103.0, "n": 2},
                     "delta_s": {"value": 0.1, "lo": 0.0, "hi": 0.2, "n": 2}, "min_kph": {"value": None}}]}]}
    truth = {"7": {k: {"C1": {"brake_m": np.array([99.0, 101.0]), "segment_s": np.array([10.05, 10.15])}}
                   for k in (3, 4, 5)}}
    observed = {"7": {"per_lap": [{"lap": 3, "corners": [[100.0, 80.0, 0, 0, 0, 10.0]]}]}}
    rows = cv.telemetry_coverage_rows(doc, truth, observed).set_index("quantity")
    assert set(rows.index) == {"brake_m", "delta_s"}
    assert rows.loc["brake_m", "truth"] == 100.0 and rows.loc["brake_m", "laps_below"] == 1
    assert abs(rows.loc["delta_s", "truth"] - 0.1) < 1e-12 and rows.loc["delta_s", "laps_below"] == 1
    assert rows.loc["brake_m", "stated"] == 0.5                     # n = 2: the only interval is (min, max)
    assert cv.telemetry_coverage_rows(doc, truth).set_index("quantity").index.tolist() == ["brake_m"]


@pytest.fixture(scope="module")
def coverage_result(season, tmp_path_factory):
    from kaizenlap import coverage as cv
    out, truth, _ = season
    return cv.sample_telemetry_coverage(str(out), truth, str(tmp_path_factory.mktemp("cov")), 2025, 200)


def test_interval_coverage_on_the_sample_truth(coverage_result):
    """Issue 22's target: the per-car medians' intervals cover the truth (the median of the generator's own lap
    distribution; DATA_REFERENCE 10.7) 85-99% of the time for brake onset, minimum speed and the per-corner
    delta. The sample has one race with medians (VIR race 1: 5 cars x 10 corners, 7 clean laps each), so each
    quantity has 50 intervals, and at n = 7 the 95% rule's interval is (min, max), stated 98.4%: every one of 50
    covers with probability 0.984^50 = 0.45, so a calibrated interval reads 100% about half the time. Measured:
    brake onset 98% (49/50), minimum speed 100%, delta 100%: the two at 100% are above the target's 99% and are
    reported so (bench/telemetry.py); what is asserted for them is what calibration implies: at least 85%, a miss
    count the stated coverage makes likely, the truth at the middle of the laps, and the next narrower interval
    (x_(2), x_(6), stated 87.5%) covering as stated."""
    from scipy.stats import binom

    from kaizenlap import coverage as cv
    tab = cv.telemetry_coverage_table(coverage_result["rows"]).set_index("quantity")
    for q in ("brake_m", "min_kph", "delta_s"):
        r = tab.loc[q]
        n, misses = int(r.n_intervals), int(r.n_intervals - r.n_covering)
        assert n == 50 and abs(r.stated - 126 / 128) < 1e-12         # n = 7: 1 - 2 / 2^7
        assert r.coverage >= 0.85, (q, r.coverage)
        assert binom.cdf(misses, n, 1 - r.stated) > 0.005 and binom.sf(misses - 1, n, 1 - r.stated) > 0.005, (q, misses)
        assert 0.4 < r.share_below < 0.6, (q, r.share_below)
        inner = int(round(r.inner * n))
        assert binom.cdf(inner, n, r.inner_stated) > 0.005 and binom.sf(inner - 1, n, r.inner_stated) > 0.005, \
            (q, r.inner)
    assert 0.85 <= tab.loc["brake_m", "coverage"] <= 0.99                   # 98%: inside the target band
    # the other quantities with intervals (the noise-free truth as a second reading): at least 85%, except where
    # the minimum is (min_m: the engine places it ~2.5 m after the apex, DATA_REFERENCE 10.7)
    nf = cv.telemetry_coverage_table(coverage_result["rows_noise_free"]).set_index("quantity")
    for q in ("brake_peak_bar", "pickup_m", "exit_kph"):
        assert tab.loc[q, "coverage"] >= 0.85 and nf.loc[q, "coverage"] >= 0.85, q
    assert tab.loc["min_m", "coverage"] < 0.5 and tab.loc["min_m", "miss_below"] >= 45
    rec = {q: np.abs(e).max() for q, e in coverage_result["recovery"].items()}
    assert rec["brake_m"] < 5 and rec["min_kph"] < 1 and rec["delta_s"] < 0.02


def test_interval_coverage_inside_the_band_with_nine_laps_a_car(tmp_path):
    """The same season's timing with telemetry for 15 cars x 9 clean laps at VIR race 1 (``bench/telemetry.py
    --coverage-plan vir:1:15:9``; not written by ``make sample``): 150 intervals a quantity, n = 9, stated 96.1%
    (x_(2), x_(8)). Brake onset, minimum speed and the per-corner delta each cover the truth 85-99% (measured
    98.0%, 94.0%, 96.0% with 100 draws, generator version 5), with misses on both sides (brake onset had
    0 below / 6 above before the midpoint rule, DATA_REFERENCE 10.7)."""
    from kaizenlap import coverage as cv
    from kaizenlap.sample import ZIP_DATE
    from kaizenlap.sample_telemetry import write_telemetry
    truth = write_season(tmp_path / "s", seed=2025, telemetry=False)
    write_telemetry(tmp_path / "s", truth["races"], 2025, ZIP_DATE, {("vir", 1): {"cars": 15, "laps": 9}})
    res = cv.sample_telemetry_coverage(str(tmp_path / "s"), truth, str(tmp_path / "c"), 2025, 100)
    tab = cv.telemetry_coverage_table(res["rows"]).set_index("quantity")
    for q in ("brake_m", "min_kph", "delta_s"):
        r = tab.loc[q]
        assert r.n_intervals == 150 and abs(r.stated - (1 - 20 / 512)) < 1e-12          # 1 - 2 P(Bin(9) <= 1)
        assert 0.85 <= r.coverage <= 0.99, (q, r.coverage)
        assert r.miss_below >= 1 and r.miss_above >= 1, q
