"""The document store: both backends, atomic publish (a killed writer), idempotence, indexes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_store_support import (BACKENDS, ROOT, firestore_emulator, mini_docs, mini_races,  # noqa: F401
                                new_store_url, tagged)

from kaizenlap.store import COLLECTIONS, QUERIES, RunExists, data_version, open_store, publish_documents
from kaizenlap.tasks.inprocess import documents_for_races
from kaizenlap.store.base import MAX_BATCH


@pytest.fixture(params=BACKENDS)
def store_url(request, tmp_path):
    return new_store_url(request.param, tmp_path, request)


@pytest.fixture
def store(store_url):
    s = open_store(store_url)
    yield s
    s.close()


def _all(store, run_id, coll):
    return store.query(run_id, coll)


def test_open_store_urls(tmp_path, monkeypatch):
    from kaizenlap.store.sqlite import SqliteStore
    s = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    assert isinstance(s, SqliteStore) and s.path == tmp_path / "a.db"
    monkeypatch.chdir(tmp_path)
    s = open_store("sqlite:///rel/b.db")
    assert s.path == Path("rel/b.db") and (tmp_path / "rel" / "b.db").exists()
    monkeypatch.setenv("KAIZENLAP_STORE", f"sqlite:///{tmp_path / 'env.db'}")
    assert open_store().path == tmp_path / "env.db"
    for bad in ("mysql://x", "firestore://", "sqlite://"):
        with pytest.raises(ValueError):
            open_store(bad)


def test_default_store_is_embedded_under_dot_kaizenlap(monkeypatch):
    from kaizenlap.core.paths import default_store_url as default_url
    monkeypatch.delenv("KAIZENLAP_STORE", raising=False)
    assert default_url() == f"sqlite:///{ROOT / '.kaizenlap' / 'store.db'}"


def test_documents_are_deterministic(mini_races, mini_docs):
    again, _ = documents_for_races(mini_races)
    docs, meta = mini_docs
    assert data_version(again) == data_version(docs)
    assert meta["failed_tasks"] == []
    for coll in COLLECTIONS:
        ids = [d["id"] for d in docs[coll]]
        assert len(ids) == len(set(ids)), coll
    # recommendation documents carry the filter fields
    for coll in ("ml_section_recommendations", "ml_weather_recommendations", "ml_pattern_recommendations"):
        for d in docs[coll]:
            assert {"race_id", "car", "lap", "section", "type"} <= d.keys(), (coll, d["id"])
    # every car of every race gets one coaching document (the pattern engine lists every car of a race)
    assert sorted((d["race_id"], d["car"]) for d in docs["coaching_insights"]) == \
        sorted((d["race_id"], d["car"]) for d in docs["ml_pattern_recommendations"])


def test_publish_and_read(store, mini_docs):
    docs, meta = mini_docs
    batches = []
    run = publish_documents(store, "run-1", docs, meta, progress=batches.append)
    assert max(batches) <= MAX_BATCH
    assert run["status"] == "complete" and run["counts"] == {c: len(docs[c]) for c in COLLECTIONS}
    assert store.active()["run_id"] == "run-1" and store.active()["data_version"] == run["data_version"]
    assert store.get_run("run-1")["counts"] == run["counts"]
    for coll in COLLECTIONS:
        got = _all(store, "run-1", coll)
        assert sorted(got, key=lambda d: d["id"]) == sorted(docs[coll], key=lambda d: d["id"]), coll
        assert store.count("run-1", coll) == len(docs[coll])
    laps = store.query("run-1", "laps", {"race_id": "barber-r1", "car": "7"})
    assert [d["lap"] for d in laps] == list(range(1, 9))
    one = store.query("run-1", "ml_section_recommendations", {"race_id": "barber-r2", "car": "0", "lap": 7})
    assert sorted(d["section"] for d in one) == sorted(["s1", "s2", "s3", "im1a", "im1", "im2a", "im2", "im3a", "fl"])
    page = store.query("run-1", "laps", {"race_id": "barber-r1"}, limit=5, start_after=laps[0]["id"])
    after = sorted(d["id"] for d in docs["laps"] if d["race_id"] == "barber-r1" and d["id"] > laps[0]["id"])
    assert [d["id"] for d in page] == after[:5] and len(page) == 5


def test_failed_tasks_recorded(store, mini_races, monkeypatch):
    from kaizenlap.engines import pattern

    def broken(laps, race_id):
        raise RuntimeError("pattern engine exploded")
    monkeypatch.setattr(pattern, "analyse", broken)
    docs, meta = documents_for_races(mini_races)
    # coaching reads the pattern documents: a failed dependency fails its dependent
    assert [t["task"] for t in meta["failed_tasks"]] == ["pattern:barber-r1", "pattern:barber-r2",
                                                         "coaching:barber-r1", "coaching:barber-r2"]
    assert docs["ml_pattern_recommendations"] == [] and docs["ml_section_recommendations"]
    run = publish_documents(store, "run-f", docs, meta)
    stored = store.get_run("run-f")
    assert [t["task"] for t in stored["failed_tasks"]] == ["pattern:barber-r1", "pattern:barber-r2",
                                                           "coaching:barber-r1", "coaching:barber-r2"]
    assert docs["coaching_insights"] == []
    assert "pattern engine exploded" in stored["failed_tasks"][0]["error"]
    assert run["status"] == "complete"


def test_rerun_creates_no_duplicates(store, mini_docs):
    docs, meta = mini_docs
    first = publish_documents(store, "run-1", docs, meta)
    again = publish_documents(store, "run-1", docs, meta)           # same run again: a no-op
    assert again["data_version"] == first["data_version"]
    for coll in COLLECTIONS:
        assert store.count("run-1", coll) == len(docs[coll])
    publish_documents(store, "run-2", docs, meta)
    publish_documents(store, "run-3", docs, meta)
    assert store.active()["run_id"] == "run-3"
    assert [r["run_id"] for r in store.list_runs()] == ["run-2", "run-3"]   # active + previous only
    assert store.count("run-1", "laps") == 0
    for coll in COLLECTIONS:
        assert store.count("run-3", coll) == len(docs[coll])
    changed = tagged(docs, 9)
    with pytest.raises(RunExists):
        publish_documents(store, "run-3", changed, meta)
    with pytest.raises(ValueError, match="duplicate"):
        publish_documents(store, "run-4", {"laps": [docs["laps"][0], docs["laps"][0]]}, meta)
    assert store.active()["run_id"] == "run-3"


def test_same_documents_in_both_backends(mini_docs, tmp_path, request):
    docs, meta = mini_docs
    stores = [open_store(new_store_url(b, tmp_path, request)) for b in BACKENDS]
    for s in stores:
        publish_documents(s, "run-1", docs, meta)
    for coll, fields in QUERIES:
        filt = {f: docs["laps"][3][f] if f != "section" else "im2" for f in fields}
        if "lap" in filt:
            filt["lap"] = 4
        a, b = (s.query("run-1", coll, filt) for s in stores)
        assert a == b, (coll, fields)
    assert stores[0].get_run("run-1")["data_version"] == stores[1].get_run("run-1")["data_version"]


CHILD = r"""
import json, sys, time
from kaizenlap.store import open_store, publish_documents
url, run_id, path, block_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
docs = json.load(open(path))
def blocking(items):
    for i, d in enumerate(items):
        if i == block_at:
            print("MID", flush=True)
            time.sleep(600)
        yield d
docs["ml_section_recommendations"] = blocking(docs["ml_section_recommendations"])
publish_documents(open_store(url), run_id, docs, {"writer": "child"})
print("DONE", flush=True)
"""


def _visible(store) -> dict[str, list[dict]]:
    run_id = store.active()["run_id"]
    return {c: store.query(run_id, c) for c in COLLECTIONS}


def test_killed_writer_leaves_previous_run_served(store_url, mini_docs, tmp_path):
    docs, meta = mini_docs
    store = open_store(store_url)
    publish_documents(store, "run-1", tagged(docs, 1), meta)
    path = tmp_path / "docs.json"
    path.write_text(json.dumps(tagged(docs, 2)))
    child = subprocess.Popen([sys.executable, "-c", CHILD, store_url, "run-2", str(path), "100"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        line = child.stdout.readline()
        assert line.strip() == "MID", child.stderr.read()
        # Mid-write: the new run is half there, and nobody reading sees it.
        assert store.get_run("run-2")["status"] == "writing"
        assert store.count("run-2", "laps") == len(docs["laps"])
        assert store.count("run-2", "ml_section_recommendations") < len(docs["ml_section_recommendations"])
        assert store.active()["run_id"] == "run-1"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    reader = open_store(store_url)       # a fresh reader (for SQLite: a new connection after the kill)
    seen = _visible(reader)
    assert reader.active()["run_id"] == "run-1"
    for coll in COLLECTIONS:
        assert len(seen[coll]) == len(docs[coll]), coll
        assert {d["generation"] for d in seen[coll]} <= {1}, coll   # never a mix
    # The next run (the same id again) completes normally and replaces the half-written one.
    run = publish_documents(reader, "run-2", tagged(docs, 2), meta)
    assert run["status"] == "complete" and reader.active()["run_id"] == "run-2"
    seen = _visible(reader)
    for coll in COLLECTIONS:
        assert len(seen[coll]) == len(docs[coll]) and {d["generation"] for d in seen[coll]} <= {2}, coll
    # ... and a later run under a new id prunes what is neither active nor previous
    publish_documents(reader, "run-3", tagged(docs, 3), meta, stale_after_s=0)
    assert [r["run_id"] for r in reader.list_runs()] == ["run-2", "run-3"]


def test_killed_writer_abandoned_run_is_pruned(store_url, mini_docs, tmp_path):
    docs, meta = mini_docs
    store = open_store(store_url)
    publish_documents(store, "run-1", docs, meta)
    path = tmp_path / "docs.json"
    path.write_text(json.dumps(docs))
    child = subprocess.Popen([sys.executable, "-c", CHILD, store_url, "run-x", str(path), "10"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert child.stdout.readline().strip() == "MID"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()
    assert store.get_run("run-x")["status"] == "writing"
    publish_documents(store, "run-2", docs, meta, stale_after_s=0)
    assert store.get_run("run-x") is None and store.count("run-x", "laps") == 0
    assert store.active()["run_id"] == "run-2"


def test_sqlite_indexes_serve_every_query(tmp_path):
    from kaizenlap.store.sqlite import SqliteStore
    s = SqliteStore(tmp_path / "s.db")
    con = s._con()
    for coll, fields in QUERIES:
        filters = {f: (1 if f == "lap" else "x") for f in fields}
        for kwargs in ({}, {"limit": 10, "start_after": "a"}):
            sql, args = s.query_sql("run", coll, filters, **kwargs)
            plan = " | ".join(r[-1] for r in con.execute("EXPLAIN QUERY PLAN " + sql, args))
            assert "TEMP B-TREE" not in plan and "SCAN" not in plan, (coll, fields, plan)
            want = "ix_" + "_".join(fields) if fields else "PRIMARY KEY"
            assert want in plan, (coll, fields, plan)


def test_firestore_indexes_json_declares_every_composite_query():
    spec = json.loads((ROOT / "firestore.indexes.json").read_text())
    declared = {(ix["collectionGroup"], tuple(f["fieldPath"] for f in ix["fields"])) for ix in spec["indexes"]}
    needed = {(coll, fields) for coll, fields in QUERIES if len(fields) >= 2}
    assert needed <= declared, sorted(needed - declared)
    for ix in spec["indexes"]:
        assert ix["queryScope"] == "COLLECTION"
        assert all(f.get("order") == "ASCENDING" for f in ix["fields"])


def test_schema_md_documents_every_collection_and_field(mini_docs):
    text = (ROOT / "SCHEMA.md").read_text()
    docs, _ = mini_docs
    for coll in (*COLLECTIONS, "runs", "meta"):
        assert f"## {coll}" in text, coll
    for coll in COLLECTIONS:
        for d in docs[coll]:
            for key in d:
                assert f"`{key}`" in text, (coll, key)


# ------------------------------------------------------------------ several writers, one owner (the pipeline)

def _split(docs: dict) -> dict[str, dict]:
    """The documents as the pipeline's parts would write them: ingest, then one part per race."""
    parts: dict[str, dict] = {"ingest": {c: docs[c] for c in ("tracks", "races", "laps", "race_progress", "data_quality")}}
    for coll in ("best_case_composites", "ml_section_recommendations", "ml_weather_recommendations",
                 "ml_pattern_recommendations", "coaching_insights"):
        for d in docs[coll]:
            key = (d.get("race_id") or f"track-{d.get('track_id')}") + ".engines"
            parts.setdefault(key, {}).setdefault(coll, []).append(d)
    return parts


def test_staged_parts_publish_like_one_writer(store, mini_docs):
    from kaizenlap.store import begin_run, finish_run, stage
    docs, meta = mini_docs
    one = publish_documents(store, "run-1", docs, meta)
    parts = _split(docs)
    assert len(parts) >= 3
    begin_run(store, "run-2", {"writer": "pipeline"})
    records = [stage(store, "run-2", name, part) for name, part in reversed(parts.items())]   # any order
    assert sum(r["counts"].get("laps", 0) for r in records) == len(docs["laps"])
    assert store.active()["run_id"] == "run-1"                     # nothing visible before the owner finishes
    run = finish_run(store, "run-2", parts=list(parts), failed_tasks=[{"task": "x/pattern", "race_id": "x"}])
    assert run["status"] == "complete" and store.active()["run_id"] == "run-2"
    assert run["data_version"] == one["data_version"] == data_version(docs)    # independent of the split
    assert run["counts"] == one["counts"] and run["parts"] == sorted(parts)
    assert run["failed_tasks"] == [{"task": "x/pattern", "race_id": "x"}]
    for coll in COLLECTIONS:
        assert _all(store, "run-2", coll) == _all(store, "run-1", coll), coll   # no hidden field leaks


def test_staging_a_part_again_replaces_it(store, mini_docs):
    from kaizenlap.store import begin_run, finish_run, stage
    docs, _ = mini_docs
    parts = _split(docs)
    begin_run(store, "run-1")
    for name, part in parts.items():
        stage(store, "run-1", name, part)
    race = next(n for n in parts if n != "ingest")
    fewer = {c: v[:1] for c, v in parts[race].items()}
    stage(store, "run-1", race, fewer)                              # a re-run of the task: fewer documents
    run = finish_run(store, "run-1", parts=list(parts))
    expected = {c: len(docs[c]) - sum(len(v) - 1 for cc, v in parts[race].items() if cc == c) for c in COLLECTIONS}
    assert run["counts"] == expected


def test_finish_refuses_overlap_missing_part_and_half_written_part(store, mini_docs):
    from kaizenlap.store import StoreError, begin_run, discard, finish_run, stage
    docs, meta = mini_docs
    publish_documents(store, "run-1", docs, meta)
    parts = _split(docs)
    begin_run(store, "run-2")
    for name, part in parts.items():
        stage(store, "run-2", name, part)
    with pytest.raises(StoreError, match="wrote nothing"):
        finish_run(store, "run-2", parts=[*parts, "nope.composite"])
    # Two parts writing the same id: the store holds fewer documents than the parts declared.
    stage(store, "run-2", "dup", {"laps": docs["laps"][:3]})
    with pytest.raises(StoreError, match="laps"):
        finish_run(store, "run-2", parts=[*parts, "dup"])
    # A writer that died half-way (documents, no part record) is caught too, until the owner discards it.
    stage(store, "run-2", "ingest", parts["ingest"])               # repair the ingest part
    store.write("run-2", "ml_pattern_recommendations", [{**docs["ml_pattern_recommendations"][0], "id": "stray"}],
                part="dead.pattern")
    with pytest.raises(StoreError, match="ml_pattern_recommendations"):
        finish_run(store, "run-2", parts=list(parts))
    assert store.active()["run_id"] == "run-1"                     # every refusal left the old run served
    assert discard(store, "run-2", "dead.pattern") == 1
    # A part that recorded itself but whose task failed later is not expected: it is dropped, not served.
    stage(store, "run-2", "failed.pattern", {"ml_pattern_recommendations": [{**docs["ml_pattern_recommendations"][0],
                                                                            "id": "late"}]})
    run = finish_run(store, "run-2", parts=list(parts))
    assert store.active()["run_id"] == "run-2" and "failed.pattern" not in run["parts"]
    assert store.get("run-2", "ml_pattern_recommendations", "late") is None
    assert run["data_version"] == data_version(docs)


def test_stage_needs_a_begun_writing_run(store, mini_docs):
    from kaizenlap.store import StoreError, stage
    docs, meta = mini_docs
    with pytest.raises(StoreError, match="has not been begun"):
        stage(store, "run-9", "ingest", {"tracks": docs["tracks"]})
    publish_documents(store, "run-1", docs, meta)
    with pytest.raises(StoreError, match="complete"):
        stage(store, "run-1", "late", {"tracks": docs["tracks"]})
    with pytest.raises(ValueError, match="part id"):
        stage(store, "run-1", "a/b", {"tracks": docs["tracks"]})


STAGE_CHILD = r"""
import json, sys, time
import kaizenlap.store.firestore, kaizenlap.store.sqlite
from kaizenlap.store import open_store, stage
kaizenlap.store.firestore.MAX_BATCH = kaizenlap.store.sqlite.MAX_BATCH = 20   # small races: commit some batches
url, run_id, part, path = sys.argv[1:5]
docs = json.load(open(path))
def blocking(items):
    for i, d in enumerate(items):
        if i == 50:
            print("MID", flush=True)
            time.sleep(600)
        yield d
stage(open_store(url), run_id, part, {"ml_section_recommendations": blocking(docs["ml_section_recommendations"])})
"""


def test_killed_part_writer_is_never_served(store_url, mini_docs, tmp_path):
    """A notebook killed while writing its part: the owner refuses to publish until the part is
    discarded (the pipeline discards every failed task's part), and the previous run is served throughout."""
    from kaizenlap.store import StoreError, begin_run, discard, finish_run, stage
    docs, meta = mini_docs
    store = open_store(store_url)
    publish_documents(store, "run-1", tagged(docs, 1), meta)
    new = tagged(docs, 2)
    parts = _split(new)
    begin_run(store, "run-2")
    victim = next(n for n, p in parts.items() if len(p.get("ml_section_recommendations", [])) > 50)
    for name, part in parts.items():
        if name != victim:
            stage(store, "run-2", name, part)
    path = tmp_path / "docs.json"
    path.write_text(json.dumps(parts[victim]))
    child = subprocess.Popen([sys.executable, "-c", STAGE_CHILD, store_url, "run-2", victim, str(path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "MID", child.stderr.read()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
        child.stderr.close()
    reader = open_store(store_url)
    assert reader.count("run-2", "ml_section_recommendations") == sum(
        len(p.get("ml_section_recommendations", [])) for n, p in parts.items() if n != victim) + 40   # 2 batches
    with pytest.raises(StoreError):
        finish_run(reader, "run-2", parts=[n for n in parts if n != victim])
    assert reader.active()["run_id"] == "run-1"
    assert {d["generation"] for c in COLLECTIONS for d in _visible(reader)[c]} <= {1}
    assert discard(reader, "run-2", victim) > 0
    run = finish_run(reader, "run-2", parts=[n for n in parts if n != victim],
                     failed_tasks=[{"task": victim, "race_id": None}])
    seen = _visible(reader)
    assert reader.active()["run_id"] == "run-2" and run["failed_tasks"][0]["task"] == victim
    assert {d["generation"] for c in COLLECTIONS for d in seen[c]} <= {2}
    assert len(seen["ml_section_recommendations"]) == len(new["ml_section_recommendations"]) - \
        len(parts[victim]["ml_section_recommendations"])


def test_carry_forward_keeps_what_a_subset_run_did_not_write(store, mini_docs):
    """Both backends: a run that rewrites one race's engine part keeps every other part and race of the active
    run (kaizenlap.store.publish.carry_forward), and serves exactly the full run's documents."""
    from kaizenlap.store import begin_run, finish_run, stage
    from kaizenlap.store.publish import carry_forward
    docs, _ = mini_docs
    parts = _split(docs)
    begin_run(store, "run-1")
    for name, part in parts.items():
        stage(store, "run-1", name, part)
    full = finish_run(store, "run-1", parts=list(parts))
    engine_part = next(p for p in parts if p != "ingest")
    race = engine_part.split(".")[0]
    assert store.part_documents("run-1", engine_part) == {c: sorted(v, key=lambda d: d["id"])
                                                          for c, v in parts[engine_part].items()}
    begin_run(store, "run-2")
    ingest = {c: [d for d in v if c == "tracks" or d.get("race_id") == race] for c, v in parts["ingest"].items()}
    ingest["tracks"] = [{**t, "races": [r for r in t["races"] if r == race]} for t in ingest["tracks"]]
    stage(store, "run-2", "ingest", ingest)
    stage(store, "run-2", engine_part, parts[engine_part])
    carried = carry_forward(store, "run-2", "run-1", {race})
    run = finish_run(store, "run-2", parts=["ingest", engine_part, *carried["parts"]], carried=carried)
    assert run["carried"]["from_run"] == "run-1" and engine_part not in carried["parts"]
    assert run["data_version"] == full["data_version"]                 # the same season, served whole
    for coll in COLLECTIONS:
        assert _all(store, "run-2", coll) == _all(store, "run-1", coll), coll
