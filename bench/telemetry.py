#!/usr/bin/env python3
"""Telemetry read speed and memory (issue 22): a generated file in the TRD telemetry format (long rows, the
channel mix and rates of the real file, ~20 cars) of ``--size-mb`` (default 512; 1536 is a real race), read
into the per-car Parquet cache by :func:`kaizenlap.ingest.telemetry.read_telemetry`, beside a plain
``pandas.read_csv`` of the same file, each in its own process (peak RSS from VmHWM), with the load average.

Then the telemetry engine per race from the cache (issue 22: <= 5 s a race): a file of ``--engine-mb`` (default
``--size-mb``) in the exact format with real laps (:func:`kaizenlap.sample_telemetry.write_big`: Barber, 20 laps a
car, as many cars as the size takes; ~50 MB a car), read into the per-car cache, then
:func:`kaizenlap.engines.telemetry.analyse` on the cache (no timing: laps unmatched), timed in its own process,
with the cars, laps and time per lap, and the time scaled to a 1.5 GB race.

Prints figures; asserts nothing. Targets: >= 150 MB/s on 2 cores, peak RSS <= 2 GB; engine <= 5 s a race.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FAST = ["accx_can", "accy_can", "aps", "pbrake_r", "pbrake_f", "gear", "VBOX_Long_Minutes", "VBOX_Lat_Min",
        "Steering_Angle"]
SLOW = ["Laptrigger_lapdist_dls", "nmot", "speed"]
HEADER = ("expire_at,lap,meta_event,meta_session,meta_source,meta_time,original_vehicle_id,outing,telemetry_name,"
          "telemetry_value,timestamp,vehicle_id,vehicle_number\n")


def generate(path: Path, size_mb: int, cars: int = 20, seed: int = 1) -> int:
    """Rows as the real file orders them: per timestamp, the fast channels (every 20 ms), the slow ones every
    5th; the cars interleaved in blocks."""
    rng = np.random.default_rng(seed)
    target = size_mb << 20
    written = 0
    base = np.datetime64("2025-09-05T00:00:00.000", "ms")
    with open(path, "w") as fh:
        fh.write(HEADER)
        step = 0
        while written < target:
            lines = []
            for car in range(cars):
                vid = f"GR86-{car + 2:03d}-{car + 1:03d}"
                for k in range(200):                      # 4 s of one car
                    i = step * 200 + k
                    ts = str(base + np.timedelta64(i * 20, "ms")) + "Z"
                    meta = str(base + np.timedelta64(i * 20 + 151_942_233, "ms")) + "Z"
                    lap = 1 + i // 5000
                    names = FAST + (SLOW if i % 5 == 0 else [])
                    vals = rng.normal(50, 20, len(names)).round(3)
                    pre = f",{lap},I_R06_2025-09-07,R1,kafka:gr-raw,{meta},{vid},0,"
                    lines.extend(f"{pre}{n},{v},{ts},{vid},{car + 1}\n" for n, v in zip(names, np.clip(vals, 0, 100)))
            chunk = "".join(lines)
            fh.write(chunk)
            written += len(chunk)
            step += 1
    return path.stat().st_size


CHILD = r"""
import json, sys, time
mode, path, out = sys.argv[1:4]
t0 = time.perf_counter()
if mode == "kaizenlap":
    from kaizenlap.ingest.telemetry import read_telemetry
    c = read_telemetry(path, out)
    rows, extra = c.rows, {"cars": len(c.files), "issues": [i.code for i in c.issues]}
else:
    import pandas as pd
    rows, extra = len(pd.read_csv(path)), {}
wall = time.perf_counter() - t0
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"wall_s": wall, "rows": rows, "peak_rss_mb": hwm / 1024, **extra}))
"""


def measure(mode: str, path: Path, out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "lib"), str(ROOT)]))
    proc = subprocess.run([sys.executable, "-c", CHILD, mode, str(path), str(out)], capture_output=True, text=True,
                          env=env)
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else f"exit {proc.returncode}"}
    return json.loads(proc.stdout)


ENGINE_CHILD = r"""
import json, sys, time
from pathlib import Path
from kaizenlap.core import params
from kaizenlap.engines import telemetry
from kaizenlap.ingest.telemetry import read_telemetry
path, out = sys.argv[1:3]
t0 = time.perf_counter()
cache = read_telemetry(path, out)
read_s = time.perf_counter() - t0
track = {"track_id": "barber", **params.tracks()["barber"]}
t0 = time.perf_counter()
doc = telemetry.analyse(cache, None, track, "barber-r1")
engine_s = time.perf_counter() - t0
laps = sum(len(c["laps"]) for c in doc["cars"])
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"read_s": read_s, "engine_s": engine_s, "cars": len(doc["cars"]), "laps": laps,
                  "peak_rss_mb": hwm / 1024}))
"""


def measure_engine(size_mb: int, tmp: Path) -> dict:
    """The engine on a race's cache, in its own process (a file in the real format, real laps)."""
    sys.path.insert(0, str(ROOT / "lib"))
    from kaizenlap.sample_telemetry import write_big
    path = tmp / "R1_barber_telemetry_data.csv"
    t = time.perf_counter()
    info = write_big(path, size_mb)
    gen_s = time.perf_counter() - t
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "lib"), str(ROOT)]))
    proc = subprocess.run([sys.executable, "-c", ENGINE_CHILD, str(path), str(tmp / "cache-engine")],
                          capture_output=True, text=True, env=env)
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else f"exit {proc.returncode}"}
    return {**json.loads(proc.stdout), "bytes": info["bytes"], "generate_s": gen_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=512)
    ap.add_argument("--no-pandas", action="store_true", help="skip the pandas.read_csv comparison")
    ap.add_argument("--engine-mb", type=int, default=None,
                    help="size of the race file the engine is timed on (default: --size-mb; 0 skips it)")
    ap.add_argument("--no-read", action="store_true", help="only the engine (skip the read-speed comparison)")
    args = ap.parse_args()
    if not args.no_read:
        read_bench(args)
    engine_mb = args.size_mb if args.engine_mb is None else args.engine_mb
    if engine_mb:
        with tempfile.TemporaryDirectory(prefix="kaizenlap-tel-engine-") as tmp:
            r = measure_engine(engine_mb, Path(tmp))
        if "error" in r:
            print(f"engine    : failed: {r['error']}")
        else:
            per_lap = r["engine_s"] / max(r["laps"], 1)
            race = r["engine_s"] * (1536 * 2**20) / r["bytes"]
            print(f"engine    : {r['cars']} cars, {r['laps']} laps from a {r['bytes'] / 2**20:.0f} MB file's cache in "
                  f"{r['engine_s']:.2f} s ({per_lap * 1000:.0f} ms a lap; read {r['read_s']:.1f} s; peak RSS "
                  f"{r['peak_rss_mb']:.0f} MB); scaled to a 1.5 GB race: {race:.1f} s; load "
                  f"{os.getloadavg()[0]:.1f}")
            print("target: engine <= 5 s a race (from the cache)")


def read_bench(args) -> None:
    with tempfile.TemporaryDirectory(prefix="kaizenlap-tel-") as tmp:
        path = Path(tmp) / "R1_bench_telemetry_data.csv"
        t = time.perf_counter()
        size = generate(path, args.size_mb)
        print(f"generated {size / 2**20:.0f} MB in {time.perf_counter() - t:.1f} s; load {os.getloadavg()[0]:.1f}; "
              f"cpus {os.cpu_count()}")
        for mode in ("kaizenlap",) + (() if args.no_pandas else ("pandas",)):
            r = measure(mode, path, Path(tmp) / f"cache-{mode}")
            if "error" in r:
                print(f"{mode:10s}: failed: {r['error']}")
                continue
            print(f"{mode:10s}: {r['rows']:,} rows in {r['wall_s']:.1f} s = {size / 2**20 / r['wall_s']:.0f} MB/s; "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB; load {os.getloadavg()[0]:.1f}"
                  + (f"; {r['cars']} cars, ledger {r['issues']}" if "cars" in r else ""))
    print("targets: >= 150 MB/s, peak RSS <= 2048 MB")


if __name__ == "__main__":
    main()
