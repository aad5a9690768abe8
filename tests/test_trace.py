"""The track-map tracer (lib/kaizenlap/tracks/trace.py) on the seven official maps and on a drawn map.

Truth: the official sector lengths in params/tracks/<id>.yaml (from the same maps' tables) and, for the
synthetic case, a map this test draws itself with known geometry.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from kaizenlap.core import params
from kaizenlap.tracks import trace as T

TRD = Path(os.environ.get("KAIZENLAP_TRD", Path(__file__).resolve().parents[2] / "shared" / "trd"))
# Each sector's share of the lap, traced vs official, may differ by at most this (absolute, of the lap):
# the raster maps are ~1,200 px across, drawn by hand, with marks a band-width wide.
TOLERANCE = 0.04
TRACKS = sorted(params.tracks())


def test_seven_tracks_have_a_map():
    assert len(TRACKS) == 7
    for tid in TRACKS:
        assert params.tracks()[tid]["map"]["pdf"].lower().endswith(".pdf")


@pytest.mark.parametrize("track_id", TRACKS)
def test_traced_sector_lengths_match_official(track_id):
    if not TRD.is_dir():
        if os.environ.get("KAIZENLAP_REQUIRE_TRD") == "1":
            pytest.fail(f"TRD folder {TRD} missing")
        pytest.skip("real TRD files not available")
    tp = params.tracks()[track_id]
    tr = T.trace_track(track_id, tp, TRD)
    err = T.ratio_errors(tr, tp["sector_lengths_m"])
    print(f"{track_id}: sector share error vs official {[round(e, 4) for e in err]}")
    assert all(tr.snapped.values()), tr.snapped        # each timing line found on a mark of the map
    assert max(abs(e) for e in err) <= TOLERANCE, err
    # the committed outline is this trace (re-run scripts/trace_tracks.py after changing the tracer)
    assert tp["sector_fractions"] == pytest.approx(tr.sector_fractions, abs=2e-4)
    assert len(tp["outline"]) == len(tr.outline)
    assert np.allclose(np.asarray(tp["outline"]), tr.outline, atol=2e-4)


def test_committed_outlines_are_closed_normalised_loops():
    for tid in TRACKS:
        tp = params.tracks()[tid]
        xy = np.asarray(tp["outline"], float)
        assert xy.shape[1] == 2 and len(xy) >= 100
        assert xy.min() >= 0 and xy.max() == pytest.approx(1.0)
        step = np.linalg.norm(np.diff(np.vstack([xy, xy[:1]]), axis=0), axis=1)
        assert step.max() < 5 * np.median(step)            # closed, evenly resampled, no jumps
        f1, f2 = tp["sector_fractions"]
        assert 0 < f1 < f2 < 1


def _drawn_map(gap: bool):
    """A 600x400 white image with a black rectangle-ish loop of known side lengths and red ticks."""
    img = np.full((400, 600, 3), 255, np.uint8)
    x0, x1, y0, y1, w = 50, 550, 50, 350, 6
    img[y0 - w:y0 + w, x0 - w:x1 + w] = 0
    img[y1 - w:y1 + w, x0 - w:x1 + w] = 0
    img[y0 - w:y1 + w, x0 - w:x0 + w] = 0
    img[y0 - w:y1 + w, x1 - w:x1 + w] = 0
    img[y1 - w:y1 + w, 300:304] = (230, 0, 30)           # S/F: bottom middle
    img[y0 - w:y0 + w, 300:304] = (230, 0, 30)           # I1: top middle
    img[y0 - w:y1 + w, x1 - w:x1 + w][148:152] = (230, 0, 30)   # I2: right side, middle
    if gap:
        img[y1 - w:y1 + w, 150:160] = 255                 # a white sub-sector gap on the bottom
    return img


@pytest.mark.parametrize("gap", [False, True])
def test_drawn_map_geometry(gap):
    # driving clockwise on screen from the bottom middle: left, up, right along the top to I1 ...
    cfg = {"marks": {"sf": [0.5, 0.875], "i1": [0.5, 0.125], "i2": [0.917, 0.5]}, "close_px": 8 if gap else 2}
    tr = T.trace_image("drawn", _drawn_map(gap), cfg)
    # perimeter 2*(500+300) = 1600: S1 = 250 + 300 + 250 = 800, S2 = 250 + 150 = 400, S3 = 400
    assert tr.sector_ratios() == pytest.approx([0.5, 0.25, 0.25], abs=0.01)
    x, y = tr.outline[0]
    assert x == pytest.approx(0.5, abs=0.02) and y == pytest.approx(0.6, abs=0.02)   # starts at S/F
    assert tr.outline[5][0] < x                            # then heads left (the marks' order)


def test_bad_pdf_names_the_file(tmp_path):
    bad = tmp_path / "x_Map.pdf"
    bad.write_bytes(b"not a pdf")
    with pytest.raises(T.TraceError, match="x_Map.pdf"):
        T.render_map(bad)
