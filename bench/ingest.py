#!/usr/bin/env python3
"""Ingest speed and memory on the real TRD files (default ../shared/trd) or DATA given as arguments.

Prints figures; asserts nothing. Cold = a new process, no cache; warm = parsed races from the cache.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from kaizenlap.ingest import load
t1 = time.perf_counter()
races, _ = load(sys.argv[1:], use_cache=True)
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "ingest_s": t2 - t1, "races": len(races),
                  "laps": int(sum(len(r.laps) for r in races)),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(data: list[str], cache: str) -> dict:
    env = dict(os.environ, KAIZENLAP_CACHE=cache, PYTHONPATH=str(ROOT / "lib"))
    out = subprocess.run([sys.executable, "-c", CHILD, *data], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    data = sys.argv[1:] or [str(ROOT.parent / "shared" / "trd")]
    with tempfile.TemporaryDirectory() as cache:
        cold = [run(data, tempfile.mkdtemp(dir=cache)) for _ in range(3)]
        warm_cache = tempfile.mkdtemp(dir=cache)
        run(data, warm_cache)
        warm = [run(data, warm_cache) for _ in range(3)]
    best = min(cold, key=lambda r: r["ingest_s"])
    print(f"input: {' '.join(data)}")
    print(f"races {best['races']}, laps {best['laps']}")
    print(f"cold ingest (no cache, new process): best {best['ingest_s']:.2f} s of 3 "
          f"(all: {', '.join('%.2f' % r['ingest_s'] for r in cold)}); import {best['import_s']:.2f} s; "
          f"peak RSS {best['peak_rss_mb']:.0f} MB")
    wbest = min(warm, key=lambda r: r["ingest_s"])
    print(f"warm ingest (from cache): best {wbest['ingest_s']:.2f} s of 3; peak RSS {wbest['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
