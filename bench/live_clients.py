#!/usr/bin/env python3
"""Live mode under load (issue 23; figures printed, nothing asserted): ``--clients`` (32) SSE clients on
127.0.0.1 follow a replay of barber-r1 at ``--speed`` (10) for ``--limit`` crossings (default: the whole race),
and the server is restarted in the middle (``--restart-at``, a share of the crossings): each client reconnects
with its ``Last-Event-ID`` and must see every event once, in order. Prints missed and duplicated events per
client, the server's CPU seconds and peak RSS (this process: uvicorn runs in a thread beside the publisher), and
the load average.

    python bench/live_clients.py [--clients 32] [--speed 10] [--limit N] [--restart-at 0.5]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "lib"), str(ROOT / "tests"), str(ROOT)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--speed", type=float, default=10.0)
    ap.add_argument("--limit", type=int, default=None, help="crossings (default: the whole race)")
    ap.add_argument("--restart-at", type=float, default=0.5)
    args = ap.parse_args()

    import httpx
    import psutil

    from kaizenlap.ingest.loader import load
    from kaizenlap.live.feed import ReplayFeed
    from kaizenlap.live.publish import publish_live
    from kaizenlap.sample import write_season
    from kaizenlap.store import open_store
    from test_live import Server

    proc = psutil.Process()
    with tempfile.TemporaryDirectory(prefix="kaizenlap-live-") as tmp:
        write_season(Path(tmp) / "sample")
        races, _ = load([Path(tmp) / "sample" / "barber"], race_ids=["barber-r1"], use_cache=False)
        feed = ReplayFeed(races[0])
        total = len(list(feed.crossings())) if args.limit is None else args.limit
        url = f"sqlite:///{Path(tmp) / 'live.db'}"
        with open_store(url) as s:          # the race's opening event, so clients can connect at once
            publish_live(feed, s, speed=0, analysis_every=0, limit=0)
        srv = Server(url, poll_s=0.25, keepalive_s=15.0, retry_ms=100)
        port = srv.port
        got: list[list[int]] = [[] for _ in range(args.clients)]
        stop = threading.Event()

        def client(i: int) -> None:
            last = None
            while not stop.is_set():
                headers = {"Last-Event-ID": str(last)} if last is not None else {}
                try:
                    with httpx.stream("GET", f"http://127.0.0.1:{port}/live/barber-r1/events", headers=headers,
                                      timeout=60) as r:
                        if r.status_code == 204:
                            return
                        ev = None
                        for line in r.iter_lines():
                            if line.startswith("id:"):
                                last = int(line[3:].strip())
                                got[i].append(last)
                            elif line.startswith("event:"):
                                ev = line[6:].strip()
                            elif line == "" and ev == "end":
                                return
                except (httpx.HTTPError, OSError):
                    time.sleep(0.1)                  # the server is restarting: reconnect from `last`

        cpu0 = sum(proc.cpu_times()[:2])
        t0 = time.monotonic()
        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(args.clients)]
        for t in threads:
            t.start()
        done = threading.Event()

        def publisher():
            with open_store(url) as s:
                publish_live(feed, s, speed=args.speed, analysis_every=1, limit=args.limit)
                if args.limit is not None:        # a replay cut short writes no `end` of its own
                    s.append_live_events("barber-r1", [{"kind": "end", "data": {"reason": "bench",
                                                                                 "crossings": total}}])
            done.set()
        pub = threading.Thread(target=publisher, daemon=True)
        pub.start()
        restart_after = None
        while not done.wait(0.5):
            with open_store(url) as s:
                n = s.live_last_id("barber-r1")
            if restart_after is None and n >= args.restart_at * total:
                srv.stop()                            # every stream breaks; the clients come back
                srv = Server(url, port=port, poll_s=0.25, keepalive_s=15.0, retry_ms=100)
                restart_after = n
        for t in threads:
            t.join(120)
        stop.set()
        wall = time.monotonic() - t0
        cpu = sum(proc.cpu_times()[:2]) - cpu0
        with open_store(url) as s:
            last = s.live_last_id("barber-r1")
        srv.stop()
    # a client's first event is `initial`: the whole state at its id; every event after it must come once
    missed = [len(set(range(g[0], last + 1)) - set(g)) if g else last for g in got]
    dup = [len(g) - len(set(g)) for g in got]
    order = [g == sorted(g) for g in got]
    print(f"{args.clients} clients, barber-r1, {total} crossings at speed {args.speed:g}: {last - 1} events in "
          f"{wall:.1f} s; server restarted after event {restart_after}")
    print(f"missed events: total {sum(missed)} (max per client {max(missed)}); duplicated: total {sum(dup)}; "
          f"in order: {sum(order)} of {len(order)} clients")
    print(f"process CPU {cpu:.1f} s ({cpu / wall:.0%} of one core; publisher and server together, the engines "
          f"run in their own worker process, not counted); "
          f"peak RSS {proc.memory_info().rss / 2**20:.0f} MB; load {os.getloadavg()[0]:.1f}")
    print("target: 0 missed, 0 duplicated, every client resumes after the restart with no gap")
    return 0


if __name__ == "__main__":
    sys.exit(main())
