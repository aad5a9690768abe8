"""Firestore backend (google-cloud-firestore). ``firestore://PROJECT[/DATABASE]``.

Layout: ``runs/{run_id}`` (run document) with the run's documents in the sub-collections
``runs/{run_id}/{collection}/{doc_id}`` and the part records in ``runs/{run_id}/parts/{part}``; the
pointer is ``meta/active``. Each stored document carries one hidden field, ``_part`` (the writer that
wrote it, so a failed writer's documents can be found and deleted); readers never see it. Honours
``FIRESTORE_EMULATOR_HOST`` (then anonymous credentials); otherwise credentials come the standard
Google way (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's application-default login, or the metadata
server on Google Cloud).
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Iterable

from kaizenlap.core.environment import env
from kaizenlap.store.base import (COLLECTIONS, LIVE, MAX_BATCH, META, PARTS, RUNS, Store, StoreError, chunks, dumps,
                                  live_record)

TIMEOUT_S = 30.0
PART_FIELD = "_part"


def _data(snap) -> dict:
    d = snap.to_dict()
    d.pop(PART_FIELD, None)
    return d


def _client(project: str, database: str):
    from google.cloud import firestore
    kwargs: dict[str, Any] = {"project": project}
    if database and database != "(default)":
        kwargs["database"] = database
    if env("FIRESTORE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials
        kwargs["credentials"] = AnonymousCredentials()
    return firestore.Client(**kwargs)


class FirestoreStore(Store):
    backend = "firestore"

    def __init__(self, project: str, database: str = "(default)", url: str | None = None) -> None:
        self.project, self.database = project, database or "(default)"
        self.url = url or f"firestore://{project}" + ("" if self.database == "(default)" else f"/{self.database}")
        try:
            self.client = _client(project, self.database)
        except Exception as exc:  # no credentials, bad project: say so at open
            raise StoreError(f"cannot open Firestore {self.url}: {exc}") from exc

    def _call(self, fn, *args, **kwargs):
        from google.api_core import exceptions as gexc
        try:
            return fn(*args, **kwargs)
        except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
            raise StoreError(f"Firestore {self.url}: {exc}") from exc

    def _coll(self, run_id: str, collection: str):
        return self.client.collection(RUNS, run_id, collection)

    # --- readers ------------------------------------------------------------------------------------
    def ping(self) -> None:
        from google.api_core import exceptions as gexc
        try:
            self.client.collection(META).document("active").get(timeout=5.0, retry=None)
        except (gexc.GoogleAPICallError, gexc.RetryError, Exception) as exc:  # noqa: B014 - any failure = down
            raise StoreError(f"Firestore {self.url} unreachable: {exc}") from exc

    def get_meta(self, key: str) -> dict | None:
        snap = self._call(self.client.collection(META).document(key).get, timeout=TIMEOUT_S)
        return snap.to_dict() if snap.exists else None

    def get_run(self, run_id: str) -> dict | None:
        snap = self._call(self.client.collection(RUNS).document(run_id).get, timeout=TIMEOUT_S)
        return snap.to_dict() if snap.exists else None

    def list_runs(self) -> list[dict]:
        from google.cloud.firestore_v1.field_path import FieldPath
        q = self.client.collection(RUNS).order_by(FieldPath.document_id())
        return [s.to_dict() for s in self._call(lambda: list(q.stream(timeout=TIMEOUT_S)))]

    def get(self, run_id: str, collection: str, doc_id: str) -> dict | None:
        snap = self._call(self._coll(run_id, collection).document(doc_id).get, timeout=TIMEOUT_S)
        return _data(snap) if snap.exists else None

    def get_many(self, run_id: str, collection: str, doc_ids: list[str]) -> list[dict]:
        if not doc_ids:
            return []
        coll = self._coll(run_id, collection)
        snaps = self._call(lambda: list(self.client.get_all([coll.document(i) for i in doc_ids], timeout=TIMEOUT_S)))
        return sorted((_data(s) for s in snaps if s.exists), key=lambda d: d["id"])

    def build_query(self, run_id, collection, filters=None, limit=None, start_after=None):
        from google.cloud.firestore_v1.base_query import FieldFilter
        from google.cloud.firestore_v1.field_path import FieldPath
        coll = self._coll(run_id, collection)
        q = coll
        for field, value in (filters or {}).items():
            q = q.where(filter=FieldFilter(field, "==", value))
        q = q.order_by(FieldPath.document_id())
        if start_after is not None:
            q = q.start_after({FieldPath.document_id(): coll.document(start_after)})
        if limit is not None:
            q = q.limit(int(limit))
        return q

    def query(self, run_id, collection, filters=None, limit=None, start_after=None) -> list[dict]:
        q = self.build_query(run_id, collection, filters, limit, start_after)
        return [_data(s) for s in self._call(lambda: list(q.stream(timeout=TIMEOUT_S)))]

    def count(self, run_id: str, collection: str) -> int:
        res = self._call(lambda: self._coll(run_id, collection).count().get(timeout=TIMEOUT_S))
        return int(res[0][0].value)

    # --- writers ------------------------------------------------------------------------------------
    def put_run(self, run: dict) -> None:
        self._call(self.client.collection(RUNS).document(run["run_id"]).set, run, timeout=TIMEOUT_S)

    def write(self, run_id: str, collection: str, docs: Iterable[dict], on_batch=None, part: str = "") -> None:
        coll = self._coll(run_id, collection)
        for chunk in chunks(docs, MAX_BATCH):
            batch = self.client.batch()
            for d in chunk:
                batch.set(coll.document(d["id"]), {**d, PART_FIELD: part})
            self._call(batch.commit, timeout=TIMEOUT_S * 4)
            if on_batch:
                on_batch(len(chunk))

    def _delete_matching(self, query) -> int:
        n = 0
        while True:
            refs = [s.reference for s in self._call(
                lambda: list(query.select([]).limit(MAX_BATCH).stream(timeout=TIMEOUT_S)))]
            if not refs:
                return n
            batch = self.client.batch()
            for ref in refs:
                batch.delete(ref)
            self._call(batch.commit, timeout=TIMEOUT_S * 4)
            n += len(refs)

    def delete_part(self, run_id: str, part: str) -> int:
        from google.cloud.firestore_v1.base_query import FieldFilter
        n = sum(self._delete_matching(self._coll(run_id, c).where(filter=FieldFilter(PART_FIELD, "==", part)))
                for c in COLLECTIONS)
        self._call(self._coll(run_id, PARTS).document(part).delete, timeout=TIMEOUT_S)
        return n

    def put_part(self, run_id: str, record: dict) -> None:
        self._call(self._coll(run_id, PARTS).document(record["part"]).set, record, timeout=TIMEOUT_S)

    def part_documents(self, run_id: str, part: str) -> dict[str, list[dict]]:
        from google.cloud.firestore_v1.base_query import FieldFilter
        out: dict[str, list[dict]] = {}
        for c in COLLECTIONS:
            q = self._coll(run_id, c).where(filter=FieldFilter(PART_FIELD, "==", part))
            docs = sorted((_data(s) for s in self._call(lambda q=q: list(q.stream(timeout=TIMEOUT_S)))),
                          key=lambda d: d["id"])
            if docs:
                out[c] = docs
        return out

    def list_parts(self, run_id: str) -> list[dict]:
        from google.cloud.firestore_v1.field_path import FieldPath
        q = self._coll(run_id, PARTS).order_by(FieldPath.document_id())
        return [s.to_dict() for s in self._call(lambda: list(q.stream(timeout=TIMEOUT_S)))]

    def complete(self, run: dict, pointer: dict | None) -> None:
        batch = self.client.batch()      # one commit: atomic
        batch.set(self.client.collection(RUNS).document(run["run_id"]), run)
        if pointer is not None:
            batch.set(self.client.collection(META).document("active"), pointer)
        self._call(batch.commit, timeout=TIMEOUT_S)

    def delete_run(self, run_id: str) -> None:
        for collection in (*COLLECTIONS, PARTS):
            self._delete_matching(self._coll(run_id, collection))
        self._call(self.client.collection(RUNS).document(run_id).delete, timeout=TIMEOUT_S)

    # --- live events: live/{race_id} holds last_id; live/{race_id}/events/{id:012d} the events -------
    def _live(self, race_id: str):
        return self.client.collection(LIVE).document(race_id)

    def append_live_events(self, race_id: str, events: list[dict]) -> list[int]:
        from google.cloud import firestore
        if len(events) > MAX_BATCH - 1:
            return [i for part in chunks(events, MAX_BATCH - 1) for i in self.append_live_events(race_id, part)]
        head = self._live(race_id)
        at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")

        @firestore.transactional
        def append(tr) -> list[int]:       # the head read in the transaction: a concurrent writer retries
            snap = head.get(transaction=tr)
            last = int((snap.to_dict() or {}).get("last_id", 0)) if snap.exists else 0
            ids = []
            for i, ev in enumerate(events, 1):
                rec = live_record(race_id, last + i, ev["kind"], ev["data"], at)
                # the data as JSON text: any shape (lists of lists included) and one canonical text
                tr.set(head.collection("events").document(f"{rec['id']:012d}"),
                       {"id": rec["id"], "kind": rec["kind"], "at": at, "body": dumps(rec["data"])})
                ids.append(rec["id"])
            tr.set(head, {"race_id": race_id, "last_id": last + len(events)})
            return ids
        return self._call(append, self.client.transaction())

    def live_events(self, race_id: str, after: int = 0, limit: int | None = None) -> list[dict]:
        from google.cloud.firestore_v1.field_path import FieldPath
        coll = self._live(race_id).collection("events")
        q = coll.order_by(FieldPath.document_id()).start_after({FieldPath.document_id(): coll.document(f"{int(after):012d}")})
        if limit is not None:
            q = q.limit(int(limit))
        return [live_record(race_id, d["id"], d["kind"], json.loads(d["body"]), d["at"])
                for d in (s.to_dict() for s in self._call(lambda: list(q.stream(timeout=TIMEOUT_S))))]

    def live_last_id(self, race_id: str) -> int:
        snap = self._call(self._live(race_id).get, timeout=TIMEOUT_S)
        return int((snap.to_dict() or {}).get("last_id", 0)) if snap.exists else 0

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:
            pass
