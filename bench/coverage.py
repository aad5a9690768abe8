#!/usr/bin/env python3
"""Coverage of every interval type that has a counterpart in the sample season's truth: coverage, median
width and n, per statistic and section set (kaizenlap.coverage; docs/DATA_REFERENCE.md §10.5 shows the
table). Also the wall time of writing the sample season. Prints figures; asserts nothing.

    python bench/coverage.py [--seed 2025] [--draws 400]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from kaizenlap import coverage
from kaizenlap.ingest.loader import load
from kaizenlap.sample import write_season


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--draws", type=int, default=400)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        write_season(Path(tmp), seed=args.seed)
        t1 = time.perf_counter()
        races, _ = load([tmp], use_cache=False)
        rows = coverage.coverage_rows({r.race_id: r for r in races}, seed=args.seed, draws=args.draws)
        t2 = time.perf_counter()
    table = coverage.coverage_table(rows)
    print(f"sample season (seed {args.seed}) written in {t1 - t0:.1f} s; ingest + engines + truth "
          f"({args.draws} draws) {t2 - t1:.1f} s")
    print("| statistic | section set | intervals (n) | coverage | median width (s) | median abs error (s) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in table.itertuples():
        print(f"| `{r.statistic}` | {r.section_set} | {r.n_intervals} | {r.coverage:.1%} | {r.median_width_s:.3f} | "
              f"{r.median_abs_error_s:.3f} |")


if __name__ == "__main__":
    main()
