#!/usr/bin/env python3
"""Web app figures (printed, not asserted), at desktop speed and at a 4x CPU slowdown (CDP
Emulation.setCPUThrottlingRate), with the machine's load average: initial JS gzipped, the race page's map-ready
time after navigation, a car switch and a reference switch (median and p95), and a car's season page ready
after navigation (Performance API, in Debian's chromium via Playwright, against `serve` on 127.0.0.1).

    python bench/web.py [--rates 1,4] [--old REV | --old-dist DIR] [--rounds N]   # needs the built app (make web) and /usr/bin/chromium

With ``--old`` (a git revision: its web/ is built into a temporary folder with this checkout's node_modules) or
``--old-dist`` (a built app), the old and the current build are measured in one run, in turn, each against its own
server on the same published store, and printed side by side.

A car switch is timed from the click event (its ``timeStamp``: the input, not the test driver's work before it)
to the new car's data committed (``kaizenlap:car-ready``); a reference switch from the button's click to the
comparison drawn; the page figures from the navigation's start to the page's mark.

Targets (issue 21): map ready <= 1 s, car switch <= 150 ms (p95), reference switch <= 150 ms (p95), initial JS
<= 300 KB gzipped, season page of one car <= 1 s — at desktop and at a 4x CPU slowdown.
"""
from __future__ import annotations

import argparse
import gzip
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "lib"), str(ROOT / "tests"), str(ROOT)]
DIST = ROOT / "web" / "dist"


def initial_js_gzip(dist: Path = DIST) -> tuple[int, list[str]]:
    html = (dist / "index.html").read_text(encoding="utf-8")
    files = re.findall(r'<script[^>]+src="(/assets/[^"]+\.js)"', html) + \
        re.findall(r'<link[^>]+rel="modulepreload"[^>]+href="(/assets/[^"]+\.js)"', html)
    total = sum(len(gzip.compress((dist / f.lstrip("/")).read_bytes(), 9)) for f in files)
    return total, files


def build_old(rev: str, tmp: Path) -> Path:
    """``rev``'s web app built into ``tmp`` (its web/ sources, this checkout's node_modules)."""
    src = tmp / "old"
    src.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "web"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    (src / "web" / "node_modules").symlink_to(ROOT / "web" / "node_modules")
    subprocess.run(["npx", "vite", "build", "--outDir", str(tmp / "old-dist"), "--emptyOutDir", "--logLevel", "warn"],
                   cwd=src / "web", check=True)
    return tmp / "old-dist"


def p95(xs: list[float]) -> float:
    """The 95th percentile, nearest rank (of 10 values: the largest)."""
    s = sorted(xs)
    return s[max(0, -(-95 * len(s) // 100) - 1)]


def figures(xs: list[float], target: float, unit: str = "ms") -> str:
    ok = "met" if p95(xs) <= target else "NOT met"
    return (f"median {statistics.median(xs):.0f} {unit}, p95 {p95(xs):.0f} {unit}, max {max(xs):.0f} {unit}, n={len(xs)} "
            f"(p95 <= {target:.0f} {unit}: {ok})")


def line(what: str, xs: list[float], target: float, old: list[float] | None = None) -> str:
    if old is None:
        return f"  {what}: {figures(xs, target)}"
    return f"  {what}:\n    old: {figures(old, target)}\n    new: {figures(xs, target)}"


REF_SWITCH = """async ([i]) => {
    const btn = [...document.querySelectorAll('[data-testid=ref-picker] button')][i];
    const car = new URLSearchParams(location.search).get('car');
    const ref = /#([^)]+)\\)/.exec(btn.textContent)[1];
    const want = `cumulative delta of car ${car} against car ${ref}`;
    const t0 = performance.now();
    btn.click();
    return await new Promise((res) => {
        const done = () => document.querySelector(`[aria-label="${want}"]`);
        if (done()) return res(performance.now() - t0);
        const mo = new MutationObserver(() => { if (done()) { mo.disconnect(); res(performance.now() - t0); } });
        mo.observe(document.body, {subtree: true, childList: true, attributes: true});
    }); }"""


# the click's time: the input event's timeStamp (the same clock as performance.now() and the marks)
CLICK_T0 = """() => { performance.clearMarks('kaizenlap:car-ready'); window.__t0 = undefined;
    document.addEventListener('click', (e) => { window.__t0 = e.timeStamp; }, {capture: true, once: true}); }"""


def measure(b, base: str, cars: list[str], season_cars: list[str], rate: float) -> dict[str, list[float]]:
    def page(ctx):
        pg = ctx.new_page()
        if rate != 1:
            ctx.new_cdp_session(pg).send("Emulation.setCPUThrottlingRate", {"rate": rate})
        return pg

    def mark_after_nav(url: str, mark: str) -> float:
        ctx = b.new_context(viewport={"width": 1500, "height": 1000})   # a fresh context: cold browser cache
        pg = page(ctx)
        pg.goto(url)
        pg.wait_for_function(f"() => performance.getEntriesByName('{mark}').length > 0", timeout=60000)
        t = pg.evaluate(f"() => performance.getEntriesByName('{mark}')[0].startTime")
        ctx.close()
        return t

    out: dict[str, list[float]] = {"map": [], "car": [], "ref": [], "season": []}
    for i in range(7):                   # the first load warms the server: not counted
        t = mark_after_nav(f"{base}/race/barber-r1?car={cars[i % len(cars)]}", "kaizenlap:map-ready")
        if i:
            out["map"].append(t)
    for i in range(7):
        t = mark_after_nav(f"{base}/car/{season_cars[i % len(season_cars)]}", "kaizenlap:season-ready")
        if i:
            out["season"].append(t)
    ctx = b.new_context(viewport={"width": 1500, "height": 1000})
    pg = page(ctx)
    pg.goto(f"{base}/race/barber-r1?car={cars[0]}")
    pg.wait_for_function("() => performance.getEntriesByName('kaizenlap:car-ready').length > 0", timeout=60000)
    for car in cars[1:21]:
        pg.evaluate(CLICK_T0)
        pg.get_by_test_id(f"car-row-{car}").click()
        pg.wait_for_function("() => performance.getEntriesByName('kaizenlap:car-ready').length > 0", timeout=60000)
        out["car"].append(pg.evaluate(
            "() => performance.getEntriesByName('kaizenlap:car-ready')[0].startTime - window.__t0"))
    for car in cars[:8]:                 # every shortcut of the reference picker, in turn
        pg.goto(f"{base}/race/barber-r1?car={car}")
        pg.get_by_test_id("ref-picker").wait_for(timeout=60000)
        n = pg.locator("[data-testid=ref-picker] button").count()
        for i in range(n):
            if pg.locator("[data-testid=ref-picker] button").nth(i).get_attribute("class").find("contained") >= 0:
                continue                 # already the reference: no switch
            out["ref"].append(pg.evaluate(REF_SWITCH, [i]))
    ctx.close()
    return out


def serve(store: str, dist: Path) -> tuple[subprocess.Popen, str]:
    from test_web_e2e import CSP, SERVER, _free_port, wait_healthy
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER.format(root=str(ROOT), store=store, dist=str(dist),
                                                                   csp=CSP, port=port)], cwd=str(ROOT))
    base = f"http://127.0.0.1:{port}"
    wait_healthy(base)
    return proc, base


def main() -> int:
    from playwright.sync_api import sync_playwright

    from test_web_e2e import ARGS, CHROMIUM, publish_sample_store

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="1,4", help="CPU slowdowns to measure at (1: none)")
    ap.add_argument("--old", help="a git revision whose web app is measured beside the current build")
    ap.add_argument("--old-dist", type=Path, help="a built web app measured beside the current build")
    ap.add_argument("--rounds", type=int, default=1, help="measurement rounds per build (alternating with --old)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        old_dist = args.old_dist or (build_old(args.old, Path(tmp)) if args.old else None)
        print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        for label, dist in ((("old", old_dist),) if old_dist else ()) + (("new" if old_dist else "", DIST),):
            size, files = initial_js_gzip(dist)
            print(f"initial JS{' ' + label if label else ''}: {size / 1024:.1f} KB gzipped over {len(files)} file(s) "
                  f"(target <= 300 KB: {'met' if size <= 300 * 1024 else 'NOT met'})")
        url, docs = publish_sample_store(Path(tmp), "run-bench", ("barber", "COTA"))
        procs, bases = [], []
        for dist in ([old_dist] if old_dist else []) + [DIST]:
            proc, base = serve(url, dist)
            procs.append(proc)
            bases.append(base)
        try:
            cars = sorted(c["car"] for c in next(r for r in docs["races"] if r["race_id"] == "barber-r1")["cars"])
            counts: dict[str, int] = {}
            for r in docs["races"]:
                for c in r["cars"]:
                    counts[c["car"]] = counts.get(c["car"], 0) + 1
            season_cars = sorted(counts, key=lambda c: (-counts[c], c))[:6]
            with sync_playwright() as p:
                b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
                for rate in (float(x) for x in args.rates.split(",")):
                    t0, load0 = time.time(), os.getloadavg()[0]
                    ms: list[dict[str, list[float]]] = [{} for _ in bases]
                    for _ in range(args.rounds):      # old, new, old, new...: both see the same load drift
                        for k, base in enumerate(bases):
                            for key, xs in measure(b, base, cars, season_cars, rate).items():
                                ms[k].setdefault(key, []).extend(xs)
                    m, old = ms[-1], (ms[0] if old_dist else None)
                    print(f"CPU slowdown {rate:g}x (load average {load0:.2f} at the start, {os.getloadavg()[0]:.2f} at the "
                          f"end, {time.time() - t0:.0f} s):")
                    for key, what, target in (("map", "race page map ready after navigation", 1000),
                                              ("car", "car switch (click to the new car's data)", 150),
                                              ("ref", "reference switch (click to the comparison drawn)", 150),
                                              ("season", "season page of a car ready after navigation", 1000)):
                        print(line(what, m[key], target, old[key] if old else None))
                b.close()
        finally:
            for proc in procs:
                proc.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
