"""The in-process executor: the plan of :mod:`kaizenlap.tasks.plan` run in this process, task by task, each
task kind's ``analyse`` handed the documents of the tasks it reads (tests, benches, ``run_pipeline.py
publish``, a data scientist's kernel). The notebooks call the same ``analyse`` and write the same documents.
"""
from __future__ import annotations

import traceback
from typing import Iterable

from kaizenlap.coaching.inputs import Inputs, from_inputs, read_inputs
from kaizenlap.ingest.race_files import load_race, load_track
from kaizenlap.store.base import COLLECTIONS
from kaizenlap.store.ingest_documents import ingest_documents, quality_document
from kaizenlap.tasks.model import Task
from kaizenlap.tasks.plan import blocked_by, dependency_failed, plan_tasks
from kaizenlap.tasks.registry import registry


def _loaded(races: Iterable) -> list:
    return [r for r in races if r.status == "loaded" and len(r.laps)]


def execute(races: Iterable, engines: list[str] | None = None, options: dict | None = None,
            ) -> tuple[list[Task], dict[str, dict]]:
    """Run the plan over ``races`` in this process: ``(tasks, {task key: document})``. A task that raises is
    ``failed`` (its error and traceback in ``task.error``); a task whose dependency failed fails unrun."""
    reg = registry()
    races = list(races)
    by_id = {r.race_id: r for r in races}
    loaded = _loaded(races)
    tasks = plan_tasks(loaded, [r.race_id for r in loaded], engines, options)
    documents: dict[str, dict] = {}
    failed: set[str] = set()
    for t in tasks:
        s = reg[t.name]
        broken = blocked_by(t, failed)
        if broken:
            t.fail({**dependency_failed(broken), "traceback": ""})
            failed.add(t.key)
            continue
        subject_races = sorted((by_id[r] for r in t.race_ids), key=lambda r: r.race_number)
        try:
            documents[t.key] = s.analyse(subject_races, t.target, {k: documents[k] for k in t.after if k in documents})
            t.status = "ok"
        except Exception as exc:
            t.fail({"ename": type(exc).__name__, "evalue": str(exc), "traceback": traceback.format_exc(limit=5)})
            failed.add(t.key)
    return tasks, documents


def documents_for_races(races: Iterable, input_issues: Iterable | None = None, engines: list[str] | None = None,
                        ) -> tuple[dict[str, list[dict]], dict]:
    """Every store document for ``races`` (ingest :class:`~kaizenlap.ingest.loader.Race` objects): the ingest
    documents and each task's documents, as a run publishes them. Returns ``(docs_by_collection, meta)``;
    ``meta["failed_tasks"]`` lists the tasks that failed (the rest is still built), ready for
    :func:`kaizenlap.store.publish_documents`."""
    reg = registry()
    races = list(races)
    docs: dict[str, list[dict]] = {c: [] for c in COLLECTIONS}
    for coll, more in ingest_documents(races).items():
        docs.setdefault(coll, []).extend(more)
    tasks, documents = execute(races, engines)
    failed = []
    for t in tasks:
        if t.status == "failed":
            failed.append({"task": f"{t.name}:{t.target}", "race_id": t.target if t.kind == "race" else None,
                           "error": f"{t.error['ename']}: {t.error['evalue']}" if t.error["ename"] != "DependencyFailed"
                           else "DependencyFailed: a task it reads failed",
                           "traceback": t.error.get("traceback", "")})
            continue
        for coll, more in reg[t.name].store_documents(documents[t.key]).items():
            docs.setdefault(coll, []).extend(more)
    meta = {"races": [r.race_id for r in races], "failed_tasks": failed,
            "input_issues": [i.to_dict() for i in (input_issues or [])]}
    return docs, meta


def coaching_inputs(races: Iterable) -> list[Inputs]:
    """The coaching task's inputs of every loaded race, the engines run in this process (each track's
    documents once)."""
    races = _loaded(races)
    _, documents = execute(races, [n for n in registry() if n != "coaching"])
    return [from_inputs(r, documents, quality_document(r)) for r in races]


def inputs_for(data, race_id: str, inputs: dict[str, str] | None = None, race_files: dict[str, str] | None = None
               ) -> tuple[object, Inputs, list[str]]:
    """``(race, inputs, computed)`` for the coaching notebook: the engine documents the pipeline hands it
    (``inputs``: ``{task key: JSON path}``), the rest computed here by the in-process executor (``computed``
    names them; by hand, without ``inputs``, everything is computed)."""
    race = load_race(data, race_id, race_files)
    inp = from_inputs(race, read_inputs(inputs), quality_document(race))
    computed: list[str] = []
    if all(v is not None for v in inp.race_docs.values()) and inp.track_docs.get("weather_track") is not None:
        return race, inp, computed
    track = load_track(data, race.track_id)
    _, documents = execute(track, [n for n in registry() if n != "coaching"])
    fresh = from_inputs(race, documents)
    for group, new in ((inp.race_docs, fresh.race_docs), (inp.track_docs, fresh.track_docs)):
        for k, v in group.items():
            if v is None and new.get(k) is not None:
                group[k] = new[k]
                computed.append(k)
    return race, inp, computed


__all__ = ["execute", "documents_for_races", "coaching_inputs", "inputs_for"]
