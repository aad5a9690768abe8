"""Live mode's events in the store: an ``initial`` event (the full state before the first crossing), one
``update`` per crossing (the crossing and the JSON Patch of the state), an ``end`` when the feed is exhausted.
The store numbers them (monotonic per race), so any server instance streams and resumes from the store alone
(:func:`kaizenlap.store.base.fold_live` rebuilds the state at any id).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from kaizenlap.live.feed import Crossing, Feed, paced
from kaizenlap.live.state import LiveState, analysis_worker
from kaizenlap.store.base import Store


def crossing_summary(c: Crossing) -> dict:
    """The crossing as an update event carries it (the lap row stays in the state's inputs)."""
    return {"car": c.car, "lap": c.lap, "point": c.point, "time_utc": c.time_utc, "t_s": round(c.t_s, 3),
            "sections": c.sections}


@dataclass
class LiveRun:
    race_id: str
    first_id: int = 0
    last_id: int = 0
    crossings: int = 0
    events: int = 0
    update_ms: list[float] = field(default_factory=list)     # state + patch per crossing (server side)
    publish_ms: list[float] = field(default_factory=list)    # the store append per event
    analysis_ms: list[float] = field(default_factory=list)   # the engines, per leader lap
    analysis_lag_ms: list[float] = field(default_factory=list)  # background: asked -> in the state
    analyses_skipped: int = 0                                # background: replaced by a later leader lap
    background: bool = False
    lag_s: float = 0.0                                       # how far behind the feed's pace the last event was
    patch_bytes: list[int] = field(default_factory=list)

    def figures(self) -> dict:
        def pct(v, q):
            return round(float(np.percentile(v, q)), 3) if v else None
        return {"race_id": self.race_id, "events": self.events, "crossings": self.crossings,
                "first_id": self.first_id, "last_id": self.last_id,
                "update_ms_p50": pct(self.update_ms, 50), "update_ms_p95": pct(self.update_ms, 95),
                "update_ms_max": pct(self.update_ms, 100), "publish_ms_p95": pct(self.publish_ms, 95),
                "analysis_ms_p50": pct(self.analysis_ms, 50), "analysis_ms_max": pct(self.analysis_ms, 100),
                "analyses": len(self.analysis_ms), "analyses_skipped": self.analyses_skipped,
                "analysis_lag_ms_p95": pct(self.analysis_lag_ms, 95), "background": self.background,
                "patch_bytes_p95": pct(self.patch_bytes, 95),
                "lag_s": round(self.lag_s, 3)}


def publish_live(feed: Feed, store: Store | None, speed: float = 10.0, analysis_every: int = 1,
                 on_event: Callable[[int, str, dict], None] | None = None, limit: int | None = None,
                 sleep: Callable[[float], None] = time.sleep, background: bool = True) -> LiveRun:
    """Replay ``feed`` at ``speed`` into a :class:`LiveState`, appending every event to ``store`` (None: none,
    for a bench). ``limit``: stop after that many crossings (no ``end`` event then). ``on_event(id, kind,
    data)`` after each append. ``background``: the engines run in a worker process (:func:`analysis_worker`),
    so an analysis never holds up a crossing; False: on this thread, in the leader's crossing (the figures
    before that change, bench/live.py ``--inline``). The ``end`` event carries, as ``patch``, the engines over
    every lap crossed (when ``analysis_every`` > 0)."""
    executor = analysis_worker() if background and analysis_every > 0 else None
    try:
        return _publish(feed, store, speed, analysis_every, on_event, limit, sleep, executor)
    finally:
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


def _publish(feed, store, speed, analysis_every, on_event, limit, sleep, executor) -> LiveRun:
    meta = feed.meta()
    race_id = meta["race_id"]
    run = LiveRun(race_id, background=executor is not None)
    state = LiveState(meta, analysis_every, executor)
    counter = [store.live_last_id(race_id) if store is not None else 0]

    def emit(kind: str, data: dict) -> None:
        t0 = time.perf_counter()
        if store is not None:
            eid = store.append_live_events(race_id, [{"kind": kind, "data": data}])[0]
        else:
            counter[0] += 1
            eid = counter[0]
        run.publish_ms.append((time.perf_counter() - t0) * 1000)
        run.first_id = run.first_id or eid
        run.last_id = eid
        run.events += 1
        if on_event:
            on_event(eid, kind, data)

    emit("initial", {"state": state.snapshot(), "speed": speed})
    start = time.monotonic()
    first_t = None
    for c in paced(feed.crossings(), speed, sleep=sleep):
        if limit is not None and run.crossings >= limit:
            run.analysis_lag_ms = [x * 1000 for x in state.analysis_lag_s]
            run.analyses_skipped = state.skipped
            return run
        first_t = c.t_s if first_t is None else first_t
        n_analyses = len(state.analysis_s)
        t0 = time.perf_counter()
        patch = state.apply(c)
        run.update_ms.append((time.perf_counter() - t0) * 1000)
        run.analysis_ms += [x * 1000 for x in state.analysis_s[n_analyses:]]
        data = {"crossing": crossing_summary(c), "patch": patch}
        run.patch_bytes.append(len(json.dumps(patch)))
        emit("update", data)
        run.crossings += 1
        if speed > 0:
            run.lag_s = max(0.0, (time.monotonic() - start) - (c.t_s - first_t) / speed)
    n_analyses = len(state.analysis_s)
    final = state.finish()
    run.analysis_ms += [x * 1000 for x in state.analysis_s[n_analyses:]]
    run.analysis_lag_ms = [x * 1000 for x in state.analysis_lag_s]
    run.analyses_skipped = state.skipped
    emit("end", {"reason": "the feed ended", "crossings": run.crossings, **({"patch": final} if final else {})})
    return run
