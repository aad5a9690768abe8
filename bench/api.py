#!/usr/bin/env python3
"""API speed: the server (uvicorn, a subprocess on 127.0.0.1) over the sample season's documents, driven by
32 concurrent clients, for the embedded store and the Firestore emulator.

    python bench/api.py [--data data/sample] [--races N] [--firestore-races 2] [--clients 32] [--seconds 8]

For each endpoint (``/tracks``, ``/races/{track_id}``, one lap's recommendations, a whole race's
recommendations walked page by page with ``limit=1000``) two passes:

* **cold**: every URL once, so nothing is cached (store reads, validation, encoding), with a minimal
  asyncio HTTP/1.1 client on 32 connections;
* **warm**: the same URLs again for ``--seconds``, with Debian's ``wrk`` (one thread, 32 connections;
  ``bench/wrk_paths.lua`` gives each request the next URL of the list), plain and with
  ``Accept-Encoding: gzip`` as browsers send it. Without ``wrk`` on the PATH, the asyncio client instead.

For a whole race it also prints the time to walk all of a race's pages (each walk sequential, 32 walkers
at once, with the asyncio client: its own CPU is part of the figure). Prints p50/p95/p99 and throughput; asserts nothing. Targets (embedded): p95 <= 10 ms for one
lap's recommendations, <= 50 ms for a whole race's. Clients and server share this machine's CPUs.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
os.environ.setdefault("GCE_METADATA_HOST", "127.0.0.1:9")
os.environ.setdefault("GCE_METADATA_IP", "127.0.0.1:9")

from kaizenlap.store import open_store, publish_documents  # noqa: E402
from kaizenlap.tasks.inprocess import documents_for_races  # noqa: E402
from kaizenlap.store.emulator import FirestoreEmulator, find_binary, free_port  # noqa: E402

WRK_SCRIPT = ROOT / "bench" / "wrk_paths.lua"
NEXT_CURSOR = re.compile(rb'"next_cursor":(null|"[^"]*")}$')


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def summary(lat: list[float], errors: int, wall: float) -> dict:
    if not lat:
        return {"n": 0, "errors": errors, "p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "rps": 0.0}
    return {"n": len(lat), "errors": errors, "p50": pct(lat, 50) * 1e3, "p95": pct(lat, 95) * 1e3,
            "p99": pct(lat, 99) * 1e3, "rps": len(lat) / wall if wall else 0.0}


class RawClient:
    """A minimal keep-alive HTTP/1.1 GET client on asyncio streams: little client CPU per request."""

    def __init__(self, port: int) -> None:
        self.port, self.reader, self.writer = port, None, None

    async def get(self, url: str, gzip: bool = False) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        extra = "Accept-Encoding: gzip\r\n" if gzip else ""
        self.writer.write(f"GET {url} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode())
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = next((int(x.split(b":")[1]) for x in lines if x.lower().startswith(b"content-length:")), 0)
        body = await self.reader.readexactly(length)
        if any(x.lower().replace(b" ", b"") == b"content-encoding:gzip" for x in lines):
            body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
        return status, body

    async def aclose(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def drive_raw(port: int, urls: list[str], clients: int, seconds: float, walk: bool = False,
                    gzip: bool = False) -> dict:
    """``clients`` connections take URLs in turn until all are done or time is up. With ``walk``, each URL
    is a race's first page: the client follows next_cursor to the end, and the walk's total time is
    recorded too (``walk`` in the result). ``pages`` lists every URL fetched."""
    lat: list[float] = []
    walks: list[float] = []
    fetched: list[str] = []
    errors = 0
    queue = list(reversed(urls))
    deadline = time.perf_counter() + seconds
    pool = [RawClient(port) for _ in range(clients)]

    async def worker(client):
        nonlocal errors
        while queue and time.perf_counter() < deadline:
            first = url = queue.pop()
            t_walk = time.perf_counter()
            while url:
                t0 = time.perf_counter()
                try:
                    status, body = await asyncio.wait_for(client.get(url, gzip), 60)
                except (asyncio.TimeoutError, OSError, asyncio.IncompleteReadError):
                    errors += 1
                    await client.aclose()
                    break
                lat.append(time.perf_counter() - t0)
                fetched.append(url)
                if status != 200:
                    errors += 1
                    break
                url = None
                if walk:      # next_cursor is the body's last field: read it without parsing the page
                    m = NEXT_CURSOR.search(body[-2000:])
                    nxt = json.loads(m.group(1)) if m else json.loads(body).get("next_cursor")
                    url = f"{first}&cursor={quote(nxt)}" if nxt else None
                    if url is None:
                        walks.append(time.perf_counter() - t_walk)
    try:
        for c in pool:
            await c.get("/health")
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in pool))
        wall = time.perf_counter() - t0
    finally:
        for c in pool:
            await c.aclose()
    out = summary(lat, errors, wall)
    out["pages"] = fetched
    if walk:
        out["walk"] = summary(walks, 0, wall)
    return out


def drive_wrk(port: int, urls: list[str], clients: int, seconds: float, gzip: bool) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("\n".join(urls) + "\n")
    try:
        cmd = ["wrk", "-t1", f"-c{clients}", f"-d{max(1, int(seconds))}s", "-s", str(WRK_SCRIPT)]
        if gzip:
            cmd += ["-H", "Accept-Encoding: gzip"]
        out = subprocess.run([*cmd, f"http://127.0.0.1:{port}", "--", fh.name], capture_output=True, text=True,
                             timeout=seconds + 60).stdout
    finally:
        os.unlink(fh.name)
    m = re.search(r"^RESULT (.*)$", out, re.M)
    if not m:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    r = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    return {"n": r["requests"], "errors": r["status_errors"] + r["socket_errors"], "p50": r["p50_us"] / 1e3,
            "p95": r["p95_us"] / 1e3, "p99": r["p99_us"] / 1e3, "rps": r["requests"] / (r["duration_us"] / 1e6),
            "mb_s": r["bytes"] / r["duration_us"]}


def start_server(store_url: str, env: dict) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_pipeline.py"), "serve", "--store", store_url,
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                if r.status == 200:
                    return proc, port
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode())
        time.sleep(0.2)
    proc.kill()
    raise TimeoutError("server did not start")


def row(label: str, how: str, res: dict) -> None:
    extra = f" {res['mb_s']:7.0f}" if "mb_s" in res else f" {'':7s}"
    print(f"{label:44s} {how:18s} {res['n']:8d} {res['p50']:8.1f} {res['p95']:8.1f} {res['p99']:8.1f} "
          f"{res['rps']:8.0f}{extra} {res['errors']:6d}", flush=True)


def bench_backend(name: str, store_url: str, env: dict, docs: dict, args) -> None:
    proc, port = start_server(store_url, env)
    use_wrk = shutil.which("wrk") is not None and not args.no_wrk
    try:
        rng = random.Random(1)
        races = [r["race_id"] for r in docs["races"]]
        tracks = sorted({r["track_id"] for r in docs["races"]})
        laps = [(d["race_id"], d["car"], d["lap"]) for d in docs["laps"]]
        rng.shuffle(laps)
        cases = [("/tracks", ["/tracks"] * 500, False),
                 ("/races/{track_id}", [f"/races/{t}" for t in tracks] * 100, False),
                 ("one lap's recommendations", [f"/recommendations?race_id={r}&car={c}&lap={n}"
                                                for r, c, n in laps[:3000]], False),
                 ("a whole race's recommendations, per page", [f"/recommendations?race_id={r}&limit=1000"
                                                              for r in races], True)]
        print(f"\n== {name}: {store_url}  ({args.clients} concurrent clients; warm passes "
              f"{'wrk -t1' if use_wrk else 'asyncio client (wrk not found)'}, {args.seconds:.0f} s each)")
        print(f"{'endpoint':44s} {'pass':18s} {'requests':>8s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} "
              f"{'req/s':>8s} {'MB/s':>7s} {'errors':>6s}")
        for label, urls, walk in cases:
            cold = asyncio.run(drive_raw(port, sorted(set(urls), key=urls.index), args.clients, 600, walk))
            row(label, "cold", cold)
            pages = list(dict.fromkeys(cold["pages"]))
            if walk:
                print(f"{'':44s} ({len(pages)} pages over {len(urls)} races; cold walk of a race: p50 "
                      f"{cold['walk']['p50']:.1f} ms, p95 {cold['walk']['p95']:.1f} ms)")
            if use_wrk:
                row(label, "warm", drive_wrk(port, pages, args.clients, args.seconds, gzip=False))
                row(label, "warm, gzip", drive_wrk(port, pages, args.clients, args.seconds, gzip=True))
            else:
                row(label, "warm", asyncio.run(drive_raw(port, urls, args.clients, args.seconds, walk)))
            if walk:
                # plain only: decompressing in this Python client costs more CPU than the server saves
                res = asyncio.run(drive_raw(port, urls * args.race_repeats, args.clients, args.seconds, True))
                row("a whole race's recommendations, all pages", "warm walk", res["walk"])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:    # threads still waiting on slow store reads
            proc.kill()
            proc.wait(timeout=15)


def subset(docs: dict, race_ids: set[str]) -> dict:
    return {c: [d for d in v if c == "tracks" or d.get("race_id") in race_ids or
                (c == "best_case_composites" and d.get("scope") == "track" and
                 any(r.startswith(d.get("track_id", "") + "-") for r in race_ids))] for c, v in docs.items()}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default=None, help="default: the sample season (data/sample, written if missing)")
    p.add_argument("--races", type=int, default=0, help="only the first N races (0: all)")
    p.add_argument("--firestore-races", type=int, default=2, help="races published to the Firestore emulator")
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--seconds", type=float, default=8.0, help="length of each warm pass")
    p.add_argument("--race-repeats", type=int, default=8, help="walks of each race in the warm walk pass")
    p.add_argument("--no-wrk", action="store_true", help="warm passes with the asyncio client even if wrk exists")
    p.add_argument("--skip-firestore", action="store_true")
    args = p.parse_args()
    from kaizenlap.ingest.loader import load
    data = Path(args.data) if args.data else ROOT / "data" / "sample"
    if args.data is None and not data.exists():
        from kaizenlap.sample import write_season
        write_season(data)
    races, _ = load([data])
    races = [r for r in races if r.status == "loaded"]
    races = races[: args.races] if args.races else races
    t0 = time.perf_counter()
    docs, meta = documents_for_races(races)
    n = sum(len(v) for v in docs.values())
    print(f"data: {data}; {len(races)} races; {n} documents built in {time.perf_counter() - t0:.1f} s "
          f"({len(docs['ml_section_recommendations'])} section recommendations, {len(docs['laps'])} laps)")
    print(f"machine: {os.cpu_count()} CPUs (server and clients share them); wrk: {shutil.which('wrk') or 'not found'}")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'store.db'}"
        t0 = time.perf_counter()
        publish_documents(open_store(url), "bench", docs, meta)
        print(f"publish to SQLite: {time.perf_counter() - t0:.1f} s")
        bench_backend("embedded (SQLite)", url, dict(os.environ), docs, args)
    if args.skip_firestore:
        return
    if not find_binary():
        print("\nFirestore emulator not found: skipped")
        return
    few = subset(docs, {r.race_id for r in races[: args.firestore_races]})
    with FirestoreEmulator() as emu:
        env = dict(os.environ, FIRESTORE_EMULATOR_HOST=emu.host)
        os.environ["FIRESTORE_EMULATOR_HOST"] = emu.host
        url = "firestore://demo-kaizenlap-bench"
        t0 = time.perf_counter()
        publish_documents(open_store(url), "bench", few, meta)
        print(f"\npublish {sum(len(v) for v in few.values())} documents ({args.firestore_races} races) to the "
              f"Firestore emulator: {time.perf_counter() - t0:.1f} s")
        bench_backend("Firestore emulator", url, env, few, args)


if __name__ == "__main__":
    main()
