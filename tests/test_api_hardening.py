"""Issue 9 item 7 and issue 13 item 5: the public service's limits, headers and cache policy."""
from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from test_store_support import mini_docs, mini_races  # noqa: F401

from kaizenlap.core import params
from kaizenlap.store import publish_documents
from kaizenlap.store.sqlite import SqliteStore
from serve.app import create_app, data_roots, relative_paths

CFG = params.load("serve")


@pytest.fixture
def app_store(tmp_path, mini_docs):
    web = tmp_path / "web"
    (web / "assets").mkdir(parents=True)
    (web / "index.html").write_text("<html>KaizenLap app</html>")
    (web / "assets" / "index-3f2a1b.js").write_text("console.log('hi')")
    store = SqliteStore(tmp_path / "s.db")
    docs, meta = mini_docs
    publish_documents(store, "run-1", docs, {**meta, "data": [str(tmp_path.parent)], "reports": "/srv/x/reports/run-1"})
    return create_app(store=store, web_dir=web, pointer_ttl_s=60), store


@pytest.fixture
def client(app_store):
    with TestClient(app_store[0]) as c:
        yield c


def test_unknown_or_repeated_query_parameters_are_422(client):
    for query in ("x=1", "limit=5&limit=6", "lmit=5", "race_id=barber-r1&race_id=barber-r2"):
        r = client.get(f"/recommendations?{query}")
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_parameter", query
    r = client.get("/tracks?cachebust=1")
    assert r.status_code == 422 and "accepts: none" in r.json()["error"]["message"]
    assert client.get("/recommendations?limit=5&type=pattern").status_code == 200


def test_cache_keyed_on_validated_parameters_and_key_bytes_counted(app_store, client):
    app, _ = app_store
    cache = app.state.ctx.cache
    assert client.get("/recommendations?type=pattern&limit=5").status_code == 200
    n = len(cache.data)
    assert client.get("/recommendations?limit=5&type=pattern").status_code == 200     # same request, other order
    assert len(cache.data) == n
    for i in range(50):                                                               # junk never makes an entry
        assert client.get(f"/recommendations?junk{i}={'x' * 1000}").status_code in (414, 422)
    assert len(cache.data) == n
    key, entry = next(iter(cache.data.items()))
    assert cache.size == sum(cache._cost(k, e) for k, e in cache.data.items())
    assert cache._cost(key, entry) > len(entry[0]) + len(entry[1] or b"")           # the key counts


def test_no_absolute_server_paths(client, tmp_path):
    for path in ("/runs", "/races/barber-r1/summary", "/races/barber-r1/quality", "/races"):
        text = client.get(path).text
        assert str(tmp_path) not in text and "/srv/x" not in text and "/tmp/" not in text, path
    summary = client.get("/races/barber-r1/summary").json()
    assert all(not f.startswith("/") for fs in summary["files"].values() for f in fs)
    assert summary["files"]["sections"][0].endswith("23_AnalysisEnduranceWithSections_Race 1_Anonymized.CSV")
    run = client.get("/runs").json()["items"][0]
    assert run["meta"]["reports"] == "run-1"


def test_relative_paths_helper():
    roots = data_roots(["/data/trd", "/zips/barber.zip"])
    doc = {"file": "/data/trd/barber/x.CSV", "z": "/zips/barber.zip!barber/y.CSV",
           "msg": "identical to /data/trd/a/b.CSV; one copy used", "other": "/home/me/secret/z.CSV", "n": 3}
    out = relative_paths(doc, roots)
    assert out == {"file": "barber/x.CSV", "z": "barber.zip!barber/y.CSV", "msg": "identical to a/b.CSV; one copy used",
                   "other": "z.CSV", "n": 3}


def test_security_headers_and_404_does_not_echo_the_path(client):
    r = client.get("/api/<script>alert(1)</script>")
    assert r.status_code == 404 and "script" not in r.text and "alert" not in r.text
    r = client.get("/races/barber-r1/nothing-here-xyz")
    assert r.status_code == 404 and "nothing-here-xyz" not in r.text
    for path in ("/tracks", "/", "/nope/../x", "/health"):
        h = client.get(path).headers
        assert h["x-content-type-options"] == "nosniff" and h["referrer-policy"] and h["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in h["content-security-policy"]
    csp = client.get("/").headers["content-security-policy"]
    assert "script-src 'self';" in csp and "style-src 'self' 'unsafe-inline'" in csp and "object-src 'none'" in csp


def test_cursor_naming_a_run_being_written(app_store, client):
    import base64
    _, store = app_store
    from kaizenlap.store import begin_run
    begin_run(store, "run-2", {})
    raw = json.dumps({"r": "run-2", "k": ["section", "weather", "pattern", "coaching"], "i": 0, "a": None}).encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    r = client.get(f"/recommendations?cursor={cursor}")
    assert r.status_code == 409 and "still being written" in r.json()["error"]["message"]
    raw = raw.replace(b"run-2", b"run-9")
    r = client.get(f"/recommendations?cursor={base64.urlsafe_b64encode(raw).decode().rstrip('=')}")
    assert r.status_code == 410 and "no longer stored" in r.json()["error"]["message"]


def test_read_only_and_request_limits(client):
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        r = client.request(method, "/tracks")
        assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD", method
        assert r.json()["error"]["code"] == "method_not_allowed"
    head = client.head("/tracks")
    assert head.status_code == 200 and head.content == b"" and head.headers["etag"]
    r = client.request("GET", "/tracks", content=b"x" * 10, headers={"content-type": "text/plain"})
    assert r.status_code == 413
    r = client.get("/recommendations?race_id=" + "a" * (CFG["limits"]["max_query_bytes"] + 1))
    assert r.status_code == 414
    r = client.get("/" + "a" * (CFG["limits"]["max_path_bytes"] + 1))
    assert r.status_code == 414


def test_cache_control_on_api_and_assets(client):
    assert "max-age" in client.get("/tracks").headers["cache-control"]
    assert client.get("/health").headers["cache-control"] == "no-store"
    assert client.get("/assets/index-3f2a1b.js").headers["cache-control"] == CFG["cache"]["assets"]
    assert "immutable" in CFG["cache"]["assets"]
    assert client.get("/").headers["cache-control"] == "no-cache"
    assert client.get("/some/client/route").headers["cache-control"] == "no-cache"
    assert client.get("/tracks/nowhere").headers["cache-control"] == "no-store"


def test_no_stack_trace_in_responses(app_store, monkeypatch):
    app, store = app_store

    def broken(*a, **k):
        raise RuntimeError("secret detail /etc/kaizenlap")
    monkeypatch.setattr(store, "query", broken)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/tracks")
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    assert "Traceback" not in r.text and "secret" not in r.text and "RuntimeError" not in r.text
