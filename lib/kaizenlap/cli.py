"""``run_pipeline.py`` subcommands. Progress and errors go to stderr; results to stdout.

Exit codes: 0 success (inspect: every race loaded; run: every task succeeded), 1 a race could not be
loaded / a task failed / an input could not be read (the others are still reported), 2 usage errors.

No traceback ever reaches the terminal: an unexpected fault prints one line naming the log file, and the
traceback (with every ``kaizenlap`` log record) goes to that file: ``$KAIZENLAP_LOG``, else
``.kaizenlap/logs/kaizenlap.log`` at the project root.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from kaizenlap.core import params
from kaizenlap.core.settings import SettingsError, load as load_settings, parse_setting
from kaizenlap.ingest.loader import load
from kaizenlap.ingest.report import format_race
from kaizenlap.core.paths import resolve_data
from kaizenlap.live.feed import RecordedFeed, ReplayFeed, record
from kaizenlap.live.publish import publish_live
from kaizenlap.pipeline import run, summary_lines
from kaizenlap.pipeline.dry_run import dry_run, lines as dry_run_lines
from kaizenlap.sample import write_season
from kaizenlap.sample_telemetry import write_big
from kaizenlap.store import open_store, publish_documents
from kaizenlap.tasks.inprocess import documents_for_races
from kaizenlap.tasks.graph import write as write_graph
from kaizenlap.tasks.registry import registry, task_names
from serve.app import create_app
from serve import server


def log_file() -> Path:
    env = load_settings().log
    if env:
        return Path(env)
    return params.params_dir().parent / ".kaizenlap" / "logs" / "kaizenlap.log"


def _setup_logging() -> Path | None:
    """Every ``kaizenlap`` log record to the log file, none to the terminal. None if it cannot be opened."""
    logger = logging.getLogger("kaizenlap")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for h in list(logger.handlers):
        if getattr(h, "_kaizenlap_cli", False):
            logger.removeHandler(h)
    try:
        path = log_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8")
    except (OSError, FileNotFoundError):
        path, handler = None, logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"))
    handler._kaizenlap_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    return path


def _inspect(args: argparse.Namespace) -> int:
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
        for race in races:
            print(format_race(race))
    if not races:
        print("no race found in the input", file=sys.stderr)
        return 1
    failed = [r.race_id for r in races if r.status != "loaded"]
    unreadable = [i for i in issues if i.severity == "error"]   # e.g. a zip that cannot be opened
    if failed:
        print(f"{len(failed)} race(s) failed to load: {', '.join(failed)}", file=sys.stderr)
    if unreadable:
        print(f"{len(unreadable)} input(s) could not be read (see the entries above)", file=sys.stderr)
    return 1 if failed or unreadable else 0


def _sample(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    if args.telemetry_size is not None:
        if args.telemetry_size <= 0:
            print("run_pipeline.py sample: error: --telemetry-size must be > 0 (MB)", file=sys.stderr)
            return 2
        path = Path(args.out_dir) / "R1_bench_telemetry_data.csv"
        info = write_big(path, args.telemetry_size, seed=args.seed)
        print(f"wrote {path} ({info['bytes'] / 1e6:,.0f} MB, {info['rows']:,} rows, {info['cars']} cars) in "
              f"{time.perf_counter() - t0:.1f} s; read it with bench/telemetry.py --file {path}", file=sys.stderr)
        return 0
    truth = write_season(Path(args.out_dir), seed=args.seed)
    print(f"wrote {len(truth['races'])} races to {args.out_dir} in {time.perf_counter() - t0:.1f} s "
          f"(ground truth: {Path(args.out_dir) / 'ground_truth.json'})", file=sys.stderr)
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.workers is not None and args.workers < 1:
        print("run_pipeline.py run: error: --workers must be >= 1", file=sys.stderr)
        return 2
    cfg = args.settings
    try:
        llm = parse_setting(args.llm) if args.llm is not None else cfg.llm
    except ValueError as exc:
        print(f"run_pipeline.py run: error: --llm: {exc}", file=sys.stderr)
        return 2
    if args.graph:
        write_graph(registry(), Path(args.graph))
        print(f"task graph written to {args.graph}", file=sys.stderr)
        return 0
    if args.dry_run:
        for line in dry_run_lines(dry_run(cfg.data(args.data), race_ids=args.races, engines=args.engines,
                                          reports_dir=args.reports or cfg.reports, llm=llm, force=args.force)):
            print(line)
        return 0
    try:
        result = run(cfg.data(args.data), race_ids=args.races, workers=args.workers,
                     reports_dir=args.reports or cfg.reports, store_url=cfg.store_url(args.store, local_default=False),
                     force=args.force, html=not args.no_reports, engines=args.engines,
                     fresh_kernels=args.fresh_kernels, scheduler=args.scheduler, llm=llm)
    except FileNotFoundError as exc:
        print(f"run_pipeline.py run: error: {exc}", file=sys.stderr)
        return 2
    for line in summary_lines(result, args.reports or cfg.reports):
        print(line)
    return result.exit_code


def _serve(args: argparse.Namespace) -> int:
    """The read-only API and web build (uvicorn); ``serve/`` sits at the project root."""
    cfg = args.settings
    app = create_app(store_url=cfg.store_url(args.store), web_dir=args.web_dir or cfg.web_dir,
                     reports_dir=args.reports or cfg.reports)
    server.run(app, host=cfg.bind_host(args.host), port=args.port or cfg.port, log_level=args.log_level)
    return 0


def _publish(args: argparse.Namespace) -> int:
    """Ingest, run every task in this process (no notebooks), publish one run: a quick way to fill a store."""
    t0 = time.perf_counter()
    races, issues = load(args.data, race_ids=args.races)
    docs, meta = documents_for_races(races, issues)
    run_id = args.run_id or datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    n = sum(len(v) for v in docs.values())
    print(f"built {n} documents for {len(races)} race(s) in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    with open_store(args.settings.store_url(args.store)) as store:
        record = publish_documents(store, run_id, docs, meta)
        print(f"published run {run_id} to {store.url} (data version {record['data_version']}, "
              f"{len(record['failed_tasks'])} failed task(s))", file=sys.stderr)
    return 1 if record["failed_tasks"] else 0


def _live(args: argparse.Namespace) -> int:
    """Replay a race's crossings (or a recording) into the live state, publishing every update to the store."""
    if args.speed < 0 or args.analysis_every < 0:
        print("run_pipeline.py live: error: --speed and --analysis-every must be >= 0", file=sys.stderr)
        return 2
    if args.from_recording:
        feed = RecordedFeed(args.from_recording)
    else:
        if not args.race:
            print("run_pipeline.py live: error: --race is required (or --from-recording)", file=sys.stderr)
            return 2
        races, _ = load(resolve_data(args.settings.data(args.data)), race_ids=[args.race])
        if not races:
            print(f"run_pipeline.py live: error: race {args.race!r} not found in the data", file=sys.stderr)
            return 2
        feed = ReplayFeed(races[0])
    if args.record:
        n = record(feed, args.record)
        print(f"recorded {n} crossings to {args.record}", file=sys.stderr)
    race_id = feed.meta()["race_id"]
    with open_store(args.settings.store_url(args.store)) as store:
        print(f"live: replaying {race_id} at {args.speed:g}x into {store.url}; stream it from a server on this store: "
              f"GET /live/{race_id}/events", file=sys.stderr)
        result = publish_live(feed, store, speed=args.speed, analysis_every=args.analysis_every, limit=args.limit)
    print(json.dumps(result.figures()))
    return 0


def _data_arg(text: str):
    """A local path, or a ``gs://`` URL kept as it is (a Path would fold its ``//``)."""
    return text if text.startswith("gs://") else Path(text)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # usage errors exit 2 (argparse's default too), message on stderr
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    tasks = list(task_names())
    p = _Parser(prog="run_pipeline.py", description="KaizenLap: GR Cup driver-coaching analytics")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    s = sub.add_parser("sample", help="write the synthetic sample season in the TRD formats")
    s.add_argument("out_dir")
    s.add_argument("--seed", type=int, default=2025)
    s.add_argument("--telemetry-size", type=float, metavar="MB",
                   help="instead of the season, write one telemetry file of about MB x 10^6 bytes (1536: a race) "
                        "as OUT_DIR/R1_bench_telemetry_data.csv, for benches")
    s.set_defaults(func=_sample)
    i = sub.add_parser("inspect", help="ingest TRD folders/zips and print each race with its quality ledger")
    i.add_argument("data", nargs="+", type=_data_arg, help="folder tree(s), official zip file(s) or gs://BUCKET/PREFIX")
    i.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    i.add_argument("--no-cache", action="store_true", help="parse again even if a cached copy exists")
    i.set_defaults(func=_inspect)
    r = sub.add_parser("run", help="ingest, execute every engine notebook for every race (papermill, in parallel), "
                                   "write reports under REPORTS/<run_id>/ and, with --store, publish the run",
                       description="Ingest the data, execute every engine notebook per race and per track, write "
                                   "the reports under REPORTS/<run_id>/ and, with --store, publish the run to the "
                                   "results store the API serves. A race that cannot be read fails (its tasks "
                                   "fail, with the reason in its quality ledger); every other race is processed "
                                   "and published. Exit code 0 when every task succeeded, 1 otherwise.")
    r.add_argument("--data", nargs="+", default=None, metavar="DATA",
                   help="folder tree(s), zip(s) or gs://BUCKET/PREFIX (default: gs://$GCS_BUCKET_NAME/$GCS_PREFIX "
                        "when USE_LOCAL_FILES=false, else $KAIZENLAP_DATA or data/sample)")
    r.add_argument("--races", nargs="+", default=None, metavar="ID", help="only these race ids (default: all)")
    r.add_argument("--engines", nargs="+", default=None, metavar="NAME",
                   choices=tasks, help=f"only these tasks: {' '.join(tasks)} (default: all)")
    r.add_argument("--workers", type=int, default=None, metavar="N",
                   help="parallel notebook executions (default: the number of CPUs)")
    r.add_argument("--reports", default=None, metavar="DIR",
                   help="reports folder (default: $KAIZENLAP_REPORTS or reports)")
    r.add_argument("--store", default=None, metavar="URL",
                   help="publish the run to this results store: sqlite:///PATH or firestore://PROJECT[/DATABASE] "
                        "(default: $KAIZENLAP_STORE, or Firestore when USE_LOCAL_FILES=false; else none: "
                        "the run writes reports only and publishes nothing)")
    r.add_argument("--force", action="store_true", help="execute every task, even those with unchanged inputs")
    r.add_argument("--no-reports", action="store_true", help="skip the HTML export of the notebooks")
    r.add_argument("--fresh-kernels", action="store_true",
                   help="start a new kernel for every notebook (slower; for debugging) instead of each worker's "
                        "warm kernel, reset between notebooks")
    r.add_argument("--llm", default=None, metavar="SETTING",
                   help="how the coaching task writes its text: deterministic (default), llama-cpp:gemma3-270m, "
                        "llama-cpp:/path/model.gguf, vertex://PROJECT/LOCATION/ENDPOINT_ID, "
                        "ollama+http://HOST:PORT, vllm+http://HOST:PORT, llamacpp+http://HOST:PORT or "
                        "http://HOST:PORT/v1?model=NAME (default: $KAIZENLAP_LLM)")
    r.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="run the tasks on this Dask distributed cluster instead of local worker processes (the "
                        "workers must see the same data, reports folder and store)")
    r.add_argument("--dry-run", action="store_true",
                   help="print which tasks would run and why (what changed since their last run); execute nothing")
    r.add_argument("--graph", default=None, metavar="PATH",
                   help="write the task graph of the engine registry to PATH (.svg with Graphviz, .dot, else Mermaid); "
                        "execute nothing")
    r.set_defaults(func=_run)
    v = sub.add_parser("serve", help="serve the read-only API (OpenAPI at /docs) and the web build")
    v.add_argument("--store", default=None, metavar="URL",
                   help="store URL (default: $KAIZENLAP_STORE or sqlite:///.kaizenlap/store.db at the project root)")
    v.add_argument("--host", default=None,
                   help="address (default: $KAIZENLAP_HOST, else 0.0.0.0 on Cloud Run, else 127.0.0.1)")
    v.add_argument("--port", type=int, default=None, help="port (default: $PORT or 8000)")
    v.add_argument("--reports", default=None, metavar="DIR",
                   help="the reports folder `run --reports` wrote (default: $KAIZENLAP_REPORTS or reports)")
    v.add_argument("--web-dir", default=None, metavar="DIR",
                   help="static web build (default: $KAIZENLAP_WEB_DIR or serve/web)")
    v.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    v.set_defaults(func=_serve)
    b = sub.add_parser("publish", help="ingest DATA, run every task in this process (no notebooks, no reports) "
                                       "and publish one run to the store")
    b.add_argument("data", nargs="+", type=_data_arg)
    b.add_argument("--store", default=None, metavar="URL", help="store URL (default as for serve)")
    b.add_argument("--run-id", default=None, help="default: UTC time, e.g. 20251126T101500Z")
    b.add_argument("--races", nargs="+", default=None, metavar="ID")
    b.set_defaults(func=_publish)
    lv = sub.add_parser("live", help="replay a race's crossings in real order and spacing (sped up) into the live "
                                     "state, publishing each update to the store (GET /live/RACE/events streams it)")
    lv.add_argument("--data", nargs="+", default=None, metavar="DATA", type=_data_arg,
                    help="folder tree(s), zip(s) or gs://BUCKET/PREFIX (default as for run)")
    lv.add_argument("--race", default=None, metavar="ID", help="the race to replay, e.g. cota-r1")
    lv.add_argument("--speed", type=float, default=10.0, help="replay speed (default 10: ten times real time; 0: "
                                                               "as fast as it computes)")
    lv.add_argument("--store", default=None, metavar="URL", help="store URL (default as for serve)")
    lv.add_argument("--analysis-every", type=int, default=1, metavar="N",
                    help="run the engines (composite, section losses, trend) every N leader laps (0: never)")
    lv.add_argument("--record", default=None, metavar="PATH", help="also write the feed as a recording (JSON lines)")
    lv.add_argument("--from-recording", default=None, metavar="PATH", help="replay a recording instead of DATA")
    lv.add_argument("--limit", type=int, default=None, metavar="N", help="stop after N crossings (no end event)")
    lv.set_defaults(func=_live)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("run", "serve", "publish", "live"):      # the settings, checked before anything starts
        try:
            args.settings = load_settings()
            args.settings.check("serve" if args.command in ("publish", "live") else args.command, data_flag=getattr(args, "data", None), store_flag=args.store)
        except SettingsError as exc:
            print(f"run_pipeline.py {args.command}: {exc}", file=sys.stderr)
            return 2
    path = _setup_logging()
    logger = logging.getLogger("kaizenlap.cli")
    logger.info("run_pipeline.py %s", " ".join(sys.argv[1:] if argv is None else argv))
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"run_pipeline.py {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the terminal gets one line, the log file the traceback
        logger.exception("run_pipeline.py %s failed", args.command)
        where = f"traceback in {path}" if path else "no log file could be opened"
        print(f"run_pipeline.py {args.command}: error: {type(exc).__name__}: {str(exc)[:500]} ({where})",
              file=sys.stderr)
        return 1
