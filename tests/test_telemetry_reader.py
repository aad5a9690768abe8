"""The telemetry reader (issue 22, item 1): the real format read with the right channels, rates and clock offset;
malformed rows are ledger entries naming file and line; a zip member reads as the file does; limits hold."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kaizenlap.ingest.telemetry import car_frame, is_telemetry_file, read_telemetry, vehicle_number

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "trd-telemetry-sample" / \
    "R1_barber_telemetry_data_sample.csv"
HEADER = ("expire_at,lap,meta_event,meta_session,meta_source,meta_time,original_vehicle_id,outing,telemetry_name,"
          "telemetry_value,timestamp,vehicle_id,vehicle_number")


def row(name: str, value: str, ts: str, vehicle: str = "GR86-004-013", lap: str = "3",
        meta: str = "2025-09-06T18:40:41.926Z") -> str:
    return f",{lap},I_R06_2025-09-07,R1,kafka:gr-raw,{meta},{vehicle},0,{name},{value},{ts},{vehicle},13"


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    if not SAMPLE.exists():
        pytest.skip(f"telemetry sample not found at {SAMPLE}")
    return read_telemetry(SAMPLE, tmp_path_factory.mktemp("tel"))


def test_the_real_sample_reads_with_its_channels_rates_and_clock(real):
    assert real.rows == 10_000
    assert set(real.channels) == {"speed", "nmot", "gear", "aps", "pbrake_f", "pbrake_r", "accx_can", "accy_can",
                                  "Steering_Angle", "VBOX_Lat_Min", "VBOX_Long_Minutes", "Laptrigger_lapdist_dls"}
    fast, slow = real.channels["aps"], real.channels["speed"]
    assert 4.5 < fast / slow < 5.5                      # pedals and GPS at ~5x the rate of speed and rpm
    assert list(real.files) == ["GR86-002-000"] and vehicle_number("GR86-002-000") is None
    offset_h = real.clock_offset_s["GR86-002-000"] / 3600
    assert 42.0 < offset_h < 42.5                      # the ECU clock runs ~42 h behind meta_time
    [dup] = [i for i in real.issues if i.code == "telemetry_duplicate_rows"]
    assert dup.file == SAMPLE.name and dup.line > 2 and dup.column == "timestamp"
    # every row is accounted for: kept, or dropped with the count the ledger gives
    assert real.kept + int(dup.message.split()[0]) == real.rows
    frame = car_frame(real.files["GR86-002-000"])
    assert frame["timestamp"].is_monotonic_increasing and frame["timestamp"].is_unique
    assert frame["speed"].between(0, 350).all() or frame["speed"].isna().any()
    assert set(frame["lap"].dropna().unique()) <= {2, 3}


def test_malformed_rows_are_ledger_entries_naming_file_and_line(tmp_path):
    lines = [HEADER,
             row("speed", "120.5", "2025-09-05T00:00:00.000Z"),                     # 2 ok
             row("speed", "fast", "2025-09-05T00:00:00.100Z"),                      # 3 not a number
             row("aps", "nan", "2025-09-05T00:00:00.100Z"),                         # 4 not finite
             row("aps", "50", "yesterday"),                                         # 5 not a time
             row("speed", "999", "2025-09-05T00:00:00.200Z"),                       # 6 out of range
             row("speed", "121", "2025-09-05T00:00:00.000Z"),                       # 7 repeats line 2's time
             row("oil_temp", "90", "2025-09-05T00:00:00.300Z"),                     # 8 unknown channel, kept
             row("aps", "inf", "2025-09-05T00:00:00.400Z"),                         # 9 not finite
             row("pbrake_f", "12.5", "2025-09-05T00:00:00.400Z"),                   # 10 ok
             ]
    path = tmp_path / "R1_testtrack_telemetry_data.csv"
    path.write_text("\n".join(lines) + "\n")
    cache = read_telemetry(path, tmp_path / "cache")
    got = {i.code: (i.line, i.column, int(i.message.split()[0])) for i in cache.issues}
    assert got == {"telemetry_bad_value": (3, "telemetry_value", 4),
                   "telemetry_out_of_range": (6, "telemetry_value", 1),
                   "telemetry_duplicate_rows": (7, "timestamp", 1),
                   "telemetry_unknown_channel": (8, "telemetry_name", 1)}
    assert all(i.file == path.name for i in cache.issues)
    assert cache.rows == 9 and cache.kept == 3
    frame = pd.read_parquet(cache.files["GR86-004-013"])
    assert frame.sort_values("line")[["channel", "value", "line"]].values.tolist() == [
        ["speed", 120.5, 2], ["oil_temp", 90.0, 8], ["pbrake_f", 12.5, 10]]
    assert vehicle_number("GR86-004-013") == "13"


def test_a_zip_member_reads_as_the_file(tmp_path):
    if not SAMPLE.exists():
        pytest.skip("telemetry sample absent")
    z = tmp_path / "barber.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(SAMPLE, "barber/R1_barber_telemetry_data.csv")
    a = read_telemetry(SAMPLE, tmp_path / "a")
    b = read_telemetry(f"{z}!barber/R1_barber_telemetry_data.csv", tmp_path / "b")
    assert (a.rows, a.kept, a.channels) == (b.rows, b.kept, b.channels)
    pd.testing.assert_frame_equal(pd.read_parquet(a.files["GR86-002-000"]), pd.read_parquet(b.files["GR86-002-000"]))
    assert b.issues[0].file == "barber.zip!barber/R1_barber_telemetry_data.csv"


def test_limits_and_unusable_files_never_crash(tmp_path):
    path = tmp_path / "R1_x_telemetry_data.csv"
    path.write_text("\n".join([HEADER] + [row("speed", str(i), f"2025-09-05T00:00:{i:02d}.000Z")
                                          for i in range(50)]) + "\n")
    cache = read_telemetry(path, tmp_path / "c", limits={"max_file_bytes": 2000, "block_bytes": 1024})
    assert [i.code for i in cache.issues] == ["over_limit"] and cache.kept < 50
    bad = tmp_path / "R2_x_telemetry_data.csv"
    bad.write_text("a,b,c\n1,2,3\n")
    assert [i.code for i in read_telemetry(bad, tmp_path / "d").issues] == ["missing_column"]
    assert [i.code for i in read_telemetry(tmp_path / "absent.csv", tmp_path / "e").issues] == ["unreadable_file"]


def test_one_time_base_per_car_carries_a_reading_a_short_while(tmp_path):
    lines = [HEADER]
    for i in range(10):                                  # aps every 20 ms, speed every 100 ms
        ts = f"2025-09-05T00:00:00.{i * 20:03d}Z"
        lines.append(row("aps", str(10 * i), ts))
        if i % 5 == 0:
            lines.append(row("speed", str(100 + i), ts))
    lines.append(row("aps", "99", "2025-09-05T00:00:01.000Z"))       # 820 ms after the last speed
    path = tmp_path / "R1_y_telemetry_data.csv"
    path.write_text("\n".join(lines) + "\n")
    frame = car_frame(read_telemetry(path, tmp_path / "c").files["GR86-004-013"], carry_ms=250)
    assert len(frame) == 11 and frame["aps"].tolist() == [10.0 * i for i in range(10)] + [99.0]
    assert frame["speed"].tolist()[:10] == [100.0] * 5 + [105.0] * 5
    assert np.isnan(frame["speed"].iloc[10])             # beyond carry_ms: missing, not invented


def test_telemetry_files_are_told_by_name():
    assert is_telemetry_file("R1_barber_telemetry_data.csv")
    assert is_telemetry_file("barber\\R2_barber_telemetry_data_sample.csv")
    assert not is_telemetry_file("23_AnalysisEnduranceWithSections_Race 1_Anonymized.CSV")


def _messy(tmp_path, bad_text: bool) -> tuple[Path, dict]:
    """Two cars interleaved in runs, ticks newest first inside a run (as the real file), repeats across blocks,
    values out of range, not finite or missing; ``bad_text`` adds a value that is not a number. Returns the
    file and the counts the construction implies (the truth the ledger must give)."""
    rng = np.random.default_rng(7)
    lines, truth = [HEADER], {"rows": 0, "bad": 0, "out": 0, "dup": 0, "unknown": 0}
    for run in range(60):
        car = ("GR86-004-013", "GR86-010-022")[run % 2]
        for tick in reversed(range(run // 2 * 5, run // 2 * 5 + 5)):
            ts = f"2025-09-05T00:{tick // 50:02d}:{tick % 50 * 1.2:06.3f}Z"
            # late in the file (past its middle: the second range when it is read in two), the channels in
            # another order, and channels first named there, one the project does not know
            late = ("oil_temp", "gear") if run >= 45 else ()
            for ch in (*late, *(("aps", "pbrake_f", "speed")[::1 if run < 30 else -1])):
                value = f"{rng.uniform(0, 100):.3f}"
                if (run, tick, ch) == (7, 18, "speed"):
                    value = "400"                                  # out of range
                    truth["out"] += 1
                elif (run, tick, ch) in ((11, 27, "aps"), (40, 101, "pbrake_f")):
                    value = ("inf", "")[run > 20]                   # not finite / missing
                    truth["bad"] += 1
                elif bad_text and (run, tick, ch) == (50, 126, "aps"):
                    value = "fast"
                    truth["bad"] += 1
                elif ch == "gear":
                    value = str(tick % 6 + 1)
                truth["unknown"] += ch == "oil_temp"
                stamp = "not a time" if bad_text and (run, tick, ch) == (47, 117, "speed") else ts
                truth["bad"] += stamp != ts
                lines.append(row(ch, value, stamp, vehicle=car, lap=str(1 + tick // 40)))
                truth["rows"] += 1
    for k in (5, 6):                                               # car 13's ticks 5 and 6 again, later on
        ts = f"2025-09-05T00:00:{k * 1.2:06.3f}Z"
        lines.append(row("aps", "1.5", ts, vehicle="GR86-004-013"))
        truth["rows"] += 1
        truth["dup"] += 1
    path = tmp_path / "R1_messy_telemetry_data.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, truth


@pytest.mark.parametrize("bad_text", [False, True])
@pytest.mark.parametrize("buffer_bytes", [1, 512 << 20])
@pytest.mark.parametrize("read_ranges", [1, 2])
def test_the_buffered_reader_writes_what_the_first_reader_wrote(tmp_path, monkeypatch, bad_text, buffer_bytes,
                                                                 read_ranges):
    """engine="buffered" (the default) against engine="scratch" (the first reader, an independent
    implementation: pandas sort and deduplication, one stream) and the construction's counts; small blocks so
    that cars, repeats and bad rows fall in different blocks; buffer_bytes=1 spills every block to the scratch
    file; read_ranges=2 cuts the file in two byte ranges read in parallel (channels first named, a bad time and
    repeats of the first half's rows in the second)."""
    import kaizenlap.ingest.telemetry as tel
    monkeypatch.setattr(tel.os, "cpu_count", lambda: 2)
    path, truth = _messy(tmp_path, bad_text)
    passes, cuts = [], []
    real_pass, real_ranges = tel._read_pass, tel._ranges
    monkeypatch.setattr(tel, "_read_pass", lambda *a, typed, **kw: passes.append(typed) or
                        real_pass(*a, typed=typed, **kw))
    monkeypatch.setattr(tel, "_ranges", lambda *a: cuts.append(real_ranges(*a)) or cuts[-1])
    limits = {"block_bytes": 2048, "buffer_bytes": buffer_bytes, "read_ranges": read_ranges, "split_min_bytes": 0}
    new = read_telemetry(path, tmp_path / "new", limits=limits)
    assert [len(c[0]) for c in cuts] == [read_ranges] * len(passes)
    if read_ranges == 2:                               # cut at a line end, the second range after the header
        (a, n), (b, m) = cuts[0][0]
        data = path.read_bytes()
        assert a == 0 and b == n and b + m == len(data) and data[b - 1:b] == b"\n" and len(data) // 2 <= b
        assert cuts[0][1] == HEADER.split(",")
    old = read_telemetry(path, tmp_path / "old", limits=limits, engine="scratch")
    assert passes == ([True, False] if bad_text else [True])      # text in a number column: read again as text
    assert new.rows == truth["rows"] and new.kept == truth["rows"] - truth["bad"] - truth["out"] - truth["dup"]
    got = {i.code: int(i.message.split()[0]) for i in new.issues}
    assert got == {"telemetry_bad_value": truth["bad"], "telemetry_out_of_range": truth["out"],
                   "telemetry_duplicate_rows": truth["dup"], "telemetry_unknown_channel": truth["unknown"]}
    lines = path.read_text().splitlines()
    for issue in new.issues:                            # the line named is the first such row of the file
        assert issue.line > 2 and lines[issue.line - 1].split(",")[8] in ("aps", "pbrake_f", "speed", "oil_temp")
    assert list(new.channels) == ["aps", "pbrake_f", "speed", "oil_temp", "gear"]
    assert (new.rows, new.kept, new.channels, new.clock_offset_s) == (old.rows, old.kept, old.channels,
                                                                        old.clock_offset_s)
    assert [(i.code, i.file, i.line, i.column, i.message) for i in new.issues] == \
        [(i.code, i.file, i.line, i.column, i.message) for i in old.issues]
    assert list(new.files) == list(old.files) == ["GR86-004-013", "GR86-010-022"]
    for vehicle in new.files:
        a, b = pd.read_parquet(new.files[vehicle]), pd.read_parquet(old.files[vehicle])
        pd.testing.assert_frame_equal(a, b)
        assert a["timestamp"].is_monotonic_increasing
    assert not list((tmp_path / "new").glob("*.part*"))
    with pytest.raises(ValueError):
        read_telemetry(path, tmp_path / "x", engine="duckdb")


def test_the_real_sample_in_two_ranges_gives_the_same_cache(real, tmp_path, monkeypatch):
    """The real 10,000 rows cut in two byte ranges read in parallel: byte-identical Parquet files and the same
    ledger as one stream (repeats across the cut: tests/test_telemetry_reader.py's messy file)."""
    import filecmp
    import kaizenlap.ingest.telemetry as tel
    monkeypatch.setattr(tel.os, "cpu_count", lambda: 2)
    limits = {"read_ranges": 2, "split_min_bytes": 0, "block_bytes": 64 << 10}
    two = read_telemetry(SAMPLE, tmp_path / "two", limits=limits)
    one = read_telemetry(SAMPLE, tmp_path / "one", limits={**limits, "read_ranges": 1})
    assert two.rows == one.rows == 10_000 and two.issues and two.kept < two.rows
    assert (two.kept, two.channels, two.clock_offset_s, two.bytes_read) == \
        (one.kept, one.channels, one.clock_offset_s, one.bytes_read)
    assert [i.to_dict() for i in two.issues] == [i.to_dict() for i in one.issues]
    assert list(two.files) == list(one.files)
    assert all(filecmp.cmp(two.files[v], one.files[v], shallow=False) for v in one.files)
    assert tel._ranges(SAMPLE, None, {**tel.settings(), **limits})[0][1][0] > SAMPLE.stat().st_size // 2


def test_car_channels_gives_car_frames_time_base_and_each_channels_readings(real, tmp_path):
    """The engine's fast read (:func:`car_channels`, pyarrow/numpy) against :func:`car_frame` (the pandas pivot)
    on the real sample, and against hand-built truth on a file with the awkward cases: rows out of time order,
    a missing lap, a time whose only value is NaN (no tick there), a missing channel name, two channels at one
    time on different laps (the larger counts)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from kaizenlap.ingest.telemetry import car_channels
    path = real.files["GR86-002-000"]
    fast, frame = car_channels(path), car_frame(path)
    assert np.array_equal(fast.t, pd.DatetimeIndex(frame["timestamp"]).as_unit("ms").asi8.astype(float))
    assert np.array_equal(fast.lap, frame["lap"].astype("float64").to_numpy(), equal_nan=True)
    long = pd.read_parquet(path)
    assert set(fast.channels) == set(long["channel"])
    for ch, part in long.groupby("channel"):
        t, v = fast.raw(ch)
        assert np.array_equal(t, pd.DatetimeIndex(part["timestamp"]).as_unit("ms").asi8.astype(float))
        assert np.array_equal(v, part["value"].to_numpy(float))
    t0 = pd.Timestamp("2025-09-05", tz="UTC")
    ms = [300, 100, 100, 200, 400, 500, 500]
    table = pa.table({"timestamp": pa.array([t0 + pd.Timedelta(milliseconds=m) for m in ms], pa.timestamp("ms", "UTC")),
                      "channel": pa.array(["speed", "speed", "aps", "aps", "aps", None, "aps"]),
                      "value": pa.array([30.0, 10.0, 5.0, None, 7.0, 1.0, 8.0]),
                      "lap": pa.array([2, 1, 2, None, 3, 9, None], pa.int32())})
    pq.write_table(table, tmp_path / "odd.parquet")
    odd = car_channels(tmp_path / "odd.parquet")
    base = t0.value // 10**6
    assert (odd.t - base).tolist() == [100.0, 300.0, 400.0, 500.0]   # 200: only a NaN; 500: aps (and a nameless row)
    assert np.array_equal(odd.lap, [2.0, 2.0, 3.0, 9.0], equal_nan=True)
    assert (odd.raw("speed")[0] - base).tolist() == [300.0, 100.0] and odd.raw("speed")[1].tolist() == [30.0, 10.0]
    assert np.array_equal(odd.raw("aps")[1], [5.0, np.nan, 7.0, 8.0], equal_nan=True)
    assert not odd.has("pbrake_f") and len(odd.raw("pbrake_f")[0]) == 0
    ref = car_frame(tmp_path / "odd.parquet")                       # the pivot agrees on the awkward file too
    assert np.array_equal(odd.t, pd.DatetimeIndex(ref["timestamp"]).as_unit("ms").asi8.astype(float))
    assert np.array_equal(odd.lap, ref["lap"].astype("float64").to_numpy(), equal_nan=True)
