"""Live mode's state: what a race looks like after each crossing, computed from the crossings so far only.

After every crossing (cheap, O(cars)): running order, gap to the leader and interval to the car ahead (at the
timing point the car just crossed), laps completed, last and best lap, and per section the car's last time with
its colour (``overall_best``: the fastest time of the field so far; ``personal_best``: the car's own fastest
so far; else ``none``). After every leader lap (each ``analysis_every`` laps; the engines cost about a second a
lap, too much for every crossing): the laps finished so far are flagged again (:func:`flagged`: the ingest's
own rules over those laps only) and given to the post-race engines' functions: the field composite
(``composite.field_composite``), each car's section losses with their intervals (``sections.analyse``) and its
trend and consistency (``pattern.analyse``). Nothing reads a lap that has not been crossed, so the state at the
leader's lap k equals a batch computation over the race truncated at that moment (tests/test_live.py).

:meth:`LiveState.apply` returns the change as a JSON Patch (RFC 6902) against the previous :meth:`snapshot`.
"""
from __future__ import annotations

import logging
import math
import multiprocessing
from contextlib import nullcontext
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import pandas as pd

from kaizenlap.core import params
from kaizenlap.core.jsonclean import plain
from kaizenlap.engines import composite, pattern, sections
from kaizenlap.engines.common import SECTION_SETS, clean, engine_settings
from kaizenlap.engines.common import cfg as engine_cfg
from kaizenlap.ingest.flags import add_flags
from kaizenlap.ingest.laps import LAP_COLUMNS, SECTIONS
from kaizenlap.ingest.progress import order_key
from kaizenlap.live.feed import POINTS, Crossing
from kaizenlap.live.note import notes as coaching_notes, race_docs

log = logging.getLogger("kaizenlap.live")
COLOURS = ("overall_best", "personal_best", "none")
EPS = 1e-9


def _r(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 3)


# ------------------------------------------------------------------------------------------------ the engines

def laps_frame(meta: dict, rows: list[dict]) -> pd.DataFrame:
    """The lap table (ingest's columns and dtypes) of the laps finished so far (``rows``: each car's static
    fields from ``meta`` and the lap's crossing row and section times)."""
    cars = {c["car"]: c for c in meta["cars"]}
    recs = [{**cars[r["car"]], "track_id": meta["track_id"], "race_id": meta["race_id"], **r} for r in rows]
    df = pd.DataFrame(recs, columns=list(LAP_COLUMNS)) if recs else pd.DataFrame(columns=list(LAP_COLUMNS))
    df["crossing_utc"] = pd.to_datetime(df["crossing_utc"], utc=True, format="ISO8601")
    df["lap_improvement"] = pd.NA
    for col, dtype in LAP_COLUMNS.items():
        if col == "crossing_utc":
            continue
        df[col] = df[col].astype(dtype)
    return df


def flagged(laps: pd.DataFrame, track: dict) -> pd.DataFrame:
    """``laps`` (a race so far) flagged by the ingest's rules over those laps only: the race's median, the
    car's trend, the lap after a pit or a caution as far as they go. The officials' deletions (the best-10 file,
    LAP_IMPROVEMENT) are post-race and not used."""
    laps = laps[list(LAP_COLUMNS)].sort_values(["car", "lap"], kind="stable").reset_index(drop=True)
    laps["lap_improvement"] = pd.array([pd.NA] * len(laps), dtype="Int64")
    return add_flags(laps, track)


def _est(d: dict | None) -> dict | None:
    return None if d is None else {k: d.get(k) for k in ("value", "lo", "hi", "n")}


def analysis(laps: pd.DataFrame, race_id: str) -> dict:
    """The engines' view of ``laps`` (flagged): the field composite per section set, and per car its section
    losses (the preferred set: sub-sections when it has them), its trend and consistency and its coaching note
    (:mod:`kaizenlap.live.note`: the post-race coaching rules on these laps)."""
    pool = clean(laps)
    out: dict[str, Any] = {"laps": int(len(laps)), "clean_laps": int(len(pool)),
                           "composite": {name: composite.field_composite(pool, cols)
                                         for name, cols in SECTION_SETS.items()}, "cars": {}}
    if laps.empty:
        return plain(out)
    sec = sections.analyse(laps, race_id)
    pat = pattern.analyse(laps, race_id)
    for c in sec["cars"]:
        s = c.get(c.get("preferred_set", "sectors")) or {}
        entry = {"section_set": c.get("preferred_set"), "available": bool(s.get("available")),
                 "n": s.get("n", 0)}
        if s.get("available"):
            entry["total_loss_s"] = s.get("total_loss_s")
            entry["sections"] = [{"section": x["section"], "rank": x["rank"], "significant": x["significant"],
                                  "section_loss": _est(x["section_loss"]), "loss": _est(x["loss"]),
                                  "pace_gap": _est(x["pace_gap"]), "consistency_cost": _est(x["consistency_cost"])}
                                 for x in s["sections"]]
        else:
            entry["reason"] = s.get("reason")
        out["cars"].setdefault(c["car"], {})["section_losses"] = entry
    for c in pat["cars"]:
        t = c.get("trend") or {}
        entry = {"available": bool(c.get("available")), "n_clean": c.get("n_clean"), "label": t.get("label")}
        if c.get("available"):
            entry.update(slope_s_per_lap=_est(t.get("slope_s_per_lap")), q_value=t.get("q_value"),
                         residual_sd_s=c.get("residual_sd_s"),
                         consistency_percentile=c.get("consistency_percentile"),
                         inconsistency_driver=c.get("inconsistency_driver"))
        else:
            entry["label"] = c.get("reason")
        out["cars"].setdefault(c["car"], {})["trend"] = entry
    for car, note in coaching_notes(race_docs(laps, race_id, {"sections": sec, "pattern": pat})).items():
        out["cars"].setdefault(car, {})["note"] = note
    return plain(out)


def analyse_rows(meta: dict, rows: list[dict], track: dict, settings: dict | None = None) -> tuple[dict, float]:
    """:func:`analysis` of the laps ``rows`` (as :class:`LiveState` keeps them), under the engine ``settings``
    in force where it was asked for (a worker process does not inherit an :func:`engine_settings` block), and
    the seconds it took. A module function, so a process pool can run it."""
    t0 = time.perf_counter()
    with engine_settings(settings) if settings is not None else nullcontext():
        out = analysis(flagged(laps_frame(meta, rows), track), meta["race_id"])
    return out, time.perf_counter() - t0


def _warm() -> bool:
    return True


def analysis_worker() -> Executor:
    """One worker process for the engines (spawned: safe beside the threads of a server or a test), already
    started, so an analysis never runs on the thread that publishes the feed. Where no process can be spawned
    (a script whose main module starts the replay on import, without ``if __name__ == "__main__"``), a worker
    thread instead: off the replay's thread still, sharing its interpreter."""
    ex = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    try:
        ex.submit(_warm).result(timeout=120)
        return ex
    except (BrokenProcessPool, RuntimeError, OSError, TimeoutError) as exc:
        ex.shutdown(wait=False, cancel_futures=True)
        log.warning("live: no worker process for the engines (%s); a worker thread instead", exc)
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-engines")


# ------------------------------------------------------------------------------------------------ JSON Patch

def _escape(key: str) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def diff(a: Any, b: Any, path: str = "") -> list[dict]:
    """A JSON Patch taking ``a`` to ``b``: objects member by member, anything else (lists included) replaced."""
    if a is b:                      # the engines' output kept by reference: unchanged without a look
        return []
    if isinstance(a, dict) and isinstance(b, dict):
        ops = [{"op": "remove", "path": f"{path}/{_escape(k)}"} for k in a if k not in b]
        for k, v in b.items():
            p = f"{path}/{_escape(k)}"
            ops += [{"op": "add", "path": p, "value": v}] if k not in a else diff(a[k], v, p)
        return ops
    if type(a) is type(b) and a == b:
        return []
    return [{"op": "replace", "path": path, "value": b}]


# ------------------------------------------------------------------------------------------------ the state

class LiveState:
    """The state of one race after the crossings applied so far."""

    def __init__(self, meta: dict, analysis_every: int = 1, executor: Executor | None = None) -> None:
        """``executor``: where the engines run (:func:`analysis_worker`); None: in :meth:`apply`, before it
        returns (the analysis is then in the patch of the leader's crossing). With an executor the analysis of
        the leader's lap k is computed on the laps crossed at that moment (a copy), and lands in the patch of
        the first crossing after it finished; while one runs, only the latest leader lap waits its turn."""
        self.meta = meta
        self.executor = executor
        self._running: tuple[int, Future] | None = None     # (leader lap, the analysis computing it)
        self._waiting: tuple[int, list[dict]] | None = None  # the latest leader lap not yet started
        self.skipped = 0                                    # leader laps whose analysis a later one replaced
        self.analysis_lag_s: list[float] = []               # submitted -> in the state (background only)
        self.race_id = meta["race_id"]
        self.track = params.tracks().get(meta["track_id"], {})
        t = self.track
        # the traced map, static: kept by reference so the patches never compare it again
        self.track_map = {"name": t.get("name"), "sector_fractions": t.get("sector_fractions"),
                          "outline": [{"x": float(p[0]), "y": float(p[1])} for p in t["outline"]]} \
            if t.get("outline") and t.get("sector_fractions") else None
        self.analysis_every = int(analysis_every)
        self.cars = {c["car"]: c for c in meta["cars"]}
        self.passes: dict[str, dict[int, float]] = {c: {} for c in self.cars}     # q -> t_s
        self.pos: dict[str, tuple[int, float]] = {c: (0, math.inf) for c in self.cars}  # last (q, t_s)
        self.where: dict[str, tuple[int, str] | None] = {c: None for c in self.cars}   # last (lap, point)
        self.laps_done = {c: 0 for c in self.cars}
        self.last_lap: dict[str, tuple[float, int]] = {}
        self.best_lap: dict[str, tuple[float, int]] = {}
        self.pit: dict[str, bool] = {}
        self.sec_last: dict[str, dict[str, tuple[float, int]]] = {c: {} for c in self.cars}
        self.sec_best: dict[str, dict[str, tuple[float, int]]] = {c: {} for c in self.cars}
        self.field_sec: dict[str, tuple[float, str, int]] = {}
        self.rows: list[dict] = []
        self.lap_secs: dict[str, dict] = {}
        self.leader_lap = 0
        self.analysed: dict | None = None
        self.analysed_at: int | None = None
        self.clock: tuple[str, float] | None = None
        self.flag: dict | None = None       # the flag at the line (FLAG_AT_FL) of the latest line crossing
        self.n = 0
        self.analysis_s: list[float] = []
        self._snap = self.snapshot()

    # --- input ------------------------------------------------------------------------------------------
    def apply(self, c: Crossing) -> list[dict]:
        """Take one crossing; the change of :meth:`snapshot` as a JSON Patch."""
        if c.car not in self.cars:      # a car the meta did not list (a real feed): it joins the field
            self.cars[c.car] = {"car": c.car, "number": c.car}
            for d in (self.passes, self.sec_last, self.sec_best):
                d[c.car] = {}
            self.pos[c.car], self.where[c.car], self.laps_done[c.car] = (0, math.inf), None, 0
        self.n += 1
        self.collect()
        lap_secs = self.lap_secs.setdefault(c.car, {})
        if lap_secs.get("lap") != c.lap:
            lap_secs.clear()
            lap_secs["lap"] = c.lap
        lap_secs.update(c.sections)                 # as timed, zeros and glitches too (the flags judge them)
        self.clock = (c.time_utc, c.t_s)
        self.passes[c.car][c.q] = c.t_s
        self.pos[c.car] = (c.q, c.t_s)
        self.where[c.car] = (c.lap, c.point)
        for name, t in c.sections.items():
            if t is None or not t > 0:
                continue
            self.sec_last[c.car][name] = (t, c.lap)
            own = self.sec_best[c.car].get(name)
            if own is None or t < own[0] - EPS:
                self.sec_best[c.car][name] = (t, c.lap)
            best = self.field_sec.get(name)
            if best is None or t < best[0] - EPS:
                self.field_sec[name] = (t, c.car, c.lap)
        if c.point == POINTS[-1] and c.row is not None:
            self.laps_done[c.car] = c.lap
            fl = c.row.get("flag")
            if fl:
                if self.flag is None or self.flag["value"] != fl:
                    self.flag = {"value": fl, "since_t_s": _r(c.t_s), "since_lap": max(self.leader_lap, c.lap),
                                 "car": c.car}
            lt = c.row.get("lap_time_s")
            self.pit[c.car] = bool(c.row.get("pit_in"))
            if lt is not None and lt > 0:
                self.last_lap[c.car] = (lt, c.lap)
                if c.car not in self.best_lap or lt < self.best_lap[c.car][0] - EPS:
                    self.best_lap[c.car] = (lt, c.lap)
            self.rows.append({"car": c.car, "lap": c.lap, **c.row,
                              **{f"{s}_s": lap_secs.get(s) for s in SECTIONS}})
            if c.lap > self.leader_lap:
                self.leader_lap = c.lap
                if self.analysis_every > 0 and c.lap % self.analysis_every == 0:
                    self.analyse()
        new = self.snapshot()
        ops = diff(self._snap, new)
        self._snap = new
        return ops

    def analyse(self) -> None:
        """The engines on the laps crossed so far (at the leader's lap now): at once, or on the executor."""
        if self.executor is None:
            out, took = analyse_rows(self.meta, self.rows, self.track)
            self.analysed, self.analysed_at = out, self.leader_lap
            self.analysis_s.append(took)
            return
        if self._waiting is not None:
            self.skipped += 1
        self._waiting = (self.leader_lap, list(self.rows))
        self.collect()

    def collect(self, wait: bool = False) -> bool:
        """Take a finished background analysis into the state and start the one waiting; ``wait``: until none
        runs or waits. True when the state's analysis changed."""
        changed = False
        while True:
            if self._running is not None:
                lap, fut = self._running
                if not (wait or fut.done()):
                    return changed
                out, took = fut.result()
                self._running = None
                self.analysed, self.analysed_at = out, lap
                self.analysis_s.append(took)
                self.analysis_lag_s.append(time.perf_counter() - fut.submitted_at)  # type: ignore[attr-defined]
                changed = True
            if self._waiting is None:
                return changed
            lap, rows = self._waiting
            self._waiting = None
            fut = self.executor.submit(analyse_rows, self.meta, rows, self.track, engine_cfg())
            fut.submitted_at = time.perf_counter()  # type: ignore[attr-defined]
            self._running = (lap, fut)
            if not wait:
                return changed

    def finish(self) -> list[dict]:
        """The feed ended: the analyses still running land, then one over every lap crossed (the laps the
        cars finished after the leader's last line too); the change as a JSON Patch."""
        if self.analysis_every > 0 and self.rows:
            self.collect(wait=True)
            out, took = analyse_rows(self.meta, self.rows, self.track, engine_cfg()) if self.executor is None \
                else self.executor.submit(analyse_rows, self.meta, list(self.rows), self.track, engine_cfg()).result()
            self.analysed, self.analysed_at = out, self.leader_lap
            self.analysis_s.append(took)
        new = self.snapshot()
        ops = diff(self._snap, new)
        self._snap = new
        return ops

    # --- output -----------------------------------------------------------------------------------------
    def order(self) -> list[str]:
        """The running order: the one rule (:func:`kaizenlap.ingest.progress.order_key`) the race's progress
        document uses too."""
        return sorted(self.cars, key=lambda car: order_key(self.pos[car][0], self.pos[car][1], car))

    def snapshot(self) -> dict:
        """The full state (JSON): docs/DATA_REFERENCE.md "Live mode"."""
        order = self.order()
        leader = order[0] if order and self.pos[order[0]][0] > 0 else None
        cars = {}
        for i, car in enumerate(order):
            q, t = self.pos[car]
            ahead = order[i - 1] if i > 0 else None
            meta = self.cars[car]
            where = self.where[car]
            entry = {"car": car, "number": meta.get("number"), "class": meta.get("class"),
                     "driver_name": meta.get("driver_name"), "team": meta.get("team"),
                     "position": i + 1, "laps": self.laps_done[car],
                     "lap": where[0] if where else None, "point": where[1] if where else None,
                     "t_s": _r(t) if q else None,
                     "gap_to_leader_s": None, "laps_behind_leader": None, "interval_s": None, "laps_behind_ahead": None,
                     "last_lap_s": _r(self.last_lap[car][0]) if car in self.last_lap else None,
                     "best_lap_s": _r(self.best_lap[car][0]) if car in self.best_lap else None,
                     "best_lap": self.best_lap[car][1] if car in self.best_lap else None,
                     "pit_in": self.pit.get(car, False)}
            if q and leader is not None:
                for other, gap, laps in ((leader, "gap_to_leader_s", "laps_behind_leader"),
                                         (ahead, "interval_s", "laps_behind_ahead")):
                    if other is None:
                        continue
                    passed = self.passes[other].get(q)
                    entry[gap] = _r(t - passed) if passed is not None else None
                    entry[laps] = (self.pos[other][0] - q) // len(POINTS)
            secs = {}
            for name in SECTIONS:
                last = self.sec_last[car].get(name)
                if last is None:
                    continue
                own, fld = self.sec_best[car][name], self.field_sec[name]
                colour = ("overall_best" if last[0] <= fld[0] + EPS else
                          "personal_best" if last[0] <= own[0] + EPS else "none")
                secs[name] = {"last_s": _r(last[0]), "lap": last[1], "best_s": _r(own[0]), "colour": colour}
            entry["sections"] = secs
            a = (self.analysed or {}).get("cars", {}).get(car, {})
            entry["section_losses"] = a.get("section_losses")
            entry["trend"] = a.get("trend")
            entry["note"] = a.get("note")
            cars[car] = entry
        best = min(((v[0], v[1], car) for car, v in self.best_lap.items()), default=None)
        an = self.analysed or {}
        # No plain() here: every value is already JSON (rounded floats, the engines' plain output kept by
        # reference, so an unchanged analysis compares by identity in :func:`diff`).
        return {
            "race_id": self.race_id, "track_id": self.meta["track_id"], "race_number": self.meta.get("race_number"),
            "date": self.meta.get("date"), "start_utc": self.meta.get("start_utc"),
            "clock_utc": self.clock[0] if self.clock else None, "t_s": _r(self.clock[1]) if self.clock else None,
            "crossings": self.n, "leader": leader, "leader_lap": self.leader_lap, "order": order, "cars": cars,
            "flag": dict(self.flag) if self.flag else None, "track": self.track_map,
            "field": {"best_lap": {"time_s": _r(best[0]), "lap": best[1], "car": best[2]} if best else None,
                      "sections": {name: {"time_s": _r(v[0]), "car": v[1], "lap": v[2]}
                                   for name, v in sorted(self.field_sec.items())},
                      "composite": an.get("composite"),
                      "analysis": {"leader_lap": self.analysed_at, "laps": an.get("laps"),
                                   "clean_laps": an.get("clean_laps")} if self.analysed else None}}


def state_at(feed_crossings, meta: dict, until_t_s: float, analysis_every: int = 1) -> LiveState:
    """The state after every crossing at or before ``until_t_s`` (a helper for notebooks and tests)."""
    st = LiveState(meta, analysis_every)
    for c in feed_crossings:
        if c.t_s > until_t_s:
            break
        st.apply(c)
    return st


__all__ = ["COLOURS", "LiveState", "analyse_rows", "analysis", "analysis_worker", "diff", "flagged", "laps_frame", "state_at"]
