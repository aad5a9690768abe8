#!/usr/bin/env python3
"""Pipeline speed: ``run`` over the 14-race sample season, every engine, HTML reports on.

W1: cold — empty ingest cache, fresh reports folder (every task executed).
W2: the same again with nothing changed (every task reused from W1).
Prints figures; asserts nothing. ``--workers N`` (default: the number of CPUs).
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
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--seed", type=int, default=2025)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kaizenlap-bench-") as tmp:
        tmp = Path(tmp)
        os.environ["KAIZENLAP_CACHE"] = str(tmp / "cache")          # empty cache: cold ingest in W1
        from kaizenlap import pipeline
        from kaizenlap.sample import write_season
        write_season(tmp / "season", seed=args.seed)
        rows = []
        for label in ("W1 cold", "W2 unchanged"):
            t0 = time.perf_counter()
            res = pipeline.run([tmp / "season"], workers=args.workers, reports_dir=tmp / "reports", progress=True)
            wall = time.perf_counter() - t0
            executed = [t.duration_s for t in res.tasks if t.status != "reused" and t.duration_s is not None]
            rows.append((label, wall, len(res.tasks), res.counts(), statistics.mean(executed) if executed else 0.0,
                         len({t.race_ids[0] for t in res.tasks if t.kind == "race"})))
        print(f"sample season seed {args.seed}; workers {args.workers or os.cpu_count()} "
              f"(cpus {os.cpu_count()}); HTML reports on")
        for label, wall, n, counts, mean, races in rows:
            print(f"{label}: {races} races, {n} tasks ({counts['ok']} executed, {counts['reused']} reused, "
                  f"{counts['failed']} failed) in {wall:.1f} s wall; {wall / n:.2f} s per task (wall/tasks); "
                  f"mean executed task {mean:.2f} s")


if __name__ == "__main__":
    main()
