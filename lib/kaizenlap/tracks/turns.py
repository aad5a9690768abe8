"""Place a track's official turns on the lap-distance axis from its official map (issue 20, item 2).

The official maps (``map.pdf`` in ``params/tracks/<id>.yaml``) print each turn's number beside the track: as text
on COTA's, Sonoma's, VIR's, Sebring's and Road America's maps (PyMuPDF's text layer gives each number's box), as
part of the raster on Indianapolis's (the numbers' positions are read off the map by eye and written in params,
``map.turn_labels``). Barber's map prints none. :func:`place` projects the labels, in turn order, onto the traced
centreline (:mod:`.trace`): the order-preserving assignment of each label to an outline point that minimises the
summed label-to-track distance (a label is printed beside its corner; where two stretches of track run close,
the order decides which), and turns the point's arc-length fraction into metres from the S/F line piecewise
between the timing lines (``sector_fractions`` of the trace -> ``sector_lengths_m``), so a turn lies in the
sector the map draws it in. The distances are estimates: the label's offset from the apex is unknown (a few
tens of metres), checked against the outline's curvature peaks (``corners``) by :func:`nearest_corner_m`.
Pure functions, except :func:`text_labels` (reads a PDF).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kaizenlap.core import params

TURN_RE = re.compile(r"^(\d+)([A-Za-z]?)$")


@dataclass
class Placed:
    number: str             # as the map prints it: "7", "12a", "3A"
    fraction: float         # arc-length fraction of the outline from the S/F line
    distance_m: float       # metres from the S/F line (piecewise by the timing lines)
    offset_m: float         # the label's distance from the traced centreline, in metres of track


def turn_key(number: str) -> tuple[int, str]:
    """Sort key of a turn number: 3 < 3A < 4; 12 < 12a < 14."""
    m = TURN_RE.match(str(number).strip())
    if not m:
        raise ValueError(f"not a turn number: {number!r}")
    return int(m.group(1)), m.group(2).lower()


def text_labels(pdf: str | Path, page: int = 0) -> list[tuple[str, float, float]]:
    """``[(text, u, v)]``: every turn number (digits, optionally one letter) in ``page``'s text layer that lies on
    the map image (or overhangs its edge by up to 5%), at its box's centre as fractions of the largest image's
    width and height (the area the tracer renders, :func:`.trace.render_map`)."""
    import pymupdf

    doc = pymupdf.open(str(pdf))
    p = doc[page]
    infos = [i for i in p.get_image_info() if i["width"] * i["height"] > 0]
    if not infos:
        return []
    r = pymupdf.Rect(max(infos, key=lambda i: i["width"] * i["height"])["bbox"])
    out = []
    for x0, y0, x1, y1, text, *_ in p.get_text("words"):
        u, v = ((x0 + x1) / 2 - r.x0) / r.width, ((y0 + y1) / 2 - r.y0) / r.height
        if TURN_RE.match(text) and -0.05 <= u <= 1.05 and -0.05 <= v <= 1.05:     # a label may overhang
            out.append((text, float(u), float(v)))
    return out


def to_outline(uv: np.ndarray, image_size: tuple[int, int], origin_px: tuple[float, float],
               scale_px: float) -> np.ndarray:
    """Image fractions ``(u, v)`` -> the normalised outline's coordinates (the tracer's transform)."""
    uv = np.asarray(uv, float).reshape(-1, 2)
    px = uv * np.asarray(image_size, float)
    return (px - np.asarray(origin_px, float)) / float(scale_px)


def fraction_to_m(frac: np.ndarray | float, sector_fractions: list[float], sector_lengths_m: list[float]):
    """Arc-length fraction (0 at S/F) -> metres from the S/F line, linear within each sector between the traced
    timing lines and the official sector lengths."""
    xp = [0.0, float(sector_fractions[0]), float(sector_fractions[1]), 1.0]
    fp = np.cumsum([0.0, *map(float, sector_lengths_m)])
    return np.interp(frac, xp, fp)


def _dense(outline: np.ndarray, per: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """The closed outline resampled ``per`` times finer, with each point's arc-length fraction."""
    closed = np.vstack([outline, outline[:1]])
    seg = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.linspace(0.0, s[-1], len(outline) * per, endpoint=False)
    pts = np.column_stack([np.interp(t, s, closed[:, d]) for d in range(2)])
    return pts, t / s[-1]


def assign_in_order(points: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Indexes ``j_1 <= j_2 <= ...`` into ``line`` (ordered, not wrapping) minimising the summed distance from
    each point to its line point: the labels in turn order follow the lap (dynamic programming, O(K N))."""
    d = np.linalg.norm(points[:, None, :] - line[None, :, :], axis=2)       # (K, N)
    k, n = d.shape
    cost = d[0].copy()
    back = np.zeros((k, n), int)
    for i in range(1, k):
        best_prev = np.minimum.accumulate(cost)
        arg = np.zeros(n, int)
        run = 0
        for j in range(n):                       # index of the running minimum
            if cost[j] < cost[run]:
                run = j
            arg[j] = run
        cost = best_prev + d[i]
        back[i] = arg
    j = int(np.argmin(cost))
    out = [j]
    for i in range(k - 1, 0, -1):
        j = int(back[i, j])
        out.append(j)
    return np.array(out[::-1])


def place(labels: list[tuple[str, float, float]], outline: np.ndarray, image_size: tuple[int, int],
          origin_px: tuple[float, float], scale_px: float, sector_fractions: list[float],
          sector_lengths_m: list[float]) -> list[Placed]:
    """Each label (``(number, u, v)``, any order) placed on the lap: see the module doc."""
    labels = sorted(labels, key=lambda x: turn_key(x[0]))
    pts = to_outline(np.array([[u, v] for _, u, v in labels]), image_size, origin_px, scale_px)
    line, frac = _dense(np.asarray(outline, float))
    idx = assign_in_order(pts, line)
    length = float(sum(sector_lengths_m))
    perim = float(np.linalg.norm(np.diff(np.vstack([outline, outline[:1]]), axis=0), axis=1).sum())
    out = []
    for (num, _, _), p, j in zip(labels, pts, idx):
        f = float(frac[j])
        out.append(Placed(number=num, fraction=f, distance_m=float(fraction_to_m(f, sector_fractions,
                                                                                    sector_lengths_m)),
                          offset_m=float(np.linalg.norm(p - line[j]) / perim * length)))
    return out


def nearest_corner_m(distance_m: float, corners: list[dict], length_m: float) -> float:
    """Signed metres from ``distance_m`` to the nearest curvature peak of ``corners`` (around the lap)."""
    if not corners:
        return float("nan")
    c = np.array([float(x["distance_m"]) for x in corners])
    d = (c - distance_m + length_m / 2) % length_m - length_m / 2
    return float(d[np.argmin(np.abs(d))])


def heading_change_deg(outline: np.ndarray, fraction: float, window: float, chords: int = 8) -> float:
    """The outline's heading change (degrees) from ``fraction - window`` to ``fraction + window`` (arc-length
    fractions): the sum of the signed turns between ``chords`` successive chords across the window (robust to
    the polyline's pixel steps, and past 180 deg for a hairpin); positive = clockwise on the map (y down) = a
    right-hander in the direction of travel."""
    line, frac = _dense(np.asarray(outline, float))
    n = len(line)
    idx = [int(round((f % 1.0) * n)) % n for f in np.linspace(fraction - window, fraction + window, chords + 1)]
    v = np.diff(line[idx], axis=0)
    cross = v[:-1, 0] * v[1:, 1] - v[:-1, 1] * v[1:, 0]
    dot = (v[:-1] * v[1:]).sum(axis=1)
    return float(np.degrees(np.arctan2(cross, dot).sum()))


def bends(outline: np.ndarray, sector_fractions: list[float], sector_lengths_m: list[float],
          window_m: float = 40.0, min_deg: float = 15.0, step_m: float = 5.0,
          apart_m: float = 30.0) -> list[tuple[float, str, float]]:
    """The outline's bends in lap order: ``[(metres from the S/F line, 'L' | 'R', degrees)]``. The heading
    change over ``+-window_m`` (:func:`heading_change_deg`, R positive) is sampled every ``step_m``; a bend is a
    sample of at least ``min_deg`` that is the extreme of its sign within ``+-apart_m`` (a long arc can give
    two); adjacent such samples (a plateau: a sharp or constant-radius corner) are one bend, at their middle,
    also across the S/F line. Metres piecewise by the timing lines, as :func:`fraction_to_m`. Used where a
    track's official turns are not placed (Barber) to compare the published turn lists with the outline."""
    length = float(sum(sector_lengths_m))
    fp = np.cumsum([0.0, *map(float, sector_lengths_m)])
    xp = [0.0, *map(float, sector_fractions), 1.0]
    ds = np.arange(0.0, length, step_m)
    n = len(ds)
    a = np.round([heading_change_deg(outline, float(np.interp(d, fp, xp)), window_m / length) for d in ds], 6)
    k = max(1, int(round(apart_m / step_m)))
    peak = [abs(a[i]) >= min_deg and a[i] == (max if a[i] > 0 else min)(a[[(i + j) % n for j in range(-k, k + 1)]])
            for i in range(n)]
    groups: list[list[int]] = []                 # runs of adjacent peak samples of one sign
    for i in range(n):
        if peak[i]:
            if groups and groups[-1][-1] == i - 1 and np.sign(a[i]) == np.sign(a[i - 1]):
                groups[-1].append(i)
            else:
                groups.append([i])
    if len(groups) > 1 and groups[0][0] == 0 and groups[-1][-1] == n - 1 and np.sign(a[0]) == np.sign(a[-1]):
        groups[0] = [i - n for i in groups.pop()] + groups[0]      # one bend across the S/F line
    out = []
    for g in groups:
        d = float(np.mean([ds[i % n] - (length if i < 0 else 0.0) for i in g]) % length)
        deg = float(np.abs(a[[i % n for i in g]]).max())
        out.append((d, "R" if a[g[0] % n] > 0 else "L", deg))
    return sorted(out)


def place_lines(hints: list[tuple[float, float]], outline: np.ndarray, image_size: tuple[int, int],
                origin_px: tuple[float, float], scale_px: float, mark_fractions: list[float],
                sector_fractions: list[float], sector_lengths_m: list[float],
                snap_px: float) -> list[tuple[float, bool]]:
    """Each sub-section line ``(u, v)`` read off the map: ``(metres from the S/F line, snapped)``, the outline
    point nearest the hint, moved to the nearest mark the tracer found on the centreline (a white or red tick,
    :func:`.trace.mark_candidates`) within ``snap_px`` pixels of the map image (``snapped``), else kept."""
    line, frac = _dense(np.asarray(outline, float))
    marks = np.asarray(mark_fractions, float)
    out = []
    for p in to_outline(np.asarray(hints, float), image_size, origin_px, scale_px):
        j = int(np.argmin(np.linalg.norm(line - p, axis=1)))
        f, snapped = float(frac[j]), False
        if len(marks):
            pts = np.array([line[int(np.argmin(np.abs(frac - m)))] for m in marks])
            k = int(np.argmin(np.linalg.norm(pts - p, axis=1)))
            if np.linalg.norm(pts[k] - p) * scale_px <= snap_px:
                f, snapped = float(marks[k]), True
        out.append((float(fraction_to_m(f, sector_fractions, sector_lengths_m)), snapped))
    return out


# --------------------------------------------------------------------------- sections in turns

SECTORS = ("s1", "s2", "s3")
SUBS_OF_SECTOR = {"s1": ("im1a", "im1"), "s2": ("im2a", "im2"), "s3": ("im3a", "fl")}
MAX_NAMES = 3


def official_turns(track: dict) -> list[dict]:
    """``[{number, distance_m, name?, direction?}]`` of a track's params (``turns``, names from
    ``turns_published.names``), in lap order; empty where the track has none placed."""
    names = {str(k).lower(): str(v) for k, v in ((track.get("turns_published") or {}).get("names") or {}).items()}
    out = []
    for t in track.get("turns") or []:
        n = str(t["number"])
        out.append({"number": n, "distance_m": float(t["distance_m"]),
                    **({"name": names[n.lower()]} if n.lower() in names else {}),
                    **({"direction": t["direction"]} if t.get("direction") else {})})
    return sorted(out, key=lambda x: x["distance_m"])


def section_turns(track: dict) -> dict[str, list[dict]]:
    """Section (``s1``..``s3``, ``im1a``..``fl``) -> its official turns, by distance between the timing lines:
    the sector lines from ``sector_lengths_m``, the sub-section lines from ``subsection_lines_m`` (a track
    without them gets its sectors only). Empty where the track has no turns placed."""
    turns = official_turns(track)
    lengths = track.get("sector_lengths_m")
    if not turns or not lengths:
        return {}
    edges = np.cumsum([0.0, *map(float, lengths)])
    out: dict[str, list[dict]] = {}
    for i, s in enumerate(SECTORS):
        out[s] = [t for t in turns if edges[i] <= t["distance_m"] < edges[i + 1]]
    lines = track.get("subsection_lines_m")
    if lines and len(lines) == 3:
        for i, s in enumerate(SECTORS):
            first, second = SUBS_OF_SECTOR[s]
            out[first] = [t for t in out[s] if t["distance_m"] < float(lines[i])]
            out[second] = [t for t in out[s] if t["distance_m"] >= float(lines[i])]
    return out


def names() -> dict:
    """The words sections are named with (params/coaching.yaml ``section_names``)."""
    return params.load("coaching")["section_names"]


def turns_text(turns: list[dict]) -> str:
    """``Turn 5``, ``Turns 1–4``, ``Turns 9–11, Carousel, The Kink`` (names once each, at most three);
    ``no numbered turn`` for none (the words: :func:`names`)."""
    w = names()
    if not turns:
        return w["no_turn"]
    nums = [t["number"] for t in turns]
    text = w["turn"].format(n=nums[0]) if len(nums) == 1 else w["turns"].format(first=nums[0], last=nums[-1])
    named: list[str] = []
    for t in turns:
        if t.get("name") and t["name"] not in named:
            named.append(t["name"])
    return ", ".join([text, *named[:MAX_NAMES]])


def section_labels(track: dict) -> dict[str, str]:
    """Section -> how a race engineer names it: ``IM1A (Turns 1–4)``, ``S3 (Turns 12–14, Canada Corner)``;
    a sub-section of a track without sub-section lines: ``IM1A (first part of S1: Turns 1–6)``. Empty where
    the track has no official turns placed (the caller keeps its own wording)."""
    by = section_turns(track)
    if not by:
        return {}
    w = names()
    out = {}
    for s in SECTORS:
        out[s] = w["in_turns"].format(code=s.upper(), turns=turns_text(by[s]))
        for part, sub in zip(w["parts"], SUBS_OF_SECTOR[s]):
            out[sub] = (w["in_turns"].format(code=sub.upper(), turns=turns_text(by[sub])) if sub in by
                        else w["sub_in_sector_turns"].format(code=sub.upper(), part=part, sector=s.upper(),
                                                             turns=turns_text(by[s])))
    return out
