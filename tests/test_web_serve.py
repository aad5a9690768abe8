"""The web side of `serve`: the typed client's schema matches the live /openapi.json, the bundle's hashed
assets are long-cached while index.html is not, deep links fall back to the app, the executed reports are
served read-only without escaping their folder, and /docs needs nothing beyond 127.0.0.1."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from test_store_support import ROOT  # noqa: F401  (puts the project root on sys.path)
from serve.app import create_app

WEB = Path(__file__).resolve().parents[1] / "web"


def _app(tmp_path, **kw):
    return TestClient(create_app(f"sqlite:///{tmp_path / 'none.db'}", **kw))


def test_committed_openapi_is_the_live_schema(tmp_path):
    live = _app(tmp_path).get("/openapi.json").json()
    committed = json.loads((WEB / "openapi.json").read_text(encoding="utf-8"))
    assert committed == live, "regenerate web/openapi.json (see web/README.md) and rebuild the web app"
    # the generated TypeScript types (npm run gen:api) cover every schema and every property
    ts = (WEB / "src" / "api" / "schema.d.ts").read_text(encoding="utf-8")
    for name, schema in live["components"]["schemas"].items():
        block = re.search(rf"\n        {re.escape(name)}: \{{(.*?)\n        \}};", ts, re.S)
        assert block, f"{name} missing from schema.d.ts"
        for prop in schema.get("properties", {}):
            key = prop if re.fullmatch(r"[A-Za-z_$][\w$]*", prop) else f'"{prop}"'
            assert re.search(rf"\n            {re.escape(key)}\??:", block.group(1)), f"{name}.{prop} not in schema.d.ts"


@pytest.fixture
def site(tmp_path):
    web = tmp_path / "dist"
    (web / "assets").mkdir(parents=True)
    (web / "index.html").write_text("<!doctype html><div id=root></div>")
    (web / "assets" / "index-DS9ALhGY.js").write_text("console.log(1)")
    (web / "assets" / "big-AAAAAAAA.js").write_text("const x = 1;\n" * 2000)
    (web / "favicon.txt").write_text("x")
    reports = tmp_path / "reports"
    (reports / "run-1" / "barber-r1").mkdir(parents=True)
    (reports / "run-1" / "barber-r1" / "sections.html").write_text("<h1>sections</h1>")
    (reports / "run-1" / "barber-r1" / "sections.json").write_text("{}")
    (tmp_path / "secret.txt").write_text("secret")
    import os
    os.environ["KAIZENLAP_REPORTS"] = str(reports)
    try:
        yield _app(tmp_path, web_dir=web)
    finally:
        del os.environ["KAIZENLAP_REPORTS"]


def test_bundle_caching_and_deep_links(site):
    r = site.get("/assets/index-DS9ALhGY.js")
    assert r.status_code == 200 and "immutable" in r.headers["cache-control"] and "max-age=31536000" in \
        r.headers["cache-control"]
    for path in ("/", "/race/barber-r1", "/race/barber-r1?car=11&mode=weather", "/track/barber"):
        r = site.get(path)
        assert r.status_code == 200 and "id=root" in r.text and r.headers["cache-control"] == "no-cache", path
    assert site.get("/favicon.txt").headers["cache-control"] == "no-cache"
    assert site.get("/assets/missing-AAAAAAAA.js").status_code == 404      # a missing asset is not the app
    assert site.get("/races/nowhere/summary").headers["content-type"].startswith("application/json")


def test_bundle_gzipped_where_accepted(site):
    import gzip
    raw = ("const x = 1;\n" * 2000).encode()
    r = site.get("/assets/big-AAAAAAAA.js", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip" and r.content == raw   # httpx decodes
    assert int(r.headers["content-length"]) == len(gzip.compress(raw, 6, mtime=0)) < len(raw) // 10
    assert r.headers["content-type"].startswith("text/javascript") and r.headers["vary"] == "Accept-Encoding"
    assert "immutable" in r.headers["cache-control"]
    r = site.get("/assets/big-AAAAAAAA.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in r.headers and r.content == raw and int(r.headers["content-length"]) == len(raw)
    r = site.get("/assets/index-DS9ALhGY.js", headers={"Accept-Encoding": "gzip"})    # small: as it is
    assert "content-encoding" not in r.headers and r.text == "console.log(1)"
    h = site.head("/assets/big-AAAAAAAA.js", headers={"Accept-Encoding": "gzip"})
    assert h.status_code == 200 and h.content == b""


def test_reports_read_only_and_contained(site):
    idx = site.get("/reports/run-1/barber-r1/index.json").json()
    assert idx == {"items": [{"name": "sections", "href": "/reports/run-1/barber-r1/sections.html"}]}
    r = site.get("/reports/run-1/barber-r1/sections.html")
    assert r.status_code == 200 and "<h1>sections</h1>" in r.text and "sandbox" in r.headers["content-security-policy"]
    assert site.post("/reports/run-1/barber-r1/sections.html").status_code == 405
    for bad in ("/reports/../secret.txt", "/reports/%2e%2e/secret.txt", "/reports/run-1/..%2f..%2fsecret.txt",
                "/reports//etc/passwd", "/reports/run-1/barber-r1/.hidden", "/reports/run-1/barber-r1",
                "/reports/nope/index.json", "/reports/../index.json"):
        r = site.get(bad)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", bad


def test_docs_offline(site):
    html = site.get("/docs").text
    srcs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert srcs and all(s.startswith("/") and not s.startswith("//") for s in srcs), srcs   # nothing remote
    assert "<script>" not in html                                                      # no inline script
    for s in srcs:
        if s.startswith("/docs/"):
            r = site.get(s)
            assert r.status_code == 200 and len(r.content) > 10, s
    js = site.get("/docs/swagger-ui-bundle.js").text
    assert re.search(r'"5\.\d+\.\d+"', js), "Swagger UI 5 (OpenAPI 3.1) expected"
    assert site.get("/docs/../app.py").status_code == 404


def test_serve_finds_the_reports_of_run_reports_dir(tmp_path, monkeypatch):
    """`run --reports DIR` then `serve --reports DIR` (and `$KAIZENLAP_REPORTS`, the one setting both read):
    the race's reports are listed. Before, run wrote $KAIZENLAP_REPORTS and serve read $KAIZENLAP_REPORTS_DIR."""
    import subprocess
    import sys
    import minirace
    from fastapi.testclient import TestClient
    from kaizenlap import cli
    minirace.write_race(tmp_path / "data" / "barber", 1)
    reports = tmp_path / "elsewhere" / "reports"
    proc = subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), "run", "--data", str(tmp_path / "data"),
                           "--engines", "pattern", "--reports", str(reports), "--workers", "1"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_id = (reports / "latest").resolve().name
    seen = {}
    monkeypatch.setattr(cli.server, "run", lambda app, **kw: seen.update(app=app))
    monkeypatch.chdir(tmp_path)                            # not where the reports are
    assert cli.main(["serve", "--store", f"sqlite:///{tmp_path / 'store.db'}", "--reports", str(reports)]) == 0
    with TestClient(seen["app"]) as client:
        idx = client.get(f"/reports/{run_id}/barber-r1/index.json")
        assert idx.status_code == 200
        assert [i["name"] for i in idx.json()["items"]] == ["pattern"]
    monkeypatch.setenv("KAIZENLAP_REPORTS", str(reports))
    assert cli.main(["serve", "--store", f"sqlite:///{tmp_path / 'store.db'}"]) == 0
    with TestClient(seen["app"]) as client:
        assert client.get(f"/reports/{run_id}/barber-r1/index.json").status_code == 200


def test_the_web_client_reads_api_data_through_the_schema_types():
    """The web views use the types generated from the API's schema (web/src/api/schema.d.ts): no API document
    is cast to a hand-made shape (``as unknown as``, ``Record<string, unknown>``), which is what hid the
    coaching fields the response models did not declare. The JSON Patch helper (live/jsonPatch.ts) works on
    any JSON and is not API data."""
    casts = []
    for path in sorted((ROOT / "web" / "src").rglob("*.ts*")):
        if path.name.endswith((".test.ts", ".test.tsx", ".d.ts")) or path.name == "jsonPatch.ts":
            continue
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "as unknown as" in line or "Record<string, unknown>" in line or re.search(r"\bas Record<", line):
                casts.append(f"{path.relative_to(ROOT)}:{i}")
    assert casts == []
