"""Reliability of what is served (issue 18, items 1, 10, 11, 12): a failed task never takes documents away
from the app, two runs on one store have a defined outcome, one ETag means one body, no server path reaches a
user, and slow or greedy clients are bounded."""
from __future__ import annotations

import json
import random

import pytest
from fastapi.testclient import TestClient

from test_store_support import (BACKENDS, firestore_emulator, mini_docs, mini_races,  # noqa: F401
                                new_store_url)
from kaizenlap.engines import composite, pattern
from kaizenlap.store import open_store, publish_documents
from kaizenlap.store.base import Store
from kaizenlap.store.sqlite import SqliteStore
from kaizenlap.tasks import record as results
from kaizenlap.tasks.model import Task
from kaizenlap.tasks.store_run import StoreRun
from serve.app import create_app


@pytest.fixture(params=BACKENDS)
def store_url(request, tmp_path):
    return new_store_url(request.param, tmp_path, request)


def _task(name: str, status: str) -> Task:
    return Task(key=f"barber-r1/{name}", kind="race", target="barber-r1", name=name, engine=name, notebook="",
                parameters={}, race_ids=["barber-r1"], status=status, files={"json": f"{name}.json"})


def _owner(url: str, run_id: str, race, tmp_path) -> StoreRun:
    """A run of the pipeline's store owner over one race, its two tasks' documents recorded as reused."""
    owner = StoreRun(url, run_id)
    owner.begin([race], {"test": True})
    run_dir = tmp_path / run_id
    results.save_document(composite.analyse(race.laps, "barber-r1"), run_dir / "barber-r1", "composite")
    results.save_document(pattern.analyse(race.laps, "barber-r1"), run_dir / "barber-r1", "pattern")
    owner.run_dir = run_dir
    return owner


def _finish(owner: StoreRun, statuses: dict[str, str]) -> dict:
    tasks = [_task(name, status) for name, status in statuses.items()]
    for t in tasks:
        owner.task_done(t, owner.run_dir)
    return owner.finish(tasks)


def _served(url: str) -> dict:
    """What the API serves for the race: status and body of each route a user reads."""
    with TestClient(create_app(url)) as c:
        out = {}
        for path in ("/races/barber-r1/composite", "/races/barber-r1/summary"):
            r = c.get(path)
            out[path] = (r.status_code, r.json() if r.status_code == 200 else None)
        r = c.get("/recommendations", params={"race_id": "barber-r1", "type": "pattern", "limit": 500})
        out["pattern"] = sorted(d["id"] for d in r.json()["items"])
        out["health"] = c.get("/health").json()
    return out


def test_a_failed_task_keeps_serving_the_previous_runs_documents(store_url, mini_races, tmp_path):
    race = mini_races[0]
    assert _finish(_owner(store_url, "run-good", race, tmp_path), {"composite": "reused", "pattern": "reused"})[
        "published"]
    before = _served(store_url)
    assert before["/races/barber-r1/composite"][0] == 200 and before["pattern"]
    assert before["health"]["failed_tasks"] == []
    rec = _finish(_owner(store_url, "run-bad", race, tmp_path), {"composite": "failed", "pattern": "reused"})
    assert rec["published"] and rec["served_from_earlier_run"] == ["barber-r1/composite"]
    after = _served(store_url)
    assert after["health"]["active_run_id"] == "run-bad"
    assert after["/races/barber-r1/composite"] == before["/races/barber-r1/composite"]      # same document
    assert after["pattern"] == before["pattern"]
    assert after["health"]["failed_tasks"] == [{"task": "barber-r1/composite", "served_from_run": "run-good",
                                                "reason": None}]
    with open_store(store_url) as store:
        run = store.get_run("run-bad")
    [carried] = run["carried"]["for_failed"]
    assert carried["carried"] and carried["from_run"] == "run-good" and carried["counts"]["best_case_composites"] == 1


def test_a_failed_task_with_nothing_to_carry_is_said_so(mini_races, tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    rec = _finish(_owner(url, "run-first", mini_races[0], tmp_path), {"composite": "failed", "pattern": "reused"})
    assert rec["published"] and rec["served_from_earlier_run"] == []
    health = _served(url)["health"]
    assert health["failed_tasks"] == [{"task": "barber-r1/composite", "served_from_run": None,
                                       "reason": "no run was active"}]


def test_two_concurrent_runs_last_complete_wins_and_serves_no_less(store_url, mini_races, tmp_path):
    """Run A begins, run B begins and completes cleanly, then A completes with a failed task: A is active
    (the last complete run wins) and serves everything B served, B's composite included."""
    race = mini_races[0]
    a = _owner(store_url, "run-a", race, tmp_path)
    b = _owner(store_url, "run-b", race, tmp_path)
    assert _finish(b, {"composite": "reused", "pattern": "reused"})["published"]
    served_b = _served(store_url)
    assert _finish(a, {"composite": "failed", "pattern": "reused"})["published"]
    served_a = _served(store_url)
    assert served_a["health"]["active_run_id"] == "run-a"
    assert served_a["/races/barber-r1/composite"] == served_b["/races/barber-r1/composite"]
    assert served_a["pattern"] == served_b["pattern"]
    assert served_a["health"]["failed_tasks"][0]["served_from_run"] == "run-b"


class ShuffledStore(SqliteStore):
    """A store whose documents come back with their keys in another order on every restart (as Firestore's
    do): what the API serves must not depend on it."""

    def __init__(self, path, seed: int) -> None:
        super().__init__(path)
        self.rng = random.Random(seed)

    def _shuffle(self, o):
        if isinstance(o, dict):
            keys = list(o)
            self.rng.shuffle(keys)
            return {k: self._shuffle(o[k]) for k in keys}
        if isinstance(o, list):
            return [self._shuffle(v) for v in o]
        return o

    def get(self, run_id, collection, doc_id):
        return self._shuffle(super().get(run_id, collection, doc_id))

    def query(self, *a, **k):
        return self._shuffle(super().query(*a, **k))

    # as the Firestore backend does: documents (keys in any order) turned into JSON text by the base class
    query_json = Store.query_json
    get_many_json = Store.get_many_json

    def get_many(self, *a, **k):
        return self._shuffle(super().get_many(*a, **k))


def test_one_etag_one_body_whatever_order_the_store_returns_keys_in(mini_docs, tmp_path):
    docs, meta = mini_docs
    path = tmp_path / "s.db"
    with SqliteStore(path) as store:
        publish_documents(store, "run-1", docs, meta)
    paths = ["/races/barber-r1/summary", "/races/barber-r1/composite", "/races/barber-r1/quality",
             "/races/barber-r1/weather", "/tracks", "/races/barber-r1/cars/" + docs["races"][0]["cars"][0]["car"]
             + "/laps", "/recommendations?race_id=barber-r1&limit=50"]
    bodies: dict[str, set] = {p: set() for p in paths}
    etags: dict[str, set] = {p: set() for p in paths}
    for seed in range(3):                                   # three restarts of the server
        with TestClient(create_app(store=ShuffledStore(path, seed))) as c:
            for p in paths:
                r = c.get(p)
                assert r.status_code == 200, (p, r.text[:200])
                bodies[p].add(r.content)
                etags[p].add(r.headers["etag"])
    for p in paths:
        assert len(etags[p]) == 1 and len(bodies[p]) == 1, p


def test_health_names_no_server_path(mini_docs, tmp_path):
    docs, meta = mini_docs
    deep = tmp_path / "srv" / "state"
    deep.mkdir(parents=True)
    url = f"sqlite:///{deep / 'store.db'}"
    with open_store(url) as store:
        publish_documents(store, "run-1", docs, meta)
    with TestClient(create_app(url)) as c:
        body = c.get("/health").text
    assert str(tmp_path) not in body and "store.db" in body


def test_a_range_header_with_many_ranges_is_bounded(tmp_path):
    """10,000 one-byte ranges, all inside a 25,031-byte file: answered with at most the file's bytes (Starlette's
    FileResponse.max_ranges, 100 in the pinned 1.10.0, serves the whole file), not a multipart body of 10,000
    parts (~1.1 MB; the ranges the old test sent ran past the file's end, so a 416 hid an unbounded server)."""
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<!doctype html><title>x</title>" + "x" * 25000)
    with TestClient(create_app(f"sqlite:///{tmp_path / 's.db'}", web_dir=web)) as c:
        many = "bytes=" + ",".join(f"{i}-{i}" for i in range(0, 20000, 2))
        r = c.get("/index.html", headers={"Range": many})
        assert r.status_code in (200, 416) and len(r.content) <= 25031, (r.status_code, len(r.content))
        r = c.get("/index.html", headers={"Range": "bytes=0-9"})
        assert r.status_code == 206 and r.content == b"<!doctype "                # one range still works


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(tmp_path, request):
    """The real server (serve.server: uvicorn with the header deadline) on 127.0.0.1, header deadline 1 s (other
    settings of params/serve.yaml's ``server`` overridden by an indirect parameter)."""
    import threading
    import time

    import uvicorn

    from serve import server
    overrides = {"header_timeout_s": 1.0, **getattr(request, "param", {})}
    port = _free_port()
    srv = uvicorn.Server(server.config(create_app(f"sqlite:///{tmp_path / 's.db'}"), "127.0.0.1", port, "warning",
                                       **overrides))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield port
    srv.should_exit = True
    t.join(timeout=10)


def _exchange(port: int, raw: bytes) -> bytes:
    """``raw`` sent on a new connection; everything the server answers until it closes (5 s at most)."""
    import socket
    import time
    out = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(raw)
        end = time.monotonic() + 5
        while time.monotonic() < end:
            try:
                chunk = s.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return out


def _headers(answer: bytes) -> tuple[int, dict]:
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    return int(head[0].split()[1]), {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in head[1:])}


SECURITY = ("x-content-type-options", "referrer-policy", "x-frame-options", "content-security-policy")


def test_the_servers_own_400_carries_the_security_headers(live_server):
    """A request uvicorn cannot parse is answered by uvicorn itself, before the app: that 400 carries the same
    security headers as the app's answers (and is not cached), as do the app's own errors."""
    for raw in (b"NOT A REQUEST LINE\r\n\r\n", b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
                b"GET /health HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"):
        status, headers = _headers(_exchange(live_server, raw))
        assert status == 400, raw[:40]
        assert all(h in headers for h in SECURITY) and headers["x-content-type-options"] == "nosniff", headers
        assert headers["cache-control"] == "no-store" and headers["connection"] == "close"
    status, headers = _headers(_exchange(live_server, b"DELETE /health HTTP/1.1\r\nHost: x\r\n"
                                                      b"Connection: close\r\n\r\n"))
    assert status == 405 and all(h in headers for h in SECURITY)       # the app's own refusal, for comparison


@pytest.mark.parametrize("live_server", [{"max_connections": 3}], indirect=True)
def test_open_connections_are_bounded_and_an_idle_one_is_closed(live_server):
    """max_connections (uvicorn's limit_concurrency) 3: with three connections held open that send nothing, a
    fourth client's request is answered 503 at once; the idle ones are closed at the header deadline (1 s), and
    then a request is served again."""
    import socket
    import time
    idle = [socket.create_connection(("127.0.0.1", live_server), timeout=5) for _ in range(3)]
    try:
        time.sleep(0.2)
        status, _ = _headers(_exchange(live_server, b"GET /nothing-here HTTP/1.1\r\nHost: x\r\n"
                                                          b"Connection: close\r\n\r\n"))
        assert status == 503                                 # not the app's answer: the limit's
        t0 = time.monotonic()
        for s in idle:
            assert s.recv(1) == b""                          # closed by the server, not by us
        assert time.monotonic() - t0 < 3
    finally:
        for s in idle:
            s.close()
    status, _ = _headers(_exchange(live_server, b"GET /nothing-here HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
    assert status in (200, 404)                              # the app answers again (the SPA or its 404)


def test_a_client_that_trickles_its_headers_is_dropped(live_server):
    """Slowloris: a byte every 0.2 s never completes the headers; the server closes the connection after the
    header deadline (1 s here, params/serve.yaml server.header_timeout_s), while a normal client is served."""
    import socket
    import time
    s = socket.create_connection(("127.0.0.1", live_server), timeout=5)
    t0 = time.monotonic()
    closed_after = None
    try:
        for ch in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
            s.sendall(bytes([ch]))
            time.sleep(0.2)
            if time.monotonic() - t0 > 6:
                break
    except OSError:                                    # reset by the server
        closed_after = time.monotonic() - t0
    if closed_after is None:
        s.settimeout(3)
        try:
            closed_after = time.monotonic() - t0 if s.recv(1) == b"" else None
        except OSError:
            closed_after = time.monotonic() - t0
    s.close()
    assert closed_after is not None and closed_after < 4, closed_after
    with socket.create_connection(("127.0.0.1", live_server), timeout=5) as ok:
        ok.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert ok.recv(64).startswith(b"HTTP/1.1 ")


def test_reports_served_name_no_server_path(tmp_path):
    """Executed reports, notebooks, run records and logs (as the pipeline writes them: the store URL, the data
    folder, the run folder) are served with the server's paths relative; the app's own links are untouched."""
    reports = tmp_path / "srv" / "reports"
    run = reports / "20260101T000000Z-abcdef"
    (run / "barber-r1").mkdir(parents=True)
    (run / "logs").mkdir()
    data = tmp_path / "srv" / "season" / "sample"
    store = f"sqlite:///{tmp_path / 'state' / 'store.db'}"
    (run / "barber-r1" / "composite.html").write_text(
        f"<p>Stored in <code>{store}</code>; read {data}/barber/23_x.csv</p>"
        f'<a href="/reports/{run.name}/index.html">index</a> <a href="/races/barber-r1/summary">race</a>')
    (run / "barber-r1" / "composite.ipynb").write_text(json.dumps(
        {"cells": [{"source": f"data = ['{data}']\noutput_dir = '{run}/barber-r1'\n"}]}))
    (run / "run.json").write_text(json.dumps({"meta": {"data": [str(data)], "reports": str(run), "store": store}}))
    (run / "logs" / "workers.log").write_text(f'Traceback: File "{tmp_path}/venv/lib/x.py", line 3\n')
    with TestClient(create_app(f"sqlite:///{tmp_path / 's.db'}", reports_dir=reports)) as c:
        pages = {f: c.get(f"/reports/{run.name}/{f}") for f in
                 ("barber-r1/composite.html", "barber-r1/composite.ipynb", "run.json", "logs/workers.log")}
    for f, r in pages.items():
        assert r.status_code == 200 and str(tmp_path) not in r.text, (f, r.text)
    html = pages["barber-r1/composite.html"].text
    assert "Stored in <code>sqlite:///state/store.db</code>" in html and "read barber/23_x.csv" in html
    assert f'href="/reports/{run.name}/index.html"' in html and 'href="/races/barber-r1/summary"' in html
    assert json.loads(pages["run.json"].text)["meta"]["reports"] == run.name
    assert "output_dir = '20260101T000000Z-abcdef/barber-r1'" in json.loads(pages["barber-r1/composite.ipynb"].text)[
        "cells"][0]["source"]


def test_chaos_a_run_with_a_failing_task_after_a_good_run_serves_everything_it_served(tmp_path):
    """The real pipeline, twice, on one store: a good run of two races, then the same with the pattern engine
    broken by its configuration (its tasks fail, and the coaching that reads them). The API serves every
    document it served before, and /health says which tasks failed and where their documents come from."""
    import os
    import shutil
    import subprocess
    import sys

    from kaizenlap.core.paths import repo_root
    from kaizenlap.sample import write_season
    root = repo_root()
    write_season(tmp_path / "sample", seed=2025)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    # the whole input (Barber's two races), not a subset: a subset run (--races) copies every part it did not
    # write from the active run anyway (carry_forward), which would hide a failed task's loss
    common = ["--data", str(tmp_path / "sample" / "barber"), "--store", url,
              "--reports", str(tmp_path / "reports"), "--workers", "2", "--no-reports"]

    def run(env=None):
        return subprocess.run([sys.executable, str(root / "run_pipeline.py"), "run", *common], capture_output=True,
                              text=True, timeout=900, cwd=tmp_path, env={**os.environ, **(env or {})})

    def everything(c) -> dict:
        out = {}
        for rid in ("barber-r1", "barber-r2"):
            for p in ("summary", "composite", "weather", "quality"):
                r = c.get(f"/races/{rid}/{p}")
                out[f"{rid}/{p}"] = (r.status_code, r.json().get("id") if r.status_code == 200 else None)
            for car in c.get(f"/races/{rid}/cars").json()["items"]:
                r = c.get(f"/races/{rid}/cars/{car['car']}/coaching")
                out[f"{rid}/{car['car']}/coaching"] = (r.status_code, r.json().get("headline"))
        for kind in ("section", "weather", "pattern", "coaching"):
            r = c.get("/recommendations", params={"type": kind, "limit": 1000})
            out[kind] = sorted(d["id"] for d in r.json()["items"])
        return out

    assert run().returncode == 0
    with TestClient(create_app(url)) as c:
        before = everything(c)
        before_run = c.get("/health").json()["active_run_id"]
    assert before["pattern"] and before["coaching"]
    params = tmp_path / "params"
    shutil.copytree(root / "params", params)
    shutil.copytree(root / "notebooks", tmp_path / "notebooks")          # they sit beside params/
    text = (params / "engines.yaml").read_text()
    assert "trend_fdr: 0.05" in text
    (params / "engines.yaml").write_text(text.replace("trend_fdr: 0.05", "trend_fdr: not-a-number"))
    bad = run({"KAIZENLAP_PARAMS": str(params)})
    assert bad.returncode == 1, (bad.stdout + bad.stderr)[-2000:]
    with TestClient(create_app(url)) as c:
        after = everything(c)
        health = c.get("/health").json()
        assert health["active_run_id"] != before_run                  # the run with failed tasks is published
    assert after == before
    assert "the app keeps serving its documents from run" in bad.stderr + bad.stdout
    failed = {f["task"]: f for f in health["failed_tasks"]}
    assert {"barber-r1/pattern", "barber-r2/pattern", "barber-r1/coaching", "barber-r2/coaching"} <= set(failed)
    assert all(f["served_from_run"] for f in failed.values())
