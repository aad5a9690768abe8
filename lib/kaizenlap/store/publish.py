"""Publishing a run: write under the run id, then flip the pointer; readers never see a mix.

1. ``runs/{run_id}`` is written with ``status: writing`` (a heartbeat is refreshed as batches commit);
2. every document is upserted under the run, in batches (Firestore: <= 500 writes per batch);
3. one atomic write marks the run ``complete`` and points ``meta/active`` at it;
4. runs other than the active one and the one before it are deleted (so are abandoned runs: a writer
   killed half-way left them ``writing``, with a heartbeat older than ``stale_after_s``).

Idempotent: document ids are deterministic, so writing the same run again overwrites; publishing a
run id that is already complete with the same content is a no-op, with different content an error.
"""
from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime, timezone
from typing import Any, Iterable

from .. import __version__
from .base import COLLECTIONS, Store, check_id

FORMAT_VERSION = 1


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class RunExists(ValueError):
    """The run id is already published with different content."""


def _canonical(doc: dict) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _fold(h, coll: str, digests: list[tuple[str, bytes]]) -> None:
    for did, dig in sorted(digests):
        h.update(coll.encode() + b"\0" + did.encode() + b"\0" + dig)


def data_version(docs_by_collection: dict[str, Iterable[dict]]) -> str:
    """Content hash of a run's documents, independent of their order (what ETags are made of)."""
    h = hashlib.sha256()
    for coll in COLLECTIONS:
        _fold(h, coll, [(d["id"], hashlib.sha256(_canonical(d)).digest()) for d in docs_by_collection.get(coll, [])])
    return h.hexdigest()[:20]


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


def publish_documents(store: Store, run_id: str, docs_by_collection: dict[str, Iterable[dict]],
                      meta: dict[str, Any] | None = None, *, activate: bool = True, keep_runs: int = 2,
                      stale_after_s: float = 600.0, progress=None) -> dict:
    """Write a run's documents and make it the active run. Returns the run document.

    ``docs_by_collection`` maps a collection of :data:`~kaizenlap.store.base.COLLECTIONS` to documents
    (dicts, each with a deterministic ``id``; any iterable, consumed once). ``meta`` is kept in the run
    document; ``meta["failed_tasks"]`` (a list) is recorded there as ``failed_tasks``.
    """
    check_id("run", run_id)
    unknown = set(docs_by_collection) - set(COLLECTIONS)
    if unknown:
        raise ValueError(f"unknown collection(s) {sorted(unknown)}; expected {COLLECTIONS}")
    meta = dict(meta or {})
    failed = list(meta.pop("failed_tasks", []) or [])
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
    if existing:                       # a previous attempt died half-way: start it again from nothing
        store.delete_run(run_id)

    started = now_iso()
    run = {"run_id": run_id, "status": "writing", "started_at": started, "heartbeat_at": started,
           "finished_at": None, "format_version": FORMAT_VERSION, "code_version": __version__,
           "counts": {}, "data_version": None, "failed_tasks": failed, "meta": meta}
    store.put_run(run)
    h = hashlib.sha256()
    counts: dict[str, int] = {}
    last_beat = [time.monotonic()]

    def on_batch(n: int) -> None:
        if time.monotonic() - last_beat[0] > 5.0:
            last_beat[0] = time.monotonic()
            store.put_run({**run, "heartbeat_at": now_iso()})
        if progress:
            progress(n)

    for coll in COLLECTIONS:
        seen: set[str] = set()
        digests: list[tuple[str, bytes]] = []

        def stream(items=docs_by_collection.get(coll, ()), seen=seen, digests=digests):
            for d in items:
                did = d.get("id")
                _check_doc_id(did)
                if did in seen:
                    raise ValueError(f"duplicate document id {did!r} in {coll}")
                seen.add(did)
                digests.append((did, hashlib.sha256(_canonical(d)).digest()))
                yield d

        store.write(run_id, coll, stream(), on_batch=on_batch)
        counts[coll] = len(seen)
        _fold(h, coll, digests)
    run.update(status="complete", finished_at=now_iso(), heartbeat_at=now_iso(), counts=counts,
               data_version=h.hexdigest()[:20])
    if activate:
        _flip(store, run, store.active() or {})
    else:
        store.complete(run, None)
    prune(store, keep=keep_runs, stale_after_s=stale_after_s)
    return run


def _flip(store: Store, run: dict, active: dict) -> None:
    prev = active.get("run_id")
    chain = [prev, *(active.get("previous_run_ids") or [])] if prev and prev != run["run_id"] else \
        list(active.get("previous_run_ids") or [])
    pointer = {"run_id": run["run_id"], "data_version": run["data_version"], "published_at": now_iso(),
               "previous_run_ids": [r for r in chain if r != run["run_id"]][:5]}
    store.complete(run, pointer)
