#!/usr/bin/env python3
"""Live mode, end to end (figures printed, nothing asserted): from a crossing published into the store to the
browser's DOM showing it. A sample race (barber-r1) is replayed at ``--speed`` into a SQLite store by
``publish_live`` (in this process; ``time.time()`` recorded just after each event's append) while `serve` (the
built app, a subprocess) streams it to Debian's chromium on /race/barber-r1/live. The page logs per applied event
``performance.now()`` when the event arrived and after React committed the DOM showing it (window.__liveLog, by
event id); ``performance.timeOrigin`` puts both on the same clock as the publisher's.

    python bench/live.py [--speed 10] [--limit 300] [--poll-s 0.25] [--analysis-every 1] [--reps 1000]

Prints per update p50/p95/max: publish -> event at the page (the store poll, the stream, EventSource), event ->
DOM committed (applyPatch and render) and publish -> DOM; the server side per update (state + patch, the store
append) and the engines per leader lap; the load average. ``--poll-s``: the stream's store poll (default
params/serve.yaml live.poll_s, the figure a deployment gets).
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--speed", type=float, default=10.0)
    ap.add_argument("--limit", type=int, default=300, help="crossings replayed (barber-r1 has ~3000; 300 at "
                                                              "speed 10 is ~25 s)")
    ap.add_argument("--poll-s", type=float, default=None, help="the stream's store poll (default: serve.yaml)")
    ap.add_argument("--analysis-every", type=int, default=1)
    ap.add_argument("--reps", type=int, default=None, help="bootstrap resamples (default: the engines')")
    a = ap.parse_args()

    from playwright.sync_api import sync_playwright

    from test_live_web import ARGS, CHROMIUM, DIST, RACE, Publisher, sample_race, start_server

    if not (DIST / "index.html").is_file():
        print("web app not built (cd web && npm run build)")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        race = sample_race(Path(tmp))
        url = f"sqlite:///{Path(tmp) / 'store.db'}"
        pub = Publisher(race, url, speed=a.speed, analysis_every=a.analysis_every, limit=a.limit, reps=a.reps)
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
    arrive = [(origin + e["recv"]) - pub.times[e["id"]] * 1000 for e in upd]
    render = [e["shown"] - e["recv"] for e in upd]
    total = [(origin + e["shown"]) - pub.times[e["id"]] * 1000 for e in upd]
    from serve.security import serve_config
    poll = a.poll_s if a.poll_s is not None else serve_config()["live"]["poll_s"]
    print(f"live end to end: {RACE}, {run.crossings} crossings at speed {a.speed:g} in {wall:.1f} s, "
          f"stream poll {poll} s, engines every {a.analysis_every} leader lap(s), chromium {CHROMIUM}")
    print(f"  updates shown by the page: {len(upd)} of {run.crossings}")
    print("crossing published -> browser:")
    print(line("publish -> event at the page", arrive))
    print(line("event -> DOM committed", render))
    print(line("publish -> DOM (end to end)", total))
    print("server side per update:")
    print(line("state + JSON Patch", run.update_ms))
    print(line("store append (SQLite)", run.publish_ms))
    if run.analysis_ms:
        print(line("engines per leader lap", run.analysis_ms))
    print(f"  patch bytes p95 {pct(run.patch_bytes, 95)}; publisher lag behind the pace at the end {run.lag_s:.3f} s")
    print(f"load average (1, 5, 15 min) before {tuple(round(x, 2) for x in load0)}, after "
          f"{tuple(round(x, 2) for x in load1)}; {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
