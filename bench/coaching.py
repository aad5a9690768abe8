#!/usr/bin/env python3
"""Coaching speed: deterministic synthesis over the whole sample season (target: <= 10 s added to the run).

Writes the sample season to a temporary folder, runs the four engines and the track models in this process
(timed apart: they are the other tasks' work), then the coaching stage of every race — briefs, deterministic
text, grounding validator, documents, store documents — and prints the figures. Asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--repeat", type=int, default=3, help="passes over the season (the median is reported)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kaizenlap-bench-coaching-") as tmp:
        tmp = Path(tmp)
        os.environ["KAIZENLAP_CACHE"] = str(tmp / "cache")
        from kaizenlap.coaching import engine
        from kaizenlap.tasks import inprocess
        from kaizenlap.ingest.loader import load
        from kaizenlap.sample import write_season

        write_season(tmp / "season", seed=args.seed)
        races, _ = load([tmp / "season"])
        t0 = time.perf_counter()
        inputs = inprocess.coaching_inputs(races)
        t_engines = time.perf_counter() - t0
        passes, per_race = [], []
        cars = stored = 0
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            cars = stored = 0
            for inp in inputs:
                t1 = time.perf_counter()
                doc = engine.analyse(inp.race_docs, inp.track_docs, inp.quality, synthesizer="deterministic",
                                     cache=None)
                stored += len(engine.documents(doc))
                per_race.append(time.perf_counter() - t1)
                cars += doc["n_cars"]
            passes.append(time.perf_counter() - t0)
        wall = statistics.median(passes)
        print(f"coaching (deterministic), sample season: {len(inputs)} races, {cars} car-races, {stored} store documents")
        print(f"  engines + track models in-process (not coaching; for scale): {t_engines:.2f} s")
        print(f"  coaching synthesis, whole season: median {wall:.2f} s over {args.repeat} passes "
              f"(min {min(passes):.2f} s, max {max(passes):.2f} s); {1000 * wall / max(cars, 1):.1f} ms per car-race; "
              f"per race median {1000 * statistics.median(per_race):.0f} ms")
        print(f"  target <= 10 s added to the run: {'met' if wall <= 10 else 'MISSED'} ({wall:.2f} s)")


if __name__ == "__main__":
    main()
