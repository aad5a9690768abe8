"""``run``: ingest once, plan, execute every task through an executor, record the run.

Flow: ingest once in this process (the ingest cache); each loaded race is written once to
``<run>/.races/<race_id>.pickle`` and every notebook gets those paths as its parameter ``race_files`` (no
notebook walks or hashes the raw files again). Then each task is started once the tasks it reads
(``after``, the engine registry) have finished: reused when its fingerprint matches an earlier successful
task, else submitted to the executor (local warm-kernel pool, fresh kernels, or a Dask cluster). Each
task leaves, under ``<reports>/<run_id>/<race_id or track_id>/``: the executed notebook, its HTML export
(code hidden) and the engine document. Then ``index.html``, ``run.json``, the results manifest and the
``latest`` symlink. With a results store, the run is also a store run (:class:`kaizenlap.tasks.store_run.StoreRun`).
A failing task never stops the others; it is reported with the cell that failed; the exit code is 1.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
import time
from pathlib import Path

from tqdm import tqdm

from kaizenlap.core.atomic import write_json, write_text

from kaizenlap.core import __version__, params
from kaizenlap.core.settings import llm_setting
from kaizenlap.ingest.loader import load
from kaizenlap.pipeline.executors import DaskExecutor, LocalPool
from kaizenlap.pipeline.kernels import ensure_kernel
from kaizenlap.tasks.store_run import StoreRun
from kaizenlap.tasks import record as results
from kaizenlap.tasks.registry import registry, task_names
from kaizenlap.core.paths import repo_root, resolve_data
from kaizenlap.ingest.race_files import write_race_file
from kaizenlap.pipeline import provenance, reuse
from kaizenlap.pipeline.manifest import write_manifest
from kaizenlap.tasks import plan as planner
from kaizenlap.pipeline.index import render_index, write_quality
from kaizenlap.tasks.model import OK_STATUSES, RunResult, Task, TaskError, first_line


def settings() -> dict:
    """``params/pipeline.yaml``."""
    return params.load("pipeline")


def _run_id(seed: str) -> str:
    now = dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{planner._sha(seed, str(time.time_ns()), str(os.getpid()))[:6]}"


def _point_latest(reports: Path, run_id: str) -> None:
    link = reports / "latest"
    tmp = reports / f".latest.{os.getpid()}"
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(run_id, tmp, target_is_directory=True)
        os.replace(tmp, link)                      # atomic: readers see the old or the new run
    except OSError:                                # no symlinks (some filesystems): a text pointer instead
        (reports / "LATEST").write_text(run_id + "\n")


def make_executor(scheduler: str | None, workers: int, fresh: bool, log_path: Path, run_id: str):
    if scheduler:
        return DaskExecutor(scheduler, run_id)
    return LocalPool(workers, str(log_path))


def run(data: list[str | os.PathLike] | None = None, race_ids: list[str] | None = None, workers: int | None = None,
        reports_dir: str | os.PathLike = "reports", store_url: str | None = None, force: bool = False,
        html: bool = True, progress: bool = True, log=None, engines: list[str] | None = None,
        fresh_kernels: bool = False, scheduler: str | None = None, llm: str | None = None) -> RunResult:
    """Execute the run; see the module docstring. ``engines`` limits the tasks (task kinds of the engine
    registry); ``fresh_kernels`` starts a kernel per notebook (debugging); ``scheduler`` is a Dask
    scheduler address (``tcp://HOST:PORT``); ``llm`` is the coaching generator setting (``--llm``; default
    ``$KAIZENLAP_LLM``, else deterministic); ``log`` is a callable for progress lines (stderr)."""
    unknown = sorted(set(engines or ()) - set(task_names()))
    if unknown:
        raise ValueError(f"unknown engine(s) {', '.join(unknown)}; choose from {', '.join(task_names())}")
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    cfg = settings()
    t_start = time.perf_counter()
    started = results.now_utc()
    data_paths = resolve_data(list(data) if data else None)
    reports = Path(reports_dir).resolve()
    reports.mkdir(parents=True, exist_ok=True)

    # 1. Ingest once (cached).
    t0 = time.perf_counter()
    races, issues = load(data_paths, use_cache=True, race_ids=race_ids)
    found = {r.race_id for r in races}
    wanted = list(dict.fromkeys(race_ids)) if race_ids else sorted(found)
    missing = [r for r in wanted if r not in found]
    log(f"ingested {len(races)} race(s) in {time.perf_counter() - t0:.1f} s from {', '.join(map(str, data_paths))}")
    for issue in issues:
        log(f"  {issue}")
    for r in races:
        if r.status != "loaded":
            log(f"  race {r.race_id} did not load ({r.status}): its tasks will fail")
    if missing:
        log(f"  race(s) not found in the data: {', '.join(missing)} (their tasks will fail)")

    # 2. Plan and fingerprint.
    options = {"llm": llm_setting(llm)}
    tasks = planner.plan(data_paths, races, wanted, store_url, engines, options)
    by_key = {t.key: t for t in tasks}
    run_id = _run_id("".join(t.fingerprint for t in tasks))
    run_dir = reports / run_id
    while run_dir.exists():
        run_id = _run_id(run_id)
        run_dir = reports / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "logs").mkdir()
    # Each race parsed once per run: the notebooks read these files instead of the raw data.
    race_dir = run_dir / ".races"
    race_files: dict[str, str] = {}
    for r in races:
        if r.race_id in wanted and r.status == "loaded" and len(r.laps):
            race_files[r.race_id] = str(write_race_file(r, race_dir / f"{r.race_id}.pickle"))
    # What each report's provenance block names (the library, the commit, the input files' checksums).
    lib_hash = planner.library_hash()
    git = provenance.git_state()
    inputs = provenance.race_inputs([r for r in races if r.race_id in wanted], data_paths)
    for t in tasks:
        t.parameters.update(output_dir=str(run_dir / t.target), run_id=run_id,
                            race_files={rid: race_files[rid] for rid in t.race_ids if rid in race_files} or None)
        if t.after:
            t.parameters["inputs"] = {k: str(run_dir / by_key[k].target / f"{by_key[k].name}.json") for k in t.after}
    previous = [] if force else reuse.previous_runs(reports, exclude=run_dir)
    store_run = None
    if store_url:
        store_run = StoreRun(store_url, run_id, subset=bool(race_ids or engines))
        store_run.HEARTBEAT_S = float(cfg.get("heartbeat_s", StoreRun.HEARTBEAT_S))
        t0 = time.perf_counter()
        rec = store_run.begin(races, {"reports": str(run_dir), "races": wanted, "data": [str(p) for p in data_paths]})
        if rec is None:
            log(f"  results store {store_url}: {store_run.error}; running without it (nothing is published)")
            for t in tasks:
                t.parameters["store_url"] = None
        else:
            log(f"results store {store_url}: run {run_id} begun, ingest part written "
                f"({sum(rec['counts'].values())} documents) in {time.perf_counter() - t0:.1f} s")

    ensure_kernel()
    nb_dir = repo_root() / "notebooks"
    cwd = str(repo_root())
    workers = max(1, workers or os.cpu_count() or 1)
    mode = "fresh kernels" if fresh_kernels else "warm kernels"

    # 3. Execute: a task starts once every task it reads has finished.
    bar = tqdm(total=len(tasks), desc=f"run {run_id}", unit="task", file=sys.stderr, disable=not progress,
               dynamic_ncols=True, mininterval=0.5)
    executor = None
    waiting = [t for t in tasks]
    done: set[str] = set()

    def finish(task: Task) -> None:
        if store_run is not None:
            store_run.task_done(task, run_dir)
        if task.status in OK_STATUSES and task.files.get("json"):
            try:
                doc, _ = results.load_document(run_dir / task.target / task.files["json"])
                task.headline = results.headline(doc)
            except (OSError, json.JSONDecodeError) as exc:
                task.headline = {"text": f"(document unreadable: {exc})"}
        if task.status == "failed":
            e = TaskError(**(task.error or {"ename": "Error"}))
            bar.write(f"FAILED {task.key}: {e.where}{e.get('ename')}: {first_line(e.get('evalue'))}",
                      file=sys.stderr)
        bar.update(1)
        done.add(task.key)

    def start(task: Task) -> None:
        nonlocal executor
        broken = planner.blocked_by(task, {t.key for t in tasks if t.status == "failed"})
        if broken:
            task.fail(TaskError(**planner.dependency_failed(broken)))
            finish(task)
            return
        hit = None if force else reuse.find_reusable(task, previous)
        if hit is not None:
            try:
                reuse.reuse(task, run_dir, hit[0], hit[1], html)
                finish(task)
                return
            except OSError as exc:  # fall through: execute it
                log(f"  could not reuse {task.key} ({exc}); executing it")
        hit = None if force else reuse.find_rerenderable(task, previous)
        if hit is not None:
            try:
                prov = provenance.for_task(task, library=lib_hash, commit=git, inputs=inputs)
                if reuse.rerender(task, run_dir, hit[0], hit[1], nb_dir / task.notebook, html, prov):
                    finish(task)
                    return
            except (OSError, ValueError) as exc:  # fall through: execute it
                log(f"  could not re-render {task.key} ({exc}); executing it")
        if executor is None:
            n_exec = sum(1 for t in tasks if t.status == "pending")
            executor = make_executor(scheduler, min(workers, max(1, n_exec)), fresh_kernels,
                                     run_dir / "logs" / "workers.log", run_id)
            log(f"executing on {executor.description} ({mode})")
        spec = {"notebook": str(nb_dir / task.notebook), "out_dir": str(run_dir / task.target), "name": task.name,
                "provenance": provenance.for_task(task, library=lib_hash, commit=git, inputs=inputs),
                "parameters": task.parameters, "html": html, "cwd": cwd, "timeout": cfg["cell_timeout_s"],
                "fresh": fresh_kernels, "memory_limit_mb": cfg.get("kernel_memory_limit_mb"),
                "startup_timeout": cfg.get("kernel_startup_timeout_s", 120)}
        task.status = "running"
        executor.submit(task.key, spec)

    def start_ready() -> None:
        while True:
            ready = [t for t in waiting if all(k in done for k in t.after)]
            if not ready:
                return
            for t in ready:
                waiting.remove(t)
                start(t)

    try:
        start_ready()
        while executor is not None and executor.pending:
            for key, res in executor.wait(timeout=min(store_run.HEARTBEAT_S if store_run else 30.0, 30.0)):
                task = by_key[key]
                task.status, task.duration_s, task.files = res["status"], res["duration_s"], res["files"]
                task.error, task.worker = res["error"], res.get("worker") or {}
                finish(task)
            if store_run is not None:
                store_run.beat()
            start_ready()
    finally:
        bar.close()
        if executor is not None:
            executor.close()
        shutil.rmtree(race_dir, ignore_errors=True)
    for t in waiting:                                  # only if a dependency never finished (a bug)
        t.fail(TaskError(ename="DependencyFailed", evalue="its dependencies never finished"))

    store_record = store_run.finish(tasks) if store_run is not None else None
    if store_record is not None:
        if store_record["published"]:
            log(f"published run {run_id} to {store_url}: data version {store_record['data_version']}, "
                f"{store_record['counts']}")
            for rec in (store_record.get("carried") or {}).get("for_failed", []):
                log(f"  {rec['task']} failed: " + (f"the app keeps serving its documents from run {rec['from_run']}"
                                                   if rec["carried"] else f"nothing served for it ({rec['reason']})"))
        else:
            log(f"run_pipeline.py run: error: publishing to {store_url} failed: {store_record.get('error')} "
                "(the store keeps serving its previous run)")
    wall = time.perf_counter() - t_start
    exit_code = 1 if any(t.status == "failed" for t in tasks) or not tasks else 0
    if store_record is not None and not store_record["published"]:
        exit_code = 1
    if any(i.severity == "error" for i in issues):   # an unreadable input: the races it held are lost
        exit_code = 1
    result = RunResult(run_id, run_dir, tasks, exit_code, wall)
    # A subset run's report folder keeps the season too: the previous latest run's other tasks, linked in.
    carried = reuse.carry_reports(tasks, run_dir, reports, html) if (race_ids or engines) else []

    # 4. Record: run.json, index.html, results manifest, latest symlink.
    doc = {"run_id": run_id, "started_utc": started, "finished_utc": results.now_utc(), "wall_s": round(wall, 3),
           "data": [str(p) for p in data_paths], "races": wanted, "races_missing": missing,
           "input_issues": [i.to_dict() for i in issues],
           "engines": list(engines or registry()), "workers": workers, "executor": scheduler or "local",
           "kernels": "fresh" if fresh_kernels else "warm", "llm": options["llm"], "force": force, "html": html, "store_url": store_url,
           "store": store_record, "kaizenlap_version": __version__, "library_hash": lib_hash, "git": git,
           "quality": write_quality(run_dir, [r for r in races if r.race_id in wanted]),
           "python": sys.version.split()[0], "counts": result.counts(), "exit_code": exit_code,
           "tasks": [t.record() for t in [*tasks, *carried]], "carried_tasks": len(carried)}
    write_json(run_dir / "run.json", doc, default=str)
    write_text(run_dir / "index.html", render_index(doc))
    write_manifest(run_dir, store_record)
    _point_latest(reports, run_id)
    return result
