"""The plan of a run and incremental reuse.

A task's *fingerprint* hashes its inputs (the races' lap and weather tables, the notebook's cells, the
library source and ``params/``, the parameters, the fingerprints of the tasks it reads). A task whose
fingerprint matches a successful task of an earlier run under the same reports folder is not executed: its
files are hard-linked (or copied) from that run and it is marked ``reused``.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

from .. import __version__
from ..engines.registry import RACE, dependencies, registry, topological
from ..notebook import repo_root
from .kernels import export_html
from .tasks import OK_STATUSES, Task

# Parameters that name where this run writes, not what it computes: not fingerprinted.
RUN_LOCAL_PARAMETERS = ("output_dir", "run_id", "store_url", "race_files", "inputs")


def _sha(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else p.encode())
        h.update(b"\0")
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def library_hash() -> str:
    """The package source (every ``.py``), ``params/`` (every ``.yaml``) and the version."""
    from ..params import params_dir
    h = hashlib.sha256(__version__.encode())
    pkg = Path(__file__).resolve().parents[1]
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


def plan(data: list[Path], races: list, race_ids: list[str], store_url: str | None,
         engines: list[str] | None = None, options: dict | None = None) -> list[Task]:
    """Every task of the run, fingerprinted, in dependency order (the registry's: race tasks in race
    order, then one per track and task kind). ``options``: run options (``{"llm": setting}``) that a task
    kind names in its spec's ``options`` become its notebook's parameters, and so part of its fingerprint
    (and, through ``after``, of the fingerprints of the tasks that read it)."""
    options = options or {}
    reg = registry()
    nb_dir = repo_root() / "notebooks"
    nb_hash = {f: notebook_hash(nb_dir / f) for f in {s.notebook for s in reg.values()}}
    lib = library_hash()
    data_param = [str(p) for p in data]
    by_id = {r.race_id: r for r in races}
    rhash = {r.race_id: race_hash(r) for r in races}
    wanted = set(engines or reg)
    tracks: dict[str, list[str]] = {}
    for rid in race_ids:
        if rid in by_id and by_id[rid].status == "loaded" and len(by_id[rid].laps):
            tracks.setdefault(by_id[rid].track_id, []).append(rid)
    track_of = {rid: tid for tid, rids in tracks.items() for rid in rids}
    tasks: list[Task] = []
    by_key: dict[str, Task] = {}
    for name in topological(list(reg)):
        s = reg[name]
        if name not in wanted:
            continue
        if s.scope == RACE:
            targets = [(rid, [rid], track_of.get(rid), {"race_id": rid}) for rid in race_ids]
        else:
            targets = [(tid, rids, tid, {"race_id": rids[0], "scope": "track", "track_id": tid, "race_ids": rids})
                       for tid, rids in sorted(tracks.items()) if len(rids) >= s.min_races]
        for target, rids, track_id, extra in targets:
            params = {**extra, "data": data_param, "store_url": store_url,
                      **{k: options.get(k) for k in s.options}}
            deps = [by_key[f"{t}/{d}"] for t, d in dependencies(s, rids, track_id or "")
                    if f"{t}/{d}" in by_key]
            t = Task(key=f"{target}/{name}", kind=s.scope, target=target, name=name, engine=s.engine,
                     notebook=s.notebook, parameters=params, race_ids=list(rids), after=[d.key for d in deps])
            t.fingerprint = _sha(json.dumps({
                "notebook": nb_hash[s.notebook], "lib": lib, "python": sys.version,
                "data": [rhash.get(r, f"missing:{r}") for r in rids],
                "parameters": {k: v for k, v in params.items() if k not in RUN_LOCAL_PARAMETERS},
                "task": name, "after": [d.fingerprint for d in deps]}, sort_keys=True, default=str))
            tasks.append(t)
            by_key[t.key] = t
    # Race-major order for reading (each race's tasks together, then the tracks'); dependencies first.
    depth: dict[str, int] = {}
    for t in tasks:
        depth[t.key] = 1 + max((depth[d] for d in t.after), default=-1)
    order = {n: i for i, n in enumerate(reg)}
    pos = {rid: i for i, rid in enumerate(race_ids)}
    pos.update({tid: len(pos) + i for i, tid in enumerate(sorted(tracks))})
    return sorted(tasks, key=lambda t: (depth[t.key], t.kind != RACE, pos.get(t.target, 0), order[t.name]))


# ------------------------------------------------------------------------------------------ reuse

def previous_runs(reports: Path, exclude: Path | None = None) -> list[tuple[Path, dict]]:
    out = []
    for rj in reports.glob("*/run.json"):
        if exclude is not None and rj.parent == exclude or rj.parent.is_symlink():
            continue
        try:
            out.append((rj.parent, json.loads(rj.read_text())))
        except (OSError, json.JSONDecodeError):
            continue
    return sorted(out, key=lambda x: x[1].get("started_utc", ""), reverse=True)


def find_reusable(task: Task, previous: list[tuple[Path, dict]]) -> tuple[Path, dict] | None:
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


def reuse(task: Task, run_dir: Path, src_run: Path, prev: dict, html_wanted: bool) -> None:
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
