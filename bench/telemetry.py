#!/usr/bin/env python3
"""Telemetry read speed and memory (issue 22, item 1): a generated race file in the TRD telemetry format
(:func:`kaizenlap.sample_telemetry.write_big`, the file ``run_pipeline.py sample OUT --telemetry-size MB``
writes: the vehicle model's rows, ~28 cars of 20 laps for 1.5 GB) of ``--size-mb`` (default 1536, a real
race), written under a temporary folder and read, each reader in its own process (peak RSS from VmHWM), one
after the other in one run:

* ``buffered``: :func:`read_telemetry` as the pipeline calls it (``engine="buffered"``, ``read_ranges`` as in
  params/ingest.yaml);
* ``buffered-1`` / ``buffered-2``: the same reader on one stream / on two byte ranges parsed in parallel;
* ``scratch``: the first reader (``engine="scratch"``), kept for this comparison;
* ``pandas``: a plain ``pandas.read_csv`` of the same file, all 13 columns, in 1,000,000-row chunks (a whole
  read would hold ~10 GB of Python strings on a machine six engineers share); parse only, nothing written;
* ``arrow-parse``: pyarrow's streaming CSV reader alone, the six columns the reader uses, nothing checked or
  written: the floor for any pyarrow reader;
* ``polars`` / ``duckdb``: only when importable (they are not dependencies; ``pip install --target DIR`` and
  ``--extra-path DIR`` to compare): the file to one Parquet file per car with the numbers and times cast, no
  checks, no ledger, no sort, no deduplication: what the alternatives do in the same run.

For each: wall s, MB/s (file size in 2^20 bytes / wall), CPU s (user + system, all threads: the
load-independent figure), peak RSS, and the 1-minute load average before and after (the machine has 2 cores;
a load over 2 slows every wall figure). Then the telemetry engine per race on the same file: read into the
per-car cache, then :func:`kaizenlap.engines.telemetry.analyse` on the cache (no timing: laps unmatched), each
implementation (``--engine-impls``: ``pandas``, the first, then ``arrow``, the default) timed in its own process
one after the other, wall and CPU s, with the cars, laps and time per lap, scaled to a 1.5 GB race, and whether
their documents are identical.

First (``--coverage-only``: only), the third target: the sample season's telemetry races through the engine, the
per-lap recovery errors (brake onset, minimum speed, per-corner delta) and the coverage of the per-car medians'
intervals against the generator's truth (kaizenlap.coverage.sample_telemetry_coverage). Prints figures; asserts
nothing. Targets: the buffered reader >= 150 MB/s, peak RSS <= 2048 MB; the engine <= 5 s a race.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os, sys, time
mode, path, out, extra = sys.argv[1:5]
if extra:
    sys.path.insert(0, extra)
os.environ.setdefault("POLARS_MAX_THREADS", str(os.cpu_count()))
t0, c0 = time.perf_counter(), time.process_time()
extra_out = {}
if mode in ("buffered", "buffered-1", "buffered-2", "scratch"):
    from kaizenlap.ingest.telemetry import read_telemetry
    c = read_telemetry(path, out, engine=mode.split("-")[0],
                       limits={"read_ranges": int(mode.split("-")[1])} if "-" in mode else None)
    rows = c.rows
    extra_out = {"cars": len(c.files), "kept": c.kept, "issues": [i.code for i in c.issues]}
elif mode == "pandas":
    import pandas as pd
    rows = sum(len(chunk) for chunk in pd.read_csv(path, chunksize=1_000_000))
elif mode == "arrow-parse":
    import pyarrow as pa, pyarrow.csv as pacsv
    from kaizenlap.ingest.telemetry import USED, _TYPED
    types = {c: _TYPED.get(c, pa.dictionary(pa.int32(), pa.string())) for c in USED}
    r = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=16 << 20),
                       convert_options=pacsv.ConvertOptions(column_types=types, include_columns=list(USED)))
    rows = sum(b.num_rows for b in r)
elif mode == "polars":
    import polars as pl
    lf = pl.scan_csv(path, infer_schema=False).select(
        pl.col("timestamp").str.to_datetime("%Y-%m-%dT%H:%M:%S%.3fZ", time_unit="ms", strict=False),
        pl.col("telemetry_name").alias("channel"), pl.col("telemetry_value").cast(pl.Float64, strict=False),
        pl.col("lap").cast(pl.Int32, strict=False), pl.col("vehicle_id"))
    lf.sink_parquet(pl.PartitionBy(out, key="vehicle_id"), mkdir=True)
    rows = pl.scan_parquet(out + "/**/*.parquet").select(pl.len()).collect().item()
    extra_out = {"version": pl.__version__}
elif mode == "duckdb":
    import duckdb
    con = duckdb.connect()
    con.execute(f"SET threads={os.cpu_count()}")
    con.execute("SET memory_limit='1500MB'")
    con.execute("SET preserve_insertion_order=false")
    con.execute(f"COPY (SELECT try_strptime(timestamp, '%Y-%m-%dT%H:%M:%S.%gZ') AS timestamp, "
                f"telemetry_name AS channel, try_cast(telemetry_value AS DOUBLE) AS value, "
                f"try_cast(lap AS INTEGER) AS lap, vehicle_id FROM read_csv('{path}', header=true, all_varchar=true)) "
                f"TO '{out}' (FORMAT parquet, PARTITION_BY (vehicle_id))")
    rows = con.execute(f"SELECT count(*) FROM read_parquet('{out}/**/*.parquet')").fetchone()[0]
    extra_out = {"version": duckdb.__version__}
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "rows": rows, "peak_rss_mb": hwm / 1024, **extra_out}))
"""

MODES = ("buffered", "buffered-1", "buffered-2", "scratch", "pandas", "arrow-parse", "polars", "duckdb")


def measure(mode: str, path: Path, out: Path, extra: str) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "lib"), str(ROOT)]))
    proc = subprocess.run([sys.executable, "-c", CHILD, mode, str(path), str(out), extra], capture_output=True,
                          text=True, env=env)
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def available(mode: str, extra: str) -> bool:
    if mode not in ("polars", "duckdb"):
        return True
    code = f"import sys; sys.path.insert(0, {extra!r}) if {extra!r} else None; import {mode}"
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


ENGINE_CHILD = r"""
import json, pickle, sys, time
from pathlib import Path
path, out, impl = sys.argv[1:4]
t0 = time.perf_counter()
if impl == "read":
    from kaizenlap.ingest.telemetry import read_telemetry
    cache = read_telemetry(path, out)
    pickle.dump(cache, open(Path(out) / "cache.pickle", "wb"))
    print(json.dumps({"read_s": time.perf_counter() - t0}))
    sys.exit(0)
from kaizenlap.core import params
from kaizenlap.engines import telemetry
cache = pickle.load(open(Path(out) / "cache.pickle", "rb"))
track = {"track_id": "barber", **params.tracks()["barber"]}
t0, c0 = time.perf_counter(), time.process_time()
doc = telemetry.analyse(cache, None, track, "barber-r1", impl=impl)
engine_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
laps = sum(len(c["laps"]) for c in doc["cars"])
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"engine_s": engine_s, "cpu_s": cpu_s, "cars": len(doc["cars"]), "laps": laps,
                  "peak_rss_mb": hwm / 1024, "doc": json.dumps(doc, sort_keys=True)}))
"""


def measure_engine(path: Path, tmp: Path, impl: str) -> dict:
    """``impl="read"``: ``path`` into the cache under ``tmp``; else the engine (:func:`analyse` with that
    ``impl``) on that cache, in its own process."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "lib"), str(ROOT)]))
    proc = subprocess.run([sys.executable, "-c", ENGINE_CHILD, str(path), str(tmp / "cache-engine"), impl],
                          capture_output=True, text=True, env=env)
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else f"exit {proc.returncode}"}
    return json.loads(proc.stdout)


def print_coverage(seed: int, draws: int, plan: str = "") -> None:
    """Recovery and interval coverage on the sample season's telemetry races (issue 22's third target;
    :func:`kaizenlap.coverage.sample_telemetry_coverage`, DATA_REFERENCE 10.7). ``plan`` ("track:race:cars:laps,
    ...", e.g. "vir:1:20:9"): the same season's timing with telemetry written for those races instead of the
    sample's (more cars and laps than ``make sample`` holds: more intervals, another n)."""
    import numpy as np

    from kaizenlap import coverage
    from kaizenlap.sample import ZIP_DATE, write_season
    from kaizenlap.sample_telemetry import write_telemetry
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kaizenlap-telcov-") as tmp:
        if plan:
            spec = {(t, int(r)): {"cars": int(c), "laps": int(n)}
                    for t, r, c, n in (x.split(":") for x in plan.split(",") if x)}
            truth = write_season(Path(tmp) / "season", seed=seed, telemetry=False)
            write_telemetry(Path(tmp) / "season", truth["races"], seed, ZIP_DATE, spec)
            print(f"telemetry plan {plan} (not the sample's)")
        else:
            truth = write_season(Path(tmp) / "season", seed=seed)
        res = coverage.sample_telemetry_coverage(str(Path(tmp) / "season"), truth, str(Path(tmp) / "cache"), seed,
                                                 draws)
    races = ", ".join(f"{rid} ({sum(len(c['laps']) for c in d['cars'])} laps of {len(d['cars'])} cars)"
                      for rid, d in res["docs"].items())
    print(f"sample season (seed {seed}) telemetry races: {races}")
    for rid, d in res["docs"].items():         # the section check: telemetry S1-S3 against the official ones
        sc = d.get("section_check") or {}
        per = "; ".join(f"{x['sector']} |error| median {x['median_abs_error_s']:.4f}, max {x['max_abs_error_s']:.4f}"
                        for x in sc.get("sectors", []) if x.get("n"))
        dep = max((x["max_abs_residual_s"] for x in sc.get("sectors", []) if x.get("n_residual")), default=None)
        print(f"reconciliation {rid}: n={sc.get('n_laps', 0)} laps, telemetry minus official sector time (s): {per}; "
              f"largest departure from the car's usual difference "
              f"{'n/a (too few laps a car)' if dep is None else f'{dep:.4f}'}; "
              f"{sc.get('n_beyond_raw', 0)} laps beyond {sc.get('tolerance_s', 0):g} s against zero, "
              f"{sc.get('n_flagged', 0)} flagged")
    target = {"brake_m": (5.0, "m"), "min_kph": (1.0, "km/h"), "delta_s": (0.02, "s")}
    for q, e in res["recovery"].items():
        a = np.abs(np.asarray(e, float))
        print(f"recovery {q:8s}: n={len(a)} corner-laps, |error| median {np.median(a):.4f}, max {a.max():.4f} "
              f"{target[q][1]} (target {target[q][0]:g} {target[q][1]})")
    nf = coverage.telemetry_coverage_table(res["rows_noise_free"]).set_index("quantity")
    print(f"interval coverage (per car and corner: the median over clean laps, its order-statistic interval; truth "
          f"the median of the generator's lap distribution, {draws} draws; target 85-99%):")
    print("| quantity | intervals | covering | coverage | stated | truth below / above | share of laps below the "
          "truth | rank dispersion | inner interval (stated) | coverage, noise-free truth |")
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: |")
    for r in coverage.telemetry_coverage_table(res["rows"]).itertuples():
        print(f"| `{r.quantity}` | {r.n_intervals} | {r.n_covering} | {r.coverage:.1%} | {r.stated:.1%} | "
              f"{r.miss_below} / {r.miss_above} | {r.share_below:.3f} | {r.rank_dispersion:.2f} | {r.inner:.1%} "
              f"({r.inner_stated:.1%}) | {nf.loc[r.quantity, 'coverage']:.1%} |")
    print(f"coverage section: {time.perf_counter() - t0:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=float, default=1536,
                    help="the generated file's size in 10^6 bytes (1536: a race)")
    ap.add_argument("--modes", default="buffered-1,buffered-2,scratch,pandas,arrow-parse,polars,duckdb",
                    help=f"comma-separated, in order, from {', '.join(MODES)}")
    ap.add_argument("--repeat", type=int, default=1, help="run the list of modes this many times")
    ap.add_argument("--file", help="read this file instead of generating one (kept)")
    ap.add_argument("--extra-path", default="", help="a folder to import polars / duckdb from (pip --target)")
    ap.add_argument("--no-engine", action="store_true", help="skip the engine timing")
    ap.add_argument("--engine-impls", default="pandas,arrow",
                    help="the engine's implementations to time, in order (analyse(impl=...)): pandas (the first: "
                         "pandas pivot to the wide frame) and arrow (pyarrow/numpy per channel)")
    ap.add_argument("--coverage-only", action="store_true",
                    help="only the recovery and interval coverage on the sample season (no big file)")
    ap.add_argument("--no-coverage", action="store_true", help="skip the recovery and coverage section")
    ap.add_argument("--seed", type=int, default=2025, help="the sample season's seed (coverage section)")
    ap.add_argument("--draws", type=int, default=200,
                    help="laps drawn from the generator's law per car for the coverage's truth")
    ap.add_argument("--coverage-plan", default="",
                    help="track:race:cars:laps,... telemetry races for the coverage section instead of the sample's "
                         "(e.g. vir:1:20:9)")
    args = ap.parse_args()
    if not args.no_coverage:
        print_coverage(args.seed, args.draws, args.coverage_plan)
    if args.coverage_only:
        return
    modes = [m for m in args.modes.split(",") if m]
    bad = [m for m in modes if m not in MODES]
    if bad:
        ap.error(f"unknown mode(s) {bad}; choose from {MODES}")
    with tempfile.TemporaryDirectory(prefix="kaizenlap-tel-") as tmp:
        if args.file:
            path = Path(args.file)
        else:
            from kaizenlap.sample_telemetry import write_big
            path = Path(tmp) / "R1_bench_telemetry_data.csv"
            t = time.perf_counter()
            info = write_big(path, args.size_mb)
            print(f"generated {path.stat().st_size / 2**20:.0f} MB, {info['rows']:,} rows, {info['cars']} cars "
                  f"in {time.perf_counter() - t:.1f} s")
        mb = path.stat().st_size / 2**20
        print(f"file {mb:.0f} MB; cpus {os.cpu_count()}; load average (1, 5, 15 min) "
              f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}; {time.strftime('%H:%M:%S UTC', time.gmtime())}")
        for rep in range(args.repeat):
            for mode in modes:
                if not available(mode, args.extra_path):
                    print(f"{mode:12s}: not installed (not a dependency; see --extra-path)")
                    continue
                out = Path(tmp) / f"cache-{mode}-{rep}"
                before = os.getloadavg()[0]
                r = measure(mode, path, out, args.extra_path)
                after = os.getloadavg()[0]
                if "error" in r:
                    print(f"{mode:12s}: failed: {r['error']}")
                    continue
                tail = ""
                if "cars" in r:
                    tail = f"; {r['cars']} cars, {r['kept']:,} rows kept, ledger {r['issues']}"
                elif "version" in r:
                    tail = f"; {mode} {r['version']}"
                print(f"{mode:12s}: {r['rows']:,} rows in {r['wall_s']:5.2f} s = {mb / r['wall_s']:4.0f} MB/s; "
                      f"CPU {r['cpu_s']:5.1f} s; peak RSS {r['peak_rss_mb']:5.0f} MB; load {before:.1f} -> {after:.1f}"
                      + tail, flush=True)
                shutil.rmtree(out, ignore_errors=True)
        if not args.no_engine:
            r = measure_engine(path, Path(tmp), "read")
            if "error" in r:
                print(f"engine      : cache not read: {r['error']}")
            docs = {}
            for impl in ([] if "error" in r else [i for i in args.engine_impls.split(",") if i]):
                before = os.getloadavg()[0]
                r = measure_engine(path, Path(tmp), impl)
                after = os.getloadavg()[0]
                if "error" in r:
                    print(f"engine {impl:6s}: failed: {r['error']}")
                    continue
                docs[impl] = r.pop("doc")
                scale = (1536 * 2**20) / (mb * 2**20)
                print(f"engine {impl:6s}: {r['cars']} cars, {r['laps']} laps from the cache in {r['engine_s']:5.2f} s, "
                      f"CPU {r['cpu_s']:5.2f} s ({r['engine_s'] / max(r['laps'], 1) * 1000:.0f} ms a lap; peak RSS "
                      f"{r['peak_rss_mb']:.0f} MB); scaled to a 1.5 GB race: {r['engine_s'] * scale:5.1f} s, CPU "
                      f"{r['cpu_s'] * scale:5.1f} s; load {before:.1f} -> {after:.1f}", flush=True)
            if len(docs) > 1:
                same = len(set(docs.values())) == 1
                print(f"engine documents {' / '.join(docs)}: {'identical' if same else 'DIFFERENT'}")
    print("targets (buffered): >= 150 MB/s, peak RSS <= 2048 MB; a wall figure at a load over 2 is slowed by "
          "the other work on the 2 cores: CPU s is the figure to compare; engine <= 5 s a race from the cache")


if __name__ == "__main__":
    main()
