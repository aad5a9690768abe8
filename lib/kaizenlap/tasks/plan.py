"""The one planner: every task of a run (the registry's task kinds over the races and tracks), in dependency
order, each with a fingerprint scoped to what it reads.

Both executors run this plan: the notebook pipeline (:mod:`kaizenlap.pipeline.scheduler`) and the in-process
executor (:mod:`kaizenlap.tasks.inprocess`, tests, benches, a data scientist's kernel). The rules that decide
which tasks exist (a track task only where the track has ``min_races`` loaded races) and that a task whose
dependency failed fails without running (:func:`blocked_by`) live here and nowhere else.

A task's fingerprint (docs/DATA_REFERENCE.md §12) hashes: the notebook's cells (code and narration); the source of every project
module the notebook and the task's engine import, followed through the project's imports (a module of the
tasks layer, or the lab face, counts by its own source: what it imports is not followed, so the registry's
knowledge of every engine does not tie the tasks together); the ``params/`` sections the spec names; the races' lap and weather
tables; the parameters; the result fingerprints of the tasks it reads (a task's fingerprint without its
notebook's narration: an edited markdown cell re-renders that notebook's reports and nothing downstream). Editing ``pattern.trend_fdr`` therefore
re-runs the pattern tasks and the coaching that reads them, and nothing else.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import json
import sys
from pathlib import Path

import pandas as pd
import yaml

from kaizenlap.core import __version__, params
from kaizenlap.core.paths import repo_root
from kaizenlap.tasks.model import Task
from kaizenlap.tasks.registry import RACE, EngineSpec, dependencies, registry, topological

# Parameters that name where this run writes, not what it computes: not fingerprinted.
RUN_LOCAL_PARAMETERS = ("output_dir", "run_id", "store_url", "race_files", "inputs")
PACKAGE = Path(__file__).resolve().parents[1]            # lib/kaizenlap
# Counted by their own source only (see the docstring): the tasks layer knows every engine, and the lab face
# re-exports everything a data scientist calls.
NOT_FOLLOWED = ("kaizenlap.tasks", "kaizenlap.lab")


def _sha(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else p.encode())
        h.update(b"\0")
    return h.hexdigest()


# ------------------------------------------------------------------------------------------ code

def module_file(module: str) -> Path | None:
    rel = module.split(".")[1:]
    base = PACKAGE.joinpath(*rel) if rel else PACKAGE
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _imports_of_source(source: str) -> set[str]:
    """The project modules a source imports (``from kaizenlap.x import y`` may name a module y)."""
    out: set[str] = set()
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return out
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "kaizenlap" \
                and not node.level:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names if module_file(f"{node.module}.{a.name}"))
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "kaizenlap")
    return {m for m in out if module_file(m)}


@functools.lru_cache(maxsize=None)
def _module_imports(module: str, stamp: float) -> frozenset[str]:
    path = module_file(module)
    return frozenset(_imports_of_source(path.read_text(encoding="utf-8"))) if path else frozenset()


def code_closure(roots: set[str]) -> dict[str, str]:
    """``{module: sha256 of its source}`` for ``roots`` and every project module they import, transitively
    (parent packages included: importing ``a.b`` runs ``a/__init__.py``)."""
    seen: dict[str, str] = {}
    todo = list(roots)
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        path = module_file(m)
        if path is None:
            continue
        seen[m] = _sha(path.read_bytes())[:16]
        parents = [".".join(m.split(".")[:i]) for i in range(2, len(m.split(".")))]
        todo.extend(p for p in parents if p not in seen)
        if m.startswith(NOT_FOLLOWED):
            continue
        todo.extend(_module_imports(m, path.stat().st_mtime))
    return dict(sorted(seen.items()))


def notebook_cells(path: Path) -> list:
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    return [(c.get("cell_type"), "".join(c.get("source", "")), sorted(c.get("metadata", {}).get("tags", [])))
            for c in nb.get("cells", [])]


def notebook_hash(path: Path, kinds: tuple[str, ...] = ("code", "markdown", "raw")) -> str:
    """The notebook's cells of ``kinds`` (type, source and tags), not its outputs or metadata: saving it from
    JupyterLab with outputs does not invalidate earlier results, editing a cell does."""
    return _sha(json.dumps([c for c in notebook_cells(path) if c[0] in kinds]))


def notebook_imports(path: Path) -> set[str]:
    src = "\n".join(s for kind, s, _ in notebook_cells(path) if kind == "code")
    src = "\n".join(line for line in src.splitlines() if not line.lstrip().startswith(("%", "!")))
    return _imports_of_source(src)


_ENGINE_MODULES = {"composite": "kaizenlap.engines.composite", "sections": "kaizenlap.engines.sections",
                   "weather": "kaizenlap.engines.weather", "pattern": "kaizenlap.engines.pattern",
                   "coaching": "kaizenlap.coaching.engine", "telemetry": "kaizenlap.engines.telemetry"}


def engine_module(spec: EngineSpec) -> str:
    """The module that computes a task kind's document."""
    return _ENGINE_MODULES.get(spec.engine, spec.analyse.__module__)


# ------------------------------------------------------------------------------------------ params

def params_hashes(names: tuple[str, ...]) -> dict[str, str]:
    """``{name: sha}`` of the ``params/`` parts a task reads: ``"engines.pattern"`` (one top-level key of
    params/engines.yaml), ``"plots"`` (a whole file), ``"prompts/"`` (every file of a folder)."""
    pdir = params.params_dir()
    out: dict[str, str] = {}
    for name in names:
        if name.endswith("/"):
            for p in sorted((pdir / name).rglob("*.yaml")):
                out[p.relative_to(pdir).as_posix()] = _sha(p.read_bytes())[:16]
        elif "." in name:
            stem, key = name.split(".", 1)
            doc = yaml.safe_load((pdir / f"{stem}.yaml").read_text(encoding="utf-8")) or {}
            out[name] = _sha(json.dumps(doc.get(key), sort_keys=True, default=str))[:16]
        else:
            out[name] = _sha((pdir / f"{name}.yaml").read_bytes())[:16]
    return out


def library_hash() -> str:
    """The package source (every ``.py``), ``params/`` (every ``.yaml``) and the version: what a report's
    provenance names as the library it came from (fingerprints are scoped per task)."""
    h = hashlib.sha256(__version__.encode())
    for p in sorted(PACKAGE.rglob("*.py")):
        h.update(p.relative_to(PACKAGE).as_posix().encode() + b"\0" + p.read_bytes())
    pdir = params.params_dir()
    for p in sorted(pdir.rglob("*.yaml")):
        h.update(p.relative_to(pdir).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


# ------------------------------------------------------------------------------------------ data

def race_hash(race) -> str:
    """The race as the engines see it: lap table and weather (values, columns, dtypes) and identity."""
    parts: list[bytes | str] = [json.dumps([race.race_id, race.track_id, race.race_number, race.status,
                                            race.date], default=str)]
    for frame in (race.laps, race.weather):
        parts.append(json.dumps([list(map(str, frame.columns)), list(map(str, frame.dtypes))]))
        parts.append(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes() if len(frame) else b"")
    return _sha(*parts)


# ------------------------------------------------------------------------------------------ the plan

def blocked_by(task: Task, failed: set[str]) -> list[str]:
    """The keys among ``task.after`` that failed: such a task fails without running (both executors)."""
    return [k for k in task.after if k in failed]


def dependency_failed(broken: list[str]) -> dict[str, str]:
    """The error of a task that fails unrun because the tasks ``broken`` (:func:`blocked_by`) failed."""
    return {"ename": "DependencyFailed", "evalue": f"not executed: {', '.join(broken)} failed"}


def plan_tasks(races: list, race_ids: list[str], engines: list[str] | None = None, options: dict | None = None,
               data: list | None = None, store_url: str | None = None) -> list[Task]:
    """Every task of the run, in dependency order (race tasks in race order, then one per track and task
    kind), without fingerprints. ``options``: run options (``{"llm": setting}``) that a task kind names in
    its spec's ``options`` become its parameters."""
    options = options or {}
    reg = registry()
    data_param = [str(p) for p in data or []]
    by_id = {r.race_id: r for r in races}
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
            targets = [(rid, [rid], track_of.get(rid), {"race_id": rid}) for rid in race_ids
                       if s.applies is None or (rid in by_id and s.applies(by_id[rid]))]
        else:
            targets = [(tid, rids, tid, {"race_id": rids[0], "scope": "track", "track_id": tid, "race_ids": rids})
                       for tid, rids in sorted(tracks.items()) if len(rids) >= s.min_races]
        for target, rids, track_id, extra in targets:
            parameters = {**extra, "data": data_param, "store_url": store_url,
                          **{k: options.get(k) for k in s.options}}
            deps = [f"{t}/{d}" for t, d in dependencies(s, rids, track_id or "") if f"{t}/{d}" in by_key]
            t = Task(key=f"{target}/{name}", kind=s.scope, target=target, name=name, engine=s.engine,
                     notebook=s.notebook, parameters=parameters, race_ids=list(rids), after=deps)
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


def fingerprint(tasks: list[Task], races: list) -> None:
    """Set each task's ``fingerprint`` and ``fingerprint_parts`` (what it covers, part by part, so
    ``run --dry-run`` can say why a task re-runs). Tasks must be in dependency order."""
    reg = registry()
    nb_dir = repo_root() / "notebooks"
    rhash = {r.race_id: race_hash(r) for r in races}
    by_key = {t.key: t for t in tasks}
    per_spec: dict[str, dict] = {}
    for t in tasks:
        s = reg[t.name]
        if t.name not in per_spec:
            nb_path = nb_dir / s.notebook
            per_spec[t.name] = {"notebook": notebook_hash(nb_path, ("code",))[:16],
                                "narration": notebook_hash(nb_path, ("markdown", "raw"))[:16],
                                "code": code_closure(notebook_imports(nb_path) | {engine_module(s)}),
                                "params": params_hashes(s.params)}
        parts = {**per_spec[t.name], "task": t.name, "python": sys.version.split()[0],
                 "data": {r: rhash.get(r, f"missing:{r}")[:16] for r in t.race_ids},
                 "parameters": {k: v for k, v in t.parameters.items() if k not in RUN_LOCAL_PARAMETERS},
                 "after": {k: by_key[k].result_fingerprint[:16] for k in t.after}}
        if s.inputs_hash is not None:     # what the task reads besides the tables (the telemetry file)
            by_race = {r.race_id: r for r in races}
            parts["inputs"] = {r: _sha(s.inputs_hash(by_race[r]))[:16] if r in by_race else f"missing:{r}"
                               for r in t.race_ids}
        t.fingerprint_parts = json.loads(json.dumps(parts, default=str))
        t.fingerprint = _sha(json.dumps(parts, sort_keys=True, default=str))
        # What the document depends on: the narration (markdown) shapes the report, not the numbers, so an
        # edited paragraph re-renders its own reports without re-running the tasks that read its document.
        t.result_fingerprint = _sha(json.dumps({k: v for k, v in parts.items() if k != "narration"},
                                               sort_keys=True, default=str))


def plan(data: list, races: list, race_ids: list[str], store_url: str | None,
         engines: list[str] | None = None, options: dict | None = None) -> list[Task]:
    """:func:`plan_tasks`, fingerprinted (:func:`fingerprint`)."""
    tasks = plan_tasks(races, race_ids, engines, options, data=data, store_url=store_url)
    fingerprint(tasks, races)
    return tasks


def why_rerun(task: Task, previous: dict | None) -> list[str]:
    """What changed since ``previous`` (the same task's record in an earlier run): ``["notebook",
    "code: kaizenlap.engines.pattern", "params: engines.pattern", "data: barber-r1", "after: …"]``;
    ``["no earlier run of this task"]`` when there is none."""
    if previous is None:
        return ["no earlier successful run of this task"]
    old = previous.get("fingerprint_parts") or {}
    if not old:
        return ["the earlier run recorded no fingerprint parts"]
    new = task.fingerprint_parts
    out: list[str] = []
    for key in ("notebook", "narration", "task", "python", "parameters"):
        if old.get(key) != new.get(key):
            out.append(key)
    for key in ("code", "params", "data", "inputs", "after"):
        o, n = old.get(key) or {}, new.get(key) or {}
        out += [f"{key}: {k}" for k in sorted(set(o) | set(n)) if o.get(k) != n.get(k)]
    return out or ["fingerprint differs"]
