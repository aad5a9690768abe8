"""The store interface both backends implement, and the one list of queries the API may make.

A store holds *runs*. Every document of a run lives under that run (Firestore: the sub-collection
``runs/{run_id}/{collection}``; SQLite: rows keyed by ``run_id``). A reader first reads the pointer
document ``meta/active`` and then reads only under the run it names, so it sees one complete run: a
run's documents become visible all at once, when the pointer flips.
"""
from __future__ import annotations

import itertools
import json
from abc import ABC, abstractmethod
from typing import Any, Iterable, Iterator

# Run-scoped collections, in the order a run is written.
COLLECTIONS = ("tracks", "races", "laps", "race_progress", "data_quality", "best_case_composites",
               "ml_section_recommendations", "ml_weather_recommendations", "ml_pattern_recommendations", "telemetry", "coaching_insights")
RECOMMENDATION_COLLECTIONS = {"section": "ml_section_recommendations", "weather": "ml_weather_recommendations",
                              "pattern": "ml_pattern_recommendations", "coaching": "coaching_insights"}
RUNS = "runs"          # one document per run (status, counts, failed tasks, data version)
META = "meta"          # meta/active: the pointer document naming the run readers see
ACTIVE = "active"

PARTS = "parts"        # runs/{run_id}/parts/{part}: what each writer of a run wrote (counts, content sums)
LIVE = "live"          # live/{race_id}/events/{id}: live mode's events (kaizenlap.live), outside any run
LIVE_KINDS = ("initial", "update", "end")

# Fields a document may be filtered on (copied to indexed columns in SQLite).
FILTER_FIELDS = ("race_id", "track_id", "car", "lap", "section")


def _subsets(fields: tuple[str, ...], min_size: int = 1) -> list[tuple[str, ...]]:
    return [s for k in range(min_size, len(fields) + 1) for s in itertools.combinations(fields, k)]


# Every (collection, equality-filter fields) the API queries, always ordered by document id.
# firestore.indexes.json and the SQLite indexes are derived from this; a test checks both.
REC_FILTERS = ("race_id", "car", "lap", "section")
QUERIES: list[tuple[str, tuple[str, ...]]] = (
    [("tracks", ()), ("races", ()), ("races", ("track_id",)), ("laps", ("race_id", "car")),
     ("laps", ("race_id",))]
    + [(coll, s) for coll in RECOMMENDATION_COLLECTIONS.values() for s in [(), *_subsets(REC_FILTERS)]])

MAX_BATCH = 500        # Firestore's limit of writes per batch
# Collections whose documents may have a lap (the others always have lap = null).
LAP_SCOPED = ("ml_section_recommendations", "coaching_insights")
def dumps(doc: dict) -> str:
    """A document as stored JSON text (compact, UTF-8, no NaN, keys sorted: canonical, so one document is one
    text whatever order a backend returns its fields in, and an ETag means one body)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while True:
        part = list(itertools.islice(it, size))
        if not part:
            return
        yield part


class StoreError(RuntimeError):
    """The store could not be reached or answered with an error."""


class Store(ABC):
    """One interface, two backends (:mod:`.sqlite`, :mod:`.firestore`) holding the same documents."""

    url: str
    backend: str

    # --- readers --------------------------------------------------------------------------------
    @abstractmethod
    def ping(self) -> None:
        """Raise :class:`StoreError` if the store cannot be reached."""

    @abstractmethod
    def get_meta(self, key: str) -> dict | None: ...

    def active(self) -> dict | None:
        """The pointer document: ``{run_id, data_version, published_at, previous_run_id}`` or None."""
        return self.get_meta(ACTIVE)

    @abstractmethod
    def get_run(self, run_id: str) -> dict | None: ...

    @abstractmethod
    def list_runs(self) -> list[dict]: ...

    @abstractmethod
    def get(self, run_id: str, collection: str, doc_id: str) -> dict | None: ...

    @abstractmethod
    def get_many(self, run_id: str, collection: str, doc_ids: list[str]) -> list[dict]:
        """The documents of ``doc_ids`` that exist, in id order (point lookups, no query)."""

    @abstractmethod
    def query(self, run_id: str, collection: str, filters: dict[str, Any] | None = None,
              limit: int | None = None, start_after: str | None = None) -> list[dict]:
        """Documents of ``collection`` in run ``run_id`` whose fields equal ``filters``, by document id,
        after ``start_after`` (exclusive), at most ``limit``."""

    @abstractmethod
    def count(self, run_id: str, collection: str) -> int: ...

    # The API passes stored documents through as JSON text (no decode, validate, encode per request);
    # a backend that keeps JSON text (SQLite) returns it as stored.
    def query_json(self, run_id: str, collection: str, filters: dict[str, Any] | None = None,
                   limit: int | None = None, start_after: str | None = None) -> list[tuple[str, str]]:
        """:meth:`query` as ``(id, JSON text)`` pairs."""
        return [(d["id"], dumps(d)) for d in self.query(run_id, collection, filters, limit, start_after)]

    def get_many_json(self, run_id: str, collection: str, doc_ids: list[str]) -> list[tuple[str, str]]:
        """:meth:`get_many` as ``(id, JSON text)`` pairs."""
        return [(d["id"], dumps(d)) for d in self.get_many(run_id, collection, doc_ids)]

    # --- writers (used by :func:`kaizenlap.store.publish.publish_documents`) ----------------------
    @abstractmethod
    def put_run(self, run: dict) -> None:
        """Create or replace ``runs/{run['run_id']}``."""

    @abstractmethod
    def write(self, run_id: str, collection: str, docs: Iterable[dict], on_batch=None, part: str = "") -> None:
        """Upsert ``docs`` (each with its ``id``) in batches of at most :data:`MAX_BATCH`, tagged as
        written by ``part`` (hidden from readers); ``on_batch(n)`` after each committed batch."""

    @abstractmethod
    def delete_part(self, run_id: str, part: str) -> int:
        """Delete the documents ``part`` wrote under the run, and its part record. Returns how many."""

    @abstractmethod
    def put_part(self, run_id: str, record: dict) -> None:
        """Create or replace the part record ``record["part"]`` of the run (what one writer wrote)."""

    @abstractmethod
    def part_documents(self, run_id: str, part: str) -> dict[str, list[dict]]:
        """What ``part`` wrote under the run: ``{collection: documents by id}``."""

    @abstractmethod
    def list_parts(self, run_id: str) -> list[dict]:
        """The run's part records, by part id."""

    @abstractmethod
    def complete(self, run: dict, pointer: dict | None) -> None:
        """Atomically: replace the run document with ``run`` and, if given, set the pointer."""

    @abstractmethod
    def delete_run(self, run_id: str) -> None:
        """Delete a run's documents, its part records and then its run document."""

    # --- live mode (kaizenlap.live): an append-only event log per race, outside the runs -------------
    def append_live_events(self, race_id: str, events: list[dict]) -> list[int]:
        """Append ``events`` (each ``{"kind": initial|update|end, "data": {...}}``) to the race's log, in
        order, in one transaction; returns their ids (monotonic per race, from 1, never reused)."""
        raise NotImplementedError(f"{type(self).__name__} has no live events")

    def live_events(self, race_id: str, after: int = 0, limit: int | None = None) -> list[dict]:
        """The race's events with id > ``after``, by id: ``{"id", "race_id", "kind", "at", "data"}``."""
        raise NotImplementedError(f"{type(self).__name__} has no live events")

    def live_last_id(self, race_id: str) -> int:
        """The id of the race's latest event (0: none)."""
        raise NotImplementedError(f"{type(self).__name__} has no live events")

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------- live events (kaizenlap.live)

def live_record(race_id: str, event_id: int, kind: str, data: dict, at: str) -> dict:
    if kind not in LIVE_KINDS:
        raise ValueError(f"unknown live event kind {kind!r}: {', '.join(LIVE_KINDS)}")
    return {"id": int(event_id), "race_id": race_id, "kind": kind, "at": at, "data": data}


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def apply_patch(doc: Any, ops: list[dict]) -> Any:
    """``doc`` with the JSON Patch ``ops`` applied (RFC 6902: ``add``, ``replace``, ``remove``; the subset
    kaizenlap.live writes). Mutates and returns ``doc`` (a whole-document replace returns the new value)."""
    for op in ops:
        kind, path = op["op"], op["path"]
        if path == "":
            if kind == "remove":
                raise ValueError("cannot remove the whole document")
            doc = op["value"]
            continue
        tokens = [_unescape(t) for t in path.split("/")[1:]]
        parent = doc
        for t in tokens[:-1]:
            parent = parent[int(t)] if isinstance(parent, list) else parent[t]
        last = tokens[-1]
        if isinstance(parent, list):
            i = len(parent) if last == "-" else int(last)
            if kind == "remove":
                del parent[i]
            elif kind == "add":
                parent.insert(i, op["value"])
            else:
                parent[i] = op["value"]
        elif kind == "remove":
            del parent[last]
        elif kind in ("add", "replace"):
            if kind == "replace" and last not in parent:
                raise KeyError(f"replace of a missing member {path!r}")
            parent[last] = op["value"]
        else:
            raise ValueError(f"unsupported JSON Patch op {kind!r}")
    return doc


def fold_live(events: Iterable[dict], state: dict | None = None) -> dict | None:
    """The live state after ``events`` (by id), starting from ``state``: an ``initial`` event replaces it,
    an ``update`` applies its ``patch``, an ``end`` applies its ``patch`` if it has one (the engines over every
    lap, docs/DATA_REFERENCE.md 13) and otherwise leaves it. None until an ``initial`` is seen."""
    for ev in events:
        if ev["kind"] == "initial":
            state = json.loads(dumps(ev["data"]["state"]))
        elif ev["kind"] in ("update", "end") and state is not None and ev["data"].get("patch"):
            state = apply_patch(state, ev["data"]["patch"])
    return state
