"""``python -m kaizenlap.store publish DATA... [--store URL] [--run-id ID]`` (ingest, engines, publish) and
``python -m kaizenlap.store status [--store URL]``."""
from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone

from . import build, open_store, publish_documents


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m kaizenlap.store")
    sub = p.add_subparsers(dest="cmd", required=True)
    pub = sub.add_parser("publish", help="ingest DATA, run the engines, publish one run")
    pub.add_argument("data", nargs="+")
    pub.add_argument("--store", default=None)
    pub.add_argument("--run-id", default=None, help="default: UTC time, e.g. 20251126T101500Z")
    pub.add_argument("--races", nargs="+", default=None)
    st = sub.add_parser("status", help="print the pointer and the runs")
    st.add_argument("--store", default=None)
    args = p.parse_args(argv)
    store = open_store(args.store)
    if args.cmd == "status":
        json.dump({"url": store.url, "active": store.active(), "runs": store.list_runs()}, sys.stdout, indent=1)
        print()
        return 0
    from ..ingest import load
    t0 = time.perf_counter()
    races, issues = load(args.data, race_ids=args.races)
    docs, meta = build.documents_for_races(races, issues)
    run_id = args.run_id or datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    n = sum(len(v) for v in docs.values())
    print(f"built {n} documents for {len(races)} race(s) in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    t1 = time.perf_counter()
    run = publish_documents(store, run_id, docs, meta)
    print(f"published run {run_id} to {store.url} in {time.perf_counter() - t1:.1f} s "
          f"(data version {run['data_version']}, {len(run['failed_tasks'])} failed task(s))", file=sys.stderr)
    return 1 if run["failed_tasks"] else 0


if __name__ == "__main__":
    sys.exit(main())
