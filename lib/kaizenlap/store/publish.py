"""Publishing a run: documents are written under the run id, then one pointer flips; readers never
see a mix of runs, nor a half-written one.

A run has one *owner* (the pipeline, or :func:`publish_documents`) and any number of *writers*, each
writing one *part* (the pipeline: one part per notebook task, plus ``ingest`` for tracks, races, laps and
data quality):

1. the owner :func:`begin_run`: ``runs/{run_id}`` with ``status: writing`` (the owner refreshes its
   ``heartbeat_at`` with :func:`heartbeat` while the writers work);
2. each writer :func:`stage`: its documents under the run in batches (Firestore: <= 500 writes per batch),
   then its part record (counts and content sums per collection). Staging a part again replaces it;
   :func:`discard` deletes a failed writer's documents;
3. the owner :func:`finish_run`: checks that the documents in the store are exactly those the expected
   parts declared (so overlapping ids or a writer killed half-way are caught, never served), then one
   atomic write marks the run ``complete`` and points ``meta/active`` at it;
4. runs other than the active one and the one before it are deleted (so are abandoned runs: an owner
   killed half-way left them ``writing``, with a heartbeat older than ``stale_after_s``).

Idempotent: document ids are deterministic, so writing the same run again overwrites; publishing a run
id that is already complete with the same content is a no-op, with different content an error.

The data version (what ETags are made of) is a multiset hash: the sum, mod 2**256, of
sha256(collection, id, canonical JSON) over the run's documents, so it does not depend on the order in
which documents were written nor on how they were split into parts.
"""
from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime, timezone
from typing import Any, Iterable

from kaizenlap.core import __version__
from kaizenlap.core.ids import check_id
from kaizenlap.store.base import COLLECTIONS, Store, StoreError

FORMAT_VERSION = 2
_MOD = 1 << 256


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class RunExists(ValueError):
    """The run id is already published with different content."""


def _canonical(doc: dict) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _doc_hash(coll: str, doc: dict) -> int:
    return int.from_bytes(hashlib.sha256(coll.encode() + b"\0" + str(doc["id"]).encode() + b"\0"
                                         + _canonical(doc)).digest(), "big")


def _version(sums: dict[str, int], counts: dict[str, int]) -> str:
    h = hashlib.sha256()
    for coll in COLLECTIONS:
        h.update(f"{coll}\0{counts.get(coll, 0)}\0{sums.get(coll, 0):064x}\0".encode())
    return h.hexdigest()[:20]


def data_version(docs_by_collection: dict[str, Iterable[dict]]) -> str:
    """Content hash of a run's documents, independent of their order and of how they were split in parts."""
    sums: dict[str, int] = {}
    counts: dict[str, int] = {}
    for coll, docs in docs_by_collection.items():
        for d in docs:
            sums[coll] = (sums.get(coll, 0) + _doc_hash(coll, d)) % _MOD
            counts[coll] = counts.get(coll, 0) + 1
    return _version(sums, counts)


def _check_doc_id(did) -> None:
    if (not isinstance(did, str) or not did or "/" in did or did in (".", "..") or len(did.encode()) > 1500
            or (did.startswith("__") and did.endswith("__"))):
        raise ValueError(f"invalid document id {did!r}")


def _parse(ts: str | None) -> float:
    try:
        return datetime.fromisoformat(ts).timestamp() if ts else 0.0
    except ValueError:
        return 0.0


def prune(store: Store, keep: int = 2, stale_after_s: float = 600.0) -> list[str]:
    """Delete runs other than the active one and its predecessors (``keep`` in all), and abandoned
    ``writing`` runs whose heartbeat is older than ``stale_after_s``. Returns the deleted run ids."""
    active = store.active() or {}
    keep_ids = [active.get("run_id")]
    chain = active.get("previous_run_ids") or []
    keep_ids += chain[: max(keep - 1, 0)]
    deleted = []
    for run in store.list_runs():
        rid = run.get("run_id")
        if rid in keep_ids:
            continue
        if run.get("status") == "writing" and time.time() - _parse(run.get("heartbeat_at")) < stale_after_s:
            continue          # another writer may be at work
        store.delete_run(rid)
        deleted.append(rid)
    return deleted


def begin_run(store: Store, run_id: str, meta: dict[str, Any] | None = None, *, restart: bool = False) -> dict:
    """Open run ``run_id`` for writing (its owner calls this once). A run already ``writing`` is kept
    (``restart``: deleted and begun anew); a ``complete`` one is an error. Returns the run document."""
    check_id("run", run_id)
    existing = store.get_run(run_id)
    if existing and existing.get("status") == "complete":
        raise RunExists(f"run {run_id} is already complete: publish under a new run id")
    if existing and not restart:
        return existing
    if existing:                       # a previous attempt died half-way: start it again from nothing
        store.delete_run(run_id)
    meta = dict(meta or {})
    started = now_iso()
    run = {"run_id": run_id, "status": "writing", "started_at": started, "heartbeat_at": started,
           "finished_at": None, "format_version": FORMAT_VERSION, "code_version": __version__,
           "counts": {}, "data_version": None, "failed_tasks": list(meta.pop("failed_tasks", []) or []),
           "parts": [], "meta": meta}
    store.put_run(run)
    return run


def heartbeat(store: Store, run_id: str) -> None:
    """The owner is alive: refresh ``heartbeat_at`` (a ``writing`` run without one for ``stale_after_s``
    is taken for abandoned and pruned)."""
    run = store.get_run(run_id)
    if run and run.get("status") == "writing":
        store.put_run({**run, "heartbeat_at": now_iso()})


def _writing_run(store: Store, run_id: str) -> dict:
    run = store.get_run(run_id)
    if not run:
        raise StoreError(f"run {run_id} has not been begun in {store.url} (the pipeline begins it)")
    if run.get("status") != "writing":
        raise StoreError(f"run {run_id} is {run.get('status')} in {store.url}: its documents can no longer change")
    return run


def stage(store: Store, run_id: str, part: str, docs_by_collection: dict[str, Iterable[dict]],
          meta: dict[str, Any] | None = None, progress=None) -> dict:
    """Write one writer's documents under a run that is being written, replacing what ``part`` wrote
    before, then its part record ``{part, counts, sums, written_at, meta}``. Returns the record.

    Documents are checked (ids, duplicates within the part, JSON values) as they stream; on an error the
    part's documents written so far are deleted again.
    """
    check_id("part", part)
    check_id("run", run_id)
    unknown = set(docs_by_collection) - set(COLLECTIONS)
    if unknown:
        raise ValueError(f"unknown collection(s) {sorted(unknown)}; expected {COLLECTIONS}")
    _writing_run(store, run_id)
    store.delete_part(run_id, part)
    counts: dict[str, int] = {}
    sums: dict[str, int] = {}
    try:
        for coll in COLLECTIONS:
            if coll not in docs_by_collection:
                continue
            seen: set[str] = set()
            total = [0]

            def stream(items=docs_by_collection[coll], seen=seen, total=total, coll=coll):
                for d in items:
                    did = d.get("id")
                    _check_doc_id(did)
                    if did in seen:
                        raise ValueError(f"duplicate document id {did!r} in {coll}")
                    seen.add(did)
                    total[0] = (total[0] + _doc_hash(coll, d)) % _MOD
                    yield d

            store.write(run_id, coll, stream(), on_batch=progress, part=part)
            if seen:
                counts[coll], sums[coll] = len(seen), total[0]
    except BaseException:
        try:
            store.delete_part(run_id, part)
        except Exception:
            pass
        raise
    record = {"part": part, "run_id": run_id, "written_at": now_iso(), "counts": counts,
              "sums": {c: f"{v:064x}" for c, v in sums.items()}, "meta": dict(meta or {})}
    store.put_part(run_id, record)
    return record


def discard(store: Store, run_id: str, part: str) -> int:
    """Delete what ``part`` wrote under the run (a failed writer). Returns the number of documents."""
    check_id("part", part)
    return store.delete_part(run_id, part)


def finish_run(store: Store, run_id: str, *, parts: Iterable[str] | None = None,
               failed_tasks: list[dict] | None = None, activate: bool = True, keep_runs: int = 2,
               stale_after_s: float = 600.0, carried: dict | None = None) -> dict:
    """Complete a run and (``activate``) make it the one readers see. Returns the run document.

    ``parts``: the parts that must be there (the pipeline: ``ingest`` and one per successful task); a
    recorded part not in it is discarded first (a writer that recorded its part and failed later). Then the
    store must hold exactly the documents the parts declared, collection by collection, or nothing is
    published (:class:`StoreError`). ``failed_tasks`` are added to the run document's.
    """
    run = _writing_run(store, run_id)
    recorded = {p["part"]: p for p in store.list_parts(run_id)}
    if parts is not None:
        wanted = set(parts)
        missing = sorted(wanted - set(recorded))
        if missing:
            raise StoreError(f"run {run_id}: part(s) {', '.join(missing)} wrote nothing to {store.url}: not published")
        for extra in sorted(set(recorded) - wanted):
            store.delete_part(run_id, extra)
            del recorded[extra]
    counts: dict[str, int] = {}
    sums: dict[str, int] = {}
    for rec in recorded.values():
        for coll, n in rec.get("counts", {}).items():
            counts[coll] = counts.get(coll, 0) + int(n)
            sums[coll] = (sums.get(coll, 0) + int(rec["sums"][coll], 16)) % _MOD
    for coll in COLLECTIONS:
        held = store.count(run_id, coll)
        if held != counts.get(coll, 0):
            raise StoreError(f"run {run_id}: {store.url} holds {held} {coll} document(s) but its parts declared "
                             f"{counts.get(coll, 0)} (overlapping ids, or a writer that failed half-way): not published")
    run.update(status="complete", finished_at=now_iso(), heartbeat_at=now_iso(),
               counts={c: counts.get(c, 0) for c in COLLECTIONS}, data_version=_version(sums, counts),
               parts=sorted(recorded), failed_tasks=list(run.get("failed_tasks") or []) + list(failed_tasks or []),
               carried=carried)
    if activate:
        _flip(store, run, store.active() or {})
    else:
        store.complete(run, None)
    prune(store, keep=keep_runs, stale_after_s=stale_after_s)
    return run


INGEST_COLLECTIONS = ("races", "laps", "race_progress", "data_quality")


def carry_forward(store: Store, run_id: str, from_run: str, races: set[str]) -> dict:
    """A subset run (some races, or some task kinds) keeps the season: stage under ``run_id`` what ``from_run``
    (the active run) holds that this run did not recompute. Call it after every part of ``run_id`` is staged
    and before :func:`finish_run`.

    * A task part of ``from_run`` (``<race or track>.<task>``) that ``run_id`` did not write is copied whole,
      under the same part name.
    * Ingest documents (races, laps, race progress, data quality) of races not in ``races`` are copied as part
      ``carried``; the track documents of ``run_id`` list the carried races too.
    * A run published as one part (``all``, :func:`publish_documents`) is carried document by document:
      everything ``run_id`` does not hold, but not the ingest documents of its own races.

    Returns ``{"from_run", "parts": [...], "counts": {collection: n}}``, recorded in the run document.
    """
    _writing_run(store, run_id)
    ours = {p["part"]: p for p in store.list_parts(run_id)}
    carried_parts: list[str] = []
    counts: dict[str, int] = {}
    loose: dict[str, list[dict]] = {}

    def count(docs: dict[str, list[dict]]) -> None:
        for coll, items in docs.items():
            counts[coll] = counts.get(coll, 0) + len(items)

    held = {c: {d["id"] for p in ours for d in store.part_documents(run_id, p).get(c, [])} for c in COLLECTIONS}
    for rec in store.list_parts(from_run):
        part = rec["part"]
        if part in ours and part not in ("ingest", "carried", "all"):
            continue
        docs = store.part_documents(from_run, part)
        if part in ("ingest", "carried", "all"):
            for coll, items in docs.items():
                if coll == "tracks":
                    continue
                keep = [d for d in items if d["id"] not in held.get(coll, set())
                        and not (coll in INGEST_COLLECTIONS and d.get("race_id") in races)]
                if part != "all":
                    keep = [d for d in keep if coll in INGEST_COLLECTIONS]
                loose.setdefault(coll, []).extend(keep)
            continue
        stage(store, run_id, part, docs, meta={**(rec.get("meta") or {}), "carried_from": from_run})
        carried_parts.append(part)
        count(docs)
    if loose:
        stage(store, run_id, "carried", loose, meta={"carried_from": from_run})
        carried_parts.append("carried")
        count(loose)
    # The track documents name every race the store serves.
    if "ingest" in ours:
        mine = store.part_documents(run_id, "ingest")
        theirs = {d["id"]: d for d in store.query(from_run, "tracks")}
        served = {d["race_id"] for d in loose.get("races", [])}
        tracks = []
        for t in mine.get("tracks", []):
            extra = [r for r in (theirs.get(t["id"], {}).get("races") or []) if r in served]
            tracks.append({**t, "races": sorted(set(t.get("races") or []) | set(extra))})
        stage(store, run_id, "ingest", {**mine, "tracks": tracks}, meta=(ours["ingest"].get("meta") or {}))
    return {"from_run": from_run, "parts": carried_parts, "counts": counts}


def carry_failed(store: Store, run_id: str, from_run: str | None, failed: dict[str, str]) -> list[dict]:
    """A task that failed in run ``run_id`` does not take its documents away from the app: its part as
    ``from_run`` (the active run) holds it is staged under ``run_id`` unchanged. ``failed``: part name ->
    task key. Returns one record per failed task, ``{"task", "part", "carried", "from_run", "counts"}`` or
    with a ``reason`` when nothing could be carried (no active run, or it had no such part: a run published
    as one part, or a task that never succeeded), for the run document and ``/health``."""
    _writing_run(store, run_id)
    theirs = {p["part"]: p for p in store.list_parts(from_run)} if from_run else {}
    out = []
    for part, task in sorted(failed.items()):
        rec = theirs.get(part)
        if rec is None:
            reason = "no run was active" if not from_run else f"the active run {from_run} has no part {part}"
            out.append({"task": task, "part": part, "carried": False, "from_run": from_run, "reason": reason})
            continue
        docs = store.part_documents(from_run, part)
        stage(store, run_id, part, docs, meta={**(rec.get("meta") or {}), "carried_from": from_run,
                                               "carried_because": f"task {task} failed"})
        out.append({"task": task, "part": part, "carried": True, "from_run": from_run,
                    "counts": {c: len(v) for c, v in docs.items() if v}})
    return out


def publish_documents(store: Store, run_id: str, docs_by_collection: dict[str, Iterable[dict]],
                      meta: dict[str, Any] | None = None, *, activate: bool = True, keep_runs: int = 2,
                      stale_after_s: float = 600.0, progress=None) -> dict:
    """Write a run's documents as one writer and make it the active run. Returns the run document.

    ``docs_by_collection`` maps a collection of :data:`~kaizenlap.store.base.COLLECTIONS` to documents
    (dicts, each with a deterministic ``id``; any iterable, consumed once). ``meta`` is kept in the run
    document; ``meta["failed_tasks"]`` (a list) is recorded there as ``failed_tasks``. A run id left
    ``writing`` by a writer that died is begun again from nothing.
    """
    check_id("run", run_id)
    unknown = set(docs_by_collection) - set(COLLECTIONS)
    if unknown:
        raise ValueError(f"unknown collection(s) {sorted(unknown)}; expected {COLLECTIONS}")
    existing = store.get_run(run_id)
    if existing and existing.get("status") == "complete":
        materialized = {c: list(v) for c, v in docs_by_collection.items()}
        version = data_version(materialized)
        if version != existing.get("data_version"):
            raise RunExists(f"run {run_id} is already published with other content (data version "
                            f"{existing.get('data_version')} != {version}): publish under a new run id")
        active = store.active() or {}
        if activate and active.get("run_id") != run_id:
            _flip(store, existing, active)
        return existing
    begin_run(store, run_id, meta, restart=True)
    last_beat = [time.monotonic()]

    def on_batch(n: int) -> None:
        if time.monotonic() - last_beat[0] > 5.0:
            last_beat[0] = time.monotonic()
            heartbeat(store, run_id)
        if progress:
            progress(n)

    stage(store, run_id, "all", docs_by_collection, progress=on_batch)
    return finish_run(store, run_id, parts=["all"], activate=activate, keep_runs=keep_runs,
                      stale_after_s=stale_after_s)


def _flip(store: Store, run: dict, active: dict) -> None:
    prev = active.get("run_id")
    chain = [prev, *(active.get("previous_run_ids") or [])] if prev and prev != run["run_id"] else \
        list(active.get("previous_run_ids") or [])
    pointer = {"run_id": run["run_id"], "data_version": run["data_version"], "published_at": now_iso(),
               "previous_run_ids": [r for r in chain if r != run["run_id"]][:5]}
    store.complete(run, pointer)
