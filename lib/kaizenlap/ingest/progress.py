"""A race's progress lap by lap, from the lap table's crossing times (the race's story: who led, by how much,
who was lapped, when the cautions were).

One rule for the running order, shared with live mode (:mod:`kaizenlap.live.state` sorts its cars by
:func:`order_key`): the car with more of the race behind it is ahead; between cars that have covered as much, the
one that got there first. At the finish line of lap ``k`` that gives

* ``position`` = 1 + the cars that crossed the line ending their lap ``k`` earlier (a car that never reached
  lap ``k`` is behind; ties by car id);
* ``gap_s`` = the car's race time at that line − the race time of the first car across it (the leader of lap
  ``k``): for a lapped car the time since the leader passed the same line on the same lap, so it includes the laps
  it is down;
* ``laps_down`` = the laps the race leader had completed when the car crossed (the most laps any car had finished
  by then) − ``k``;
* the classification at the end (``final_position``): the live order after the last crossing, most laps first,
  then the earlier race time at the car's last line (the timing's classification; official penalties are not in
  the lap data);
* a caution lap: a lap ``k`` whose leader crossed the line under a flag other than green (the ingest's
  ``flag_caution``: FLAG_AT_FL not in ``params/ingest.yaml`` ``flags.green_flags``);
* each car's fastest lap: :func:`kaizenlap.ingest.reconcile.best_laps`, the one best-lap rule.

Race time at the line is the timing file's ``elapsed_s`` (ELAPSED: the race clock when the car crossed); a lap
without it takes the car's previous race time plus its lap time.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from kaizenlap.ingest.reconcile import best_laps


def order_key(progress: int, t_s: float, car: str) -> tuple:
    """The running order's sort key: more progress (timing points passed) first, then the earlier time at the last
    one, then the car id. Live mode and :func:`race_progress` both sort by it."""
    return (-progress, t_s, car)


def race_times(laps: pd.DataFrame) -> pd.Series:
    """Each car-lap's race time at the line (s): ``elapsed_s``, or where it is missing the car's previous race
    time plus the lap time (NaN where neither is known). Index as ``laps``."""
    df = laps[["car", "lap", "elapsed_s", "lap_time_s"]].sort_values(["car", "lap"], kind="stable")
    out = pd.Series(np.nan, index=df.index)
    for _, g in df.groupby("car", sort=False):
        prev = 0.0
        for idx, e, lt, lap in zip(g.index, g["elapsed_s"].to_numpy(float), g["lap_time_s"].to_numpy(float),
                                   g["lap"].to_numpy()):
            t = e if math.isfinite(e) else (prev + lt if math.isfinite(prev) and math.isfinite(lt) and lap > 0
                                            else math.nan)
            out[idx] = t
            prev = t
    return out.reindex(laps.index)


def _r(x) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else round(float(x), 3)


def race_progress(laps: pd.DataFrame, official: pd.DataFrame | None = None) -> dict:
    """``laps``: a race's lap table (ingest's columns with its ``flag_*``); ``official``: the race's reconciliation
    table (``car``, ``official_position``), whose position each car carries beside the timing's. Returns ``leader_laps`` (laps the winner
    completed), ``caution_laps``, ``cars`` (in classification order: ``car``, ``number``, ``class``,
    ``final_position``, ``official_position``, ``laps``, ``race_time_s``, ``gap_s``, ``laps_down``, ``best_lap_s``, ``best_lap`` and
    ``by_lap`` (its laps in order: ``lap``, ``race_time_s``, ``position``, ``gap_s``, ``laps_down``))."""
    if laps.empty:
        return {"leader_laps": 0, "winner_time_s": None, "caution_laps": [], "cars": []}
    df = laps[["car", "number", "class", "lap", "elapsed_s", "lap_time_s", "flag_caution"]].copy()
    df["t"] = race_times(df)
    df = df[np.isfinite(df["t"].to_numpy(float))]
    df["car"] = df["car"].astype(str)
    # position at each line: rank of the race time among the cars that finished that lap
    df = df.sort_values(["lap", "t", "car"], kind="stable")
    df["position"] = df.groupby("lap", sort=False).cumcount() + 1
    first = df.groupby("lap", sort=False).first()
    df["gap"] = df["t"].to_numpy(float) - first["t"].reindex(df["lap"]).to_numpy(float)
    # the leader's laps at each crossing: the most laps any car had finished by then (crossings in time order)
    by_time = df.sort_values(["t", "lap"], kind="stable")
    lead = pd.Series(np.maximum.accumulate(by_time["lap"].to_numpy(int)), index=by_time.index)
    df["laps_down"] = lead.reindex(df.index).to_numpy(int) - df["lap"].to_numpy(int)
    caution = sorted(int(k) for k, c in first["flag_caution"].items() if bool(c))

    last = df.sort_values(["car", "lap"], kind="stable").groupby("car", sort=False).last()
    order = sorted(last.index, key=lambda c: order_key(int(last.at[c, "lap"]), float(last.at[c, "t"]), c))
    winner = order[0]
    w_laps, w_t = int(last.at[winner, "lap"]), float(last.at[winner, "t"])
    w_times = df[df["car"] == winner].set_index("lap")["t"]
    bests = best_laps(laps.assign(car=laps["car"].astype(str))).set_index("car")
    off = {} if official is None or "official_position" not in official else {
        str(c): int(p) for c, p in zip(official["car"], official["official_position"]) if not pd.isna(p)}
    cars = []
    for pos, car in enumerate(order, 1):
        n, t = int(last.at[car, "lap"]), float(last.at[car, "t"])
        # at the flag: behind the winner at the same line (a lapped car: the winner's time at its last lap)
        gap = t - float(w_times[n]) if n in w_times.index else None
        b = bests.loc[car] if car in bests.index else None
        g = df[df["car"] == car].sort_values("lap")
        cars.append({"car": car, "number": str(last.at[car, "number"]),
                     "class": None if pd.isna(last.at[car, "class"]) else str(last.at[car, "class"]),
                     "final_position": pos, "official_position": off.get(car), "laps": n, "race_time_s": _r(t),
                     "gap_s": _r(gap), "laps_down": w_laps - n,
                     "best_lap_s": None if b is None or pd.isna(b["best_lap_s"]) else _r(b["best_lap_s"]),
                     "best_lap": None if b is None or pd.isna(b["best_lap_number"]) else int(b["best_lap_number"]),
                     "by_lap": [{"lap": int(k), "race_time_s": _r(tt), "position": int(p), "gap_s": _r(gp),
                                 "laps_down": int(d)}
                                for k, tt, p, gp, d in zip(g["lap"], g["t"], g["position"], g["gap"], g["laps_down"])]})
    return {"leader_laps": w_laps, "winner_time_s": _r(w_t), "caution_laps": caution, "cars": cars}


__all__ = ["order_key", "race_progress", "race_times"]
