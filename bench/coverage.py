#!/usr/bin/env python3
"""Coverage of every interval type that has a counterpart in the sample season's truth: coverage, the share
of misses below and above, median width and n, per statistic and section set; then the split-half calibration
(odd laps against even laps, no truth needed) on the sample and on the real races (kaizenlap.coverage;
docs/DATA_REFERENCE.md §10.5 shows the tables). Also the wall time of writing the sample season. Prints
figures; asserts nothing.

    python bench/coverage.py [--seed 2025] [--draws 400] [--real ../shared/trd]
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
    ap.add_argument("--real", default=str(Path(__file__).resolve().parents[2] / "shared" / "trd"),
                    help="the real TRD files for the split-half calibration (skipped when absent)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        write_season(Path(tmp), seed=args.seed)
        t1 = time.perf_counter()
        races, _ = load([tmp], use_cache=False)
        rows = coverage.coverage_rows({r.race_id: r for r in races}, seed=args.seed, draws=args.draws)
        t2 = time.perf_counter()
        halves = {"sample": coverage.split_half_rows({r.race_id: r for r in races})}
    table = coverage.coverage_table(rows)
    print(f"sample season (seed {args.seed}) written in {t1 - t0:.1f} s; ingest + engines + truth "
          f"({args.draws} draws) {t2 - t1:.1f} s")
    print("| statistic | section set | intervals (n) | coverage | truth below | truth above | median width (s) | "
          "median abs error (s) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in table.itertuples():
        print(f"| `{r.statistic}` | {r.section_set} | {r.n_intervals} | {r.coverage:.1%} | {r.miss_below:.1%} | "
              f"{r.miss_above:.1%} | {r.median_width_s:.3f} | {r.median_abs_error_s:.3f} |")
    if Path(args.real).is_dir():
        real, _ = load([args.real], use_cache=True)
        halves["real"] = coverage.split_half_rows({r.race_id: r for r in real if r.status == "loaded"})
    else:
        print(f"(no real files at {args.real}: the real split-half calibration is skipped)")
    tables = {k: coverage.split_half_table(v).set_index(["statistic", "section_set"]) for k, v in halves.items()}
    print("\nSplit-half calibration: SD of z = (odd-lap estimate - even-lap estimate) / combined SE; 1 when the "
          "intervals are calibrated, share |z| > 1.96 nominal 5%")
    cols = list(tables)
    print("| statistic | section set | " + " | ".join(f"{c} pairs | {c} SD(z) | {c} abs z>1.96" for c in cols) + " |")
    print("| --- | --- | " + " | ".join("--- | --- | ---" for _ in cols) + " |")
    for key in tables["sample"].index:
        cells = []
        for c in cols:
            r = tables[c].loc[key] if key in tables[c].index else None
            cells.append("– | – | –" if r is None else f"{int(r.pairs)} | {r.sd_z:.2f} | {r.beyond_1_96:.1%}")
        print(f"| `{key[0]}` | {key[1]} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
