"""Synthetic car telemetry for the sample season (issue 22, item 2), in the TRD telemetry file's exact format.

:func:`write_telemetry` (called by :func:`kaizenlap.sample.write_season` after the timing files are written)
writes ``R{n}_{track}_telemetry_data.csv`` beside the timing files of the races in :data:`RACES` (a folder's
file, or a member appended to the track's zip) and puts each race's driving truth under its ``telemetry`` key
of ``ground_truth.json``. Nothing is copied from real rows; the format facts come from the real 10,000-row
sample (docs/DATA_REFERENCE.md 4.9):

* long rows ``expire_at, lap, meta_event, meta_session, meta_source, meta_time, original_vehicle_id, outing,
  telemetry_name, telemetry_value, timestamp, vehicle_id, vehicle_number``; values printed as the real file
  prints them (``0.34600000000000003``: an integer count of the channel's step as a double);
* the rate mix of the real sample: pedals, brakes, gear, accelerations, steering and GPS on every tick (42-45 ms
  apart), speed on every 5th tick and nmot / lap distance on another (~215 ms); the brief's "20 ms / 100 ms"
  would double the rows and the real file (1.5 GB a race) matches 43 ms, so :data:`TICK_MS` keeps the real one;
* the ECU ``timestamp`` :data:`ECU_BEHIND_MS` (~42.2 h) behind ``meta_time`` (meta batches of 2-5 ticks, ticks
  newest first inside a batch, as in the real file); the car-side ``lap`` counter is the timing lap plus the
  car's ``ecu_lap_offset`` (as in the lap-event files);
* ``aps`` (pedal) at every track but :data:`THROTTLE` (``ath``, the throttle blade); GPS (``VBOX_Lat_Min``,
  ``VBOX_Long_Minutes``) and ``Laptrigger_lapdist_dls`` only at :data:`GPS` tracks (barber, indianapolis).

The vehicle model runs along the lap distance s (1 m grid): per corner (``params/tracks/*.yaml: corners``) a
minimum speed at the apex; before it braking at a constant deceleration D (tapering linearly to 0 over the
last :data:`TAPER_M` metres: trail braking) from the brake point where the braking curve meets the
acceleration curve; after it a maintenance phase (throttle :data:`MAINT_PCT`) to the throttle pick-up point,
then full throttle ``d(v^2)/ds = 2 A (1 - v^2 / V^2)``. The speed is the lowest of every corner's curves (the
brake point is where the braking curve takes over). Each lap's profile then takes the lap's six recorded
sub-section times (``subsection_ms`` of the race's truth, the timing files' IM1a ... FL) between the timing lines
(:func:`timing_lines`): speed ``v0(s) / w(s)``, ``w`` one time multiplier per sub-section blended linearly across
each inner line over :data:`RAMP_M` (:func:`pace_basis`), solved exactly (:func:`section_weights`: each
sub-section's time is linear in the multipliers); without sub-section times (:func:`write_big`) one factor to the
lap time. A scaled profile keeps its distances (brake points, pick-ups). The timing generator's base sub-section
times are this model's nominal lap (:func:`base_subsections`), so timing and telemetry share one geometry and the
multipliers stay near the car's pace. Per car: min speeds from the car's pace and a per-corner skill, D and
pick-up per corner; per lap small noise on each. The truth records, per car and corner, the nominal brake point,
min speed and pick-up, and per lap every measured quantity (:data:`LAP_COLUMNS`) computed on the generator's own
1 m profile, with the lap's sub-section times and multipliers.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kaizenlap.core import params
from kaizenlap.tracks.trace import _smooth_closed, resample_closed

# ----------------------------------------------------------------------------- what is written where
# (track, race) -> how many cars, and how many complete consecutive green laps each (plus ~4 s of the laps on
# either side, so the file starts and ends mid-lap as a real one does). Sized for `make sample`: the plain
# barber file ~12 MB, the vir member deflated ~7 MB; every other race has no telemetry.
RACES: dict[tuple[str, int], dict[str, int]] = {("barber", 1): {"cars": 2, "laps": 2},
                                                  ("vir", 1): {"cars": 5, "laps": 7}}
THROTTLE = {"vir": "ath"}                     # tracks logging the throttle blade (ath) instead of the pedal (aps)
GPS = {"barber": (33.5315, -86.6200), "indianapolis": (39.7950, -86.2350)}   # outline centre, degrees
TICK_MS = (42, 43, 43, 44, 45)                # spacing of the fast channels' ticks (the real sample: 42-45 ms)
SLOW_EVERY = 5                                # speed on every 5th tick, nmot / lap distance on another
ECU_BEHIND_MS = 151_941_000                   # 42 h 12 min 21 s: meta_time - timestamp, before the batch delay
EDGE_S = 4.0                                  # telemetry before the first and after the last complete lap
SOURCE = "kafka:gr-raw"

# ----------------------------------------------------------------------------- vehicle model
G = 9.81
LAT_G = 1.25            # corner speed from the outline's radius: v = sqrt(LAT_G g R)
V_CORNER = (16.0, 42.0)  # m/s bounds of a corner's minimum speed
A_FULL = 4.6            # m/s^2 full-throttle acceleration at low speed
V_TOP = 62.0            # m/s asymptotic top speed
DECEL = 10.5            # m/s^2 braking deceleration
TAPER_M = 30.0          # trail braking: the deceleration falls linearly to 0 over the last metres to the apex
A_MAINT = 0.8           # m/s^2 reached at the pick-up point on the maintenance throttle
MAINT_PCT = 12.0        # maintenance throttle between apex and pick-up
PICKUP_M = 25.0         # nominal pick-up point after the apex
THROTTLE_RAMP_S = 0.15  # throttle from maintenance to 100% after the pick-up point
BRAKE_RAMP_S = 0.06     # brake pressure rise at the brake point
BAR_PER_MS2 = 5.5       # front brake pressure per m/s^2 of deceleration
REAR_SHARE = 0.96
EXIT_M = 100.0          # exit speed: at apex + EXIT_M (or the corner's segment end, if nearer)
GEARS = (3.626, 2.188, 1.541, 1.213, 1.000, 0.767)
FINAL_DRIVE, WHEEL_R = 4.1, 0.316
WHEELBASE, STEER_RATIO = 2.575, 13.5
STEP_M = 1.0
RAMP_M = 60.0          # the pace of two timing sections blends linearly over this many metres across their line
LAP_COLUMNS = ("brake_m", "min_kph", "min_m", "pickup_m", "exit_kph", "segment_s")


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng([int(k) for k in key])


# ----------------------------------------------------------------------------- track geometry

class Track:
    """A track's 1 m distance grid, its outline in metres (x east, y south), curvature and corners."""

    def __init__(self, track: dict) -> None:
        self.id = track["track_id"]
        self.L = float(track["length_m"])
        self.R = float(track["reference_lap_s"])
        n = int(np.ceil(self.L / STEP_M))
        self.s = np.arange(n) * (self.L / n)
        xy = np.asarray(track["outline"], float)
        per = np.linalg.norm(np.diff(np.vstack([xy, xy[:1]]), axis=0), axis=1).sum()
        pts, _ = resample_closed(xy, n)
        self.xy = _smooth_closed(pts * (self.L / per), 9)
        d = np.roll(self.xy, -1, 0) - np.roll(self.xy, 1, 0)
        h = np.unwrap(np.arctan2(d[:, 1], d[:, 0]))
        w = max(1, int(round(10 / (self.L / n))))
        turn = h[-1] - h[0] + (h[1] - h[0])
        hh = np.concatenate([h[-w:] - turn, h, h[:w] + turn])
        k = (hh[2 * w:] - hh[:-2 * w]) / (2 * w * (self.L / n))
        self.kappa = np.convolve(np.concatenate([k[-10:], k, k[:10]]), np.ones(11) / 11, "same")[10:-10]
        corners = track.get("corners") or []
        self.names = [str(c["name"]) for c in corners]
        self.apex = np.array([float(c["distance_m"]) for c in corners])
        self.bounds = corner_bounds(self.apex, self.L)
        radius = np.array([1 / max(np.abs(self.kappa[self._near(a, 20)]).max(), 1e-4) for a in self.apex])
        self.v_base = np.clip(np.sqrt(LAT_G * G * radius), *V_CORNER)

    def _near(self, a: float, half: float) -> np.ndarray:
        i = np.arange(int((a - half) / STEP_M), int((a + half) / STEP_M) + 1)
        return i % len(self.s)


def corner_bounds(apex: np.ndarray, length: float) -> np.ndarray:
    """The corners' segments: corner i owns [b[i], b[i+1]), b[0] = 0, b[n] = the lap length, the inner bounds
    midway between consecutive apexes. The engine's per-corner time deltas use the same definition."""
    apex = np.asarray(apex, float)
    if len(apex) == 0:
        return np.array([0.0, length])
    return np.concatenate([[0.0], (apex[:-1] + apex[1:]) / 2, [length]])


# ----------------------------------------------------------------------------- one lap's speed profile

def _curves(tr: Track, vmin: np.ndarray, decel: np.ndarray, pickup: np.ndarray, v_top: float, a_full: float):
    """v^2 of every corner's forward (maintenance + full throttle) and braking curve on the grid; shape
    (2 * corners, grid)."""
    s = tr.s
    x = (s[None, :] - tr.apex[:, None]) % tr.L                      # metres after each apex
    y = (tr.apex[:, None] - s[None, :]) % tr.L                      # metres before each apex
    vm2 = (vmin ** 2)[:, None]
    p = pickup[:, None]
    v0 = vm2 + A_MAINT * p
    fwd = np.where(x <= p, vm2 + A_MAINT * x ** 2 / p,
                   v_top ** 2 - (v_top ** 2 - v0) * np.exp(-2 * a_full * (x - p) / v_top ** 2))
    D = decel[:, None]
    brk = np.where(y <= TAPER_M, vm2 + D * y ** 2 / TAPER_M, vm2 + D * TAPER_M + 2 * D * (y - TAPER_M))
    return fwd, brk, x, y


def feasible(tr: Track, vmin: np.ndarray, decel: np.ndarray, pickup: np.ndarray, v_top: float,
             a_full: float) -> np.ndarray:
    """Lower the corners' minimum speeds until every corner brakes (the curve from the previous corner is at
    least 12% faster at the apex) and its minimum is at its apex (the next corner's braking curve stays 2%
    above it)."""
    vmin = vmin.copy()
    n = len(vmin)
    for _ in range(4):
        fwd, brk, _, _ = _curves(tr, vmin, decel, pickup, v_top, a_full)
        idx = np.clip(np.round(tr.apex / (tr.L / len(tr.s))).astype(int), 0, len(tr.s) - 1)
        changed = False
        for i in range(n):
            j = idx[i]
            prev_fwd = np.sqrt(fwd[(i - 1) % n, j]) if n > 1 else v_top
            next_brk = np.sqrt(brk[(i + 1) % n, j]) if n > 1 else v_top
            cap = min(prev_fwd / 1.12, next_brk / 1.02)
            if vmin[i] > cap:
                vmin[i] = cap
                changed = True
        if not changed:
            break
    return vmin


def _grid_time(tr: Track, inv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Time from the line (s) at every grid point and at the lap's end, from 1 / speed on the grid (trapezoid,
    the closing step from the last grid point back to the line); ``inv`` may hold several rows."""
    ds = tr.L / len(tr.s)
    t = np.concatenate([np.zeros(inv.shape[:-1] + (1,)), np.cumsum((inv[..., :-1] + inv[..., 1:]) / 2 * ds, -1)], -1)
    return t, t[..., -1] + (inv[..., -1] + inv[..., 0]) / 2 * ds


def timing_lines(track: dict, split) -> np.ndarray | None:
    """The lap's timing lines, m from the S/F line: 0, the end of IM1a, the start of S2, the end of IM2a, the
    start of S3, the end of IM3a, the lap length. The sector lines are the telemetry engine's
    (``engines.telemetry.sector_lines``: the cumulative ``sector_lengths_m`` scaled to ``length_m``); each
    sector's sub-section line at the fraction ``split[i]`` of its length. None without three sector lengths."""
    lengths = track.get("sector_lengths_m")
    if not lengths or len(lengths) != 3:
        return None
    L = float(track["length_m"])
    edges = np.concatenate([[0.0], np.cumsum(np.asarray(lengths, float))]) * L / float(np.sum(lengths))
    out = []
    for i in range(3):
        out += [edges[i], edges[i] + float(split[i]) * (edges[i + 1] - edges[i])]
    return np.array(out + [L])


def pace_basis(tr: Track, lines: np.ndarray) -> np.ndarray:
    """(sections, grid): the weight of each timing section's pace at every grid point, a partition of unity: 1
    inside section j, moving linearly to the next section's over :data:`RAMP_M` metres centred on each inner
    line (the speed does not jump at a timing line); no ramp at the S/F line (each lap is its own profile)."""
    n = len(lines) - 1
    s = tr.s
    phi = np.ones((n, len(s)))
    for j in range(n):
        if j > 0:
            phi[j] *= np.clip((s - (lines[j] - RAMP_M / 2)) / RAMP_M, 0, 1)
        if j < n - 1:
            phi[j] *= np.clip(((lines[j + 1] + RAMP_M / 2) - s) / RAMP_M, 0, 1)
    return phi


def section_weights(tr: Track, v0: np.ndarray, basis: np.ndarray, lines: np.ndarray,
                    targets: np.ndarray) -> np.ndarray:
    """The time multipliers ``w`` (one per timing section) with which the profile ``v0`` (m/s on the grid) takes
    ``targets`` (s) between consecutive ``lines``: speed ``v0 / w(s)``, ``w(s) = sum_j w_j basis_j(s)``. The time
    between two lines is linear in ``w`` (``A w``, ``A[j, i]`` the time of ``basis_i / v0`` between lines j and
    j + 1, on the grid as :func:`_grid_time` integrates it), so ``w = A^-1 targets`` exactly."""
    return np.linalg.solve(section_matrix(tr, v0, basis, lines), np.asarray(targets, float))


def section_matrix(tr: Track, v0: np.ndarray, basis: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """``A[j, i]``: the time of ``basis_i / v0`` between ``lines[j]`` and ``lines[j + 1]`` (:func:`section_weights`)."""
    t, total = _grid_time(tr, basis / v0[None, :])
    s_at = np.append(tr.s, tr.L)
    at = np.array([np.interp(lines, s_at, np.append(ti, tt)) for ti, tt in zip(t, total)])   # (basis, lines)
    return np.diff(at, axis=1).T


def times_at(tr: Track, prof: dict, x: np.ndarray) -> np.ndarray:
    """A profile's time from the line (s) at distances ``x`` (m; linear between grid points)."""
    return np.interp(np.asarray(x, float), np.append(tr.s, tr.L), np.append(prof["t"], prof["total"]))


def envelope(tr: Track, vmin, decel, pickup, v_top: float = V_TOP, a_full: float = A_FULL) -> dict:
    """The unscaled speed profile (``v0``, m/s on the grid) and what does not change when it is scaled: which
    curve holds at each point, the braking deceleration (m/s^2), the brake points (m) where each braking curve
    takes over, the distance after each corner's apex and its pick-up."""
    decel = np.asarray(decel, float)
    pickup = np.asarray(pickup, float)
    fwd, brk, x, y = _curves(tr, np.asarray(vmin, float), decel, pickup, v_top, a_full)
    allc = np.concatenate([fwd, brk])
    which = np.argmin(allc, axis=0)
    cols = np.arange(len(tr.s))
    v0 = np.sqrt(allc[which, cols])
    n = len(tr.apex)
    ds = tr.L / len(tr.s)
    braking = which >= n
    ci = np.where(braking, which - n, which)
    dec = np.where(braking, np.where(y[ci, cols] <= TAPER_M, decel[ci] * y[ci, cols] / TAPER_M, decel[ci]), 0.0)
    starts = np.flatnonzero(braking & ~np.roll(braking, 1))
    points = []
    for j in starts:
        g0 = allc[which[j], j - 1] - allc[which[j - 1], j - 1]
        g1 = allc[which[j], j] - allc[which[j - 1], j]
        points.append(tr.s[j - 1] + ds * (g0 / (g0 - g1) if g0 > g1 else 1.0) - (tr.L if j == 0 else 0.0))
    return {"v0": v0, "braking": braking, "decel": dec, "starts": starts, "brake_points": np.array(points),
            "after_apex": x[ci, cols], "pickup_at": pickup[ci], "total0": float(_grid_time(tr, 1 / v0)[1])}


def finish_profile(tr: Track, env: dict, w_s: np.ndarray) -> dict[str, np.ndarray]:
    """The profile ``env`` (:func:`envelope`) with its speeds divided by ``w_s`` (the time multiplier at each
    grid point): time from the line, throttle (%), front brake (bar; the deceleration scales as speed^2),
    longitudinal acceleration (m/s^2)."""
    ds = tr.L / len(tr.s)
    v = env["v0"] / w_s
    t, total = _grid_time(tr, 1 / v)
    pressure = BAR_PER_MS2 * env["decel"] / w_s ** 2
    for j, bp in zip(env["starts"], env["brake_points"]):     # the pressure rises over BRAKE_RAMP_S from each
        ramp_m = max(v[j] * BRAKE_RAMP_S, ds)
        k = np.arange(j, j + int(ramp_m / ds) + 2) % len(v)
        pressure[k] *= np.clip(((tr.s[j] + np.arange(len(k)) * ds) - bp) / ramp_m, 0, 1)
    xa, pk = env["after_apex"], env["pickup_at"]
    ramp = np.maximum(v * THROTTLE_RAMP_S, ds)
    throttle = np.where(env["braking"], 0.0, np.where(
        xa <= pk, MAINT_PCT, np.minimum(100.0, MAINT_PCT + (100 - MAINT_PCT) * (xa - pk) / ramp)))
    acc = np.gradient(v ** 2 / 2, ds)
    return {"v": v, "t": t, "total": float(total), "scale": env["total0"] / float(total), "throttle": throttle,
            "brake": pressure, "acc": acc, "braking": env["braking"], "brake_points": env["brake_points"],
            "w": w_s}


def lap_profile(tr: Track, vmin, decel, pickup, lap_time_s: float | None = None, v_top: float = V_TOP,
                a_full: float = A_FULL, sections: tuple | None = None) -> dict[str, np.ndarray]:
    """One lap on the 1 m grid: speed (m/s), time from the line (s), throttle (%), front brake (bar),
    longitudinal acceleration (m/s^2). Scaled so the lap takes ``lap_time_s`` (one factor on every speed;
    ``scale`` = the unscaled lap time / the lap time), or, with ``sections`` = (basis, lines, targets), so each
    timing section takes its target time (:func:`section_weights`; ``section_scale`` = 1 / w_j per section)."""
    env = envelope(tr, vmin, decel, pickup, v_top, a_full)
    w = None
    if sections is not None:
        basis, lines, targets = sections
        w = section_weights(tr, env["v0"], basis, lines, targets)
        w_s = w @ basis
    elif lap_time_s is not None:
        w_s = np.full(len(tr.s), lap_time_s / env["total0"])
    else:
        w_s = np.ones(len(tr.s))
    prof = finish_profile(tr, env, w_s)
    prof["section_scale"] = None if w is None else 1 / w
    return prof


def lap_truth(tr: Track, prof: dict, pickup_abs: np.ndarray) -> list[list[float | None]]:
    """Per corner (:data:`LAP_COLUMNS`): brake point (m), minimum speed (km/h) and where (m), pick-up (m),
    exit speed (km/h), the corner segment's time (s) — on the generator's 1 m profile."""
    s, v, t = tr.s, prof["v"], prof["t"]
    out = []
    b = tr.bounds
    starts = prof["brake_points"] % tr.L
    t_at = np.append(t, prof["total"])
    s_at = np.append(s, tr.L)
    for i, a in enumerate(tr.apex):
        lo = tr.apex[i - 1] if i > 0 else tr.apex[-1] - tr.L
        cand = [x for x in starts if lo < x <= a] + [x - tr.L for x in starts if lo < x - tr.L <= a]
        brake = max(cand) if cand else None
        seg = (s >= b[i]) & (s < b[i + 1])
        j = np.flatnonzero(seg)[np.argmin(v[seg])]
        ex = min(a + EXIT_M, b[i + 1])
        out.append([None if brake is None else round(float(brake), 2), round(float(v[j] * 3.6), 3),
                    round(float(s[j]), 1), round(float(pickup_abs[i]), 2),
                    round(float(np.interp(ex, s_at, np.append(v, v[0])) * 3.6), 3),
                    round(float(np.interp(b[i + 1], s_at, t_at) - np.interp(b[i], s_at, t_at)), 5)])
    return out


# ----------------------------------------------------------------------------- per-car parameters

def car_parameters(tr: Track, seed: int, tix: int, chassis: int, pace: float) -> dict[str, np.ndarray]:
    """A car's nominal driving at a track: minimum speed per corner (its pace and a per-corner skill), braking
    deceleration and pick-up distance per corner (the same at both races of the track)."""
    r = _rng(seed, 22_000 + tix, chassis)
    n = len(tr.apex)
    vmin = tr.v_base * (1 - pace) * (1 + r.normal(0, 0.015, n))
    decel = DECEL * (1 + r.normal(0, 0.06, n))
    pickup = np.clip(PICKUP_M + r.normal(0, 8, n), 6, 60)
    return {"vmin": vmin, "decel": decel, "pickup": pickup}


def lap_parameters(nominal: dict, r: np.random.Generator) -> dict[str, np.ndarray]:
    n = len(nominal["vmin"])
    return {"vmin": nominal["vmin"] * (1 + r.normal(0, 0.006, n)),
            "decel": nominal["decel"] * (1 + r.normal(0, 0.03, n)),
            "pickup": np.clip(nominal["pickup"] + r.normal(0, 3, n), 4, 70)}


def _calibrated(tr: Track) -> tuple[float, float]:
    """(v_top, a_full) so that the base profile laps in the track's reference time: every speed scaled by k,
    accelerations by k^2 (the shape in distance is unchanged), and the corner speeds made feasible."""
    decel = np.full(len(tr.apex), DECEL)
    pickup = np.full(len(tr.apex), PICKUP_M)
    tr.v_base = feasible(tr, tr.v_base, decel, pickup, V_TOP, A_FULL)
    k = lap_profile(tr, tr.v_base, decel, pickup)["total"] / tr.R
    tr.v_base = tr.v_base * k
    return V_TOP * k, A_FULL * k * k


_BASE: dict[tuple, np.ndarray | None] = {}


def base_subsections(track: dict, split) -> np.ndarray | None:
    """The timing generator's base sub-section times (s; IM1a, IM1, IM2a, IM2, IM3a, FL): the track's nominal
    lap of the vehicle model (corner speeds from the outline, :data:`DECEL`, :data:`PICKUP_M`, calibrated to
    ``reference_lap_s`` by :func:`_calibrated` and scaled to it exactly) timed between :func:`timing_lines`.
    None for a track without corners or three sector lengths (the generator then draws the shares)."""
    key = (track["track_id"], float(track["length_m"]), float(track["reference_lap_s"]),
           tuple(track.get("sector_lengths_m") or ()), len(track.get("corners") or ()),
           tuple(round(float(x), 12) for x in split))
    if key not in _BASE:
        lines = timing_lines(track, split)
        if lines is None or not track.get("corners"):
            _BASE[key] = None
        else:
            tr = Track(track)
            v_top, a_full = _calibrated(tr)
            n = len(tr.apex)
            prof = lap_profile(tr, tr.v_base, np.full(n, DECEL), np.full(n, PICKUP_M), tr.R, v_top, a_full)
            _BASE[key] = np.diff(times_at(tr, prof, lines))
    return None if _BASE[key] is None else _BASE[key].copy()


# ----------------------------------------------------------------------------- the car's time line

def _vehicle_number(vid: str) -> int:
    return int(vid.rsplit("-", 1)[1])


def _choose(race: dict, n_cars: int, n_laps: int, r: np.random.Generator) -> list[tuple[str, int]]:
    """(car, first lap) for up to ``n_cars`` cars with ``n_laps`` consecutive green laps (no lap 1, FCY or
    restart lap, pit lap or out-lap, deleted, glitch or missing-section lap, not the last lap)."""
    fcy = set(race["fcy_laps"])
    out = []
    cars = sorted(race["cars"])
    for car in [cars[i] for i in r.permutation(len(cars))]:
        info = race["cars"][car]
        if _vehicle_number(info["vehicle_id"]) == 0 or "-" in car:
            continue
        bad = {1} | fcy | {f + 1 for f in fcy}
        for p in race["pit_laps"].get(car, []):
            bad |= {p, p + 1}
        bad |= set(race["deleted_laps"].get(car, [])) | set(race["missing_sector_laps"].get(car, []))
        bad |= set(race["missing_subsection_laps"].get(car, [])) | {g[0] for g in race["glitch_laps"].get(car, [])}
        starts = [k for k in range(2, info["laps"] - n_laps + 1)
                  if not bad & set(range(k, k + n_laps)) and k + n_laps <= info["laps"] - 1]
        if starts:
            out.append((car, int(starts[int(r.integers(len(starts)))])))
        if len(out) == n_cars:
            break
    return sorted(out)


def _iso(ms: np.ndarray) -> np.ndarray:
    return np.char.add(np.datetime_as_string(np.asarray(ms, "int64").astype("datetime64[ms]"), unit="ms"), "Z")


def _q(x: np.ndarray, step: float) -> np.ndarray:
    """A value as the real file prints it: an integer count of the channel's step, as a double."""
    return np.rint(x / step) * step


def car_rows(tr: Track, race: dict, car: str, first: int, n_laps: int, nominal: dict, throttle_name: str,
             gps: tuple[float, float] | None, seed: int, v_top: float, a_full: float,
             tick_rng: np.random.Generator, lap_times: list[float] | None = None,
             timing: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[bytes, dict]:
    """One car's rows (CSV text) for laps first..first+n_laps-1 (+ EDGE_S either side) and its truth. With
    ``timing`` = (lines, basis) (:func:`timing_lines`, :func:`pace_basis`) and the car's recorded sub-section
    times (``subsection_ms`` of the race's truth), each lap takes its six sub-section times; else its lap time."""
    info = race["cars"][car]
    times = list(info["lap_times_s"]) if lap_times is None else lap_times
    sub_ms = info.get("subsection_ms") if (timing is not None and lap_times is None) else None
    start_ms = np.datetime64(race["start_utc"].rstrip("Z"), "ms").astype("int64")
    lap_ms = np.rint(np.asarray(times) * 1000).astype(np.int64)
    cross = start_ms + np.concatenate([[0], np.cumsum(lap_ms)])          # start of lap k at cross[k-1]
    laps = list(range(first - 1, first + n_laps + 1))                     # the edges' laps too
    segs, truth_laps = [], []
    for k in laps:
        r = _rng(seed, 22_100, info["grid"], k, _vehicle_number(info["vehicle_id"]))
        lp = lap_parameters(nominal, r)
        lp["vmin"] = feasible(tr, lp["vmin"], lp["decel"], lp["pickup"], v_top, a_full)
        sections = None if sub_ms is None else (timing[1], timing[0], np.asarray(sub_ms[k - 1], float) / 1000)
        prof = lap_profile(tr, lp["vmin"], lp["decel"], lp["pickup"], lap_ms[k - 1] / 1000, v_top, a_full, sections)
        segs.append((k, prof))
        if first <= k < first + n_laps:
            rec = {"lap": k, "car_lap": k + info["ecu_lap_offset"], "lap_time_s": times[k - 1],
                   "scale": round(float(prof["scale"]), 6), "integrated_lap_s": round(float(prof["total"]), 6)}
            if sections is not None:
                rec["subsection_s"] = [round(float(x), 3) for x in sections[2]]
                rec["integrated_subsection_s"] = [round(float(x), 6) for x in np.diff(times_at(tr, prof, timing[0]))]
                rec["subsection_scale"] = [round(float(x), 6) for x in prof["section_scale"]]
            rec["apex_scale"] = [round(float(x), 6) for x in 1 / np.interp(tr.apex, tr.s, prof["w"])]
            rec["corners"] = lap_truth(tr, prof, tr.apex + lp["pickup"])
            truth_laps.append(rec)
    # one time line: ms since the epoch (float) at every grid point of every lap
    T = np.concatenate([cross[k - 1] + prof["t"] * 1000 for k, prof in segs] + [[cross[laps[-1]]]])
    S = np.concatenate([tr.s + i * tr.L for i, _ in enumerate(segs)] + [[len(segs) * tr.L]])
    ch = {name: np.concatenate([prof[name] for _, prof in segs] + [[segs[-1][1][name][0]]])
          for name in ("v", "throttle", "brake", "acc")}
    t0 = cross[first - 1] - EDGE_S * 1000
    t1 = cross[first + n_laps - 1] + EDGE_S * 1000
    n_ticks = int((t1 - t0) / 43.4) + 2
    ticks = t0 + np.concatenate([[0], np.cumsum(tick_rng.choice(TICK_MS, n_ticks - 1))]).astype(np.int64)
    ticks = ticks[ticks <= t1]
    s_cum = np.interp(ticks, T, S)
    v = np.interp(ticks, T, ch["v"])
    lap_no = np.array(laps)[np.minimum((s_cum // tr.L).astype(int), len(laps) - 1)]
    s_lap = s_cum - (s_cum // tr.L) * tr.L
    gi = np.clip(np.round(s_lap / (tr.L / len(tr.s))).astype(int), 0, len(tr.s) - 1)
    kap = tr.kappa[gi]
    noise = tick_rng.standard_normal((3, len(ticks)))
    rpm_per_gear = v[:, None] / (2 * np.pi * WHEEL_R) * 60 * FINAL_DRIVE * np.asarray(GEARS)[None, :]
    gear = np.argmax(rpm_per_gear <= 7000, axis=1) + 1
    rpm = rpm_per_gear[np.arange(len(v)), gear - 1]
    values = {
        "accx_can": _q(np.interp(ticks, T, ch["acc"]) / G + 0.02 * noise[0], 0.001),
        "accy_can": _q(np.clip(-(v ** 2) * kap / G, -LAT_G, LAT_G) + 0.02 * noise[1], 0.001),
        throttle_name: _q(np.interp(ticks, T, ch["throttle"]), 0.1),
        "pbrake_r": _q(np.interp(ticks, T, ch["brake"]) * REAR_SHARE, 0.1),
        "pbrake_f": _q(np.interp(ticks, T, ch["brake"]), 0.1),
        "gear": gear.astype(float),
        "Steering_Angle": _q(-np.degrees(np.arctan(WHEELBASE * kap)) * STEER_RATIO + 0.3 * noise[2], 0.1),
        "speed": _q(v * 3.6, 0.01),
        "nmot": np.rint(rpm),
        "Laptrigger_lapdist_dls": np.rint(s_lap) % round(tr.L),
    }
    fast = ["accx_can", "accy_can", throttle_name, "pbrake_r", "pbrake_f", "gear"]
    if gps:
        lat0, lon0 = gps
        x, y = tr.xy[gi, 0], tr.xy[gi, 1]
        x, y = x - (tr.xy[:, 0].max() + tr.xy[:, 0].min()) / 2, y - (tr.xy[:, 1].max() + tr.xy[:, 1].min()) / 2
        lat = lat0 - y / 111_320.0
        values["VBOX_Lat_Min"] = lat.astype(np.float32).astype(float)
        values["VBOX_Long_Minutes"] = (lon0 + x / (111_320.0 * np.cos(np.radians(lat0)))).astype(np.float32).astype(
            float)
        fast += ["VBOX_Long_Minutes", "VBOX_Lat_Min"]
    fast.append("Steering_Angle")
    slow = ["Laptrigger_lapdist_dls", "nmot"] if gps else ["nmot"]
    idx = np.arange(len(ticks))
    text = _rows(race, info, ticks, lap_no + info["ecu_lap_offset"], values, fast, slow, idx % SLOW_EVERY == 0,
                 idx % SLOW_EVERY == 1, tick_rng)
    truth = {"vehicle_id": info["vehicle_id"], "laps": [first, first + n_laps - 1],
             "file_window_laps": [laps[0], laps[-1]], "per_lap": truth_laps}
    return text, truth


def _rows(race: dict, info: dict, ticks: np.ndarray, lap: np.ndarray, values: dict, fast: list[str],
          slow: list[str], slow_tick: np.ndarray, speed_tick: np.ndarray, r: np.random.Generator) -> bytes:
    """The CSV rows: meta batches of 2-5 ticks in time order, newest tick first inside a batch, speed first on
    its ticks, then the fast channels, then the slow ones (the real file's order)."""
    vid = info["vehicle_id"]
    ecu = ticks + int(round(info["ecu_offset_s"] * 1000)) - ECU_BEHIND_MS
    n = len(ticks)
    sizes = r.integers(2, 6, n // 2 + 2)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    bounds = bounds[bounds < n].tolist() + [n]
    batch = np.zeros(n, np.int64)
    order = []
    for b, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        batch[lo:hi] = b
        order.extend(range(hi - 1, lo - 1, -1))
    last = np.asarray(bounds[1:]) - 1
    delay = r.integers(1000, 1700, len(last))
    meta = ecu[last] + ECU_BEHIND_MS + delay
    order = np.asarray(order)
    names, rows_tick, rows_val, rows_name = [], [], [], []
    plan = ["speed"] + fast + slow
    for c, name in enumerate(plan):
        mask = speed_tick if name == "speed" else (slow_tick if name in slow else np.ones(n, bool))
        names.append(name)
        rows_tick.append(np.flatnonzero(mask))
        rows_name.append(np.full(int(mask.sum()), c))
        rows_val.append(values[name][mask])
    tick_of = np.concatenate(rows_tick)
    chan = np.concatenate(rows_name)
    val = np.concatenate(rows_val)
    pos = np.empty(n, np.int64)
    pos[order] = np.arange(n)
    sort = np.lexsort((chan, pos[tick_of]))
    tick_of, chan, val = tick_of[sort], chan[sort], val[sort]
    number = _vehicle_number(vid)
    prefix = pa.array(np.char.add(np.char.add(
        np.char.add(",", lap.astype(str)), f",{race['meta_event']},R{race['race_number']},{SOURCE},"),
        np.char.add(_iso(meta[batch]), f",{vid},0")).tolist())
    suffix = pa.array(np.char.add(_iso(ecu), f",{vid},{number}\n").tolist())
    line = pc.binary_join_element_wise(prefix.take(pa.array(tick_of)), pa.array(names).take(pa.array(chan)),
                                       pc.cast(pa.array(val), pa.string()), suffix.take(pa.array(tick_of)), ",")
    line = line.combine_chunks() if isinstance(line, pa.ChunkedArray) else line
    offsets = line.buffers()[1]
    data = line.buffers()[2]
    start = int(np.frombuffer(offsets, np.int32, 1, line.offset * 4)[0])
    end = int(np.frombuffer(offsets, np.int32, 1, (line.offset + len(line)) * 4)[0])
    return data.to_pybytes()[start:end]


HEADER = (b"expire_at,lap,meta_event,meta_session,meta_source,meta_time,original_vehicle_id,outing,telemetry_name,"
          b"telemetry_value,timestamp,vehicle_id,vehicle_number\n")


# ----------------------------------------------------------------------------- the season's files

def race_telemetry(race: dict, seed: int, n_cars: int, n_laps: int) -> tuple[bytes, dict]:
    """A race's telemetry file (bytes) and its truth (the ``telemetry`` key of the race in ground_truth.json)."""
    tracks = params.tracks()
    tid = race["track_id"]
    tix = sorted(tracks).index(tid)
    tr = Track(tracks[tid])
    v_top, a_full = _calibrated(tr)
    throttle = THROTTLE.get(tid, "aps")
    lines = np.asarray(race["subsection_lines_m"], float) if race.get("subsection_lines_m") else None
    timing = None if lines is None else (lines, pace_basis(tr, lines))
    r = _rng(seed, 22_200 + tix, race["race_number"])
    chosen = _choose(race, n_cars, n_laps, r)
    parts, cars = [HEADER], {}
    for car, first in chosen:
        info = race["cars"][car]
        chassis = int(info["vehicle_id"].split("-")[1])
        nominal = car_parameters(tr, seed, tix, chassis, float(info["pace_fraction"]))
        nominal["vmin"] = feasible(tr, nominal["vmin"], nominal["decel"], nominal["pickup"], v_top, a_full)
        text, truth = car_rows(tr, race, car, first, n_laps, nominal, throttle, GPS.get(tid), seed, v_top, a_full,
                               _rng(seed, 22_300 + tix, race["race_number"], chassis), timing=timing)
        parts.append(text)
        k = np.median([lap["apex_scale"] for lap in truth["per_lap"]], axis=0)     # per corner, at its apex
        truth["nominal"] = {name: {"brake_m": None, "min_kph": round(float(nominal["vmin"][i] * k[i] * 3.6), 3),
                                   "pickup_m": round(float(tr.apex[i] + nominal["pickup"][i]), 2),
                                   "decel_ms2": round(float(nominal["decel"][i] * k[i] * k[i]), 3)}
                            for i, name in enumerate(tr.names)}
        nom = lap_profile(tr, nominal["vmin"], nominal["decel"], nominal["pickup"], None, v_top, a_full)
        for name, row in zip(tr.names, lap_truth(tr, nom, tr.apex + nominal["pickup"])):
            truth["nominal"][name]["brake_m"] = row[0]
        cars[car] = truth
    data = b"".join(parts)
    truth = {"channels": {"throttle": throttle, "gps": tid in GPS, "lapdist": tid in GPS},
             "tick_ms": list(TICK_MS), "slow_every": SLOW_EVERY, "ecu_behind_ms": ECU_BEHIND_MS,
             "corners": [{"name": n, "distance_m": float(a)} for n, a in zip(tr.names, tr.apex)],
             "segments_m": [round(float(b), 1) for b in tr.bounds],
             "timing_lines_m": None if lines is None else [round(float(x), 3) for x in lines],
             "lap_columns": list(LAP_COLUMNS), "exit_m": EXIT_M,
             "model": {"v_top_ms": round(v_top, 3), "a_full_ms2": round(a_full, 3), "taper_m": TAPER_M,
                       "maintenance_throttle_pct": MAINT_PCT, "throttle_ramp_s": THROTTLE_RAMP_S,
                       "brake_ramp_s": BRAKE_RAMP_S, "bar_per_ms2": BAR_PER_MS2},
             "cars": cars, "rows": data.count(b"\n") - 1}
    return data, truth


def telemetry_name(race: dict) -> str:
    return f"R{race['race_number']}_{race['track_id']}_telemetry_data.csv"


def _where(race: dict) -> tuple[str, str]:
    """(root: folder or zip under the season, the folder inside it) of the race's timing files."""
    sections = next(f for f in race["files"] if "/23_" in f)
    root, _, rest = sections.partition("/")
    folder = rest.rpartition("/")[0]
    return root, folder


def write_telemetry(out_dir: Path, races: list[dict], seed: int, zip_date: tuple[int, ...],
                    plan: dict | None = None) -> dict[str, int]:
    """Write the telemetry of the races in ``plan`` (default :data:`RACES`) and add each one's truth to its
    race dict (``races``: ground_truth.json's list, changed in place); a zip member is dated ``zip_date`` (the
    sample's zips' fixed date: byte-identical output). Returns {relative path: bytes}."""
    out_dir = Path(out_dir)
    written = {}
    for race in races:
        spec = (plan or RACES).get((race["track_id"], race["race_number"]))
        if not spec:
            continue
        data, truth = race_telemetry(race, seed, spec["cars"], spec["laps"])
        root, folder = _where(race)
        inner = f"{folder}/{telemetry_name(race)}" if folder else telemetry_name(race)
        if root.endswith(".zip"):
            info = zipfile.ZipInfo(inner, date_time=zip_date)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with zipfile.ZipFile(out_dir / root, "a", zipfile.ZIP_DEFLATED) as zf:
                zf.writestr(info, data, compresslevel=6)
            truth["file"] = f"{root}!{inner}"
        else:
            path = out_dir / root / inner
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            truth["file"] = f"{root}/{inner}"
        race["telemetry"] = truth
        written[truth["file"]] = len(data)
    return written


def write_big(path: str | Path, size_mb: float, seed: int = 2025, track_id: str = "barber") -> dict:
    """A telemetry file of about ``size_mb`` MB (for benches): cars of a synthetic race at ``track_id``, each
    driving 20 laps, until the size is reached. Returns {"rows", "bytes", "cars"}."""
    tracks = params.tracks()
    tr = Track(tracks[track_id])
    v_top, a_full = _calibrated(tr)
    tix = sorted(tracks).index(track_id)
    target = int(size_mb * 1_000_000)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written, rows, cars = 0, 0, 0
    with open(path, "wb") as fh:
        fh.write(HEADER)
        written += len(HEADER)
        while written < target:
            cars += 1
            r = _rng(seed, 22_400, cars)
            laps = 20
            times = list(np.round(tr.R * (1 + r.normal(0.005, 0.004)) + r.normal(0, 0.3, laps + 2), 3))
            info = {"vehicle_id": f"GR86-{100 + cars:03d}-{cars}", "lap_times_s": times, "laps": laps + 2,
                    "ecu_offset_s": 0.0, "ecu_lap_offset": 0, "grid": cars, "pace_fraction": 0.0}
            race = {"cars": {str(cars): info}, "start_utc": "2025-09-06T18:00:00.000Z",
                    "meta_event": "I_R06_2025-09-07", "race_number": 1}
            nominal = car_parameters(tr, seed, tix, 100 + cars, 0.0)
            nominal["vmin"] = feasible(tr, nominal["vmin"], nominal["decel"], nominal["pickup"], v_top, a_full)
            text, _ = car_rows(tr, race, str(cars), 2, laps, nominal, THROTTLE.get(track_id, "aps"),
                               GPS.get(track_id), seed, v_top, a_full, _rng(seed, 22_500, cars))
            if written + len(text) > target:          # the last car cut at a line end
                text = text[: text.rfind(b"\n", 0, target - written) + 1]
            if not text:                               # no room for one more row: that car is not written
                cars -= 1
                break
            fh.write(text)
            written += len(text)
            rows += text.count(b"\n")
    return {"rows": rows, "bytes": written, "cars": cars}


def main() -> None:  # pragma: no cover - a bench helper: python -m kaizenlap.sample_telemetry OUT.csv 200
    import sys
    print(json.dumps(write_big(sys.argv[1], float(sys.argv[2]))))


if __name__ == "__main__":  # pragma: no cover
    main()
