"""Embedded backend: one SQLite file (stdlib ``sqlite3``), documents as JSON text.

Tables: ``docs`` (run_id, coll, id, the filterable fields copied to columns, the writing part, body
JSON), ``runs`` (run_id, body JSON), ``parts`` (run_id, part, body JSON) and ``meta`` (key, body JSON;
``active`` is the pointer). One index per query in
:data:`~kaizenlap.store.base.QUERIES` (equality columns, then id), so every API query is an index range
scan with no sort. WAL journal: readers never wait for the writer and a killed writer's open
transaction is rolled back on the next open.
"""
from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable

from datetime import datetime, timezone

from kaizenlap.store.base import (FILTER_FIELDS, MAX_BATCH, QUERIES, Store, StoreError, chunks, dumps as _dumps,
                                    live_record)

SCHEMA_VERSION = 2        # 2: docs.part and the parts table (staged multi-writer runs)


def index_specs() -> dict[str, tuple[str, ...]]:
    """Index name -> columns, one per distinct filter-field tuple the API queries."""
    out = {}
    for _, fields in QUERIES:
        if fields:
            out["ix_" + "_".join(fields)] = ("run_id", "coll", *fields, "id")
    return out


_INDEXES = index_specs()


@contextlib.contextmanager
def _tx(con: sqlite3.Connection):
    """One write transaction (the connections are in autocommit mode: ``with con`` would not BEGIN)."""
    try:
        con.execute("BEGIN IMMEDIATE")
        yield con
        con.execute("COMMIT")
    except sqlite3.Error as exc:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise StoreError(str(exc)) from exc
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise


class SqliteStore(Store):
    backend = "sqlite"

    def __init__(self, path: str | Path, url: str | None = None) -> None:
        self.path = Path(path)
        self.url = url or f"sqlite:///{self.path}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        con = self._con()
        con.execute("PRAGMA journal_mode=WAL")
        with _tx(con):
            version = con.execute("PRAGMA user_version").fetchone()[0]
            con.execute("CREATE TABLE IF NOT EXISTS docs (run_id TEXT NOT NULL, coll TEXT NOT NULL, id TEXT NOT NULL, "
                        "race_id TEXT, track_id TEXT, car TEXT, lap INTEGER, section TEXT, body TEXT NOT NULL, "
                        "part TEXT NOT NULL DEFAULT '', PRIMARY KEY (run_id, coll, id)) WITHOUT ROWID")
            if version == 1:                       # a file written before parts existed
                con.execute("ALTER TABLE docs ADD COLUMN part TEXT NOT NULL DEFAULT ''")
            con.execute("CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, body TEXT NOT NULL)")
            con.execute("CREATE TABLE IF NOT EXISTS parts (run_id TEXT NOT NULL, part TEXT NOT NULL, body TEXT NOT NULL, "
                        "PRIMARY KEY (run_id, part)) WITHOUT ROWID")
            con.execute("CREATE INDEX IF NOT EXISTS ix_part ON docs (run_id, part)")
            con.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, body TEXT NOT NULL)")
            # Live mode's event log (kaizenlap.live): outside the runs, append-only, id monotonic per race.
            con.execute("CREATE TABLE IF NOT EXISTS live_events (race_id TEXT NOT NULL, id INTEGER NOT NULL, "
                        "kind TEXT NOT NULL, at TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (race_id, id)) "
                        "WITHOUT ROWID")
            for name, cols in index_specs().items():
                con.execute(f"CREATE INDEX IF NOT EXISTS {name} ON docs ({', '.join(cols)})")
            con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            try:
                con = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open {self.path}: {exc}") from exc
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("PRAGMA busy_timeout=30000")
            self._local.con = con
            with self._lock:
                self._all.append(con)
        return con

    def _rows(self, sql: str, args: tuple = ()) -> list[tuple]:
        try:
            return self._con().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from exc

    # --- readers ------------------------------------------------------------------------------------
    def ping(self) -> None:
        self._rows("SELECT 1 FROM meta LIMIT 1")

    def get_meta(self, key: str) -> dict | None:
        rows = self._rows("SELECT body FROM meta WHERE key=?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def get_run(self, run_id: str) -> dict | None:
        rows = self._rows("SELECT body FROM runs WHERE run_id=?", (run_id,))
        return json.loads(rows[0][0]) if rows else None

    def list_runs(self) -> list[dict]:
        return [json.loads(b) for (b,) in self._rows("SELECT body FROM runs ORDER BY run_id")]

    def get(self, run_id: str, collection: str, doc_id: str) -> dict | None:
        rows = self._rows("SELECT body FROM docs WHERE run_id=? AND coll=? AND id=?", (run_id, collection, doc_id))
        return json.loads(rows[0][0]) if rows else None

    def get_many(self, run_id: str, collection: str, doc_ids: list[str]) -> list[dict]:
        if not doc_ids:
            return []
        marks = ",".join("?" * len(doc_ids))
        rows = self._rows(f"SELECT body FROM docs WHERE run_id=? AND coll=? AND id IN ({marks}) ORDER BY id",
                          (run_id, collection, *doc_ids))
        return [json.loads(b) for (b,) in rows]

    def get_many_json(self, run_id: str, collection: str, doc_ids: list[str]) -> list[tuple[str, str]]:
        if not doc_ids:
            return []
        marks = ",".join("?" * len(doc_ids))
        return self._rows(f"SELECT id, body FROM docs WHERE run_id=? AND coll=? AND id IN ({marks}) ORDER BY id",
                          (run_id, collection, *doc_ids))

    def query_json(self, run_id, collection, filters=None, limit=None, start_after=None) -> list[tuple[str, str]]:
        sql, args = self.query_sql(run_id, collection, filters, limit, start_after, columns="id, body")
        return self._rows(sql, args)

    def query_sql(self, run_id: str, collection: str, filters: dict[str, Any] | None = None,
                  limit: int | None = None, start_after: str | None = None, columns: str = "body") -> tuple[str, tuple]:
        where, args = ["run_id=?", "coll=?"], [run_id, collection]
        used = []
        for field in FILTER_FIELDS:            # column order of the indexes
            if filters and field in filters:
                where.append(f"{field}=?")
                args.append(filters[field])
                used.append(field)
        unknown = set(filters or ()) - set(FILTER_FIELDS)
        if unknown:
            raise ValueError(f"cannot filter on {sorted(unknown)}")
        if start_after is not None:
            where.append("id>?")
            args.append(start_after)
        # The planner has no statistics on a fresh file: name the index made for exactly this query.
        hint = f" INDEXED BY ix_{'_'.join(used)}" if used and f"ix_{'_'.join(used)}" in _INDEXES else ""
        sql = f"SELECT {columns} FROM docs{hint} WHERE {' AND '.join(where)} ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return sql, tuple(args)

    def query(self, run_id, collection, filters=None, limit=None, start_after=None) -> list[dict]:
        sql, args = self.query_sql(run_id, collection, filters, limit, start_after)
        return [json.loads(b) for (b,) in self._rows(sql, args)]

    def count(self, run_id: str, collection: str) -> int:
        return self._rows("SELECT count(*) FROM docs WHERE run_id=? AND coll=?", (run_id, collection))[0][0]

    # --- writers ------------------------------------------------------------------------------------
    def put_run(self, run: dict) -> None:
        con = self._con()
        with _tx(con):
            con.execute("INSERT OR REPLACE INTO runs (run_id, body) VALUES (?, ?)", (run["run_id"], _dumps(run)))

    def write(self, run_id: str, collection: str, docs: Iterable[dict], on_batch=None, part: str = "") -> None:
        con = self._con()
        for batch in chunks(docs, MAX_BATCH):
            rows = [(run_id, collection, d["id"], d.get("race_id"), d.get("track_id"), d.get("car"), d.get("lap"),
                     d.get("section"), _dumps(d), part) for d in batch]
            with _tx(con):
                con.executemany("INSERT OR REPLACE INTO docs (run_id, coll, id, race_id, track_id, car, lap, section, "
                                "body, part) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
            if on_batch:
                on_batch(len(batch))

    def delete_part(self, run_id: str, part: str) -> int:
        con = self._con()
        with _tx(con):
            n = con.execute("DELETE FROM docs WHERE run_id=? AND part=?", (run_id, part)).rowcount
            con.execute("DELETE FROM parts WHERE run_id=? AND part=?", (run_id, part))
        return n

    def put_part(self, run_id: str, record: dict) -> None:
        con = self._con()
        with _tx(con):
            con.execute("INSERT OR REPLACE INTO parts (run_id, part, body) VALUES (?, ?, ?)",
                        (run_id, record["part"], _dumps(record)))

    def part_documents(self, run_id: str, part: str) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for coll, body in self._rows("SELECT coll, body FROM docs WHERE run_id=? AND part=? ORDER BY coll, id",
                                     (run_id, part)):
            out.setdefault(coll, []).append(json.loads(body))
        return out

    def list_parts(self, run_id: str) -> list[dict]:
        return [json.loads(b) for (b,) in self._rows("SELECT body FROM parts WHERE run_id=? ORDER BY part", (run_id,))]

    def complete(self, run: dict, pointer: dict | None) -> None:
        con = self._con()
        with _tx(con):     # one transaction: the run is complete exactly when the pointer names it
            con.execute("INSERT OR REPLACE INTO runs (run_id, body) VALUES (?, ?)", (run["run_id"], _dumps(run)))
            if pointer is not None:
                con.execute("INSERT OR REPLACE INTO meta (key, body) VALUES ('active', ?)", (_dumps(pointer),))

    def delete_run(self, run_id: str) -> None:
        con = self._con()
        with _tx(con):
            con.execute("DELETE FROM docs WHERE run_id=?", (run_id,))
            con.execute("DELETE FROM parts WHERE run_id=?", (run_id,))
            con.execute("DELETE FROM runs WHERE run_id=?", (run_id,))

    # --- live events ----------------------------------------------------------------------------------
    def append_live_events(self, race_id: str, events: list[dict]) -> list[int]:
        con = self._con()
        at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        with _tx(con):        # BEGIN IMMEDIATE: one writer at a time, so max(id) + 1 is never taken twice
            last = con.execute("SELECT coalesce(max(id), 0) FROM live_events WHERE race_id=?", (race_id,)).fetchone()[0]
            rows = [live_record(race_id, last + i, ev["kind"], ev["data"], at) for i, ev in enumerate(events, 1)]
            con.executemany("INSERT INTO live_events (race_id, id, kind, at, body) VALUES (?,?,?,?,?)",
                            [(race_id, r["id"], r["kind"], at, _dumps(r["data"])) for r in rows])
        return [r["id"] for r in rows]

    def live_events(self, race_id: str, after: int = 0, limit: int | None = None) -> list[dict]:
        sql = "SELECT id, kind, at, body FROM live_events WHERE race_id=? AND id>? ORDER BY id"
        args: tuple = (race_id, int(after))
        if limit is not None:
            sql += " LIMIT ?"
            args += (int(limit),)
        return [live_record(race_id, i, kind, json.loads(body), at) for i, kind, at, body in self._rows(sql, args)]

    def live_last_id(self, race_id: str) -> int:
        return self._rows("SELECT coalesce(max(id), 0) FROM live_events WHERE race_id=?", (race_id,))[0][0]

    def close(self) -> None:
        with self._lock:
            for con in self._all:
                try:
                    con.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
        self._local = threading.local()
