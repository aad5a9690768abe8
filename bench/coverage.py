#!/usr/bin/env python3
"""Coverage of every interval type that has a counterpart in the sample season's truth: coverage, the share
of misses below and above, median width and n, per statistic and section set; then the split-half calibration
(no truth needed) on the sample and on the real races, for the pairs split (neighbouring laps two by two,
alternating) and the odd/even split (kaizenlap.coverage; docs/DATA_REFERENCE.md §10.5 shows the tables).
Old (today's order-statistic rule before issue 19 item 5's calibration: the smoothed residual bootstrap,
bootstrap-t, arms [1, 1]) and new (the same draws, each arm times its **calibrated** factor,
``bootstrap.order_stat_arms``, ``common.order_stat_interval``) side by side; the truth includes the generator's outlier
guard (``coverage.guarded_noise``), with the load average (timings on a shared machine). The fair real check: each
real split-half SD(z) beside the SD(z) the same rule reads on the races' model twins (``coverage.model_twins``: the
real cars' lap numbers, trends and own residual rows, exchangeable noise; three draws pooled), before (the field's
shared slow laps resampled as each car's own noise) and now (the field's conditions per lap held fixed), and their
ratio (1: the real laps agree as well as laps where the model holds), with the rule's coverage of the twins' truth;
then the share of the residual variance the field's conditions per lap take, real and sample. The track composite (each track's
races pooled): coverage of the sample's truth and, on the real races, median widths beside each race alone, old
(the races pooled as one) and new (each race its own level, ``bootstrap.race_offset``; §10.1). Prints figures;
asserts nothing.

    python bench/coverage.py [--seed 2025] [--draws 400] [--real ../shared/trd] [--track-only]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

from kaizenlap import coverage
from kaizenlap.engines.common import engine_settings
from kaizenlap.ingest.loader import load
from kaizenlap.sample import write_season

# Order-statistic intervals, old (the smoothed residual bootstrap-t, arms [1, 1]: the rule up to issue 19 item 5's
# calibration) and new (params: each arm times its calibrated factor, ``bootstrap.order_stat_arms``;
# DATA_REFERENCE 10.5). The other intervals are the same in both.
METHODS = {"old": {"bootstrap.order_stat_arms": [1.0, 1.0]}, "new": {}}
ORDER_STATS = ("best_k", "personal_best_k", "personal_composite")


def print_coverage(tables: dict) -> None:
    print("\nCoverage of the sample's truth (old | new)")
    print("| statistic | section set | intervals (n) | coverage | truth below | truth above | median width (s) | "
          "median abs error (s) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    old, new = (tables[k].set_index(["statistic", "section_set"]) for k in ("old", "new"))
    for key, r in new.iterrows():
        o = old.loc[key]
        print(f"| `{key[0]}` | {key[1]} | {int(r.n_intervals)} | {o.coverage:.1%} → {r.coverage:.1%} | "
              f"{o.miss_below:.1%} → {r.miss_below:.1%} | {o.miss_above:.1%} → {r.miss_above:.1%} | "
              f"{o.median_width_s:.3f} → {r.median_width_s:.3f} | {r.median_abs_error_s:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--draws", type=int, default=400)
    ap.add_argument("--real", default=str(Path(__file__).resolve().parents[2] / "shared" / "trd"),
                    help="the real TRD files for the split-half calibration (skipped when absent)")
    ap.add_argument("--track-only", action="store_true",
                    help="only the track composite's tables (sample coverage and real widths, old and new)")
    args = ap.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        write_season(Path(tmp), seed=args.seed)
        t1 = time.perf_counter()
        races, _ = load([tmp], use_cache=False)
        sample = {r.race_id: r for r in races}
    print(f"sample season (seed {args.seed}) written in {t1 - t0:.1f} s")
    tables = {}
    for tag, how in ({} if args.track_only else METHODS).items():
        t = time.perf_counter()
        with engine_settings(how):
            tables["rows_" + tag] = coverage.coverage_rows(sample, seed=args.seed, draws=args.draws)
            tables[tag] = coverage.coverage_table(tables["rows_" + tag])
        print(f"{tag} ({how}): ingest + engines + truth ({args.draws} draws) {time.perf_counter() - t:.1f} s")
    if not args.track_only:
        print_coverage(tables)
        t = tables["raw_old"] = coverage.coverage_table(tables["rows_old"].assign(truth=tables["rows_old"]
                                                                                  ["truth_unguarded"]))
        print("\nThe old intervals against the truth without the generator's outlier guard (the rule before):")
        for _, r in t[t["statistic"].isin(["best_k", "personal_best_k", "personal_composite"])].iterrows():
            print(f"| `{r.statistic}` | {r.section_set} | {int(r.n_intervals)} | {r.coverage:.1%} | "
                  f"{r.miss_below:.1%} | {r.miss_above:.1%} |")
    track_cov = {}
    for tag, flag in (("old", False), ("new", True)):
        with engine_settings({"bootstrap.race_offset": flag}):
            track_cov[tag] = coverage.coverage_table(coverage.track_coverage_rows(sample, seed=args.seed,
                                                                                  draws=args.draws))
    print("\nTrack composite (each track's two races pooled) against the sample's truth, old (the races pooled "
          "as one) → new (each race its own level, `bootstrap.race_offset`)")
    print("| statistic | section set | intervals (n) | coverage | truth below | truth above | median width (s) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    o, n = (track_cov[k].set_index(["statistic", "section_set"]) for k in ("old", "new"))
    for key, r in n.iterrows():
        q = o.loc[key]
        print(f"| `{key[0]}` | {key[1]} | {int(r.n_intervals)} | {q.coverage:.1%} → {r.coverage:.1%} | "
              f"{q.miss_below:.1%} → {r.miss_below:.1%} | {q.miss_above:.1%} → {r.miss_above:.1%} | "
              f"{q.median_width_s:.3f} → {r.median_width_s:.3f} |")
    sources = {"sample": sample}
    if Path(args.real).is_dir():
        real, _ = load([args.real], use_cache=True)
        sources["real"] = {r.race_id: r for r in real if r.status == "loaded"}
    else:
        print(f"(no real files at {args.real}: the real split-half calibration is skipped)")
    if "real" in sources:
        tw = {}
        for tag, flag in (("old", False), ("new", True)):
            with engine_settings({"bootstrap.race_offset": flag}):
                tw[tag] = coverage.track_widths(sources["real"])
        print("\nTrack composite on the real races: median interval width (s) over the cars, each race alone and "
              "the races pooled, old (pooled as one) → new (each race its own level)")
        print("| track | section set | statistic | cars | race 1 alone | race 2 alone | pooled old → new |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for (_, r), (_, q) in zip(tw["new"].iterrows(), tw["old"].iterrows()):
            # each race's own column (the frame holds every track's races: r1, r2 of this row's track only)
            alone = [r[c] for c in sorted(r.index) if c.startswith(f"{r.track}-r") and c.endswith("_s")][:2]
            print(f"| {r.track} | {r.section_set} | `{r.statistic}` | {r.cars} | "
                  + " | ".join("–" if pd.isna(v) else f"{v:.3f}" for v in alone)
                  + f" | {q.pooled_s:.3f} → {r.pooled_s:.3f} |")
    if args.track_only:
        return
    cols = {}
    for src, rr in sources.items():
        for split in coverage.SPLITS:
            for tag, how in METHODS.items():
                t = time.perf_counter()
                with engine_settings(how):
                    cols[(src, split, tag)] = coverage.split_half_table(coverage.split_half_rows(rr, split)).set_index(
                        ["statistic", "section_set"])
                print(f"split-half {src} {split} {tag}: {time.perf_counter() - t:.1f} s")
    print("\nSplit-half calibration: SD of z = (half A − half B) / combined SE, 1 when calibrated (old → new; "
          "pairs: laps 1,4,5,8,9,… against 2,3,6,7,…; odd/even: shares neighbouring-lap noise)")
    heads = [(src, split) for src in sources for split in coverage.SPLITS]
    print("| statistic | section set | " + " | ".join(f"{s} {p} pairs | {s} {p} SD(z) | {s} {p} abs z>1.96"
                                                  for s, p in heads) + " |")
    print("| --- | --- | " + " | ".join("--- | --- | ---" for _ in heads) + " |")
    for key in cols[("sample", "pairs", "new")].index:
        cells = []
        for s, p in heads:
            o, n = cols[(s, p, "old")], cols[(s, p, "new")]
            if key not in n.index or key not in o.index:
                cells.append("– | – | –")
                continue
            cells.append(f"{int(n.loc[key].pairs)} | {o.loc[key].sd_z:.2f} → {n.loc[key].sd_z:.2f} | "
                         f"{o.loc[key].beyond_1_96:.1%} → {n.loc[key].beyond_1_96:.1%}")
        print(f"| `{key[0]}` | {key[1]} | " + " | ".join(cells) + " |")
    if "real" in sources:
        cols["_sample"] = sample
        fair_check(sources["real"], cols, args)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


TWIN_SEEDS = (2025, 1, 2)


def fair_check(real: dict, cols: dict, args) -> None:
    """The real split-half SD(z) (pairs split) against the SD(z) the same rule reads on the real races' model
    twins (``coverage.model_twins``, three draws pooled), and the rule's coverage of the twins' truth, old → new;
    for the twins before (``field="none"``: the field's shared slow laps resampled as each car's own noise) and now
    (``field="laps"``: the field's conditions per lap held fixed, as the sample's truth holds them)."""
    for field, words in (("none", "each car's own trend; the field's shared slow laps resampled as its own noise"),
                         ("laps", "each car's own trend and the field's conditions per lap, held fixed")):
        t = time.perf_counter()
        ref, cov = {}, {}
        for tag, how in METHODS.items():
            with engine_settings(how):
                ref[tag] = coverage.split_half_table(coverage.twin_split_half_rows(
                    real, seeds=TWIN_SEEDS, field=field)).set_index(["statistic", "section_set"])
                twins, laws = coverage.model_twins(real, seed=args.seed, field=field)
                cov[tag] = coverage.coverage_table(coverage.twin_coverage_rows(
                    twins, laws, draws=args.draws, seed=args.seed)).set_index(["statistic", "section_set"])
        print(f"\nmodel twins of the real races, field={field!r} (split-half of {len(TWIN_SEEDS)} draws pooled and "
              f"truth, old and new): {time.perf_counter() - t:.1f} s")
        print(f"The fair real check (pairs split), twins: {words}. Real SD(z), the SD(z) of the same rule on the "
              "twins and real / twin, old → new; the rule's coverage of the twins' truth (seed "
              f"{args.seed}), old → new")
        print("| statistic | section set | real pairs | real SD(z) | twin pairs | twin SD(z) | real / twin | "
              "twin coverage | twin truth below | twin truth above |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for key in ref["new"].index:
            if key[0] not in ORDER_STATS + ("consistency_cost", "median", "consistency_sd", "trend_slope"):
                continue
            ro, rn = cols[("real", "pairs", "old")], cols[("real", "pairs", "new")]
            if key not in rn.index:
                continue
            to, tn = ref["old"].loc[key], ref["new"].loc[key]
            line = (f"| `{key[0]}` | {key[1]} | {int(rn.loc[key].pairs)} | {ro.loc[key].sd_z:.2f} → "
                    f"{rn.loc[key].sd_z:.2f} | {int(tn.pairs)} | {to.sd_z:.2f} → {tn.sd_z:.2f} | "
                    f"{ro.loc[key].sd_z / to.sd_z:.2f} → {rn.loc[key].sd_z / tn.sd_z:.2f} | ")
            if key in cov["new"].index:
                o, n = cov["old"].loc[key], cov["new"].loc[key]
                line += (f"{o.coverage:.1%} → {n.coverage:.1%} | {o.miss_below:.1%} → {n.miss_below:.1%} | "
                         f"{o.miss_above:.1%} → {n.miss_above:.1%} |")
            else:
                line += "– | – | – |"
            print(line)
    print("\nShare of the residual variance around each car's own lap trend that the field's conditions per lap "
          "take (1 − var with them / var without; median over the races), real races and the sample:")
    print("| source | " + " | ".join(f"`{c}`" for c in coverage.TWIN_COLS) + " |")
    print("| --- | " + " | ".join("---" for _ in coverage.TWIN_COLS) + " |")
    for name, races in (("real", real), ("sample", cols["_sample"])):
        share = coverage.field_share(races).median()
        print(f"| {name} | " + " | ".join("–" if pd.isna(share.get(c)) else f"{share[c]:.1%}"
                                          for c in coverage.TWIN_COLS) + " |")


if __name__ == "__main__":
    main()
