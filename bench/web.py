#!/usr/bin/env python3
"""Web app figures (printed, not asserted): initial JS gzipped, the race page's map-ready time after
navigation (Performance API, in Debian's chromium via Playwright) and one car switch.

    python bench/web.py            # needs the built app (make web) and /usr/bin/chromium

Targets (issue 12): initial JS <= 300 KB gzipped; map ready <= 1 s after navigation on 127.0.0.1;
one car switch <= 150 ms.
"""
from __future__ import annotations

import gzip
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "lib"), str(ROOT / "tests"), str(ROOT)]
DIST = ROOT / "web" / "dist"


def initial_js_gzip() -> tuple[int, list[str]]:
    html = (DIST / "index.html").read_text(encoding="utf-8")
    files = re.findall(r'<script[^>]+src="(/assets/[^"]+\.js)"', html) + \
        re.findall(r'<link[^>]+rel="modulepreload"[^>]+href="(/assets/[^"]+\.js)"', html)
    total = sum(len(gzip.compress((DIST / f.lstrip("/")).read_bytes(), 9)) for f in files)
    return total, files


def main() -> int:
    from playwright.sync_api import sync_playwright

    from test_web_e2e import ARGS, CHROMIUM, CSP, SERVER, _free_port, publish_sample_store

    size, files = initial_js_gzip()
    print(f"initial JS: {size / 1024:.1f} KB gzipped over {len(files)} file(s) (target <= 300 KB)")
    with tempfile.TemporaryDirectory() as tmp:
        url, docs = publish_sample_store(Path(tmp), "run-bench")
        port = _free_port()
        proc = subprocess.Popen([sys.executable, "-c", SERVER.format(root=str(ROOT), store=url, dist=str(DIST),
                                                                       csp=CSP, port=port)], cwd=str(ROOT))
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(base + "/health", timeout=1)
                    break
                except OSError:
                    time.sleep(0.2)
            cars = sorted(c["car"] for c in docs["races"][0]["cars"])
            with sync_playwright() as p:
                b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
                ready = []
                for i in range(6):          # a fresh context each time: cold browser cache, warm server
                    ctx = b.new_context(viewport={"width": 1500, "height": 1000})
                    pg = ctx.new_page()
                    pg.goto(f"{base}/race/barber-r1?car={cars[i % len(cars)]}")
                    pg.wait_for_function("() => performance.getEntriesByName('kaizenlap:map-ready').length > 0")
                    ready.append(pg.evaluate("() => performance.getEntriesByName('kaizenlap:map-ready')[0].startTime"))
                    if i < 5:
                        ctx.close()
                print(f"race page map ready after navigation: median {statistics.median(ready[1:]):.0f} ms, "
                      f"first {ready[0]:.0f} ms, n={len(ready) - 1} warm-server loads (target <= 1000 ms)")
                switches = []
                for car in cars[1:11]:
                    pg.evaluate("() => { performance.clearMarks('kaizenlap:car-ready'); window.__t0 = performance.now(); }")
                    pg.get_by_test_id(f"car-row-{car}").click()
                    pg.wait_for_function("() => performance.getEntriesByName('kaizenlap:car-ready').length > 0")
                    switches.append(pg.evaluate(
                        "() => performance.getEntriesByName('kaizenlap:car-ready')[0].startTime - window.__t0"))
                print(f"car switch (click to the new car's map coloured): median {statistics.median(switches):.0f} ms, "
                      f"max {max(switches):.0f} ms, n={len(switches)} (target <= 150 ms)")
                b.close()
        finally:
            proc.terminate()
            proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
