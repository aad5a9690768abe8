#!/usr/bin/env python3
"""Trace every track's outline from its official map and write it into params/tracks/<id>.yaml.

    python scripts/trace_tracks.py [--trd /path/to/trd] [--check] [TRACK ...]

The logic is lib/kaizenlap/tracks/trace.py; this prints each track's sector shares against the official
sector_lengths_m. --check writes nothing and exits 1 when a committed outline differs from a fresh trace.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from kaizenlap.core import params  # noqa: E402
from kaizenlap.core.environment import env  # noqa: E402
from kaizenlap.tracks import trace as T  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tracks", nargs="*")
    ap.add_argument("--trd", default=env("KAIZENLAP_TRD") or str(ROOT.parent / "shared" / "trd"))
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args(argv)
    tracks = params.tracks()
    bad = 0
    for tid in a.tracks or sorted(tracks):
        tp = tracks[tid]
        try:
            tr = T.trace_track(tid, tp, a.trd)
        except T.TraceError as exc:
            print(f"{tid}: {exc}", file=sys.stderr)
            bad += 1
            continue
        err = T.ratio_errors(tr, tp["sector_lengths_m"])
        print(f"{tid:14s} sector shares {' '.join(f'{r:.3f}' for r in tr.sector_ratios())}  "
              f"error vs official {' '.join(f'{e:+.3f}' for e in err)}  snapped {tr.snapped}")
        path = params.params_dir() / "tracks" / f"{tid}.yaml"
        if a.check:
            if T.outline_yaml(tr) not in path.read_text(encoding="utf-8"):
                print(f"{tid}: committed outline differs from a fresh trace", file=sys.stderr)
                bad += 1
        else:
            T.write_outline(path, tr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
