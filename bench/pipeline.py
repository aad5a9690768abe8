#!/usr/bin/env python3
"""Pipeline speed: ``run`` over the 14-race sample season, every task, HTML reports on, fresh-kernel mode
and warm mode side by side (same invocation, same season).

W1: a fresh reports folder (every task executed; the ingest cache is warm after the first mode's W1).
W2: the same again, nothing changed (every task reused).
W3: one markdown cell of ``pattern_detection.ipynb`` edited (a copy of the notebooks): only the pattern
    tasks re-execute.
Prints walls, their ratio and the peak RSS of the whole process tree (this process, workers, kernels),
with the load average; asserts nothing. W3 edits the
repository's notebook and puts it back afterwards. ``--workers N`` (default 2), ``--modes warm`` to skip fresh.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))


class PeakRSS:
    """Peak of the summed resident memory of this process and all its descendants (sampled every 0.2 s)."""

    def __init__(self) -> None:
        import psutil
        self.me = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            total = 0
            for p in [self.me, *self.me.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except Exception:
                    pass
            self.peak = max(self.peak, total)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def _edit_markdown(nb_path: Path) -> None:
    nb = json.loads(nb_path.read_text())
    cell = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
    cell["source"] = "".join(cell["source"]) + f"\n\n(bench edit {time.time_ns()})"
    nb_path.write_text(json.dumps(nb, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--modes", nargs="+", default=["fresh", "warm"], choices=["fresh", "warm"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kaizenlap-bench-") as tmp:
        tmp = Path(tmp)
        os.environ["KAIZENLAP_CACHE"] = str(tmp / "cache")
        from kaizenlap import pipeline
        from kaizenlap.core.paths import repo_root
        from kaizenlap.sample import write_season
        write_season(tmp / "season", seed=args.seed)
        notebooks = repo_root() / "notebooks"
        backup = tmp / "notebooks.orig"
        shutil.copytree(notebooks, backup)
        rows: dict[str, dict] = {}
        try:
            for mode in args.modes:
                reports = tmp / f"reports-{mode}"
                shutil.copytree(backup, notebooks, dirs_exist_ok=True)
                for label in ("W1", "W2", "W3"):
                    if label == "W3":
                        _edit_markdown(notebooks / "pattern_detection.ipynb")
                    load = os.getloadavg()[0]
                    with PeakRSS() as rss:
                        t0 = time.perf_counter()
                        res = pipeline.run([tmp / "season"], workers=args.workers, reports_dir=reports,
                                           progress=False, fresh_kernels=(mode == "fresh"), log=lambda m: None)
                        wall = time.perf_counter() - t0
                    executed = sorted({t.name for t in res.tasks if t.status == "ok"})
                    rows[f"{mode} {label}"] = {"wall": wall, "counts": res.counts(), "tasks": len(res.tasks),
                                               "rss": rss.peak / 2**30, "load": load, "executed": executed}
        finally:
            shutil.copytree(backup, notebooks, dirs_exist_ok=True)     # the repository's notebooks as they were
        print(f"sample season seed {args.seed}: 14 races; workers {args.workers} (cpus {os.cpu_count()}); "
              f"HTML reports on")
        for key, r in rows.items():
            c = r["counts"]
            print(f"{key:9s}: {r['tasks']} tasks ({c['ok']} executed, {c['reused']} reused, {c['failed']} failed) "
                  f"in {r['wall']:6.1f} s; peak RSS {r['rss']:.2f} GB; load at start {r['load']:.1f}"
                  + (f"; executed kinds: {', '.join(r['executed']) or '-'}" if key.endswith("W3") else ""))
        for label in ("W1", "W2", "W3"):
            if f"fresh {label}" in rows and f"warm {label}" in rows:
                f, w = rows[f"fresh {label}"]["wall"], rows[f"warm {label}"]["wall"]
                print(f"{label}: fresh {f:.1f} s, warm {w:.1f} s, fresh/warm {f / w:.2f}x")
        print(f"targets: W1 <= 40 s, W2 <= 2 s, W3 <= 10 s, peak RSS <= 3 GB; load now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
