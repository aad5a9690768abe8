#!/usr/bin/env python3
"""Live mode, end to end (figures printed, nothing asserted): from a crossing published into the store to the
browser's DOM showing it. A sample race (barber-r1) is replayed at ``--speed`` into a SQLite store by
``publish_live`` (in this process; ``time.time()`` recorded just after each event's append) while `serve` (the
built app, a subprocess) streams it to Debian's chromium on /race/barber-r1/live. The page logs per applied event
``performance.now()`` when the event arrived and after React committed the DOM showing it (window.__liveLog, by
event id); ``performance.timeOrigin`` puts both on the same clock as the publisher's.

    python bench/live.py [--speed 10] [--limit 300] [--poll-s 0.25] [--analysis-every 1] [--reps 1000]
                         [--engines background|inline|both]

Prints per update p50/p95/max: publish -> event at the page (the store poll, the stream, EventSource), event ->
DOM committed (applyPatch and render) and publish -> DOM; the server side per update (state + patch, the store
append) and the engines per leader lap; the load average. ``--poll-s``: the stream's store poll (default
params/serve.yaml live.poll_s, the figure a deployment gets). ``--engines``: where the engines run after each
leader lap — ``background`` (a worker process, publish_live's default), ``inline`` (on the replay's thread, in
the leader's crossing: how it was before) or ``both`` (one after the other on the same machine, printed side by
side with the load average during each).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "lib"), str(ROOT / "tests"), str(ROOT)]


def pct(v, q) -> float | None:
    return round(float(np.percentile(v, q)), 1) if len(v) else None


def line(name: str, v) -> str:
    return f"  {name:<34} p50 {pct(v, 50)} ms   p95 {pct(v, 95)} ms   max {pct(v, 100)} ms   (n={len(v)})"


def run_once(a, engines: str) -> dict:
    from playwright.sync_api import sync_playwright

    from test_live_web import ARGS, CHROMIUM, RACE, Publisher, sample_race, start_server

    with tempfile.TemporaryDirectory() as tmp:
        race = sample_race(Path(tmp))
        url = f"sqlite:///{Path(tmp) / 'store.db'}"
        pub = Publisher(race, url, speed=a.speed, analysis_every=a.analysis_every, limit=a.limit or None,
                        reps=a.reps, background=engines == "background")
        pub.start()
        pub.first.wait(120)
        override = None
        if a.poll_s is not None:
            from serve.security import serve_config
            override = {**serve_config()["live"], "poll_s": a.poll_s}
        proc, base = start_server(url, override)
        try:
            with sync_playwright() as p:
                b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
                pg = b.new_page(viewport={"width": 1500, "height": 1000})
                pg.goto(f"{base}/race/{RACE}/live")
                pg.wait_for_selector("[data-testid=timing-tower] tbody tr")
                load0 = os.getloadavg()
                t0 = time.time()
                pub.go.set()
                pub.join(3600)
                run = pub.run_
                pg.wait_for_function(f"() => (window.__liveLog || []).some(e => e.id >= {run.last_id})", timeout=60000)
                wall = time.time() - t0
                load1 = os.getloadavg()
                origin = pg.evaluate("performance.timeOrigin")
                log = pg.evaluate("window.__liveLog")
                b.close()
        finally:
            proc.terminate()
            proc.wait(10)
    upd = [e for e in log if e["kind"] == "update" and e["id"] in pub.times]
    return {"engines": engines, "run": run, "wall": wall, "load0": load0, "load1": load1, "shown": len(upd),
            "arrive": [(origin + e["recv"]) - pub.times[e["id"]] * 1000 for e in upd],
            "render": [e["shown"] - e["recv"] for e in upd],
            "total": [(origin + e["shown"]) - pub.times[e["id"]] * 1000 for e in upd],
            # the pace: when the page showed a crossing against when the feed's spacing says it is due (the
            # first crossing's publish time + its race time / speed): an analysis on the replay's thread delays
            # every crossing after it, which publish -> DOM alone does not see
            "behind": [((origin + e["shown"]) / 1000 - (anchor + pub.crossing_t[e["id"]] / a.speed)) * 1000
                       for e in upd if e["id"] in pub.crossing_t] if (anchor := _anchor(pub, a.speed)) else []}


def _anchor(pub, speed: float) -> float | None:
    if speed <= 0 or not pub.crossing_t:
        return None
    first = min(pub.crossing_t)
    return pub.times[first] - pub.crossing_t[first] / speed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--speed", type=float, default=10.0)
    ap.add_argument("--limit", type=int, default=300, help="crossings replayed (barber-r1 has ~3000; 300 at "
                                                              "speed 10 is ~25 s; 0: the whole race)")
    ap.add_argument("--poll-s", type=float, default=None, help="the stream's store poll (default: serve.yaml)")
    ap.add_argument("--analysis-every", type=int, default=1)
    ap.add_argument("--reps", type=int, default=None, help="bootstrap resamples (default: the engines')")
    ap.add_argument("--engines", choices=("background", "inline", "both"), default="background")
    a = ap.parse_args()

    from test_live_web import CHROMIUM, DIST, RACE

    if not (DIST / "index.html").is_file():
        print("web app not built (cd web && npm run build)")
        return 1
    modes = ["inline", "background"] if a.engines == "both" else [a.engines]
    res = [run_once(a, m) for m in modes]
    from serve.security import serve_config
    poll = a.poll_s if a.poll_s is not None else serve_config()["live"]["poll_s"]
    r0 = res[0]["run"]
    print(f"live end to end: {RACE}, {r0.crossings} crossings at speed {a.speed:g}, stream poll {poll} s, engines "
          f"every {a.analysis_every} leader lap(s), chromium {CHROMIUM}; {os.cpu_count()} CPUs")
    cols = [f"engines {r['engines']}" for r in res]
    print(f"  {'':<42}" + "".join(f"{c:<48}" for c in cols))

    def row(name, key_or_list):
        cells = []
        for r in res:
            v = key_or_list(r) if callable(key_or_list) else r[key_or_list]
            cells.append(f"p50 {pct(v, 50)}  p95 {pct(v, 95)}  max {pct(v, 100)} ms (n={len(v)})")
        print(f"  {name:<42}" + "".join(f"{c:<48}" for c in cells))

    def text(name, f):
        print(f"  {name:<42}" + "".join(f"{f(r):<48}" for r in res))

    text("replay wall time", lambda r: f"{r['wall']:.1f} s, {r['shown']} of {r['run'].crossings} updates shown")
    print("crossing published -> browser:")
    row("publish -> event at the page", "arrive")
    row("event -> DOM committed", "render")
    row("publish -> DOM (end to end)", "total")
    print("the feed's pace (does an analysis hold it up?):")
    row("crossing due -> DOM (race time/speed)", "behind")
    row("state + JSON Patch per crossing", lambda r: r["run"].update_ms)
    row("store append (SQLite)", lambda r: r["run"].publish_ms)
    row("engines per leader lap", lambda r: r["run"].analysis_ms)
    row("engines asked -> in the state", lambda r: r["run"].analysis_lag_ms)
    text("analyses run / replaced by a later lap", lambda r: f"{len(r['run'].analysis_ms)} / {r['run'].analyses_skipped}")
    text("publisher lag behind the pace at the end", lambda r: f"{r['run'].lag_s:.3f} s")
    text("load average (1, 5, 15 min) before", lambda r: str(tuple(round(x, 2) for x in r["load0"])))
    text("load average (1, 5, 15 min) after", lambda r: str(tuple(round(x, 2) for x in r["load1"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
