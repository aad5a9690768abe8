"""Trace a track's centreline and sector boundaries from its official map (a PDF).

All seven official maps (``*_Map.pdf`` beside each track's timing files, and ``maps/``) hold the
circuit as one raster image with the sector marks drawn on it (red ticks at the intermediate timing
lines, a checkered or white mark at the finish line; Barber draws each sector in its own colour), with
turn numbers and labels laid over it. Nothing in them is a vector path of the track, so the tracer works
on the raster: :func:`trace_pdf` renders the map image's area of the page, and

1. segments the track band by colour (dark or saturated pixels; the pit lane's blue and greens are not
   track), bridges the small gaps the map leaves at sub-sector marks by a morphological closing, and keeps
   the largest connected component;
2. skeletonises it (scikit-image), prunes spurs (labels touching the band) and takes the longest cycle of
   the skeleton graph as the centreline, smoothed and resampled evenly by arc length;
3. finds the marks along the centreline (runs of red, runs of white/checkered, changes of the track's
   colour) and snaps each of the three timing lines to the mark nearest the position read off the map
   (``map.marks`` in ``params/tracks/<id>.yaml``: where the map labels S/F, I1 and I2);
4. orients the loop in the direction of travel (S/F, then I1, then I2) and starts it at S/F.

Vector maps (a track drawn as stroked paths) would be read with PyMuPDF's ``get_drawings``; none of the
official maps has one, and :func:`trace_pdf` says so when a page holds no raster map.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

MARK_NAMES = ("sf", "i1", "i2")


class TraceError(ValueError):
    """A map that cannot be traced (names the file and what failed)."""


@dataclass
class Trace:
    track_id: str
    source: str
    outline: np.ndarray                     # (n, 2), normalised into the unit box, y down; starts at S/F
    sector_fractions: list[float]           # arc-length fraction at the start of S2 and S3
    snapped: dict[str, bool] = field(default_factory=dict)   # each timing line found on a map mark?
    band_px: float = 0.0
    image_size: tuple[int, int] = (0, 0)
    origin_px: tuple[float, float] = (0.0, 0.0)   # outline = (pixel x, y - origin_px) / scale_px (map labels)
    scale_px: float = 1.0
    mark_fractions: list[float] = field(default_factory=list)   # every mark found on the centreline (lap fraction)

    def sector_ratios(self) -> list[float]:
        f1, f2 = self.sector_fractions
        return [f1, f2 - f1, 1.0 - f2]


# --------------------------------------------------------------------------- raster

def render_map(pdf: str | Path, page: int = 0, width_px: int = 1600) -> np.ndarray:
    """RGB array of the largest image's area of ``page`` (the map), rendered with what is drawn over it."""
    import pymupdf

    try:
        doc = pymupdf.open(str(pdf))
    except Exception as exc:  # pymupdf raises its own FileDataError etc.
        raise TraceError(f"{pdf}: cannot open as PDF: {exc}") from exc
    if page >= len(doc):
        raise TraceError(f"{pdf}: page {page + 1} requested, the file has {len(doc)}")
    p = doc[page]
    infos = [i for i in p.get_image_info() if i["width"] * i["height"] > 0]
    if not infos:
        n = len(p.get_drawings())
        raise TraceError(f"{pdf}: page {page + 1} holds no raster map ({n} vector drawings); "
                         "vector tracing is not implemented")
    info = max(infos, key=lambda i: i["width"] * i["height"])
    rect = pymupdf.Rect(info["bbox"])
    pix = p.get_pixmap(clip=rect, dpi=max(36, int(round(72 * width_px / rect.width))), alpha=False)
    arr = np.frombuffer(pix.samples, np.uint8).reshape(pix.h, pix.w, pix.n)[..., :3]
    return arr.copy()


def track_mask(rgb: np.ndarray, exclude_hues: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """(track pixels, hsv): dark or saturated pixels whose hue is not in ``exclude_hues`` (saturated only)."""
    from skimage.color import rgb2hsv

    hsv = rgb2hsv(rgb)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    dark = v < 0.40
    sat = (s > 0.40) & (v > 0.35)
    for lo, hi in exclude_hues:
        sat &= ~((h >= lo) & (h <= hi))
    return dark | sat, hsv


def _largest(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage as ndi

    lab, n = ndi.label(mask, structure=np.ones((3, 3)))
    if n == 0:
        return mask
    sizes = ndi.sum(mask, lab, index=np.arange(1, n + 1))
    return lab == (1 + int(np.argmax(sizes)))


def _prune(skel: np.ndarray, rounds: int) -> np.ndarray:
    from scipy import ndimage as ndi

    sk = skel.copy()
    k = np.ones((3, 3), int)
    k[1, 1] = 0
    for _ in range(rounds):
        nb = ndi.convolve(sk.astype(int), k, mode="constant")
        ends = sk & (nb <= 1)
        if not ends.any():
            break
        sk &= ~ends
    return sk


def bridge_gaps(sk: np.ndarray, spur_px: int, bridge_px: float) -> np.ndarray:
    """Join the skeleton's loose ends across the gaps a map leaves in the band (white sub-sector marks):
    spurs shorter than ``spur_px`` are pruned first, then each end is joined to its mutual-nearest end
    within ``bridge_px`` by a straight line."""
    from scipy import ndimage as ndi
    from skimage.draw import line as draw_line

    sk = _prune(sk, spur_px)
    k = np.ones((3, 3), int)
    k[1, 1] = 0
    ends = np.argwhere(sk & (ndi.convolve(sk.astype(int), k, mode="constant") == 1))
    if len(ends) < 2:
        return sk
    d = np.linalg.norm(ends[:, None, :] - ends[None, :, :], axis=2)
    np.fill_diagonal(d, np.inf)
    near = d.argmin(axis=1)
    out = sk.copy()
    for i, j in enumerate(near):
        if near[j] == i and i < j and d[i, j] <= bridge_px:
            rr, cc = draw_line(*ends[i], *ends[j])
            out[rr, cc] = True
    return out


def centreline(band: np.ndarray, bridge_px: float = 0.0, spur_px: int = 0) -> np.ndarray:
    """Ordered (row, col) pixels of the longest cycle of ``band``'s skeleton (its gaps bridged first
    when ``bridge_px`` > 0)."""
    import networkx as nx
    from skimage.morphology import skeletonize

    sk = skeletonize(band)
    if bridge_px > 0:
        sk = bridge_gaps(sk, spur_px, bridge_px)
    sk = _prune(sk, rounds=max(band.shape))
    pts = np.argwhere(sk)
    if len(pts) < 20:
        raise TraceError("no closed track loop in the segmented map")
    index = {tuple(p): i for i, p in enumerate(pts)}
    g = nx.Graph()
    for i, (r, c) in enumerate(pts):
        for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
            j = index.get((r + dr, c + dc))
            if j is None:
                continue
            if dr and dc and ((r + dr, c) in index or (r, c + dc) in index):
                continue          # a diagonal beside a 4-connected path would make a triangle
            g.add_edge(i, j)
    cycles = nx.cycle_basis(g)
    if not cycles:
        raise TraceError("the track's skeleton has no cycle (an open line: a gap in the band?)")
    best = max(cycles, key=len)
    return pts[best].astype(float)


def _smooth_closed(xy: np.ndarray, window: int) -> np.ndarray:
    if window < 2:
        return xy
    k = np.ones(window) / window
    pad = window
    ext = np.concatenate([xy[-pad:], xy, xy[:pad]])
    out = np.column_stack([np.convolve(ext[:, d], k, mode="same") for d in range(2)])
    return out[pad:-pad]


def resample_closed(xy: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points evenly spaced by arc length along the closed polyline, and their arc-length positions."""
    seg = np.linalg.norm(np.diff(np.vstack([xy, xy[:1]]), axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    total = s[-1]
    t = np.linspace(0.0, total, n, endpoint=False)
    closed = np.vstack([xy, xy[:1]])
    out = np.column_stack([np.interp(t, s, closed[:, d]) for d in range(2)])
    return out, t / total


def polyline_fractions(xy: np.ndarray) -> np.ndarray:
    """Arc-length fraction of each vertex of a closed polyline (first vertex at 0)."""
    seg = np.linalg.norm(np.diff(np.vstack([xy, xy[:1]]), axis=0), axis=1)
    return np.concatenate([[0.0], np.cumsum(seg)[:-1]]) / seg.sum()


# --------------------------------------------------------------------------- marks

def mark_candidates(line_rc: np.ndarray, rgb: np.ndarray, hsv: np.ndarray, min_run: int = 2) -> list[int]:
    """Indexes along the ordered centreline where the map marks something: the middle of each run of red
    or of white/checkered pixels, and each change of the track's own colour (hue bucket) between runs."""
    rows = np.clip(np.round(line_rc[:, 0]).astype(int), 0, rgb.shape[0] - 1)
    cols = np.clip(np.round(line_rc[:, 1]).astype(int), 0, rgb.shape[1] - 1)
    h, s, v = (hsv[rows, cols, i] for i in range(3))
    red = (s > 0.5) & (v > 0.35) & ((h < 0.04) | (h > 0.95))
    light = (v > 0.70) & (s < 0.30)
    bucket = np.where(v < 0.40, -1, np.floor(h * 12).astype(int) % 12)   # -1: black track
    cls = np.where(red, 100, np.where(light, 101, bucket))
    n = len(cls)
    # runs on the circular sequence
    start = int(np.argmax(cls != cls[-1])) if (cls != cls[0]).any() else 0
    order = np.roll(np.arange(n), -start)
    runs: list[tuple[int, int, int]] = []         # (class, first index in order, length)
    for k, i in enumerate(order):
        if runs and runs[-1][0] == cls[i]:
            runs[-1] = (runs[-1][0], runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((int(cls[i]), k, 1))
    out = []
    for c, k, ln in runs:
        if c in (100, 101) and ln >= min_run:
            out.append(int(order[(k + ln // 2) % n]))
    track_runs = [(c, k, ln) for c, k, ln in runs if c not in (100, 101) and ln >= 8]
    for (c1, k1, l1), (c2, k2, _) in zip(track_runs, track_runs[1:] + track_runs[:1]):
        if c1 != c2 and c1 >= 0 and c2 >= 0:
            out.append(int(order[k2 % n]))
    return sorted(set(out))


def snap_marks(line_rc: np.ndarray, candidates: list[int], hints_uv: dict[str, list[float]],
               shape: tuple[int, int], radius: float) -> tuple[dict[str, int], dict[str, bool]]:
    """Each timing line's index on the centreline: the candidate mark nearest its hint (u, v fractions of
    the map image) within ``radius`` (fraction of the image width), else the nearest centreline point."""
    hgt, wid = shape
    idx, snapped = {}, {}
    for name in MARK_NAMES:
        u, v = hints_uv[name]
        p = np.array([v * hgt, u * wid])
        d_all = np.linalg.norm(line_rc - p, axis=1)
        cand = [c for c in candidates if d_all[c] <= radius * wid]
        if cand:
            idx[name] = min(cand, key=lambda c: d_all[c])
            snapped[name] = True
        else:
            idx[name] = int(np.argmin(d_all))
            snapped[name] = False
    return idx, snapped


# --------------------------------------------------------------------------- whole trace

def trace_image(track_id: str, rgb: np.ndarray, cfg: dict[str, Any], source: str = "",
                n_points: int | None = None) -> Trace:
    """Trace one map image with its ``map`` settings from params (marks, hues, closing, resolution)."""
    from scipy import ndimage as ndi
    from skimage.morphology import closing, disk

    marks = cfg.get("marks") or {}
    missing = [m for m in MARK_NAMES if m not in marks]
    if missing:
        raise TraceError(f"{track_id}: params map.marks lacks {missing}")
    mask, hsv = track_mask(rgb, [tuple(x) for x in cfg.get("exclude_hues", [[0.22, 0.62]])])
    raw = _largest(mask)
    band_px = float(2.0 * np.median(ndi.distance_transform_edt(raw)[raw & (ndi.distance_transform_edt(raw) >= 1)]))
    close_px = int(cfg.get("close_px", max(2, round(0.8 * band_px))))
    closed = closing(mask, disk(close_px)).astype(bool) if close_px > 0 else mask
    bridge = float(cfg.get("bridge_px", 0))
    if bridge > 0:       # a band broken by gaps: keep every sizeable piece, join their ends
        lab, n = ndi.label(closed, structure=np.ones((3, 3)))
        sizes = ndi.sum(closed, lab, index=np.arange(1, n + 1))
        band = np.isin(lab, 1 + np.flatnonzero(sizes >= 0.02 * sizes.max()))
    else:
        band = _largest(closed)
    line = centreline(band, bridge, int(round(3 * band_px)))
    smooth = _smooth_closed(line, int(cfg.get("smooth_px", max(3, round(band_px)))))
    candidates = mark_candidates(line, rgb, hsv)
    idx, snapped = snap_marks(line, candidates, marks, rgb.shape[:2], float(cfg.get("snap_radius", 0.035)))
    frac = polyline_fractions(smooth)
    f = {k: frac[i] for k, i in idx.items()}
    # travel direction: S/F -> I1 -> I2 with increasing fraction (mod 1); else reverse the loop
    a, b = (f["i1"] - f["sf"]) % 1.0, (f["i2"] - f["sf"]) % 1.0
    if a > b:
        smooth = smooth[::-1].copy()
        idx = {k: len(smooth) - 1 - i for k, i in idx.items()}
        candidates = [len(smooth) - 1 - i for i in candidates]
    smooth = np.roll(smooth, -idx["sf"], axis=0)
    candidates = sorted((i - idx["sf"]) % len(smooth) for i in candidates)
    idx = {k: (i - idx["sf"]) % len(smooth) for k, i in idx.items()}
    frac = polyline_fractions(smooth)
    fractions = [float(frac[idx["i1"]]), float(frac[idx["i2"]])]
    pts, _ = resample_closed(smooth, int(n_points or cfg.get("points", 240)))
    xy = pts[:, ::-1]                              # (row, col) -> (x, y), y down as in SVG
    origin = xy.min(axis=0)
    xy = xy - origin
    scale = float(xy.max())
    xy = xy / scale
    return Trace(track_id=track_id, source=source, outline=xy, sector_fractions=fractions, snapped=snapped,
                 band_px=band_px, image_size=(rgb.shape[1], rgb.shape[0]),
                 origin_px=(float(origin[0]), float(origin[1])), scale_px=scale,
                 mark_fractions=[float(frac[i]) for i in candidates])


def find_map(trd_root: str | Path, pattern: str) -> Path:
    root = Path(trd_root)
    hits = sorted(p for p in root.glob(pattern) if p.is_file())
    if not hits:
        raise TraceError(f"{root}: no map matches {pattern!r}")
    return hits[0]


def trace_track(track_id: str, track_params: dict[str, Any], trd_root: str | Path) -> Trace:
    cfg = track_params.get("map") or {}
    if not cfg.get("pdf"):
        raise TraceError(f"{track_id}: params/tracks/{track_id}.yaml has no map.pdf")
    pdf = find_map(trd_root, cfg["pdf"])
    rgb = render_map(pdf, int(cfg.get("page", 1)) - 1, int(cfg.get("width_px", 1200)))
    return trace_image(track_id, rgb, cfg, source=f"{pdf.relative_to(Path(trd_root))} page {cfg.get('page', 1)}")


def ratio_errors(trace: Trace, sector_lengths_m: list[float]) -> list[float]:
    """Traced minus official sector share of the lap, per sector (fractions of the lap)."""
    off = np.asarray(sector_lengths_m, float)
    off = off / off.sum()
    return [float(t - o) for t, o in zip(trace.sector_ratios(), off)]


# --------------------------------------------------------------------------- params file

MARKER = "# --- traced outline: written by scripts/trace_tracks.py from the official map; do not edit below ---"


def outline_yaml(trace: Trace, decimals: int = 4) -> str:
    pts = ", ".join(f"[{x:.{decimals}f}, {y:.{decimals}f}]" for x, y in trace.outline)
    fr = ", ".join(f"{f:.4f}" for f in trace.sector_fractions)
    snapped = ", ".join(f"{k}: {str(v).lower()}" for k, v in trace.snapped.items())
    return (f"{MARKER}\n"
            f"# source: {trace.source}; timing lines snapped to a map mark: {{{snapped}}}\n"
            f"sector_fractions: [{fr}]   # arc-length fraction of the outline where S2 and S3 start\n"
            f"outline: [{pts}]\n")


def write_outline(path: str | Path, trace: Trace) -> None:
    """Replace the traced block at the end of a track's params file (everything above it is kept)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    head = text.split(MARKER, 1)[0].rstrip("\n")
    path.write_text(head + "\n\n" + outline_yaml(trace), encoding="utf-8")
