"""``run_pipeline.py run``: every engine notebook for every race, executed by papermill in parallel.

Flow: ingest once in this process (parsed races land in the ingest cache, so each notebook's
``load_race_by_id`` is a cache read); then, in a process pool, one task per race × engine
(``notebooks/*.ipynb`` with papermill) plus one per-track weather task (``weather_correlation.ipynb`` with
``scope="track"``) submitted once every task of that track's races has finished. Each task leaves, under
``<reports>/<run_id>/<race_id or track_id>/``: the executed notebook (``<engine>.ipynb``), its HTML export
(code hidden) and the engine document (``<engine>.json``). Then ``index.html``, ``run.json``, the results
manifest (``results.json``) and the ``latest`` symlink.

With a results store (``store_url``) the run id is also a run of the store: the pipeline begins it and
writes the part ``ingest`` (tracks, races, laps, data quality); each notebook writes its own documents
under the run id (:func:`kaizenlap.results.store_document`, its part ``<target>.<task>``); the pipeline
writes the part of a reused task from its recorded document and discards the part of a failed one; once
every task has finished it publishes the run (:func:`kaizenlap.store.finish_run`), failed tasks recorded
in the run document. Readers keep the previous run until then.

Incremental: a task's *fingerprint* hashes its inputs (the race's lap and weather tables, the notebook's
cells, the library source and ``params/``, the parameters). A task whose fingerprint matches a successful
task of an earlier run under the same reports folder is not executed: its files are hard-linked (or copied)
from that run and it is marked ``reused``. ``force`` executes everything. A failing task never stops the
others; it is reported with the cell that failed, and the run's exit code is 1.
"""
from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import datetime as dt
import functools
import hashlib
import html
import json
import multiprocessing
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from . import __version__, results
from .notebook import repo_root, resolve_data

KERNEL_NAME = "python3"
NOTEBOOKS = {"composite": "best_case_composite.ipynb", "sections": "section_analysis.ipynb",
             "weather": "weather_correlation.ipynb", "pattern": "pattern_detection.ipynb"}
RACE_ENGINES = tuple(NOTEBOOKS)
# Track tasks (a track's races pooled): task name -> engine. composite_track only where a track has several races.
TRACK_TASKS = {"weather_track": "weather", "composite_track": "composite"}
TRACK_ENGINE = "weather_track"
ALL_TASKS = (*RACE_ENGINES, *TRACK_TASKS)
CELL_TIMEOUT_S = 900
OK_STATUSES = ("ok", "reused")


# ------------------------------------------------------------------------------------------ kernel

def ensure_kernel() -> Path:
    """Make the Jupyter kernel ``python3`` mean *this* Python (``sys.executable``), whatever other
    ``python3`` kernelspecs the user has: a kernelspec is written to a private folder put first on
    ``$JUPYTER_PATH`` (inherited by the worker processes and by papermill's kernel manager). The kernel
    also gets this package's ``lib/`` on ``PYTHONPATH``, so it imports the same ``kaizenlap`` even without
    an install. Returns the kernelspec folder.
    """
    lib = str(Path(__file__).resolve().parents[1])
    pythonpath = os.pathsep.join(p for p in (lib, os.environ.get("PYTHONPATH", "")) if p)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (KaizenLap)", "language": "python", "env": {"PYTHONPATH": pythonpath},
            "metadata": {"debugger": True}}
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    candidates = [repo_root() / ".kaizenlap" / "jupyter" / key, Path(os.environ.get("TMPDIR", "/tmp")) /
                  f"kaizenlap-jupyter-{os.getuid() if hasattr(os, 'getuid') else 0}-{key}"]
    for base in candidates:
        kdir = base / "kernels" / KERNEL_NAME
        try:
            kdir.mkdir(parents=True, exist_ok=True)
            target = kdir / "kernel.json"
            text = json.dumps(spec, indent=1)
            if not target.exists() or target.read_text() != text:
                tmp = kdir / f"kernel.json.{os.getpid()}.tmp"
                tmp.write_text(text)
                os.replace(tmp, target)
        except OSError:
            continue
        paths = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p and p != str(base)]
        os.environ["JUPYTER_PATH"] = os.pathsep.join([str(base), *paths])
        return kdir
    raise OSError("could not write a Jupyter kernelspec for this Python")


# ------------------------------------------------------------------------------------------ fingerprints

def _sha(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else p.encode())
        h.update(b"\0")
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def library_hash() -> str:
    """The package source (every ``.py``), ``params/`` (every ``.yaml``) and the version."""
    from .params import params_dir
    h = hashlib.sha256(__version__.encode())
    pkg = Path(__file__).resolve().parent
    for p in sorted(pkg.rglob("*.py")):
        h.update(p.relative_to(pkg).as_posix().encode() + b"\0" + p.read_bytes())
    pdir = params_dir()
    for p in sorted(pdir.rglob("*.yaml")):
        h.update(p.relative_to(pdir).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def notebook_hash(path: Path) -> str:
    """The notebook's cells (type and source), not its outputs or metadata: saving it from JupyterLab
    with outputs does not invalidate earlier results, editing a cell does."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    cells = [(c.get("cell_type"), "".join(c.get("source", "")), sorted(c.get("metadata", {}).get("tags", [])))
             for c in nb.get("cells", [])]
    return _sha(json.dumps(cells))


def race_hash(race) -> str:
    """The race as the engines see it: lap table and weather (values, columns, dtypes) and identity."""
    import pandas as pd
    parts: list[bytes | str] = [json.dumps([race.race_id, race.track_id, race.race_number, race.status,
                                            race.date], default=str)]
    for frame in (race.laps, race.weather):
        parts.append(json.dumps([list(map(str, frame.columns)), list(map(str, frame.dtypes))]))
        parts.append(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes() if len(frame) else b"")
    return _sha(*parts)


# ------------------------------------------------------------------------------------------ tasks

@dataclasses.dataclass
class Task:
    key: str                      # "<target>/<name>", e.g. "barber-r1/composite", "barber/weather_track"
    kind: str                     # race | track
    target: str                   # race_id or track_id
    name: str                     # composite | sections | weather | pattern | weather_track
    engine: str                   # the engine module
    notebook: str                 # notebook file name under notebooks/
    parameters: dict
    race_ids: list[str]
    fingerprint: str = ""
    status: str = "pending"       # ok | reused | failed
    duration_s: float | None = None
    files: dict = dataclasses.field(default_factory=dict)
    error: dict | None = None
    headline: dict = dataclasses.field(default_factory=dict)
    reused_from: str | None = None

    def record(self) -> dict:
        return dataclasses.asdict(self)


def _run_id(seed: str) -> str:
    now = dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{_sha(seed, str(time.time_ns()), str(os.getpid()))[:6]}"


def _execute(spec: dict) -> dict:
    """Worker: run one notebook with papermill, export it to HTML. Never raises."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError
    t0 = time.perf_counter()
    out_dir = Path(spec["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    out_nb = out_dir / f"{spec['name']}.ipynb"
    error = None
    try:
        pm.execute_notebook(spec["notebook"], str(out_nb), parameters=spec["parameters"], kernel_name=KERNEL_NAME,
                            progress_bar=False, log_output=False, cwd=spec["cwd"],
                            execution_timeout=spec["timeout"])
    except PapermillExecutionError as exc:
        error = {"cell_index": exc.cell_index, "exec_count": exc.exec_count, "ename": exc.ename,
                 "evalue": str(exc.evalue)[:2000], "source": (exc.source or "")[:1000]}
    except BaseException as exc:  # kernel death, timeout, bad notebook: a failed task, not a failed run
        error = {"cell_index": None, "exec_count": None, "ename": type(exc).__name__, "evalue": str(exc)[:2000],
                 "source": ""}
    files = {}
    if out_nb.exists():
        files["ipynb"] = out_nb.name
        if spec["html"]:
            try:
                export_html(out_nb, out_nb.with_suffix(".html"))
                files["html"] = out_nb.with_suffix(".html").name
            except Exception as exc:  # the executed notebook is still there
                error = error or {"cell_index": None, "exec_count": None, "ename": f"HTML export: {type(exc).__name__}",
                                  "evalue": str(exc)[:2000], "source": ""}
    doc = out_dir / f"{spec['name']}.json"
    if doc.exists():
        files["json"] = doc.name
    elif error is None:
        error = {"cell_index": None, "exec_count": None, "ename": "MissingDocument",
                 "evalue": f"the notebook ran but wrote no {doc.name}", "source": ""}
    return {"status": "failed" if error else "ok", "duration_s": round(time.perf_counter() - t0, 3),
            "files": files, "error": error}


def export_html(ipynb: Path, target: Path) -> Path:
    """HTML of an executed notebook, code cells hidden (markdown, tables, figures, errors shown)."""
    import nbformat
    from nbconvert import HTMLExporter
    nb = nbformat.read(str(ipynb), as_version=4)
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb)
    tmp = target.with_suffix(".html.tmp")
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, target)
    return target


def _init_worker(log_path: str) -> None:
    """Worker processes (and the kernels they start) write their noise to the run's log, not the terminal."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


# ------------------------------------------------------------------------------------------ reuse

def _previous_runs(reports: Path, exclude: Path | None = None) -> list[tuple[Path, dict]]:
    out = []
    for rj in reports.glob("*/run.json"):
        if exclude is not None and rj.parent == exclude or rj.parent.is_symlink():
            continue
        try:
            out.append((rj.parent, json.loads(rj.read_text())))
        except (OSError, json.JSONDecodeError):
            continue
    return sorted(out, key=lambda x: x[1].get("started_utc", ""), reverse=True)


def _find_reusable(task: Task, previous: list[tuple[Path, dict]], html_wanted: bool) -> tuple[Path, dict] | None:
    for run_dir, run in previous:
        for t in run.get("tasks", []):
            if t.get("key") != task.key or t.get("fingerprint") != task.fingerprint or \
                    t.get("status") not in OK_STATUSES:
                continue
            src = run_dir / task.target
            if all((src / f).exists() for f in (t["files"].get("ipynb"), t["files"].get("json")) if f) and \
                    t["files"].get("ipynb") and t["files"].get("json"):
                return run_dir, t
    return None


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _reuse(task: Task, run_dir: Path, src_run: Path, prev: dict, html_wanted: bool) -> None:
    src, dst = src_run / task.target, run_dir / task.target
    files = {}
    for kind in ("ipynb", "json"):
        _link_or_copy(src / prev["files"][kind], dst / prev["files"][kind])
        files[kind] = prev["files"][kind]
    if html_wanted:
        name = prev["files"].get("html")
        if name and (src / name).exists():
            _link_or_copy(src / name, dst / name)
            files["html"] = name
        else:  # earlier run had --no-reports: export now from the reused notebook
            files["html"] = export_html(dst / files["ipynb"], dst / f"{task.name}.html").name
    task.status, task.files, task.error = "reused", files, None
    task.duration_s = 0.0
    task.reused_from = prev.get("reused_from") or src_run.name


# ------------------------------------------------------------------------------------------ store

def _store_error(ename: str, exc: BaseException | str) -> dict:
    return {"cell_index": None, "exec_count": None, "ename": ename, "evalue": str(exc)[:2000], "source": ""}


class StoreRun:
    """The pipeline as owner of a run of the results store: begins it with the ``ingest`` part, writes the
    parts of reused tasks, discards those of failed tasks, keeps the run's heartbeat, publishes it."""

    HEARTBEAT_S = 30.0

    def __init__(self, url: str, run_id: str) -> None:
        self.url, self.run_id = url, run_id
        self.store = None
        self.error: str | None = None
        self._beat = time.monotonic()

    def begin(self, races: list, meta: dict) -> dict | None:
        """Open the store, begin the run, write the ``ingest`` part. On failure: ``error`` is set, and
        the run goes on without the store (the notebooks get no store URL)."""
        from .store import begin_run, build, open_store, stage
        try:
            self.store = open_store(self.url)
            begin_run(self.store, self.run_id, meta)
            return stage(self.store, self.run_id, "ingest", build.ingest_documents(races), meta={"writer": "pipeline"})
        except Exception as exc:  # the reports are still worth making
            self.error = f"{type(exc).__name__}: {exc}"
            self.store = None
            return None

    def task_done(self, task: "Task", run_dir: Path) -> None:
        """A reused task's part is written here, from its recorded document; a failed task's is discarded
        (its notebook may have written some or all of it before failing)."""
        if self.store is None:
            return
        from .store import build, discard, stage
        part = results.part_name(task.target, task.name)
        try:
            if task.status == "reused":
                doc, _ = results.load_document(run_dir / task.target / task.files["json"])
                stage(self.store, self.run_id, part, build.engine_documents(doc["engine"], doc),
                      meta={"writer": "pipeline", "reused_from": task.reused_from})
            elif task.status == "failed":
                discard(self.store, self.run_id, part)
        except Exception as exc:
            if task.status != "failed":
                task.status, task.error = "failed", _store_error("StoreWriteError", f"{type(exc).__name__}: {exc}")
        self.beat()

    def beat(self) -> None:
        """Keep the run's heartbeat fresh (at most every ``HEARTBEAT_S``), so no other publisher takes it
        for abandoned while long tasks run."""
        if self.store is None or time.monotonic() - self._beat < self.HEARTBEAT_S:
            return
        from .store import heartbeat
        self._beat = time.monotonic()
        try:
            heartbeat(self.store, self.run_id)
        except Exception:  # a missed beat is not fatal; finish() reports a store that is really gone
            pass

    def finish(self, tasks: list["Task"]) -> dict:
        """Publish the run: ``ingest`` and every successful task's part must be there; a task that ran but
        wrote nothing to the store becomes a failed task. Returns what the manifest records."""
        out = {"url": self.url, "run_id": self.run_id, "published": False}
        if self.store is None:
            return {**out, "error": self.error}
        from .store import discard, finish_run
        try:
            recorded = {p["part"] for p in self.store.list_parts(self.run_id)}
            for t in tasks:
                part = results.part_name(t.target, t.name)
                if t.status in OK_STATUSES and part not in recorded:
                    t.status = "failed"
                    t.error = _store_error("MissingStoreDocuments", f"the notebook ran but wrote no part {part!r} "
                                                                    f"under run {self.run_id} to {self.url}")
                    discard(self.store, self.run_id, part)
            failed = [{"task": t.key, "race_id": t.target if t.kind == "race" else None, "error": t.error}
                      for t in tasks if t.status == "failed"]
            parts = ["ingest", *(results.part_name(t.target, t.name) for t in tasks if t.status in OK_STATUSES)]
            run = finish_run(self.store, self.run_id, parts=parts, failed_tasks=failed)
            return {**out, "published": True, "data_version": run["data_version"], "counts": run["counts"],
                    "parts": len(run["parts"]), "failed_tasks": len(failed)}
        except Exception as exc:  # the store keeps serving its previous run
            self.error = f"{type(exc).__name__}: {exc}"
            return {**out, "error": self.error}
        finally:
            self.store.close()


# ------------------------------------------------------------------------------------------ run

@dataclasses.dataclass
class RunResult:
    run_id: str
    run_dir: Path
    tasks: list[Task]
    exit_code: int
    wall_s: float

    @property
    def failed(self) -> list[Task]:
        return [t for t in self.tasks if t.status == "failed"]

    def counts(self) -> dict[str, int]:
        out = {"ok": 0, "reused": 0, "failed": 0}
        for t in self.tasks:
            out[t.status] = out.get(t.status, 0) + 1
        return out


def plan(data: list[Path], races: list, race_ids: list[str], store_url: str | None,
         engines: list[str] | None = None) -> list[Task]:
    """Every task of the run, fingerprinted (race tasks first, in race order; then one per track)."""
    nb_dir = repo_root() / "notebooks"
    nb_hash = {name: notebook_hash(nb_dir / f) for name, f in NOTEBOOKS.items()}
    lib = library_hash()
    data_param = [str(p) for p in data]
    by_id = {r.race_id: r for r in races}
    rhash = {r.race_id: race_hash(r) for r in races}
    tasks = []

    def fp(name: str, notebook: str, params: dict, rids: list[str]) -> str:
        return _sha(json.dumps({"notebook": nb_hash[notebook], "lib": lib, "python": sys.version,
                                "data": [rhash.get(r, f"missing:{r}") for r in rids],
                                "parameters": {k: v for k, v in params.items() if k not in ("output_dir", "run_id", "store_url")},
                                "task": name}, sort_keys=True, default=str))

    engines = list(engines or ALL_TASKS)
    for rid in race_ids:
        for engine in (e for e in RACE_ENGINES if e in engines):
            params = {"race_id": rid, "data": data_param, "store_url": store_url}
            t = Task(key=f"{rid}/{engine}", kind="race", target=rid, name=engine, engine=engine,
                     notebook=NOTEBOOKS[engine], parameters=params, race_ids=[rid])
            t.fingerprint = fp(engine, engine, params, [rid])
            tasks.append(t)
    tracks: dict[str, list[str]] = {}
    for rid in race_ids:
        if rid in by_id and by_id[rid].status == "loaded" and len(by_id[rid].laps):
            tracks.setdefault(by_id[rid].track_id, []).append(rid)
    for track_id, rids in sorted(tracks.items()):
        for name, engine in TRACK_TASKS.items():
            if name not in engines or (engine == "composite" and len(rids) < 2):
                continue
            params = {"race_id": rids[0], "data": data_param, "store_url": store_url, "scope": "track",
                      "track_id": track_id, "race_ids": rids}
            t = Task(key=f"{track_id}/{name}", kind="track", target=track_id, name=name, engine=engine,
                     notebook=NOTEBOOKS[engine], parameters=params, race_ids=rids)
            t.fingerprint = fp(name, engine, params, rids)
            tasks.append(t)
    return tasks


def run(data: list[str | os.PathLike] | None = None, race_ids: list[str] | None = None, workers: int | None = None,
        reports_dir: str | os.PathLike = "reports", store_url: str | None = None, force: bool = False,
        html: bool = True, progress: bool = True, log=None, engines: list[str] | None = None) -> RunResult:
    """Execute the run; see the module docstring. ``engines`` limits the tasks (names of ``ALL_TASKS``);
    ``log`` is a callable for progress lines (stderr)."""
    unknown = sorted(set(engines or ()) - set(ALL_TASKS))
    if unknown:
        raise ValueError(f"unknown engine(s) {', '.join(unknown)}; choose from {', '.join(ALL_TASKS)}")
    from tqdm import tqdm

    from .ingest import load
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    t_start = time.perf_counter()
    started = results.now_utc()
    data_paths = resolve_data(list(data) if data else None)
    reports = Path(reports_dir).resolve()
    reports.mkdir(parents=True, exist_ok=True)

    # 1. Ingest once (cached): the notebooks then read the parsed races from the cache.
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
    tasks = plan(data_paths, races, wanted, store_url, engines)
    run_id = _run_id("".join(t.fingerprint for t in tasks))
    run_dir = reports / run_id
    while run_dir.exists():
        run_id = _run_id(run_id)
        run_dir = reports / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "logs").mkdir()
    for t in tasks:
        t.parameters.update(output_dir=str(run_dir / t.target), run_id=run_id)
    previous = [] if force else _previous_runs(reports, exclude=run_dir)
    store_run = None
    if store_url:
        store_run = StoreRun(store_url, run_id)
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
    n_exec_max = len(tasks)
    workers = max(1, workers or os.cpu_count() or 1)

    # 3. Execute: race tasks now; each track task once every task of its races has finished.
    track_tasks: dict[str, list[Task]] = {}
    for t in tasks:
        if t.kind == "track":
            track_tasks.setdefault(t.target, []).append(t)
    pending_for_track = {tid: sum(1 for t in tasks if t.kind == "race" and t.target in tts[0].race_ids)
                         for tid, tts in track_tasks.items()}
    track_of_race = {rid: tid for tid, tts in track_tasks.items() for rid in tts[0].race_ids}
    bar = tqdm(total=len(tasks), desc=f"run {run_id}", unit="task", file=sys.stderr, disable=not progress,
               dynamic_ncols=True, mininterval=0.5)
    pool: cf.ProcessPoolExecutor | None = None
    futures: dict[cf.Future, Task] = {}

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
            e = task.error or {}
            bar.write(f"FAILED {task.key}: {_where(e)}{e.get('ename')}: {_first_line(e.get('evalue'))}",
                      file=sys.stderr)
        bar.update(1)
        if task.kind == "race" and task.target in track_of_race:
            tid = track_of_race[task.target]
            pending_for_track[tid] -= 1
            if pending_for_track[tid] == 0:
                for tt in track_tasks[tid]:
                    start(tt)

    started_tasks: set[str] = set()

    def start(task: Task) -> None:
        nonlocal pool
        if task.key in started_tasks:        # a track task is started once, by its last race task
            return
        started_tasks.add(task.key)
        hit = None if force else _find_reusable(task, previous, html)
        if hit is not None:
            try:
                _reuse(task, run_dir, hit[0], hit[1], html)
                finish(task)
                return
            except OSError as exc:  # fall through: execute it
                log(f"  could not reuse {task.key} ({exc}); executing it")
        if pool is None:
            ctx = multiprocessing.get_context("spawn")   # no fork of a process with threads (tqdm, pandas)
            pool = cf.ProcessPoolExecutor(max_workers=min(workers, n_exec_max), mp_context=ctx,
                                          initializer=_init_worker, initargs=(str(run_dir / "logs" / "workers.log"),))
        spec = {"notebook": str(nb_dir / task.notebook), "out_dir": str(run_dir / task.target), "name": task.name,
                "parameters": task.parameters, "html": html, "cwd": cwd, "timeout": CELL_TIMEOUT_S}
        futures[pool.submit(_execute, spec)] = task

    try:
        for t in tasks:
            if t.kind == "race":
                start(t)
        for tid, n in pending_for_track.items():
            if n == 0:                      # a track whose race tasks were all reused (or none exist)
                for tt in track_tasks[tid]:
                    start(tt)
        while futures:
            done, _ = cf.wait(list(futures), timeout=StoreRun.HEARTBEAT_S, return_when=cf.FIRST_COMPLETED)
            if store_run is not None:
                store_run.beat()
            for fut in done:
                task = futures.pop(fut)
                try:
                    res = fut.result()
                except BaseException as exc:  # a worker died (BrokenProcessPool): the task failed
                    res = {"status": "failed", "duration_s": None, "files": {},
                           "error": {"cell_index": None, "exec_count": None, "ename": type(exc).__name__,
                                     "evalue": str(exc), "source": ""}}
                task.status, task.duration_s, task.files, task.error = \
                    res["status"], res["duration_s"], res["files"], res["error"]
                finish(task)
    except KeyboardInterrupt:
        for f in futures:
            f.cancel()
        raise
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    store_record = store_run.finish(tasks) if store_run is not None else None
    if store_record is not None:
        if store_record["published"]:
            log(f"published run {run_id} to {store_url}: data version {store_record['data_version']}, "
                f"{store_record['counts']}")
        else:
            log(f"run_pipeline.py run: error: publishing to {store_url} failed: {store_record.get('error')} "
                "(the store keeps serving its previous run)")
    wall = time.perf_counter() - t_start
    exit_code = 1 if any(t.status == "failed" for t in tasks) or not tasks else 0
    if store_record is not None and not store_record["published"]:
        exit_code = 1
    result = RunResult(run_id, run_dir, tasks, exit_code, wall)

    # 4. Record: run.json, index.html, results manifest, latest symlink.
    doc = {"run_id": run_id, "started_utc": started, "finished_utc": results.now_utc(), "wall_s": round(wall, 3),
           "data": [str(p) for p in data_paths], "races": wanted, "races_missing": missing,
           "engines": list(engines or ALL_TASKS), "workers": workers, "force": force, "html": html, "store_url": store_url,
           "store": store_record, "kaizenlap_version": __version__, "library_hash": library_hash(),
           "python": sys.version.split()[0], "counts": result.counts(), "exit_code": exit_code,
           "tasks": [t.record() for t in tasks]}
    _write_json(run_dir / "run.json", doc)
    (run_dir / "index.html").write_text(render_index(doc), encoding="utf-8")
    results.write_manifest(run_dir, store_record)
    _point_latest(reports, run_id)
    return result


def _write_json(path: Path, doc: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


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


def _first_line(text: Any) -> str:
    return str(text or "").strip().splitlines()[0][:300] if str(text or "").strip() else ""


def _where(e: dict) -> str:
    if e.get("exec_count") is not None:
        return f"cell [{e['exec_count']}] "
    if e.get("cell_index") is not None:
        return f"cell #{e['cell_index']} "
    return ""


# ------------------------------------------------------------------------------------------ index.html

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem;color:#222}
h1{font-size:1.4rem;margin-bottom:.2rem} .meta{color:#555;font-size:.9rem;margin-bottom:1rem}
table{border-collapse:collapse;width:100%;font-size:.85rem} th,td{border:1px solid #ddd;padding:.35rem .5rem;
vertical-align:top;text-align:left} th{background:#f4f4f4;position:sticky;top:0}
.ok{color:#1a7f37;font-weight:600} .reused{color:#0969da;font-weight:600} .failed{color:#cf222e;font-weight:700}
.hl{display:block;margin:.15rem 0} .links a{margin-right:.4rem} .dur{color:#777}
td.failed-cell{background:#fff5f5} code{font-size:.8rem} .err{white-space:pre-wrap;font-family:monospace;font-size:.8rem}
"""


def _cell(t: dict) -> str:
    if t is None:
        return "<td>-</td>"
    status = t["status"]
    dur = f"{t['duration_s']:.1f} s" if t.get("duration_s") else ("reused" if status == "reused" else "")
    parts = [f'<span class="{status}">{status}</span> <span class="dur">{html.escape(dur)}</span>']
    if status == "reused" and t.get("reused_from"):
        parts.append(f'<span class="dur">from {html.escape(t["reused_from"])}</span>')
    if t.get("headline", {}).get("text"):
        parts.append(f'<span class="hl">{html.escape(t["headline"]["text"])}</span>')
    if status == "failed" and t.get("error"):
        e = t["error"]
        parts.append(f'<span class="hl">{html.escape(_where(e))}<b>{html.escape(str(e.get("ename")))}</b>: '
                     f'{html.escape(_first_line(e.get("evalue")))}</span>')
    links = []
    for kind, label in (("html", "report"), ("ipynb", "notebook"), ("json", "json")):
        if t.get("files", {}).get(kind):
            href = f"{t['target']}/{t['files'][kind]}"
            links.append(f'<a href="{html.escape(href)}">{label}</a>')
    if links:
        parts.append(f'<span class="links">{" ".join(links)}</span>')
    cls = ' class="failed-cell"' if status == "failed" else ""
    return f"<td{cls}>{'<br>'.join(parts)}</td>"


def render_index(run: dict) -> str:
    """The run's index page: every race × engine (status, duration, headline, links), track models,
    failures with the cell that failed."""
    tasks = run["tasks"]
    by = {(t["target"], t["name"]): t for t in tasks}
    race_ids = list(dict.fromkeys(t["target"] for t in tasks if t["kind"] == "race"))
    tracks = [t for t in tasks if t["kind"] == "track"]
    c = run["counts"]
    out = ["<!doctype html><html><head><meta charset='utf-8'>",
           f"<title>KaizenLap run {html.escape(run['run_id'])}</title><style>{_CSS}</style></head><body>",
           f"<h1>KaizenLap run {html.escape(run['run_id'])}</h1>",
           f"<div class='meta'>started {html.escape(run['started_utc'])}, wall {run['wall_s']:.1f} s, "
           f"{len(tasks)} tasks: <span class='ok'>{c.get('ok', 0)} ok</span>, "
           f"<span class='reused'>{c.get('reused', 0)} reused</span>, "
           f"<span class='failed'>{c.get('failed', 0)} failed</span>; workers {run['workers']}; "
           f"data {html.escape(', '.join(run['data']))}; kaizenlap {html.escape(run['kaizenlap_version'])} "
           f"(library {run['library_hash'][:10]}); machine-readable: <a href='run.json'>run.json</a>, "
           f"<a href='{results.MANIFEST}'>{results.MANIFEST}</a></div>"]
    st = run.get("store")
    if st:
        if st.get("published"):
            out.append(f"<p>Results store <code>{html.escape(str(st['url']))}</code>: published as run "
                       f"<code>{html.escape(st['run_id'])}</code>, data version <code>{html.escape(st['data_version'])}"
                       f"</code>, {st.get('parts')} parts, {st.get('failed_tasks')} failed task(s) recorded.</p>")
        else:
            out.append(f"<p class='failed'>Results store <code>{html.escape(str(st['url']))}</code>: not published "
                       f"({html.escape(str(st.get('error')))}); it keeps serving its previous run.</p>")
    if run.get("races_missing"):
        out.append(f"<p class='failed'>Not found in the data: {html.escape(', '.join(run['races_missing']))}</p>")
    out.append("<h2>Races</h2><table><tr><th>race</th>"
               + "".join(f"<th>{e}</th>" for e in RACE_ENGINES) + "</tr>")
    for rid in race_ids:
        out.append(f"<tr><th>{html.escape(rid)}</th>" + "".join(_cell(by.get((rid, e))) for e in RACE_ENGINES)
                   + "</tr>")
    out.append("</table>")
    if tracks:
        out.append("<h2>Tracks (races pooled)</h2><table><tr><th>track</th><th>races</th>"
                   + "".join(f"<th>{n}</th>" for n in TRACK_TASKS) + "</tr>")
        for tid in dict.fromkeys(t["target"] for t in tracks):
            first = next(t for t in tracks if t["target"] == tid)
            out.append(f"<tr><th>{html.escape(tid)}</th><td>{html.escape(', '.join(first['race_ids']))}</td>"
                       + "".join(_cell(by.get((tid, n))) for n in TRACK_TASKS) + "</tr>")
        out.append("</table>")
    failed = [t for t in tasks if t["status"] == "failed"]
    if failed:
        out.append("<h2 class='failed'>Failures</h2><table><tr><th>task</th><th>cell</th><th>error</th></tr>")
        for t in failed:
            e = t.get("error") or {}
            src = html.escape((e.get("source") or "").strip()[:400])
            link = (f" <a href='{html.escape(t['target'] + '/' + t['files']['html'])}'>report</a>"
                    if t.get("files", {}).get("html") else "")
            out.append(f"<tr><td>{html.escape(t['key'])}{link}</td><td>{html.escape(_where(e).strip() or '-')}"
                       f"{'<br><code>' + src + '</code>' if src else ''}</td>"
                       f"<td class='err'>{html.escape(str(e.get('ename')))}: {html.escape(str(e.get('evalue')))}</td></tr>")
        out.append("</table>")
    out.append("</body></html>\n")
    return "\n".join(out)


def summary_lines(result: RunResult, reports_dir: str | os.PathLike) -> list[str]:
    """What ``run`` prints on stdout."""
    c = result.counts()
    lines = [f"run {result.run_id}: {len(result.tasks)} tasks, {c.get('ok', 0)} ok, {c.get('reused', 0)} reused, "
             f"{c.get('failed', 0)} failed in {result.wall_s:.1f} s",
             f"reports: {result.run_dir / 'index.html'}  (latest: {Path(reports_dir) / 'latest'})"]
    for t in result.failed:
        e = t.error or {}
        lines.append(f"  FAILED {t.key}: {_where(e)}{e.get('ename')}: {_first_line(e.get('evalue'))}")
    return lines


__all__ = ["run", "plan", "ensure_kernel", "export_html", "render_index", "summary_lines", "RunResult", "Task",
           "NOTEBOOKS", "RACE_ENGINES", "TRACK_TASKS", "TRACK_ENGINE", "ALL_TASKS"]
