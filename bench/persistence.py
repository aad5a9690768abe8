#!/usr/bin/env python3
"""Do race-1 findings hold in race 2? (kaizenlap.engines.persistence; issue 20, item 6.) Per track and over the
season: cars with a race-1 finding, how many held, the rate expected by chance (a random section) and the
permutation p-value — on the sample (where the truth says the weakness persists) and on the real races.
Prints figures; asserts nothing.

    python bench/persistence.py [--real ../shared/trd]
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from kaizenlap.engines import persistence, sections
from kaizenlap.ingest.loader import load
from kaizenlap.sample import write_season


def season(paths: list) -> list[tuple[str, dict]]:
    races, _ = load(paths, use_cache=True)
    docs = {r.race_id: sections.analyse(r.laps, r.race_id) for r in races if r.status == "loaded" and len(r.laps)}
    out, everything = [], []
    for rid in sorted(docs):
        if rid.endswith("-r1") and rid[:-1] + "2" in docs:
            rows = persistence.check(docs[rid], docs[rid[:-1] + "2"])
            everything += rows
            out.append((rid[:-3], persistence.summary(rows)))
    out.append(("season", persistence.summary(everything)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", default=str(Path(__file__).resolve().parents[2] / "shared" / "trd"))
    args = ap.parse_args()
    print(f"load {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        write_season(Path(tmp), seed=2025)
        sets = {"sample": season([tmp])}
    if Path(args.real).is_dir():
        sets["real"] = season([args.real])
    print("| data | track | cars with a race-1 finding | held in race 2 | rate | chance rate | p (permutation) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, rows in sets.items():
        for track, s in rows:
            if not s["cars"]:
                print(f"| {name} | {track} | 0 | – | – | – | – |")
                continue
            print(f"| {name} | {track} | {s['cars']} | {s['held']} | {s['rate']:.0%} | {s['chance_rate']:.0%} | "
                  f"{s['p_value']:.4f} |")


if __name__ == "__main__":
    main()
