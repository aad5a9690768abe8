#!/usr/bin/env python3
"""API speed: the server (uvicorn, a subprocess on 127.0.0.1) over the documents of several real races,
driven by 32 concurrent async clients, for the embedded store and the Firestore emulator.

    python bench/api.py [--data ../shared/trd] [--races 4] [--clients 32] [--seconds 15]

For each endpoint: p50/p95/p99 latency and throughput, first over URLs the server has not answered yet
(cache cold: store reads + validation + encoding) and then the same URLs again (cache warm), with httpx
clients; then warm again with a minimal asyncio HTTP/1.1 client ("raw"), whose figures are the server's:
on a small machine httpx spends more CPU per request than the server and its latencies are mostly the
clients' own queueing. Prints
figures; asserts nothing. Targets (embedded): p95 <= 10 ms for one lap's recommendations, <= 50 ms for a
whole race's. The clients run on the same machine as the server and share its CPUs.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
os.environ.setdefault("GCE_METADATA_HOST", "127.0.0.1:9")
os.environ.setdefault("GCE_METADATA_IP", "127.0.0.1:9")

import httpx  # noqa: E402

from kaizenlap.store import build, open_store, publish_documents  # noqa: E402
from kaizenlap.store.emulator import FirestoreEmulator, find_binary, free_port  # noqa: E402


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


async def drive(base: str, urls: list[str], clients: int, seconds: float, pages: bool = False) -> dict:
    """``clients`` workers take URLs in turn until all are done or time is up. With ``pages``, each URL
    is the first page of a paginated query and the worker follows next_cursor to the end."""
    lat: list[float] = []
    errors = 0
    queue = list(urls)
    deadline = time.perf_counter() + seconds
    # Each simulated client has its own connection (one httpx.AsyncClient each): one client sharing a
    # 32-connection pool spends more CPU in the pool than the server spends answering.
    pool = [httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=1))
            for _ in range(clients)]
    try:
        async def worker(client):
            nonlocal errors
            while queue and time.perf_counter() < deadline:
                url = queue.pop()
                while url:
                    t0 = time.perf_counter()
                    try:
                        r = await client.get(url)
                    except httpx.HTTPError:
                        errors += 1
                        break
                    lat.append(time.perf_counter() - t0)
                    if r.status_code != 200:
                        errors += 1
                        break
                    url = None
                    if pages and r.json().get("next_cursor"):
                        base_url = r.request.url.copy_remove_param("cursor")
                        url = str(base_url.copy_add_param("cursor", r.json()["next_cursor"]))
        for c in pool:                      # connect first: the figures are for a warm connection
            await c.get("/health")
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in pool))
        wall = time.perf_counter() - t0
    finally:
        for c in pool:
            await c.aclose()
    return summary(lat, errors, wall)


def summary(lat: list[float], errors: int, wall: float) -> dict:
    if not lat:
        return {"n": 0, "errors": errors, "wall": wall, "p50": float("nan"), "p95": float("nan"),
                "p99": float("nan"), "rps": 0.0}
    return {"n": len(lat), "errors": errors, "wall": wall, "p50": pct(lat, 50) * 1e3, "p95": pct(lat, 95) * 1e3,
            "p99": pct(lat, 99) * 1e3, "rps": len(lat) / wall if wall else 0.0}


class RawClient:
    """A minimal keep-alive HTTP/1.1 GET client on asyncio streams: next to no client CPU per request, so
    its latencies are the server's (httpx spends more CPU per request than the server does here)."""

    def __init__(self, port: int) -> None:
        self.port, self.reader, self.writer = port, None, None

    async def get(self, url: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(f"GET {url} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = next((int(x.split(b":")[1]) for x in lines if x.lower().startswith(b"content-length:")), 0)
        return status, await self.reader.readexactly(length)

    async def aclose(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def drive_raw(port: int, urls: list[str], clients: int, seconds: float, pages: bool = False) -> dict:
    import json
    from urllib.parse import quote
    lat: list[float] = []
    errors = 0
    queue = list(urls)
    deadline = time.perf_counter() + seconds
    pool = [RawClient(port) for _ in range(clients)]

    async def worker(client):
        nonlocal errors
        while queue and time.perf_counter() < deadline:
            first = url = queue.pop()
            while url:
                t0 = time.perf_counter()
                try:
                    status, body = await asyncio.wait_for(client.get(url), 30)
                except (asyncio.TimeoutError, OSError, asyncio.IncompleteReadError):
                    errors += 1
                    await client.aclose()
                    client.writer = None
                    break
                lat.append(time.perf_counter() - t0)
                if status != 200:
                    errors += 1
                    break
                url = None
                if pages:
                    nxt = json.loads(body).get("next_cursor")
                    url = f"{first}&cursor={quote(nxt)}" if nxt else None
    try:
        for c in pool:
            await c.get("/health")
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in pool))
        wall = time.perf_counter() - t0
    finally:
        for c in pool:
            await c.aclose()
    return summary(lat, errors, wall)


def start_server(store_url: str, env: dict) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_pipeline.py"), "serve", "--store", store_url,
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode())
        time.sleep(0.2)
    proc.kill()
    raise TimeoutError("server did not start")


def bench_backend(name: str, store_url: str, env: dict, docs: dict, args) -> None:
    proc, base = start_server(store_url, env)
    try:
        rng = random.Random(1)
        races = docs["races"]
        tracks = sorted({r["track_id"] for r in races})
        laps = [(d["race_id"], d["car"], d["lap"]) for d in docs["laps"]]
        rng.shuffle(laps)
        cases = [
            ("/tracks", ["/tracks"] * 2000, False),
            ("/races/{track_id}", [f"/races/{t}" for t in tracks] * 400, False),
            ("one lap's recommendations", [f"/recommendations?race_id={r}&car={c}&lap={n}"
                                           for r, c, n in laps[:3000]], False),
            ("a whole race's recommendations (all pages, limit=1000)",
             [f"/recommendations?race_id={r['race_id']}&limit=1000" for r in races] * args.race_repeats, True),
        ]
        print(f"\n== {name}: {store_url}  ({args.clients} concurrent clients, <= {args.seconds:.0f} s per pass)")
        print(f"{'endpoint':58s} {'pass':10s} {'requests':>8s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} "
              f"{'req/s':>8s} {'errors':>6s}")
        port = int(base.rsplit(":", 1)[1])
        for label, urls, pages in cases:
            runs = [("cold", "httpx"), ("warm", "httpx"), ("warm", "raw")]
            for pass_name, client in runs:
                res = asyncio.run(drive(base, urls, args.clients, args.seconds, pages) if client == "httpx" else
                                  drive_raw(port, urls, args.clients, args.seconds, pages))
                print(f"{label:58s} {pass_name + '/' + client:10s} {res['n']:8d} {res['p50']:8.1f} "
                      f"{res['p95']:8.1f} {res['p99']:8.1f} {res['rps']:8.0f} {res['errors']:6d}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:    # threads still waiting on slow store reads
            proc.kill()
            proc.wait(timeout=15)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "trd"))
    p.add_argument("--races", type=int, default=4, help="how many races (first found)")
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--seconds", type=float, default=15.0, help="time limit of each pass")
    p.add_argument("--race-repeats", type=int, default=8, help="walks of each race's recommendations per pass")
    p.add_argument("--skip-firestore", action="store_true")
    args = p.parse_args()
    from kaizenlap.ingest import load
    races, _ = load([args.data])
    races = [r for r in races if r.status == "loaded"][: args.races]
    t0 = time.perf_counter()
    docs, meta = build.documents_for_races(races)
    n = sum(len(v) for v in docs.values())
    print(f"races: {', '.join(r.race_id for r in races)}; {n} documents built in {time.perf_counter() - t0:.1f} s "
          f"({len(docs['ml_section_recommendations'])} section recommendations, {len(docs['laps'])} laps)")
    print(f"machine: {os.cpu_count()} CPUs (server and clients share them)")
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
    with FirestoreEmulator() as emu:
        env = dict(os.environ, FIRESTORE_EMULATOR_HOST=emu.host)
        os.environ["FIRESTORE_EMULATOR_HOST"] = emu.host
        url = "firestore://demo-kaizenlap-bench"
        t0 = time.perf_counter()
        publish_documents(open_store(url), "bench", docs, meta)
        print(f"\npublish to the Firestore emulator: {time.perf_counter() - t0:.1f} s")
        bench_backend("Firestore emulator", url, env, docs, args)


if __name__ == "__main__":
    main()
