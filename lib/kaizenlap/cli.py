"""``run_pipeline.py`` subcommands. Progress and errors go to stderr; results to stdout.

Exit codes: 0 success (inspect: every race loaded; run: every task succeeded), 1 a race could not be
loaded / a task failed (the others are still reported), 2 usage errors.
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


def _run(args: argparse.Namespace) -> int:
    from .pipeline import run, summary_lines
    if args.workers is not None and args.workers < 1:
        print("run_pipeline.py run: error: --workers must be >= 1", file=sys.stderr)
        return 2
    try:
        result = run(args.data, race_ids=args.races, workers=args.workers, reports_dir=args.reports,
                     store_url=args.store, force=args.force, html=not args.no_reports, engines=args.engines,
                     fresh_kernels=args.fresh_kernels, scheduler=args.scheduler)
    except FileNotFoundError as exc:
        print(f"run_pipeline.py run: error: {exc}", file=sys.stderr)
        return 2
    for line in summary_lines(result, args.reports):
        print(line)
    return result.exit_code


def _serve(args: argparse.Namespace) -> int:
    """The read-only API and web build (uvicorn); ``serve/`` sits at the project root."""
    import uvicorn
    from . import params
    root = str(params.params_dir().parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    from serve.app import create_app
    app = create_app(store_url=args.store, web_dir=args.web_dir)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # usage errors exit 2 (argparse's default too), message on stderr
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    from .engines.registry import task_names
    tasks = list(task_names())
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
    r = sub.add_parser("run", help="execute every engine notebook for every race (papermill, in parallel); "
                                   "reports under REPORTS/<run_id>/")
    r.add_argument("--data", nargs="+", default=None, metavar="DATA",
                   help="folder tree(s) or zip(s) (default: $KAIZENLAP_DATA or data/sample)")
    r.add_argument("--races", nargs="+", default=None, metavar="ID", help="only these race ids (default: all)")
    r.add_argument("--engines", nargs="+", default=None, metavar="NAME",
                   choices=tasks, help=f"only these tasks: {' '.join(tasks)} (default: all)")
    r.add_argument("--workers", type=int, default=None, metavar="N",
                   help="parallel notebook executions (default: the number of CPUs)")
    r.add_argument("--reports", default="reports", metavar="DIR", help="reports folder (default: reports)")
    r.add_argument("--store", default=None, metavar="URL", help="results store (recorded; store comes later)")
    r.add_argument("--force", action="store_true", help="execute every task, even those with unchanged inputs")
    r.add_argument("--no-reports", action="store_true", help="skip the HTML export of the notebooks")
    r.add_argument("--fresh-kernels", action="store_true",
                   help="start a new kernel for every notebook (slower; for debugging) instead of each worker's "
                        "warm kernel, reset between notebooks")
    r.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="run the tasks on this Dask distributed cluster instead of local worker processes (the "
                        "workers must see the same data, reports folder and store)")
    r.set_defaults(func=_run)
    v = sub.add_parser("serve", help="serve the read-only API (OpenAPI at /docs) and the web build")
    v.add_argument("--store", default=None, metavar="URL",
                   help="store URL (default: $KAIZENLAP_STORE or sqlite:///.kaizenlap/store.db at the project root)")
    v.add_argument("--host", default="127.0.0.1")
    v.add_argument("--port", type=int, default=8000)
    v.add_argument("--web-dir", default=None, metavar="DIR", help="static web build (default: serve/web)")
    v.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    v.set_defaults(func=_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
