#!/usr/bin/env python3
"""Place each track's official turns and sub-section lines on the lap-distance axis from its official map.

    python scripts/place_turns.py [--trd /path/to/trd] [--write | --check] [TRACK ...]

The logic is lib/kaizenlap/tracks/turns.py: the map's turn numbers (its text layer, or ``map.turn_labels`` read
off a raster map) projected in turn order onto the traced centreline, each sub-section line
(``map.subsection_marks``) snapped to the tick the tracer finds there, and each turn's direction from the outline's
heading change over +-80 m. Prints, per turn, the distance from the S/F line, the label's distance from the traced
track, the nearest curvature peak of ``corners`` and the section it falls in. --write puts the ``turns`` and
``subsection_lines_m`` block into params/tracks/<id>.yaml (between the markers below, above the traced outline);
--check writes nothing and exits 1 when a committed block differs from a fresh placement. A track whose map prints
no turn numbers (Barber) is left without a block.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

from kaizenlap.core import params  # noqa: E402
from kaizenlap.core.environment import env  # noqa: E402
from kaizenlap.tracks import trace as T, turns as U  # noqa: E402

BEGIN = "# --- official turns: written by scripts/place_turns.py from the official map; do not edit by hand ---"
END = "# --- end of official turns ---"
WINDOW_M = 80.0
MIN_DEG = 15.0      # below this the outline's heading change is a kink or a chicane: no direction given
PARTS = ("IM1A", "IM1", "IM2A", "IM2", "IM3A", "FL")


def placements(tid: str, tp: dict, trd: str):
    """(turns placed, sub-section lines [(m, snapped)], the fresh trace) for one track."""
    cfg = tp.get("map") or {}
    tr = T.trace_track(tid, tp, trd)
    labels = [(str(k), float(u), float(v)) for k, (u, v) in (cfg.get("turn_labels") or {}).items()]
    source = "map.turn_labels (read off the raster map)"
    if not labels:
        labels = U.text_labels(T.find_map(trd, cfg["pdf"]), int(cfg.get("page", 1)) - 1)
        source = "the map's text layer"
    outline = np.asarray(tp["outline"], float)     # the committed outline, with the fresh trace's transform
    placed = U.place(labels, outline, tr.image_size, tr.origin_px, tr.scale_px, tp["sector_fractions"],
                     tp["sector_lengths_m"]) if labels else []
    hints = cfg.get("subsection_marks") or {}
    lines = U.place_lines([hints[k] for k in ("im1a", "im2a", "im3a")], outline, tr.image_size, tr.origin_px,
                          tr.scale_px, tr.mark_fractions, tp["sector_fractions"], tp["sector_lengths_m"],
                          snap_px=float(cfg.get("snap_radius", 0.035)) * tr.image_size[0]) \
        if len(hints) == 3 and placed else []
    return placed, lines, tr, source


def block(tid: str, tp: dict, placed, lines, source: str) -> str:
    L = float(tp["length_m"])
    rows = []
    for p in placed:
        a = U.heading_change_deg(tp["outline"], p.fraction, WINDOW_M / L)
        way = f"direction: {'R' if a > 0 else 'L'}, " if abs(a) >= MIN_DEG else ""
        rows.append(f"  - {{number: '{p.number}', distance_m: {p.distance_m:.0f}, {way}turn_deg: {abs(a):.0f}}}")
    ln = ", ".join(f"{m:.0f}" for m, _ in lines)
    snapped = all(s for _, s in lines)
    return "\n".join([
        BEGIN,
        f"# Source: {tp['map']['pdf']} page {tp['map'].get('page', 1)}, turn numbers from {source}.",
        "# distance_m is ESTIMATED: each number's label projected onto the traced outline in turn order (the label",
        "# sits beside its corner, a few tens of metres from the apex), metres from the S/F line piecewise between",
        "# the timing lines (so a turn lies in the sector the map draws it in); direction and turn_deg: the traced",
        f"# outline's heading change over +-{WINDOW_M:.0f} m (R = clockwise on the map; no direction under "
        f"{MIN_DEG:.0f} deg).",
        "# Checked in tests/test_turns.py against the published list above.",
        "turns:",
        *rows,
        f"# IM1A, IM2A and IM3A end here (ESTIMATED: the map's sub-section ticks, "
        f"{'each snapped to the tick the tracer found' if snapped else 'not all snapped to a tick'}).",
        f"subsection_lines_m: [{ln}]" if lines else "subsection_lines_m: null",
        END,
    ]) + "\n"


def write(path: Path, text: str) -> None:
    s = path.read_text(encoding="utf-8")
    if BEGIN in s:
        s = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END) + r"\n", lambda _: text, s, flags=re.S)
    else:
        s = s.replace(T.MARKER, text + "\n" + T.MARKER)
    path.write_text(s, encoding="utf-8")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tracks", nargs="*")
    ap.add_argument("--trd", default=env("KAIZENLAP_TRD") or str(ROOT.parent / "shared" / "trd"))
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--write", action="store_true")
    g.add_argument("--check", action="store_true")
    a = ap.parse_args(argv)
    tracks = params.tracks()
    bad = 0
    for tid in a.tracks or sorted(tracks):
        tp = tracks[tid]
        placed, lines, tr, source = placements(tid, tp, a.trd)
        if not placed:
            print(f"{tid}: the map prints no turn numbers: no turns placed")
            continue
        edges = np.cumsum([0.0, *tp["sector_lengths_m"]])
        inner = sorted([*edges[1:3], *(m for m, _ in lines)])
        cuts = np.array([0.0, *inner, edges[-1]])
        shown = [f"{m:.0f} m" + ("" if s else " (not snapped)") for m, s in lines]
        print(f"{tid}: {len(placed)} turns; sub-section lines {shown}")
        for p in placed:
            part = PARTS[min(int(np.searchsorted(cuts, p.distance_m, side='right')) - 1, 5)] if lines else \
                f"S{int(np.searchsorted(edges, p.distance_m, side='right'))}"
            c = U.nearest_corner_m(p.distance_m, tp.get("corners") or [], tp["length_m"])
            a_deg = U.heading_change_deg(tp["outline"], p.fraction, WINDOW_M / tp["length_m"])
            print(f"  turn {p.number:>4s} {p.distance_m:7.0f} m  {part:5s} "
                  f"{'R' if a_deg > 0 else 'L'}{abs(a_deg):4.0f} deg  label {p.offset_m:3.0f} m off the track  nearest curvature peak {c:+5.0f} m")
        text = block(tid, tp, placed, lines, source)
        path = params.params_dir() / "tracks" / f"{tid}.yaml"
        if a.check:
            if text not in path.read_text(encoding="utf-8"):
                print(f"{tid}: the committed turns differ from a fresh placement", file=sys.stderr)
                bad += 1
        elif a.write:
            write(path, text)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
