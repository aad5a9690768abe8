"""The HTTP API: every endpoint on both backends, errors, caching, pagination, the static web root,
path traversal, event-loop safety, schemathesis against /openapi.json and the `serve` command."""
from __future__ import annotations

import asyncio
import http.client
import json
import os
import subprocess
import sys
import threading
import time

import pytest
from model_support import undeclared
from hypothesis import HealthCheck, settings

from test_store_support import (BACKENDS, ROOT, firestore_emulator, mini_docs, mini_races,  # noqa: F401
                                new_store_url, real_docs, tagged)

import schemathesis
from fastapi.testclient import TestClient

from kaizenlap.core import params
from kaizenlap.store import open_store, publish_documents
from kaizenlap.store.sqlite import SqliteStore
from serve.app import create_app

SECTIONS = {"s1", "s2", "s3", "im1a", "im1", "im2a", "im2", "im3a", "fl"}


@pytest.fixture(scope="module", params=BACKENDS)
def served(request, real_docs, tmp_path_factory):
    """(client, store, docs): Barber race 1 published as run-1, served by the app."""
    url = new_store_url(request.param, tmp_path_factory.mktemp(request.param), request)
    store = open_store(url)
    docs, meta = real_docs
    publish_documents(store, "run-1", docs, meta)
    with TestClient(create_app(url, pointer_ttl_s=0)) as client:
        yield client, store, docs
    store.close()


def _ok(client, path, **params):
    r = client.get(path, params=params)
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/json")
    return r.json()


def _err(client, path, status, code, **params):
    r = client.get(path, params=params)
    assert r.status_code == status, (path, r.status_code, r.text[:300])
    body = r.json()
    assert body["error"]["code"] == code and body["error"]["message"]
    return body


def test_health(served):
    client, store, _ = served
    r = client.get("/health")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    h = r.json()
    assert h["status"] == "ok" and h["store"]["reachable"] and h["store"]["backend"] == store.backend
    assert h["active_run_id"] == "run-1" and h["data_version"] == store.active()["data_version"]


def test_tracks(served):
    client, _, _ = served
    body = _ok(client, "/tracks")
    tracks = {t["track_id"]: t for t in body["items"]}
    assert body["run_id"] == "run-1" and "barber" in tracks
    b = tracks["barber"]
    assert b["name"] == "Barber Motorsports Park" and b["length_m"] == pytest.approx(3674.7)
    assert len(b["sector_lengths_m"]) == 3 and b["races"] == ["barber-r1"] and "outline" in b
    assert _ok(client, "/tracks/barber")["track_id"] == "barber"
    _err(client, "/tracks/nowhere", 404, "not_found")


def test_races_of_a_track(served):
    client, _, _ = served
    body = _ok(client, "/races/barber")
    assert [r["race_id"] for r in body["items"]] == ["barber-r1"]
    r = body["items"][0]
    assert r["date"] == "2025-09-06" and r["n_cars"] == 22 and "cars" not in r
    assert _ok(client, "/races/cota")["items"] == []           # a known track without races
    _err(client, "/races/atlantis", 404, "not_found")
    assert [x["race_id"] for x in _ok(client, "/races")["items"]] == ["barber-r1"]
    s = _ok(client, "/races/barber-r1/summary")
    assert s["race_number"] == 1 and len(s["cars"]) == 22


def test_cars(served):
    client, _, _ = served
    cars = _ok(client, "/races/barber-r1/cars")["items"]
    assert len(cars) == 22 and {"car", "number", "class", "laps", "clean_laps", "best_lap_s"} <= cars[0].keys()
    c3 = next(c for c in cars if c["car"] == "3")
    assert c3["laps"] == 27 and c3["best_lap_s"] == pytest.approx(99.167)
    _err(client, "/races/barber-r9/cars", 404, "not_found")
    d = _ok(client, "/races/barber-r1/cars/3")
    assert d["car"]["car"] == "3" and d["pattern"]["type"] == "pattern" and d["composite"]["car"] == "3"
    assert {s["section"] for s in d["sections"] if s["section_set"] == "subsections"} == \
        {"im1a", "im1", "im2a", "im2", "im3a", "fl"}
    _err(client, "/races/barber-r1/cars/999", 404, "not_found")


def test_laps(served):
    client, _, _ = served
    body = _ok(client, "/races/barber-r1/cars/3/laps")
    laps = body["items"]
    assert [x["lap"] for x in laps] == list(range(1, 28))
    first = laps[0]
    assert first["lap_time_s"] == pytest.approx(114.168) and first["s1_s"] == pytest.approx(33.413)
    assert first["im1a_s"] == pytest.approx(22.57) and first["flag"] == "FCY"
    assert first["flags"]["first_lap"] and not first["is_clean"] and "first_lap" in first["exclusion_reasons"]
    assert set(first["flags"]) >= {"caution", "deleted", "pit_in", "pit_out", "slow", "glitch", "outlier"}
    _err(client, "/races/barber-r1/cars/999/laps", 404, "not_found")
    _err(client, "/races/nope/cars/3/laps", 404, "not_found")


def test_composite(served):
    client, _, _ = served
    c = _ok(client, "/races/barber-r1/composite")
    assert c["scope"] == "race" and c["race_id"] == "barber-r1" and all(c["invariants"].values())
    f = next(x for x in c["field"] if x["class"] == "all" and x["section_set"] == "sectors")
    assert f["available"] and len(f["components"]) == 3
    assert f["total_s"] == pytest.approx(sum(x["time_s"] for x in f["components"]), abs=1e-3)
    car = c["cars"][0]
    assert {"value", "lo", "hi", "n", "method"} <= car["sectors"]["personal_composite"].keys()
    _err(client, "/races/nope/composite", 404, "not_found")
    _err(client, "/tracks/barber/composite", 404, "not_found")     # one race only: no pooled composite


def test_quality(served):
    client, _, _ = served
    q = _ok(client, "/races/barber-r1/quality")
    assert q["n_laps"] == 579 and q["issues"] and {e["flag"] for e in q["exclusions"]} >= {"first_lap", "caution"}
    assert sum(q["counts"].values()) == len(q["issues"])
    _err(client, "/races/nope/quality", 404, "not_found")


def test_weather(served):
    client, _, _ = served
    w = _ok(client, "/races/barber-r1/weather")
    assert w["type"] == "weather" and w["usable"] and w["conditions"]["air_temp_c"]["available"]
    assert w["track_model"]["identifiable"] is False          # Barber has no track-temperature sensor
    assert "loss" not in w and "pace_gap" not in w            # served as stored: no other kind's null fields
    _err(client, "/races/nope/weather", 404, "not_found")


def test_recommendations_filters(served):
    client, _, docs = served
    one_lap = _ok(client, "/recommendations", race_id="barber-r1", car="3", lap=5)
    assert one_lap["count"] == 9 and one_lap["next_cursor"] is None
    assert {(d["car"], d["lap"], d["type"]) for d in one_lap["items"]} == {("3", 5, "section")}
    assert {d["section"] for d in one_lap["items"]} == SECTIONS
    run_id = one_lap["run_id"]                  # the API's point lookups give what a query gives
    stored = served[1].query(run_id, "ml_section_recommendations", {"race_id": "barber-r1", "car": "3", "lap": 5})
    assert [{k: d[k] for k in s} for d, s in zip(one_lap["items"], stored)] == stored
    one = _ok(client, "/recommendations", race_id="barber-r1", car="3", lap=5, section="im2")
    assert [d["section"] for d in one["items"]] == ["im2"]
    assert _ok(client, "/recommendations", race_id="barber-r1", car="3", lap=99)["items"] == []
    car_secs = _ok(client, "/recommendations", race_id="barber-r1", car="3", section="im2a", type="section")
    assert {(d["lap"] is None) for d in car_secs["items"]} == {True, False}     # car scope and lap scope
    est = next(d for d in car_secs["items"] if d["lap"] is None)
    assert est["scope"] == "car" and {"value", "lo", "hi", "n"} <= est["loss"].keys() and est["loss"]["n"] > 0
    pat = _ok(client, "/recommendations", race_id="barber-r1", type="pattern", limit=1000)
    assert pat["count"] == 22 and {d["type"] for d in pat["items"]} == {"pattern"}
    w = _ok(client, "/recommendations", race_id="barber-r1", type="weather")
    assert w["count"] == 2 and {d["car"] for d in w["items"]} == {None}           # the race, and its track's model
    assert [d["scope"] for d in w["items"]] == ["race", "track"] and "barber-r1" in w["items"][1]["races"]
    coaching = _ok(client, "/recommendations", race_id="barber-r1", type="coaching", limit=1000)
    assert coaching["count"] == pat["count"] and {d["type"] for d in coaching["items"]} == {"coaching"}
    assert {d["car"] for d in coaching["items"]} == {d["car"] for d in pat["items"]}   # one per car
    assert _ok(client, "/recommendations", race_id="nope")["items"] == []


def test_recommendations_pagination(served):
    client, _, docs = served
    total = sum(len(docs[c]) for c in ("ml_section_recommendations", "ml_weather_recommendations",
                                        "ml_pattern_recommendations", "coaching_insights"))
    seen, cursor, pages = [], None, 0
    while True:
        params = {"race_id": "barber-r1", "limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = _ok(client, "/recommendations", **params)
        assert page["count"] == len(page["items"]) <= 1000
        seen += [d["id"] for d in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == total and pages == -(-total // 1000)
    small = _ok(client, "/recommendations", race_id="barber-r1", car="3", lap=5, limit=4)
    rest = _ok(client, "/recommendations", race_id="barber-r1", car="3", lap=5, limit=4, cursor=small["next_cursor"])
    assert len({d["id"] for d in small["items"] + rest["items"]}) == 8


def test_bad_parameters_are_422(served):
    client, _, _ = served
    for params in ({"lap": "five"}, {"lap": -1}, {"section": "s9"}, {"type": "gossip"}, {"limit": 0},
                   {"limit": 100000}, {"cursor": "not-a-cursor"}, {"car": "../../x"}, {"race_id": ""}):
        body = _err(client, "/recommendations", 422, "invalid_parameter", **params)
        assert body["error"]["message"]
    _err(client, "/races/bad%20id/cars", 422, "invalid_parameter")


def test_unknown_api_paths_are_json_404_not_the_web_app(served):
    client, _, _ = served
    for path in ("/tracks/barber/extra/more", "/races/barber-r1/nothing", "/recommendations/x", "/health/x",
                 "/api/v2/anything", "/runs/x/y"):
        r = client.get(path)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", path
    r = client.post("/tracks")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_etag_and_304(served):
    client, store, _ = served
    r = client.get("/races/barber-r1/cars")
    etag = r.headers["etag"]
    assert etag == f'"{store.active()["data_version"]}"' and "max-age" in r.headers["cache-control"]
    r2 = client.get("/races/barber-r1/cars", headers={"If-None-Match": etag})
    assert r2.status_code == 304 and r2.headers["etag"] == etag and not r2.content
    assert client.get("/races/barber-r1/cars", headers={"If-None-Match": f'W/{etag}'}).status_code == 304
    assert client.get("/races/barber-r1/cars", headers={"If-None-Match": '"other"'}).status_code == 200
    big = client.get("/races/barber-r1/composite", headers={"Accept-Encoding": "gzip"})
    assert big.headers.get("content-encoding") == "gzip" and big.json()["race_id"] == "barber-r1"


def test_openapi_and_docs(served):
    client, _, _ = served
    spec = _ok(client, "/openapi.json")
    for path in ("/health", "/tracks", "/races/{track_id}", "/recommendations", "/races/{race_id}/cars",
                 "/races/{race_id}/composite", "/races/{race_id}/cars/{car}/laps", "/races/{race_id}/quality"):
        assert path in spec["paths"], path
    r = client.get("/docs")
    assert r.status_code == 200 and "swagger" in r.text.lower()


# ------------------------------------------------------------------ run changes, cursors, async safety

@pytest.fixture(params=BACKENDS)
def mini_store(request, tmp_path, mini_docs):
    url = new_store_url(request.param, tmp_path, request)
    store = open_store(url)
    publish_documents(store, "run-1", tagged(mini_docs[0], 1), mini_docs[1])
    yield url, store
    store.close()


def test_cache_follows_the_active_run(mini_store, mini_docs):
    url, store = mini_store
    with TestClient(create_app(url, pointer_ttl_s=0)) as client:
        r1 = client.get("/races/barber-r1/cars/7/laps")
        assert {x["generation"] for x in r1.json()["items"]} == {1}
        etag1 = r1.headers["etag"]
        first = client.get("/recommendations", params={"race_id": "barber-r1", "limit": 10})
        cursor = first.json()["next_cursor"]
        publish_documents(store, "run-2", tagged(mini_docs[0], 2), mini_docs[1])
        r2 = client.get("/races/barber-r1/cars/7/laps", headers={"If-None-Match": etag1})
        assert r2.status_code == 200 and r2.headers["etag"] != etag1
        assert {x["generation"] for x in r2.json()["items"]} == {2}
        assert client.get("/health").json()["active_run_id"] == "run-2"
        # a cursor keeps reading the run it started in while that run is kept
        nxt = client.get("/recommendations", params={"race_id": "barber-r1", "limit": 10, "cursor": cursor})
        assert nxt.status_code == 200 and nxt.json()["run_id"] == "run-1"
        assert {x["generation"] for x in nxt.json()["items"]} == {1}
        publish_documents(store, "run-3", tagged(mini_docs[0], 3), mini_docs[1])   # run-1 is pruned
        gone = client.get("/recommendations", params={"race_id": "barber-r1", "limit": 10, "cursor": cursor})
        assert gone.status_code == 410 and gone.json()["error"]["code"] == "stale_cursor"


def test_no_data_yet_is_503(tmp_path):
    with TestClient(create_app(f"sqlite:///{tmp_path / 'empty.db'}", pointer_ttl_s=0)) as client:
        h = client.get("/health")
        assert h.status_code == 200 and h.json()["status"] == "no_data"
        _err(client, "/tracks", 503, "no_data")


def test_unreachable_store_health_is_503(tmp_path):
    class Down(SqliteStore):
        def ping(self):
            from kaizenlap.store import StoreError
            raise StoreError("disk on fire")
    with TestClient(create_app(store=Down(tmp_path / "x.db"), pointer_ttl_s=0)) as client:
        h = client.get("/health")
        assert h.status_code == 503 and h.json()["status"] == "unavailable" and not h.json()["store"]["reachable"]


def test_store_io_does_not_block_the_event_loop(tmp_path, mini_docs):
    """Ten requests against a store whose every read takes 0.3 s are served together, not one by one: the
    store's reads overlap (counted, not timed: a loaded CI machine stretches any wall-clock bound)."""
    active, peak, lock = [0], [0], threading.Lock()

    def slow():
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.3)
        with lock:
            active[0] -= 1

    class Slow(SqliteStore):
        def query(self, *a, **k):
            slow()
            return super().query(*a, **k)

        def query_json(self, *a, **k):
            slow()
            return super().query_json(*a, **k)
    store = Slow(tmp_path / "slow.db")
    publish_documents(store, "run-1", mini_docs[0], mini_docs[1])
    import httpx
    app = create_app(store=store, pointer_ttl_s=60)

    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            await c.get("/health")
            peak[0] = 0
            # ten different valid queries (unknown parameters are 422 and never reach the store)
            return await asyncio.gather(*(c.get("/recommendations", params={"type": "pattern", "limit": i + 1})
                                          for i in range(10)))
    rs = asyncio.run(go())
    assert all(r.status_code == 200 for r in rs)
    assert peak[0] >= 5, peak[0]          # a store read on the event loop would keep this at 1


# ------------------------------------------------------------------ static web build and traversal

TRAVERSALS = ["/..%2f..%2fetc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/%252e%252e/%252e%252e/etc/passwd",
              "/..%252f..%252fetc%252fpasswd", "/../../etc/passwd", "/static/../../../etc/passwd",
              "/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/..\\..\\etc\\passwd", "/.%2e/.%2e/etc/passwd",
              "/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd", "/index.html/../../../etc/passwd", "//etc/passwd",
              "/..%00/etc/passwd"]


def _asgi_get(app, raw_path: str):
    """Send a path exactly as a server would hand it to the app (decoded once, raw kept)."""
    from urllib.parse import unquote
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": unquote(raw_path), "raw_path": raw_path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"t")], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    out = {"status": None, "body": b"", "asked": 0}

    async def main():
        done = asyncio.Event()

        async def receive():
            out["asked"] += 1
            if out["asked"] == 1:
                return {"type": "http.request", "body": b"", "more_body": False}
            await done.wait()                   # the client goes away once the response is complete
            return {"type": "http.disconnect"}

        async def send(msg):
            if msg["type"] == "http.response.start":
                out["status"] = msg["status"]
            elif msg["type"] == "http.response.body":
                out["body"] += msg.get("body", b"")
                if not msg.get("more_body"):
                    done.set()
        await asyncio.wait_for(app(scope, receive, send), 30)
    asyncio.run(main())
    return out["status"], out["body"]


@pytest.fixture
def web_app(tmp_path, mini_docs):
    web = tmp_path / "web"
    (web / "assets").mkdir(parents=True)
    (web / "index.html").write_text("<html>KaizenLap app</html>")
    (web / "assets" / "app.js").write_text("console.log('hi')")
    (web / ".secret").write_text("hidden")
    (tmp_path / "outside.txt").write_text("SECRET-OUTSIDE")
    (web / "link.txt").symlink_to(tmp_path / "outside.txt")
    store = SqliteStore(tmp_path / "s.db")
    publish_documents(store, "run-1", mini_docs[0], mini_docs[1])
    return create_app(store=store, web_dir=web, pointer_ttl_s=0)


def test_static_web_root(web_app):
    with TestClient(web_app) as client:
        r = client.get("/")
        assert r.status_code == 200 and "KaizenLap app" in r.text
        assert client.get("/assets/app.js").text == "console.log('hi')"
        assert "KaizenLap app" in client.get("/some/client/route").text     # client-side routing
        assert client.get("/assets/missing.js").status_code == 404
        assert client.get("/.secret").status_code == 404
        assert client.get("/link.txt").status_code == 404                   # symlink out of the root
        assert client.get("/tracks").json()["items"]                         # API not shadowed


def test_default_placeholder_index():
    app = create_app(store_url="sqlite:///unused.db")
    status, body = _asgi_get(app, "/")
    assert status == 200 and b"KaizenLap" in body


@pytest.mark.parametrize("raw", TRAVERSALS)
def test_path_traversal_refused(web_app, raw):
    status, body = _asgi_get(web_app, raw)
    assert status in (400, 404), (raw, status)
    assert b"root:" not in body and b"SECRET-OUTSIDE" not in body


# ------------------------------------------------------------------ schemathesis

def test_schemathesis(tmp_path, mini_docs):
    """Every operation of /openapi.json, bounded examples each, in process (schemathesis' Python API):
    no server error, responses conform to the schema, status codes documented."""
    from hypothesis import given
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance
    limits = params.load("serve")["limits"]
    store = SqliteStore(tmp_path / "s.db")
    publish_documents(store, "run-1", mini_docs[0], mini_docs[1])
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(store=store, pointer_ttl_s=0))
    failures, ran = [], 0
    ops = [r.ok() for r in schema.get_all_operations()]
    for op, mode in [(op, mode) for op in ops for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]:
        @given(case=op.as_strategy(generation_mode=mode))
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        def check(case):
            if mode == GenerationMode.NEGATIVE:
                response = case.call()
                if response.status_code == 414:
                    # The hardening's path and query limits (params/serve.yaml) reject an over-long URL before
                    # any parameter is read: a rejection schemathesis' list of codes does not count.
                    path, _, query = response.request.url.split("://", 1)[-1].partition("?")
                    assert len(query) > limits["max_query_bytes"] or \
                        len(path.partition("/")[2]) + 1 > limits["max_path_bytes"], response.request.url
                    case.validate_response(response, excluded_checks=[negative_data_rejection])
                    return
                case.validate_response(response)
                return
            if (case.query or {}).get("cursor") is not None:
                # An opaque cursor cannot be described by a schema: a made-up one is a 422 (or 410 for a
                # well-formed one whose run is gone), which the positive-data check cannot know.
                response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
                assert response.status_code in (200, 304, 410, 422), response.status_code
            else:
                case.call_and_validate()
        try:
            check()
        except Unsatisfiable:       # no parameter to make invalid (negative mode on /health, /tracks, ...)
            assert mode == GenerationMode.NEGATIVE, op.label
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{op.label} ({mode.value}): {exc}")
        ran += 1
    assert ran >= 2 * 14
    assert not failures, "\n\n".join(failures)


# ------------------------------------------------------------------ the serve command, over a real socket

def test_serve_command_over_http(tmp_path, mini_docs):
    from kaizenlap.store.emulator import free_port
    db = tmp_path / "s.db"
    publish_documents(SqliteStore(db), "run-1", mini_docs[0], mini_docs[1])
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_pipeline.py"), "serve", "--store", f"sqlite:///{db}",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/health")
                resp = conn.getresponse()
                assert resp.status == 200 and b'"run-1"' in resp.read()
                break
            except (ConnectionError, OSError):
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
                time.sleep(0.2)
        for raw in TRAVERSALS:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", raw)
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status in (400, 404), (raw, resp.status)
            assert b"root:" not in body
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/races/barber-r1/cars")
        resp = conn.getresponse()
        assert resp.status == 200 and len(json_load(resp.read())["items"]) == 3
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        proc.stderr.close()


def json_load(b: bytes):
    import json
    return json.loads(b)


def test_passed_through_documents_match_the_response_models(real_docs, mini_docs):
    """Laps and recommendations are served as stored JSON text, not re-validated per request: every
    document the builders make must already be what the response models say, unchanged by validation."""
    from pydantic import TypeAdapter

    from serve import models as M
    checks = {"laps": M.Lap, "ml_section_recommendations": M.Recommendation,
              "ml_weather_recommendations": M.Weather, "ml_pattern_recommendations": M.Recommendation,
              "coaching_insights": M.Coaching, "best_case_composites": M.Composite}
    for docs, _ in (real_docs, mini_docs):
        for coll, model in checks.items():
            adapter = TypeAdapter(model)
            assert docs[coll], coll
            for d in docs[coll]:
                validated = adapter.validate_python(d)
                again = json.loads(adapter.dump_json(validated, by_alias=True))
                assert _without_added_nulls(again, d) == d, (coll, d["id"])
                # every field a document carries, at every depth (a coaching fact, its generator), is declared
                # (typed in the OpenAPI schema), not passed through as an undeclared extra
                assert undeclared(validated) == set(), (coll, d["id"])


def _without_added_nulls(validated, original):
    """``validated`` less the optional fields a model added as null (absent from ``original``)."""
    if isinstance(validated, dict) and isinstance(original, dict):
        return {k: _without_added_nulls(v, original.get(k)) for k, v in validated.items()
                if k in original or v is not None}
    if isinstance(validated, list) and isinstance(original, list):
        return [_without_added_nulls(v, o) for v, o in zip(validated, original)]
    return validated


def test_envelope_is_valid_json():
    from serve.app import envelope
    body = envelope({"run_id": "r", "count": 2}, [("a", '{"id":"a","x":1.5}'), ("b", '{"id":"b","t":"é"}')],
                    {"next_cursor": None})
    assert json.loads(body) == {"run_id": "r", "count": 2, "items": [{"id": "a", "x": 1.5}, {"id": "b", "t": "é"}],
                                "next_cursor": None}
    assert json.loads(envelope({"run_id": "r"}, [])) == {"run_id": "r", "items": []}
