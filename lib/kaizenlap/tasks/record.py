"""Recording a result: the JSON document each task records, its documents in the results store, and the
headline figure the run index shows (the spec's ``headline``). A document with ``"reusable": false`` (coaching
whose cars fell back from a model) says so in its headline, which is the task's recorded result in ``run.json``;
:mod:`kaizenlap.pipeline.reuse` then executes the task again instead of reusing it.

A recorded document is the engine's document unchanged plus one key, ``"meta"`` (what produced it: run,
engine, race/track, library version, data, time), so ``{k: v for k, v in doc.items() if k != "meta"}``
equals what calling the engine gives.

:func:`store_document` writes one engine document's store documents (the engine's ``documents``, through the registry) under
the run id as the task's own part of the run (:func:`kaizenlap.store.stage`); the pipeline begins the run
before the notebooks execute and publishes it once every task has finished.
"""
from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

from kaizenlap.core import __version__
from kaizenlap.core.atomic import write_json
from kaizenlap.core.recorded import META_KEY, load_document
from kaizenlap.store import open_store, stage
from kaizenlap.tasks.registry import engine_documents, spec_for_document



def now_utc() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def document_name(engine: str, scope: str = "race") -> str:
    """File stem of an engine's document: ``composite``, ... and ``weather_track`` for the track model."""
    return f"{engine}_track" if scope == "track" and not engine.endswith("_track") else engine


def run_meta(engine: str, *, race_id: str | None = None, track_id: str | None = None, scope: str = "race",
             run_id: str | None = None, data: Any = None, store_url: str | None = None,
             **extra: Any) -> dict:
    """What produced a document (stored under ``"meta"``)."""
    meta = {"engine": engine, "scope": scope, "race_id": race_id, "track_id": track_id, "run_id": run_id,
            "kaizenlap_version": __version__, "python": sys.version.split()[0],
            "data": [str(p) for p in data] if isinstance(data, (list, tuple)) else (str(data) if data else None),
            "store_url": store_url, "generated_utc": now_utc()}
    meta.update(extra)
    return meta


def save_document(doc: dict, output_dir: str | os.PathLike | None, engine: str, meta: dict | None = None,
                  store_url: str | None = None) -> Path | None:
    """Write ``<output_dir>/<engine>.json`` (the document plus ``meta``); nothing when ``output_dir`` is None.

    ``store_url`` is recorded in ``meta``; :func:`store_document` writes the store's documents.
    The file is written atomically (a reader never sees half a document). Returns the path written.
    """
    if output_dir is None:
        return None
    if META_KEY in doc:
        raise ValueError(f"an engine document must not have a {META_KEY!r} key of its own")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = dict(meta or run_meta(engine))
    if store_url is not None:
        meta["store_url"] = store_url
    # allow_nan=False: the engines turn NaN into null; a NaN here is a bug, not a number to write.
    return write_json(out / f"{engine}.json", {**doc, META_KEY: meta})


def part_name(target: str, task: str) -> str:
    """The store part a task writes: ``barber-r1.composite``, ``barber.weather_track``."""
    return f"{target}.{task}"


def store_document(doc: dict, store_url: str | None, run_id: str | None, part: str,
                   meta: dict | None = None) -> dict | None:
    """Write the store documents of engine document ``doc`` under run ``run_id`` of the store at
    ``store_url``, as part ``part`` (replacing what that part wrote before). The run must have been begun
    (``run_pipeline.py run --store URL`` does that); it becomes visible when the pipeline publishes it.
    Returns the part record (counts per collection), or None when ``store_url`` is None.
    """
    if not store_url:
        return None
    if not run_id:
        raise ValueError("store_url is set but run_id is not: documents are written under a run that "
                         "`run_pipeline.py run --store URL` begins and publishes")
    docs = engine_documents(doc["engine"], doc)
    keep = {k: (meta or {}).get(k) for k in ("engine", "scope", "race_id", "track_id", "generated_utc")}
    with open_store(store_url) as store:
        return stage(store, run_id, part, docs, meta={k: v for k, v in keep.items() if v is not None})


def stored_text(record: dict | None, store_url: str | None) -> str:
    """One line for a report: what :func:`store_document` wrote, or that nothing was."""
    if record is None:
        return "(no `store_url`: nothing written to a results store)"
    counts = ", ".join(f"{n:,} {c}" for c, n in sorted(record["counts"].items())) or "no documents"
    return (f"Stored in `{store_url}` under run `{record['run_id']}` as part `{record['part']}`: {counts} "
            f"(visible once the run is published).")


def headline(doc: dict) -> dict:
    """The figures the run index shows for one document: ``{"text": str, **numbers}`` (the engine
    registry names each task kind's headline function)."""
    try:
        fn = spec_for_document(doc).headline
    except ValueError:
        return {"text": ""}
    try:
        out = fn(doc)
    except (KeyError, TypeError, ValueError) as exc:  # a headline never breaks a run
        out = {"text": f"(no headline: {type(exc).__name__}: {exc})"}
    if doc.get("reusable") is False:   # a result of the moment (a model's fallback): the next run recomputes it
        out = {**out, "reusable": False, "not_reusable_reason": doc.get("not_reusable_reason") or out.get(
            "not_reusable_reason")}
    return out



__all__ = ["save_document", "load_document", "run_meta", "headline", "document_name", "part_name",
           "store_document", "stored_text", "META_KEY"]
