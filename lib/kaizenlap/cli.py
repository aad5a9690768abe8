"""``run_pipeline.py`` subcommands. Progress and errors go to stderr; results to stdout.

Exit codes: 0 every race loaded, 1 a race could not be loaded (the others are still reported),
2 usage errors.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def _inspect(args: argparse.Namespace) -> int:
    from .ingest import load
    t0 = time.perf_counter()
    races, issues = load(args.data, use_cache=not args.no_cache)
    print(f"ingested {len(races)} race(s) in {time.perf_counter() - t0:.2f} s", file=sys.stderr)
    for issue in issues:
        print(f"  {issue}", file=sys.stderr)
    if args.json:
        doc = {"races": [r.summary() for r in races], "issues": [i.to_dict() for i in issues]}
        json.dump(doc, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        from .report import format_race
        for race in races:
            print(format_race(race))
    if not races:
        print("no race found in the input", file=sys.stderr)
        return 1
    return 1 if any(r.status != "loaded" for r in races) else 0


def _sample(args: argparse.Namespace) -> int:
    from .sample import write_season
    t0 = time.perf_counter()
    truth = write_season(Path(args.out_dir), seed=args.seed)
    print(f"wrote {len(truth['races'])} races to {args.out_dir} in {time.perf_counter() - t0:.1f} s "
          f"(ground truth: {Path(args.out_dir) / 'ground_truth.json'})", file=sys.stderr)
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # usage errors exit 2 (argparse's default too), message on stderr
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="run_pipeline.py", description="KaizenLap: GR Cup driver-coaching analytics")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    s = sub.add_parser("sample", help="write the synthetic sample season in the TRD formats")
    s.add_argument("out_dir")
    s.add_argument("--seed", type=int, default=2025)
    s.set_defaults(func=_sample)
    i = sub.add_parser("inspect", help="ingest TRD folders/zips and print each race with its quality ledger")
    i.add_argument("data", nargs="+", type=Path, help="folder tree or official zip file(s)")
    i.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    i.add_argument("--no-cache", action="store_true", help="parse again even if a cached copy exists")
    i.set_defaults(func=_inspect)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
