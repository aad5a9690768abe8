"""Peak memory and wall time of ``inspect`` on zip bombs (issue 9 item 2). Prints figures; asserts nothing.

    .venv/bin/python bench/zip_bomb.py [GIB]

Cases (each in a fresh process, peak RSS from getrusage): the mini race alone; beside it a bomb of GIB GiB
(default 2) whose headers are honest (refused before inflating); a 1 GiB bomb whose headers declare 60 MiB
(inflating stops at the declared size, the CRC check fails).
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import minirace  # noqa: E402
from hostile import write_zip_bomb  # noqa: E402

CODE = ("import resource, sys, json, io, contextlib; from kaizenlap.cli import main; buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf): rc = main(['inspect', sys.argv[1], '--json', '--no-cache'])\n"
        "print(json.dumps({'rc': rc, 'rss_kib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))")


def measure(path: Path) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CODE, str(path)], capture_output=True, text=True)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["wall_s"] = round(time.perf_counter() - t0, 2)
    return out


def main() -> None:
    gib = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = tmp / "base"
        minirace.write_race(base / "barber", 1)
        honest = tmp / "honest"
        minirace.write_race(honest / "barber", 1)
        write_zip_bomb(honest / "barber_r2.zip", "barber/23_AnalysisEnduranceWithSections_Race 2.CSV", int(gib * 1024))
        liar = tmp / "liar"
        minirace.write_race(liar / "barber", 1)
        write_zip_bomb(liar / "barber_r2.zip", "barber/23_AnalysisEnduranceWithSections_Race 2.CSV", 1024,
                       declared_size=60 << 20)
        for name, path in (("mini race alone", base), (f"+ {gib:g} GiB bomb, honest headers", honest),
                           ("+ 1 GiB bomb declaring 60 MiB", liar)):
            m = measure(path)
            print(f"{name:38s} rc={m['rc']}  peak RSS {m['rss_kib'] / 1024:7.1f} MiB  wall {m['wall_s']:.2f} s")


if __name__ == "__main__":
    main()
