#!/usr/bin/env python3
"""Do the input limits agree with what a kernel can analyse? (docs/DATA_REFERENCE.md 1.8, issue 18 item 8)

A synthetic race of N laps (100 cars, in the TRD formats of the hand-made mini race: tests/minirace.py) is written
under a temporary folder; one process per engine ingests it (no cache) and runs that engine, and prints its peak
memory (VmHWM) and time beside ``params/pipeline.yaml`` kernel_memory_limit_mb and ``params/ingest.yaml``
limits.max_laps_per_race. Prints figures with the load average; asserts nothing.

    python bench/limits.py                 # 10,000 and 50,000 laps
    python bench/limits.py 10000 100000    # any lap counts (a count over max_laps_per_race is ingested with
                                           # the limit lifted, to show what it would cost)
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "lib"))

import minirace  # noqa: E402  (the TRD formats, by hand)

from kaizenlap.core import params  # noqa: E402

CARS = 100
ENGINES = ("ingest", "composite", "pattern", "sections", "weather")

CHILD = r"""
import json, sys, time
from kaizenlap.ingest import files as sources
lim = dict(sources.limits())
sources.limits = lambda: {**lim, "max_laps_per_race": 10**9}     # measure past the limit too
from kaizenlap.ingest.loader import load
t0 = time.perf_counter()
races, _ = load([sys.argv[1]], use_cache=False)
race = races[0]
t1 = time.perf_counter()
engine = sys.argv[2]
if engine == "composite":
    from kaizenlap.engines import composite; composite.analyse(race.laps, race.race_id)
elif engine == "pattern":
    from kaizenlap.engines import pattern; pattern.analyse(race.laps, race.race_id)
elif engine == "sections":
    from kaizenlap.engines import sections; sections.analyse(race.laps, race.race_id)
elif engine == "weather":
    from kaizenlap.engines import weather; weather.analyse_race(race.laps, race.weather, race.race_id)
t2 = time.perf_counter()
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"status": race.status, "laps": len(race.laps), "ingest_s": t1 - t0, "engine_s": t2 - t1,
                  "peak_mb": hwm / 1024}))
"""


def sections_text(n_laps: int, rng: random.Random) -> str:
    """The mini race's lap file with CARS cars of n_laps // CARS laps each (green laps, a few seconds of scatter)."""
    per_car = max(1, n_laps // CARS)
    lines = [minirace.HEADER_23]
    for c in range(CARS):
        car, cls = str(c + 1), ("Pro" if c % 3 == 0 else "Am")
        elapsed = 0.0
        for lap in range(1, per_car + 1):
            s = [round(b + rng.uniform(-0.3, 0.6), 3) for b in minirace.BASE]
            lap_time = round(sum(s), 3)
            elapsed += lap_time
            s1, s2, s3 = round(s[0] + s[1], 3), round(s[2] + s[3], 3), round(s[4] + s[5], 3)
            cum = [round(sum(s[: i + 1]), 3) for i in range(6)]
            subs = [x for i in range(6) for x in (f"{s[i]:.3f}", minirace.fmt(cum[i]))]
            hour = minirace.START_LOCAL_S + elapsed + 0.01 * c
            lines.append(";".join([car, "1", str(lap), minirace.fmt(lap_time), "0", "", minirace.fmt(s1), "0",
                                   minirace.fmt(s2), "0", minirace.fmt(s3), "0", "130.0", minirace.fmt(elapsed),
                                   minirace.fmt_hour(hour % 86400), f"0:{s1:06.3f}", f"0:{s2:06.3f}",
                                   f"0:{s3:06.3f}", "200.1", "", cls, "", "Toyota", "GF", f"{s1:.3f}", f"{s2:.3f}",
                                   f"{s3:.3f}", *subs]))
    return "\n".join(lines) + "\n"


def write_race(folder: Path, n_laps: int) -> tuple[Path, float]:
    folder.mkdir(parents=True, exist_ok=True)
    text = sections_text(n_laps, random.Random(n_laps))
    (folder / "23_AnalysisEnduranceWithSections_Race 1_Anonymized.CSV").write_text(text)
    span_s = (n_laps // CARS) * 101.0 + 600
    (folder / "26_Weather_Race 1_Anonymized.CSV").write_text(minirace.weather_text(1757184000, int(span_s // 63) + 1))
    return folder, len(text.encode()) / 2**20


def main() -> None:
    counts = [int(a) for a in sys.argv[1:]] or [10_000, 50_000]
    kernel_mb = params.load("pipeline")["kernel_memory_limit_mb"]
    lim = params.load("ingest")["limits"]
    print(f"kernel_memory_limit_mb {kernel_mb}; max_laps_per_race {lim['max_laps_per_race']:,}; "
          f"max_file_bytes {lim['max_file_bytes'] / 2**20:.0f} MiB; load average {os.getloadavg()[0]:.2f}")
    print("| laps | lap file | " + " | ".join(ENGINES) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in ENGINES) + " |")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "lib"))
    with tempfile.TemporaryDirectory() as tmp:
        for n in counts:
            folder, mib = write_race(Path(tmp) / f"n{n}" / "barber", n)
            cells = []
            for engine in ENGINES:
                r = subprocess.run([sys.executable, "-c", CHILD, str(folder), engine], env=env, capture_output=True,
                                   text=True)
                if r.returncode != 0:
                    cells.append(f"failed ({r.stderr.strip().splitlines()[-1][:60]})")
                    continue
                out = json.loads(r.stdout.strip().splitlines()[-1])
                t = out["ingest_s"] if engine == "ingest" else out["engine_s"]
                over = " **over**" if out["peak_mb"] > kernel_mb else ""
                cells.append(f"{out['peak_mb']:,.0f} MB ({t:.1f} s){over}")
            accepted = "accepted" if n <= lim["max_laps_per_race"] else "refused by the limit"
            print(f"| {n:,} ({accepted}) | {mib:.1f} MiB | " + " | ".join(cells) + " |", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
