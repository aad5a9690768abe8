#!/usr/bin/env python3
"""Pipeline speed and the iteration loop: ``run`` over the 14-race sample season, every task, HTML reports on,
this checkout and (``--baseline REF``) an earlier commit side by side, in one invocation, with the load average.

W1:  a fresh reports folder (every task executed; the ingest cache is warm after a first parse).
W2:  the same again, nothing changed (every task reused).
W3a: one markdown cell of ``pattern_detection.ipynb`` edited: only that notebook's reports re-render.
W3b: one engine parameter edited (``pattern.trend_fdr`` in params/engines.yaml): only the tasks that read it.
``--fresh`` adds W1 in fresh-kernel mode (a kernel per notebook).

Each version runs on its own copy of ``params/`` and ``notebooks/`` (``$KAIZENLAP_PARAMS``): the repository is
never edited. Prints walls, task counts, the peak RSS of the process tree and the load average; asserts nothing.
Targets (issue "One layered house"): W1 <= 25 s, W2 <= 1 s, W3a <= 8 s, W3b <= 8 s on a quiet machine.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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


def _edit_trend_fdr(params_dir: Path) -> None:
    path = params_dir / "engines.yaml"
    text = path.read_text()
    path.write_text(re.sub(r"trend_fdr: [0-9.]+", "trend_fdr: 0.1", text, count=1))


def measure(project: Path, season: Path, workers: int, fresh: bool) -> list[dict]:
    """Runs inside a child whose ``PYTHONPATH`` names the version's ``lib``: W1, W2, W3a, W3b (and fresh W1)."""
    from kaizenlap import pipeline
    rows = []
    steps = [("W1", None), ("W2", None), ("W3a", lambda: _edit_markdown(project / "notebooks" / "pattern_detection.ipynb")),
             ("W3b", lambda: _edit_trend_fdr(project / "params"))]
    for label, edit in steps:
        if edit:
            edit()
        load = os.getloadavg()[0]
        with PeakRSS() as rss:
            t0 = time.perf_counter()
            res = pipeline.run([season], workers=workers, reports_dir=project / "reports", progress=False,
                               log=lambda m: None)
            wall = time.perf_counter() - t0
        c = res.counts()
        rows.append({"step": label, "wall": wall, "tasks": len(res.tasks), "executed": c["ok"], "reused": c["reused"],
                     "failed": c["failed"], "rss": rss.peak / 2**30, "load": load,
                     "kinds": sorted({t.name for t in res.tasks if t.status == "ok"})})
    if fresh:
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        res = pipeline.run([season], workers=workers, reports_dir=project / "reports-fresh", progress=False,
                           fresh_kernels=True, log=lambda m: None)
        c = res.counts()
        rows.append({"step": "W1 fresh", "wall": time.perf_counter() - t0, "tasks": len(res.tasks), "executed": c["ok"],
                     "reused": c["reused"], "failed": c["failed"], "rss": 0.0, "load": load, "kinds": []})
    return rows


def _version(label: str, src: Path, tmp: Path, season: Path, workers: int, fresh: bool) -> list[dict]:
    project = tmp / label
    for d in ("params", "notebooks"):
        shutil.copytree(src / d, project / d)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src / "lib"), str(src)]),
           "KAIZENLAP_PARAMS": str(project / "params"), "KAIZENLAP_CACHE": str(tmp / f"cache-{label}")}
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--measure", str(project), str(season),
                          str(workers), "1" if fresh else "0"], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{label}: the measurement failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--baseline", default=None, metavar="REF", help="also measure this commit (git worktree)")
    ap.add_argument("--fresh", action="store_true", help="also W1 with a kernel per notebook")
    ap.add_argument("--measure", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        project, season, workers, fresh = args.measure
        print(json.dumps(measure(Path(project), Path(season), int(workers), fresh == "1")))
        return
    from kaizenlap.sample import write_season
    with tempfile.TemporaryDirectory(prefix="kaizenlap-bench-") as tmp:
        tmp = Path(tmp)
        write_season(tmp / "season", seed=args.seed)
        versions = {"new": ROOT}
        if args.baseline:
            base = tmp / "baseline-src"
            subprocess.run(["git", "worktree", "add", "--detach", str(base), args.baseline], cwd=ROOT, check=True,
                           capture_output=True)
            versions = {f"old ({args.baseline})": base, "new": ROOT}
        results = {}
        try:
            for label, src in versions.items():
                results[label] = _version(label.split()[0], src, tmp, tmp / "season", args.workers, args.fresh)
        finally:
            if args.baseline:
                subprocess.run(["git", "worktree", "remove", "--force", str(tmp / "baseline-src")], cwd=ROOT,
                               capture_output=True)
        print(f"sample season seed {args.seed}: 14 races; workers {args.workers} (cpus {os.cpu_count()}); HTML on")
        for label, rows in results.items():
            for r in rows:
                print(f"{label:16s} {r['step']:8s}: {r['tasks']} tasks ({r['executed']} executed, {r['reused']} reused, "
                      f"{r['failed']} failed) in {r['wall']:6.1f} s; peak RSS {r['rss']:.2f} GB; load at start "
                      f"{r['load']:.1f}" + (f"; executed: {', '.join(r['kinds'])}" if r["step"].startswith("W3") else ""))
        if len(results) == 2:
            (old_label, old), (_, new) = results.items()
            for o, n in zip(old, new):
                print(f"{n['step']:8s}: old {o['wall']:6.1f} s ({o['executed']} executed), new {n['wall']:6.1f} s "
                      f"({n['executed']} executed), old/new {o['wall'] / max(n['wall'], 1e-9):.2f}x")
        print(f"targets: W1 <= 25 s, W2 <= 1 s, W3a <= 8 s, W3b <= 8 s; load now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
