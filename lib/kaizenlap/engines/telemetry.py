"""Telemetry engine (engine 5): per corner and lap, where the car brakes, how slow it goes, when it is back on
the throttle and what it carries out; per car the medians with 95% intervals; a time-delta trace along the lap
against a reference lap whose per-corner parts add up to the lap's time difference.

Input: a race's telemetry cache (:func:`kaizenlap.ingest.telemetry.read_telemetry`, one Parquet file per car),
the race's lap table (``Race.laps``: timing lap times and ``is_clean``; optional) and the track's params
(``corners``: names and distances from the S/F line). Pure functions; parameters in ``params/engines.yaml:
telemetry``; formulas in docs/DATA_REFERENCE.md 10.7.

Distance: each complete lap (between two changes of the car-side ``lap`` counter) is its own axis, integrated
from the raw speed samples (trapezoid; piecewise-linear speed between samples), re-anchored at 0 at the lap's
start crossing and scaled so the lap's integral is the track length. The crossing times: where
``Laptrigger_lapdist_dls`` is logged, the first lap-distance reading after its wrap minus distance / speed;
otherwise somewhere between the last tick of the old counter value and the first of the new. Once the car's
laps are matched to the timing's (the counter's offset chosen so the telemetry lap durations agree with the
timing lap times), a run of consecutive crossings is placed as one: ``c_j = c_0 + S_j`` (``S_j`` the timing's
cumulative lap times), ``c_0`` the middle of the values every crossing allows (or the median of the lap-trigger
estimates). What cannot be computed (a partial lap at either end, a car without a number, laps not matched to
the timing, a corner without braking) is said per car and lap in ``not_computed``, never a number.

Section check: on every lap matched to the timing, the telemetry's S1/S2/S3 (time at the lines where S2 and S3
start, from ``sector_lengths_m``) minus the official ones (the raw error, reported against zero: largest per
lap and car, laps beyond the tolerance); a lap departing from its car's median difference by more than
``section_tolerance_s`` is flagged ``section_mismatch`` and not used (``is_clean`` false); the race's summary is
``section_check`` (:func:`section_check_summary`).
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from kaizenlap.core import params
from kaizenlap.core.ids import doc_id
from kaizenlap.core.jsonclean import plain
from kaizenlap.core.median_interval import order_interval, order_rank
from kaizenlap.engines.common import Estimate, cfg, fmt3
from kaizenlap.ingest.telemetry import (TelemetryCache, car_channels, car_frame, is_telemetry_file, read_telemetry,
                                        vehicle_number)

METRICS = ("brake_m", "brake_peak_bar", "min_kph", "min_m", "pickup_m", "exit_kph", "delta_s")
THROTTLES = ("aps", "ath")
IMPLS = ("arrow", "pandas")


def settings() -> dict:
    return cfg()["telemetry"]


def corner_bounds(apex: np.ndarray, length: float) -> np.ndarray:
    """Corner i owns [b[i], b[i+1]): b[0] = 0 (the line), b[n] = the lap length, the inner bounds midway between
    consecutive corners' distances."""
    apex = np.asarray(apex, float)
    if len(apex) == 0:
        return np.array([0.0, length])
    return np.concatenate([[0.0], (apex[:-1] + apex[1:]) / 2, [length]])


# ----------------------------------------------------------------------------- finding and reading

def find_telemetry(root: str | Path, track_id: str, race_number: int) -> str | None:
    """The race's telemetry file under ``root`` (a folder holding folders and zips): a path, or
    ``archive.zip!member``; None when the race has none."""
    root = Path(root)
    want = re.compile(rf"(?:^|[_ /])r(?:ace ?)?{race_number}[_ ]", re.I)
    hits = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix.lower() == ".zip":
            with zipfile.ZipFile(p) as zf:
                hits += [f"{p}!{n}" for n in zf.namelist() if is_telemetry_file(n)]
        elif p.is_file() and is_telemetry_file(p.name):
            hits.append(str(p))
    for h in hits:
        name = h.replace("\\", "/").rsplit("/", 1)[-1]
        if want.search("/" + name) and params.track_for_name(h.replace("!", "/")) == track_id:
            return h
    return None


def load(source: str | Path, cache_dir: str | Path) -> TelemetryCache:
    """Read a race's telemetry file into its per-car Parquet cache (:func:`read_telemetry`)."""
    return read_telemetry(source, cache_dir)


def _raw(long: pd.DataFrame, channel: str) -> tuple[np.ndarray, np.ndarray]:
    part = long[long["channel"] == channel]
    t = pd.DatetimeIndex(part["timestamp"]).as_unit("ms").asi8.astype(float)
    return t, part["value"].to_numpy(float)


class _PandasCar:
    """The first implementation's read of a car's cache (``impl="pandas"``): the long rows as pandas, the time
    base from :func:`car_frame` (a pivot to the wide frame), each channel by a mask over the long rows."""

    def __init__(self, path: str | Path):
        self.long = pq.read_table(path, read_dictionary=["channel"]).to_pandas()   # channel: categorical
        frame = car_frame(path)
        self.t = pd.DatetimeIndex(frame["timestamp"]).as_unit("ms").asi8.astype(float)
        self.lap = frame["lap"].astype("float64").to_numpy()

    def has(self, channel: str) -> bool:
        return bool((self.long["channel"] == channel).any())

    def raw(self, channel: str) -> tuple[np.ndarray, np.ndarray]:
        return _raw(self.long, channel)


def _car_data(path: str | Path, impl: str):
    return car_channels(path) if impl == "arrow" else _PandasCar(path)


def _integral(tq: np.ndarray, ts: np.ndarray, v: np.ndarray, cum: np.ndarray) -> np.ndarray:
    """The integral of the piecewise-linear speed ``v`` (m/s at ``ts``, ms) from ``ts[0]`` to each ``tq`` (clipped),
    in metres (``cum``: its values at ``ts``)."""
    tq = np.clip(np.asarray(tq, float), ts[0], ts[-1])
    j = np.clip(np.searchsorted(ts, tq, side="right") - 1, 0, len(ts) - 2)
    dt = (tq - ts[j]) / 1000.0                    # ms -> s
    h = (ts[j + 1] - ts[j]) / 1000.0
    slope = np.where(h > 0, (v[j + 1] - v[j]) / np.where(h > 0, h, 1), 0.0)
    return cum[j] + v[j] * dt + 0.5 * slope * dt ** 2


# ----------------------------------------------------------------------------- lap boundaries

def _boundaries(t: np.ndarray, lap: np.ndarray, lapdist: tuple[np.ndarray, np.ndarray] | None,
                speed_at, length: float) -> list[dict]:
    """Each change of the car-side lap counter: the new counter value, the last tick before and the first tick
    after (ms), and the crossing estimate (the lap trigger's where logged, else the middle)."""
    ok = ~np.isnan(lap)
    t, lap = t[ok], lap[ok]
    out = []
    for i in np.flatnonzero(np.diff(lap) != 0) + 1:
        b = {"lap": int(lap[i]), "from": int(lap[i - 1]), "before": float(t[i - 1]), "after": float(t[i]),
             "est": (float(t[i - 1]) + float(t[i])) / 2, "basis": "counter"}
        if lapdist is not None and len(lapdist[0]) > 1:
            td, d = lapdist
            wraps = np.flatnonzero(np.diff(d) < -length / 2) + 1
            if len(wraps):
                w = wraps[np.argmin(np.abs(td[wraps] - b["after"]))]
                v = speed_at(td[w])
                if v > 1:
                    est = td[w] - d[w] / v * 1000.0
                    if b["before"] - 300 <= est <= b["after"] + 300:
                        b["est"], b["basis"] = float(est), "lap trigger"
        out.append(b)
    return out


def _match(bounds: list[dict], timing: dict[int, float], tol: float) -> int | None:
    """The offset o (timing lap = counter lap - o) under which the telemetry's complete laps last as the timing
    says (median absolute difference within ``tol`` s); None when no offset fits."""
    pairs = [(b0["lap"], (b1["est"] - b0["est"]) / 1000) for b0, b1 in zip(bounds[:-1], bounds[1:])
             if b1["lap"] == b0["lap"] + 1]
    best = None
    for o in range(-5, 6):
        errs = [abs(d - timing[n - o]) for n, d in pairs if (n - o) in timing]
        if errs and (best is None or np.median(errs) < best[0]):
            best = (float(np.median(errs)), o, len(errs))
    return best[1] if best and best[0] <= tol else None


def _place(bounds: list[dict], timing: dict[int, float], offset: int) -> None:
    """Crossing times of each run of consecutive boundaries from the timing's lap times (see the module doc)."""
    run: list[dict] = []
    for b in bounds + [None]:
        if b is not None and (not run or (b["lap"] == run[-1]["lap"] + 1 and (run[-1]["lap"] - offset) in timing)):
            run.append(b)
            continue
        if len(run) > 1:
            S = np.concatenate([[0.0], np.cumsum([timing[x["lap"] - offset] for x in run[:-1]])]) * 1000
            lo = max(x["before"] - s for x, s in zip(run, S))
            hi = min(x["after"] - s for x, s in zip(run, S))
            trig = [x["est"] - s for x, s in zip(run, S) if x["basis"] == "lap trigger"]
            c0 = float(np.median(trig)) if trig else ((lo + hi) / 2 if lo <= hi else None)
            if c0 is not None:
                for x, s in zip(run, S):
                    x["est"], x["basis"] = c0 + s, x["basis"] + " + timing"
        run = [b] if b is not None else []


# ----------------------------------------------------------------------------- one lap

def _crossing(s: np.ndarray, y: np.ndarray, thr: float, j: int) -> float:
    """Distance where ``y`` goes above ``thr`` between samples j-1 and j (linear)."""
    if j == 0 or y[j] == y[j - 1]:
        return float(s[j])
    return float(s[j - 1] + (thr - y[j - 1]) / (y[j] - y[j - 1]) * (s[j] - s[j - 1]))


def lap_corners(s_tick, brake, throttle, s_v, t_v, v_kph, apex, bounds, c: dict) -> list[dict]:
    """Per corner of one lap: brake onset and peak, minimum speed and where, throttle pick-up, exit speed (see
    the module doc); a value that cannot be found is None with its reason under ``why``."""
    out = []
    thr_b, thr_t = float(c["brake_threshold_bar"]), float(c["throttle_pickup_pct"])
    for i, a in enumerate(apex):
        rec: dict[str, Any] = {"brake_m": None, "brake_peak_bar": None, "min_kph": None, "min_m": None,
                               "pickup_m": None, "exit_kph": None, "why": {}}
        lo = apex[i - 1] if i > 0 else 0.0
        # brake onset: the start of the last run above the threshold that begins before the apex
        if brake is not None:
            w = np.flatnonzero((s_tick >= lo) & (s_tick <= a + c["brake_after_apex_m"]))
            if len(w):
                above = brake[w] > thr_b
                starts = np.flatnonzero(above & np.concatenate([[True], ~above[:-1]]))   # runs' first samples
                starts = starts[s_tick[w[starts]] <= a]
                if len(starts) and starts[-1] > 0:
                    k = int(starts[-1])
                    # midway between the last tick at or under the threshold and the first over it: the
                    # pressure jumps to tens of bar within a tick or two, so where in that gap it crossed is
                    # unknown and (the ticks' phase being arbitrary) equally likely anywhere; a line between
                    # the two ticks put it near the earlier one (0.28-0.39 m early on the sample, DATA_REFERENCE 10.7)
                    j = int(w[k])
                    rec["brake_m"] = float(0.5 * (s_tick[j - 1] + s_tick[j]))
                    below = np.flatnonzero(~above[k:])
                    end = k + int(below[0]) if len(below) else len(w)
                    rec["brake_peak_bar"] = float(np.max(brake[w[k:end]]))
                else:
                    rec["why"]["brake_m"] = ("braking already under way at the window's start" if len(starts) else
                                             f"no front brake pressure above {thr_b:g} bar before the corner")
        else:
            rec["why"]["brake_m"] = "no pbrake_f channel"
        # minimum speed in the corner's segment (a parabola through the lowest sample and its neighbours)
        seg = np.flatnonzero((s_v >= bounds[i]) & (s_v < bounds[i + 1]))
        if len(seg):
            j = int(seg[np.argmin(v_kph[seg])])
            vm, sm = float(v_kph[j]), float(s_v[j])
            if 0 < j < len(v_kph) - 1:
                x = t_v[j - 1:j + 2] - t_v[j]
                A, B, C = np.polyfit(x, v_kph[j - 1:j + 2], 2)
                if A > 0 and x[0] <= -B / (2 * A) <= x[2]:
                    tv = -B / (2 * A)
                    vm = float(C - B * B / (4 * A))
                    sm = float(np.interp(t_v[j] + tv, t_v, s_v))
            rec["min_kph"], rec["min_m"] = vm, sm
        else:
            rec["why"]["min_kph"] = "no speed reading in the corner's segment"
        # throttle pick-up: back above the threshold after the minimum
        if throttle is not None and rec["min_m"] is not None:
            w = np.flatnonzero((s_tick >= rec["min_m"]) & (s_tick <= bounds[i + 1] + c["pickup_search_m"]))
            if len(w):
                if throttle[w[0]] >= thr_t:
                    rec["why"]["pickup_m"] = f"throttle not below {thr_t:g}% at the minimum speed"
                else:
                    up = np.flatnonzero(throttle[w] >= thr_t)
                    if len(up):
                        rec["pickup_m"] = _crossing(s_tick, throttle, thr_t, int(w[up[0]]))
                    else:
                        rec["why"]["pickup_m"] = "throttle not back above the threshold in the corner"
        elif throttle is None:
            rec["why"]["pickup_m"] = "no throttle channel (aps or ath)"
        ex = min(a + c["exit_m"], bounds[i + 1])
        if len(s_v) > 1 and s_v[0] <= ex <= s_v[-1]:
            rec["exit_kph"] = float(np.interp(ex, s_v, v_kph))
        if not rec["why"]:
            del rec["why"]
        out.append(rec)
    return out


# ----------------------------------------------------------------------------- section times against the timing

SECTOR_KEYS = ("s1", "s2", "s3")
SECTION_FLAG = "section_mismatch"   # the lap's reason code when its telemetry section times disagree


def sector_lines(track: dict) -> np.ndarray | None:
    """Distances (m from the S/F line) where S2 and S3 start: the cumulative ``sector_lengths_m`` of the track's
    params, scaled so the three add up to ``length_m``; None when the track lists no sector lengths."""
    lengths = track.get("sector_lengths_m")
    if not lengths or len(lengths) != 3:
        return None
    lengths = np.asarray(lengths, float)
    return np.cumsum(lengths)[:2] * float(track["length_m"]) / lengths.sum()


def sector_errors(s: np.ndarray, t: np.ndarray, duration_s: float, lines: np.ndarray,
                  official: tuple) -> dict:
    """One lap's section times from its distance axis against the official ones. ``s``/``t``: the lap's distance
    (m) and time since its start crossing (s), increasing; ``lines``: where S2 and S3 start (m); ``official``: the
    timing's S1, S2, S3 (s; NaN or None where missing). Telemetry S1 = t(line 2), S2 = t(line 3) - t(line 2),
    S3 = the lap's duration - t(line 3) (t linear between ticks). ``error_s`` = telemetry - official per sector
    (None where the official time is missing)."""
    ta, tb = np.interp(np.asarray(lines, float), s, t)
    tel = [float(ta), float(tb - ta), float(duration_s - tb)]
    off = [None if x is None or not np.isfinite(float(x)) else float(x) for x in official]
    err = [None if o is None else round(v - o, 4) for v, o in zip(tel, off)]
    return {"telemetry_s": [round(v, 4) for v in tel], "official_s": off, "error_s": err}


def check_sections(laps: list[dict], tolerance_s: float, min_laps: int) -> dict:
    """A car's section check, flags set on its laps (in place). Over the laps with all three errors (``checked``):
    the car's usual difference per sector, ``offset_s`` = the median error (what the sector lines' positions on
    the distance axis and the car's line make systematic), and per lap ``residual_s`` = error - offset; a lap
    with any |residual| > ``tolerance_s`` gets ``sector_flag`` = :data:`SECTION_FLAG`. Fewer than ``min_laps``
    checked laps: no offset, nothing flagged (one lap's error cannot be told from the car's own). Against zero
    as well: ``max_abs_error_s`` (the largest |error| over the checked laps) and ``n_beyond_raw`` (laps with an
    |error| above ``tolerance_s``; reported, not flagged: on real telemetry the lines' places on the distance
    axis make part of the error systematic, which the offset takes out)."""
    checked = [r for r in laps if r.get("sectors") and None not in r["sectors"]["error_s"]]
    out: dict[str, Any] = {"n_laps": len(checked), "offset_s": None, "n_flagged": 0}
    if checked:
        raw = np.abs(np.array([r["sectors"]["error_s"] for r in checked], float))
        out["max_abs_error_s"] = round(float(raw.max()), 4)
        out["n_beyond_raw"] = int((raw.max(axis=1) > tolerance_s).sum())
    if len(checked) < min_laps:
        return out
    e = np.array([r["sectors"]["error_s"] for r in checked], float)
    off = np.median(e, axis=0)
    out["offset_s"] = [round(float(x), 4) for x in off]
    for r, row in zip(checked, e):
        res = row - off
        r["sectors"]["residual_s"] = [round(float(x), 4) for x in res]
        r["sector_flag"] = SECTION_FLAG if np.abs(res).max() > tolerance_s else None
        out["n_flagged"] += bool(r["sector_flag"])
    return out


def section_check_summary(cars: list[dict], tolerance_s: float) -> dict:
    """The race's reconciliation: laps checked (complete laps matched to the timing with all three official
    sector times), per sector the median and largest |error| and |residual| (s; the residual over the laps of
    cars with an offset), the laps flagged with their errors and residuals; ``n_beyond_raw``: laps with an
    |error| (against zero) above the tolerance, flagged or not."""
    checked = [(car, lap) for car in cars for lap in car.get("laps", [])
               if lap.get("sectors") and None not in lap["sectors"]["error_s"]]
    out: dict[str, Any] = {"tolerance_s": float(tolerance_s), "n_laps": len(checked), "sectors": []}

    def stat(v):
        v = np.abs(np.asarray(v, float))
        return (float(np.median(v)), float(np.max(v))) if len(v) else (None, None)
    for i, k in enumerate(SECTOR_KEYS):
        err = [lap["sectors"]["error_s"][i] for _, lap in checked]
        res = [lap["sectors"]["residual_s"][i] for _, lap in checked if "residual_s" in lap["sectors"]]
        (me, xe), (mr, xr) = stat(err), stat(res)
        out["sectors"].append({"sector": k.upper(), "n": len(err), "median_abs_error_s": me, "max_abs_error_s": xe,
                               "n_residual": len(res), "median_abs_residual_s": mr, "max_abs_residual_s": xr})
    flagged = [{"vehicle_id": car["vehicle_id"], "car": car["car"], "lap": lap["lap"],
                "error_s": lap["sectors"]["error_s"], "residual_s": lap["sectors"]["residual_s"]}
               for car, lap in checked if lap.get("sector_flag")]
    out["n_flagged"] = len(flagged)
    out["n_beyond_raw"] = sum(bool(np.abs(np.asarray(lap["sectors"]["error_s"], float)).max() > tolerance_s)
                              for _, lap in checked)
    out["flagged"] = flagged
    return out


def section_check_table(doc: dict) -> pd.DataFrame:
    """The race's reconciliation as a table for the notebook: per sector the laps checked, the median and
    largest |telemetry - official| (s) and the same for the lap's departure from its car's usual difference
    (what flags a lap beyond ``tolerance_s``)."""
    rows = [{"sector": x["sector"], "laps": x["n"], "median |error| s": x["median_abs_error_s"],
             "max |error| s": x["max_abs_error_s"], "laps vs car's usual": x["n_residual"],
             "median |departure| s": x["median_abs_residual_s"], "max |departure| s": x["max_abs_residual_s"]}
            for x in (doc.get("section_check") or {}).get("sectors", [])]
    return pd.DataFrame(rows)


def section_flagged_table(doc: dict) -> pd.DataFrame:
    """The laps flagged (not used): car, lap, error and departure per sector (s)."""
    rows = [{"car": x["car"] or x["vehicle_id"], "lap": x["lap"],
             **{f"{k.upper()} error s": e for k, e in zip(SECTOR_KEYS, x["error_s"])},
             **{f"{k.upper()} departure s": e for k, e in zip(SECTOR_KEYS, x["residual_s"])}}
            for x in (doc.get("section_check") or {}).get("flagged", [])]
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- one car

def lap_channels(s_v, v_kph, s_tick, brake, throttle, t_of_s, length: float, step: float) -> dict:
    """One lap's channels on a distance grid of ``step`` m (0, step, ..., the lap length): speed (km/h), throttle
    (%), front brake (bar) interpolated linearly along the lap's distance axis, and the time since the line
    (s) at each distance, ``null`` where a channel is absent. What the app draws for a car and its reference."""
    grid = np.append(np.arange(0.0, length, step), length)

    def on(s, y):
        if y is None or len(s) < 2:
            return None
        return np.round(np.interp(grid, s, y), 2).tolist()
    return {"step_m": step, "distance_m": np.round(grid, 2).tolist(), "speed_kph": on(s_v, v_kph),
            "throttle_pct": on(s_tick, throttle), "brake_bar": on(s_tick, brake),
            "time_s": np.round(np.interp(grid, *t_of_s), 4).tolist()}


def typical_lap(pool: list[dict], key) -> dict | None:
    """The median lap of ``pool`` by ``key`` (its time): the lap at rank ``n // 2 + 1`` of the laps sorted by
    time, i.e. the middle one, or the slower of the two middle ones for an even count (so that with two laps it
    is not the best); ties by lap order. None for an empty pool."""
    if not pool:
        return None
    ranked = sorted(pool, key=lambda r: (key(r), r["car_lap"]))
    return ranked[len(ranked) // 2]


def _order_interval_v1(x: np.ndarray, level: float) -> tuple[float, float, float]:
    """The first :func:`order_interval` (the binomial tail on every call, no cache), for ``impl="pandas"``."""
    x = np.sort(np.asarray(x, float))
    n = len(x)
    j, cover = order_rank.__wrapped__(n, float(level))
    return float(x[j - 1]), float(x[n - j]), float(cover)


def analyse_car(path: str | Path, vehicle: str, timing: pd.DataFrame | None, track: dict, c: dict,
                impl: str = "arrow") -> dict:
    """One vehicle's laps, corners, medians and delta trace (see the module doc). ``impl``: how the cache is read
    and the work done (:data:`IMPLS`; the same numbers either way)."""
    L = float(track["length_m"])
    corners = track.get("corners") or []
    names = [str(x["name"]) for x in corners]
    apex = np.array([float(x["distance_m"]) for x in corners])
    bounds = corner_bounds(apex, L)
    number = vehicle_number(vehicle)
    entry: dict[str, Any] = {"vehicle_id": vehicle, "car": number, "laps": [], "not_computed": []}

    def nc(lap, what, reason):
        entry["not_computed"].append({"lap": lap, "what": what, "reason": reason})

    data = _car_data(path, impl)
    t, lapc = data.t, data.lap
    ts, v = data.raw("speed")
    if len(ts) < 2:
        nc(None, "everything", "no speed channel: no distance axis")
        return entry
    v_ms = v / 3.6
    cum = np.concatenate([[0.0], np.cumsum((v_ms[1:] + v_ms[:-1]) / 2 * np.diff(ts) / 1000)])

    def speed_at(tq):
        return float(np.interp(tq, ts, v_ms))

    lapdist = data.raw("Laptrigger_lapdist_dls") if data.has("Laptrigger_lapdist_dls") else None
    bounds_t = _boundaries(t, lapc, lapdist, speed_at, L)
    own = {}
    if timing is not None and number is not None:
        g = timing[timing["car"].astype(str) == number]
        own = {int(r.lap): float(r.lap_time_s) for r in g.itertuples() if pd.notna(r.lap_time_s)}
        clean = {int(r.lap): bool(r.is_clean) for r in g.itertuples()}
        official = ({int(r.lap): tuple(getattr(r, f"{k}_s") for k in SECTOR_KEYS) for r in g.itertuples()}
                    if all(f"{k}_s" in g.columns for k in SECTOR_KEYS) else {})
    else:
        clean, official = {}, {}
    lines = sector_lines(track)
    tol = float(c["section_tolerance_s"])
    offset = _match(bounds_t, own, float(c["lap_match_tolerance_s"])) if own else None
    if number is None:
        nc(None, "timing", f"vehicle {vehicle} carries no car number: laps not matched to the timing, "
                           "lap numbers are the car's counter and is_clean is unknown")
    elif not own:
        nc(None, "timing", f"car {number} is not in the race's lap table: lap numbers are the car's counter")
    elif offset is None:
        nc(None, "timing", "the telemetry's lap durations match no offset of the timing's lap times: lap numbers "
                           "are the car's counter and is_clean is unknown")
    else:
        _place(bounds_t, own, offset)
    entry["lap_offset"] = offset
    brake_t, brake_v = data.raw("pbrake_f")
    thr_name = next((x for x in THROTTLES if data.has(x)), None)
    thr_t, thr_v = data.raw(thr_name) if thr_name else (None, None)
    entry["throttle_channel"] = thr_name
    if thr_name is None:
        nc(None, "pickup_m", "no throttle channel (aps or ath)")
    first_counter = int(np.nanmin(lapc)) if np.isfinite(lapc).any() else None
    if bounds_t and first_counter is not None:
        nc(bounds_t[0]["from"] - (offset or 0), "lap", "partial lap: the telemetry starts after this lap's start")
        nc(bounds_t[-1]["lap"] - (offset or 0), "lap", "partial lap: the telemetry ends before this lap's end")
    elif first_counter is not None:
        nc(first_counter - (offset or 0), "lap", "partial lap: no lap start or end in the telemetry")
    grid = np.append(np.arange(0.0, L, float(c["trace_step_m"])), L)    # 0, step, ..., the lap length
    traces, arrays = {}, {}
    for b0, b1 in zip(bounds_t[:-1], bounds_t[1:]):
        if b1["lap"] != b0["lap"] + 1:
            nc(b0["lap"] - (offset or 0), "lap", f"lap counter jumps from {b0['lap']} to {b1['lap']}")
            continue
        c0, c1 = b0["est"], b1["est"]
        if c0 < ts[0] or c1 > ts[-1]:
            nc(b0["lap"] - (offset or 0), "lap", "speed readings do not cover the lap")
            continue
        total = float(_integral(c1, ts, v_ms, cum) - _integral(c0, ts, v_ms, cum))
        k = L / total

        i0 = _integral(c0, ts, v_ms, cum)

        def dist(tq):
            return (_integral(tq, ts, v_ms, cum) - (i0 if impl == "arrow" else _integral(c0, ts, v_ms, cum))) * k

        inside_v = (ts >= c0) & (ts < c1)
        tv = ts[inside_v]
        s_v, v_k = dist(tv), v[inside_v]
        inside = (t >= c0) & (t < c1)
        tt = t[inside]
        s_tick = dist(tt)
        brake = np.interp(tt, brake_t, brake_v) if len(brake_t) else None
        thr = np.interp(tt, thr_t, thr_v) if thr_name else None
        lap_no = b0["lap"] - (offset or 0)
        per = lap_corners(s_tick, brake, thr, s_v, tv, v_k, apex, bounds, c)
        t_rel = np.concatenate([[0.0], (tt - c0) / 1000, [(c1 - c0) / 1000]])
        s_all = np.concatenate([[0.0], s_tick, [L]])
        keep = np.concatenate([[True], np.diff(s_all) > 0])
        t_of_s = (s_all[keep], t_rel[keep])
        rec = {"lap": lap_no if offset is not None else None, "car_lap": b0["lap"], "duration_s": (c1 - c0) / 1000,
               "lap_time_s": own.get(lap_no) if offset is not None else None,
               "is_clean": clean.get(lap_no) if offset is not None else None,
               "crossing_basis": b0["basis"], "scale_to_length": k,
               "corners": [{"corner": n, **x} for n, x in zip(names, per)]}
        if offset is not None and lines is not None and lap_no in official:
            rec["sectors"] = sector_errors(*t_of_s, rec["duration_s"], lines, official[lap_no])
            if None in rec["sectors"]["error_s"]:
                miss = [k.upper() for k, e in zip(SECTOR_KEYS, rec["sectors"]["error_s"]) if e is None]
                nc(lap_no, "sections", f"official {', '.join(miss)} missing: section times not checked")
        if lapdist is not None:
            td, d = lapdist
            sel = (td >= c0) & (td < c1)
            if sel.any():
                rec["lapdist_rms_m"] = float(np.sqrt(np.mean((dist(td[sel]) - d[sel]) ** 2)))
        for n, x in zip(names, per):
            for key, why in x.get("why", {}).items():
                nc(rec["lap"] if rec["lap"] is not None else b0["lap"], f"{n}.{key}", why)
        entry["laps"].append(rec)
        traces[b0["lap"]] = t_of_s
        arrays[b0["lap"]] = (s_v, v_k, s_tick, brake, thr)
    # section times against the official ones: a lap whose error departs from the car's own by more than the
    # tolerance is flagged and not used (medians, reference, typical lap, claims)
    if offset is not None and lines is not None:
        entry["section_check"] = check_sections(entry["laps"], tol, int(c["section_min_laps"]))
        for r in entry["laps"]:
            if r.get("sector_flag"):
                errs = ", ".join(f"{k.upper()} {e:+.3f} s" for k, e in zip(SECTOR_KEYS, r["sectors"]["residual_s"]))
                raw = ", ".join(f"{k.upper()} {e:+.3f} s" for k, e in zip(SECTOR_KEYS, r["sectors"]["error_s"]))
                nc(r["lap"], "lap", f"telemetry section times disagree with the official ones by more than {tol:g} s "
                                    f"beyond the car's usual difference ({errs}; against the official times: "
                                    f"{raw}): lap not used")
                r["is_clean"] = False
        if entry["section_check"]["offset_s"] is None and entry["section_check"]["n_laps"]:
            nc(None, "sections", f"{entry['section_check']['n_laps']} laps with official section times, fewer than "
                                 f"{int(c.get('section_min_laps', 3))}: errors shown, no lap flagged")
    elif lines is None:
        nc(None, "sections", f"no sector_lengths_m for {track.get('track_id')}: section times not checked")
    # reference: the best clean complete lap (timing time), else the shortest complete lap
    cands = [r for r in entry["laps"] if r["is_clean"]] or entry["laps"]
    if not cands:
        nc(None, "medians", "no complete lap")
        return entry
    key = (lambda r: r["lap_time_s"] if r["lap_time_s"] is not None else r["duration_s"])
    ref = min(cands, key=key)
    entry["reference"] = {"lap": ref["lap"], "car_lap": ref["car_lap"], "time_s": key(ref),
                          "basis": "best clean lap" if ref.get("is_clean") else
                          "shortest complete lap (is_clean unknown)"}
    rs, rt = traces[ref["car_lap"]]
    entry["channels"] = lap_channels(*arrays[ref["car_lap"]], traces[ref["car_lap"]], L,
                                     float(c.get("channel_step_m", 5.0)))
    entry["channels"]["lap"] = ref["lap"]
    t_ref_b = np.interp(bounds, rs, rt)
    t_ref_g = np.interp(grid, rs, rt)
    trace = {}
    for r in entry["laps"]:
        s_, t_ = traces[r["car_lap"]]
        tb = np.interp(bounds, s_, t_)
        parts = np.diff(tb - t_ref_b)
        for x, d in zip(r["corners"], parts):
            x["delta_s"] = float(d)
            x["segment_s"] = float(tb[list(names).index(x["corner"]) + 1] - tb[list(names).index(x["corner"])])
        r["delta_s"] = float((tb - t_ref_b)[-1])
        trace[str(r["lap"] if r["lap"] is not None else r["car_lap"])] = np.round(np.interp(grid, s_, t_) - t_ref_g,
                                                                                   4).tolist()
    entry["delta_trace"] = {"reference_lap": entry["reference"]["lap"], "step_m": float(c["trace_step_m"]),
                            "distance_m": grid.tolist(), "laps": trace}
    # per corner: medians over the clean complete laps (all complete laps when is_clean is unknown)
    pool = [r for r in entry["laps"] if r["is_clean"]] if offset is not None else entry["laps"]
    entry["n_laps_used"] = len(pool)
    # the car's typical lap: its median clean lap by time (the slower of the two middle laps for an even count)
    typ = typical_lap(pool, key)
    if typ is None or typ["car_lap"] == ref["car_lap"]:
        entry["typical"] = None
        nc(None, "typical lap", f"{len(pool)} clean complete lap{'s' if len(pool) != 1 else ''}: no lap other "
                                "than the best to compare with it")
    else:
        entry["typical"] = {"lap": typ["lap"], "car_lap": typ["car_lap"], "time_s": key(typ), "n": len(pool),
                            "basis": "median clean lap" if offset is not None else
                            "median complete lap (is_clean unknown)"}
        entry["typical_channels"] = lap_channels(*arrays[typ["car_lap"]], traces[typ["car_lap"]], L,
                                                 float(c.get("channel_step_m", 5.0)))
        entry["typical_channels"]["lap"] = typ["lap"]
    summary = []
    for i, n in enumerate(names):
        item = {"corner": n, "distance_m": float(apex[i])}
        for m in METRICS:
            vals = np.array([r["corners"][i][m] for r in pool if r["corners"][i].get(m) is not None], float)
            if len(vals) < int(c["min_laps"]):
                item[m] = Estimate(None, None, None, len(vals), "", f"not enough laps ({len(vals)} < "
                                                                     f"{c['min_laps']})").to_dict()
                continue
            lo, hi, cover = (order_interval(vals, float(c["level"])) if impl == "arrow" else
                             _order_interval_v1(vals, float(c["level"])))
            item[m] = Estimate(float(np.median(vals)), lo, hi, len(vals),
                               f"median; order-statistic interval ({cover:.1%}, distribution-free)").to_dict()
        summary.append(item)
    entry["corners"] = summary
    return entry


# ----------------------------------------------------------------------------- the race

def analyse(telemetry: TelemetryCache | dict[str, str | Path], laps: pd.DataFrame | None, track: dict,
            race_id: str, impl: str = "arrow") -> dict:
    """The race's telemetry document. ``telemetry``: the cache (or {vehicle id: Parquet path}); ``laps``: the
    race's lap table (None: no timing); ``track``: the track's params (``length_m``, ``corners``); ``impl``:
    ``"arrow"`` (the default) or ``"pandas"``, the first implementation, kept for bench/telemetry.py's
    comparison (same document)."""
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, not {impl!r}")
    c = settings()
    files = telemetry.files if isinstance(telemetry, TelemetryCache) else dict(telemetry)
    doc: dict[str, Any] = {"engine": "telemetry", "race_id": race_id, "track_id": track.get("track_id"),
                           "params": dict(c), "length_m": float(track["length_m"])}
    corners = track.get("corners") or []
    apex = np.array([float(x["distance_m"]) for x in corners])
    bnd = corner_bounds(apex, float(track["length_m"]))
    doc["corners"] = [{"corner": str(x["name"]), "distance_m": float(x["distance_m"]),
                       "segment_m": [float(bnd[i]), float(bnd[i + 1])]} for i, x in enumerate(corners)]
    if isinstance(telemetry, TelemetryCache):
        doc["issues"] = [{"code": i.code, "message": i.message, "file": i.file, "line": i.line}
                         for i in telemetry.issues]
    if not corners:
        doc.update(available=False, reason=f"no corners listed for {track.get('track_id')} in params/tracks")
        doc["cars"] = []
        return plain(doc)
    if not files:
        doc.update(available=False, reason="no telemetry for this race")
        doc["cars"] = []
        return plain(doc)
    cars = [analyse_car(p, v, laps, track, c, impl) for v, p in sorted(files.items())]
    doc["cars"] = cars
    doc["section_check"] = section_check_summary(cars, float(c["section_tolerance_s"]))
    if sector_lines(track) is None:
        doc["section_check"]["reason"] = f"no sector_lengths_m for {track.get('track_id')} in params/tracks"
    doc["available"] = any(car.get("corners") for car in cars)
    if not doc["available"]:
        doc["reason"] = "no car has a complete lap"
    doc["not_computed"] = [{"vehicle_id": car["vehicle_id"], "car": car["car"], **x} for car in cars
                           for x in car["not_computed"]]
    return plain(doc)


def headline(doc: dict) -> dict:
    """The corner where the field's cars lose the most to their own best lap (median per-corner delta)."""
    if not doc.get("available"):
        return {"text": f"telemetry: {doc.get('reason') or 'not available'}"}
    losses: dict[str, list[float]] = {}
    for car in doc.get("cars", []):
        for item in car.get("corners", []):
            v = (item.get("delta_s") or {}).get("value")
            if v is not None:
                losses.setdefault(item["corner"], []).append(v)
    if not losses:
        return {"text": "telemetry: no car has enough laps for per-corner medians"}
    top = max(losses, key=lambda k: (np.median(losses[k]), k))
    return {"corner": top, "cars": len(losses[top]),
            "text": f"telemetry: most time lost to the car's own best lap at {top} (median "
                    f"{fmt3(float(np.median(losses[top])))} s a lap over {len(losses[top])} cars)"}


def documents(doc: dict) -> list[dict]:
    """Store documents: one per car and corner (the medians), one per car-lap-corner."""
    race_id, track_id = doc["race_id"], doc.get("track_id")
    base = {"type": "telemetry", "engine": "telemetry", "race_id": race_id, "track_id": track_id}
    out = []
    for car in doc.get("cars", []):
        who = car.get("car") or car["vehicle_id"]
        for item in car.get("corners", []):
            b, m = item.get("brake_m") or {}, item.get("min_kph") or {}
            msg = (f"{item['corner']}: brakes at {fmt3(b.get('value'))} m (95% CI {fmt3(b.get('lo'))} to "
                   f"{fmt3(b.get('hi'))}, n={b.get('n')}), minimum {fmt3(m.get('value'))} km/h")
            out.append({"id": doc_id(race_id, who, "t", item["corner"]), **base, "car": who, "scope": "car",
                        "lap": None, "corner": item["corner"], **{k: item.get(k) for k in METRICS},
                        "message": msg})
        for lap in car.get("laps", []):
            for x in lap["corners"]:
                out.append({"id": doc_id(race_id, who, "t", lap["lap"] if lap["lap"] is not None else
                                         f"c{lap['car_lap']}", x["corner"]), **base, "car": who, "scope": "lap",
                            "lap": lap["lap"], "car_lap": lap["car_lap"], "is_clean": lap.get("is_clean"),
                            "corner": x["corner"], **{k: x.get(k) for k in METRICS}})
    return [plain(d) for d in out]
