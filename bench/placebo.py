"""Placebo false-positive rate of the weather temperature model, per real race and per track model: the earlier
model (a level and a lap trend per car, SE clustered by car) beside the current one (plus the field's lap shape,
SE clustered by car and lap), with the slope each would show. No assertions: a table to read.

    PYTHONPATH=lib:. python bench/placebo.py [TRD_DIR]        (default ../shared/trd, or $KAIZENLAP_TRD)
"""
from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OLD = {"degree": 0, "two_way": False}


def _slope(est: dict | None) -> str:
    return "—" if not est else f"{est['value']:+.3f} [{est['lo']:+.3f}, {est['hi']:+.3f}]"


def _rate(m: dict) -> str:
    r = m.get("placebo_false_positive_rate")
    if m.get("placebo_tries") is None:
        # the model stopped before its placebo check: say at which gate (the slope is not shown either way)
        v = m.get("vif_track_temp")
        return ("not run: " + (f"collinear, VIF {v:.1f}" if v is not None else
                               str(m.get("reason", "no model")).removeprefix("not identifiable: ").split(":")[0][:40]))
    return "—" if r is None else f"{r:.0%} ({m['placebo_significant']}/{m['placebo_identifiable']} of {m['placebo_tries']})"


def main() -> None:
    from kaizenlap.core.environment import env
    from kaizenlap.engines import weather
    from kaizenlap.ingest.loader import load
    warnings.simplefilter("ignore")
    trd = Path(sys.argv[1] if len(sys.argv) > 1 else env("KAIZENLAP_TRD") or ROOT.parent / "shared" / "trd")
    races, _ = load([trd], use_cache=False)
    cap = weather.cfg()["weather"]["placebo_max_rate"]
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}; placebo cap {cap:.0%}")
    print(f"{'race / track':18s} | {'old slope (s/°C)':26s} | {'old placebo rate':22s} | {'new slope, ungated':26s} | "
          f"{'new placebo rate':22s} | new shown | s")
    by_track: dict[str, list] = {}
    rows = [(r.race_id, r) for r in sorted(races, key=lambda r: r.race_id)]
    for rid, r in rows:
        by_track.setdefault(r.track_id, []).append((r.laps, r.weather))
        t0 = time.perf_counter()
        old = weather.analyse_race(r.laps, r.weather, rid, **OLD).get("pace_vs_track_temp", {})
        old_raw = weather.analyse_race(r.laps, r.weather, rid, **OLD, placebo=False).get("pace_vs_track_temp", {})
        t1 = time.perf_counter()
        new = weather.analyse_race(r.laps, r.weather, rid).get("pace_vs_track_temp", {})
        t2 = time.perf_counter()
        new_raw = weather.analyse_race(r.laps, r.weather, rid, placebo=False).get("pace_vs_track_temp", {})
        shown = _slope(new.get("slope_s_per_c")) if new.get("available") else "no: " + str(new.get("reason", "no weather"))[:60]
        print(f"{rid:18s} | {_slope(old_raw.get('slope_s_per_c')):26s} | {_rate(old):22s} | "
              f"{_slope(new_raw.get('slope_s_per_c')):26s} | {_rate(new):22s} | {shown} | {t2 - t1:.2f}")
    for tid, items in sorted(by_track.items()):
        old = weather.analyse_track(items, tid, **OLD)
        old_raw = weather.analyse_track(items, tid, **OLD, placebo=False)
        t1 = time.perf_counter()
        new = weather.analyse_track(items, tid)
        t2 = time.perf_counter()
        new_raw = weather.analyse_track(items, tid, placebo=False)
        shown = _slope(new.get("track_temp_s_per_c")) if new.get("identifiable") else "no: " + str(new.get("reason"))[:60]
        print(f"{tid + ' (track)':18s} | {_slope(old_raw.get('track_temp_s_per_c')):26s} | {_rate(old):22s} | "
              f"{_slope(new_raw.get('track_temp_s_per_c')):26s} | {_rate(new):22s} | {shown} | {t2 - t1:.2f}")
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
