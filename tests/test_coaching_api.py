"""The coaching API: /races/{race_id}/cars/{car}/coaching and /recommendations?type=coaching, served from a
store where the coaching documents were published beside the engines' (sqlite; the store's own tests cover
both backends for every collection)."""
from __future__ import annotations

import pytest
from test_store_support import mini_docs, mini_races  # noqa: F401

from fastapi.testclient import TestClient

from kaizenlap.coaching import engine
from kaizenlap.tasks import inprocess
from kaizenlap.tasks import record as results
from kaizenlap.store import open_store, publish_documents
from serve.app import create_app


@pytest.fixture(scope="module")
def served(mini_races, mini_docs, tmp_path_factory):
    docs, meta = mini_docs
    docs = {k: list(v) for k, v in docs.items()}
    coached = {}
    expected = []
    for inp in inprocess.coaching_inputs(mini_races):
        doc = engine.analyse(inp.race_docs, inp.track_docs, inp.quality, synthesizer="deterministic", cache=None)
        coached[inp.race_id] = doc
        expected += engine.documents(doc)
    # documents_for_races (the registry's coaching entry) built the same documents as the engines run here
    assert [d["id"] for d in docs["coaching_insights"]] == [d["id"] for d in expected] and expected
    strip = lambda d: {k: v for k, v in d.items() if k != "generator"}   # noqa: E731
    assert [strip(d) for d in docs["coaching_insights"]] == [strip(d) for d in expected]
    url = f"sqlite:///{tmp_path_factory.mktemp('coaching-api') / 'store.db'}"
    store = open_store(url)
    publish_documents(store, "run-1", docs, meta)
    with TestClient(create_app(url, pointer_ttl_s=0)) as client:
        yield client, coached
    store.close()


def test_car_coaching(served):
    client, coached = served
    for race_id, doc in coached.items():
        for car in doc["cars"]:
            r = client.get(f"/races/{race_id}/cars/{car['car']}/coaching")
            assert r.status_code == 200, r.text[:300]
            body = r.json()
            assert body["type"] == "coaching" and body["race_id"] == race_id and body["car"] == car["car"]
            assert body["headline"] == car["headline"] == body["message"]
            assert body["facts"] == car["facts"] and body["hypotheses"] == car["hypotheses"]
            assert body["generator"]["kind"] == "deterministic" and "deterministic" in body["generator"]["label"]
            for f in body["facts"]:
                assert "n" in f and ("lo" in f and "hi" in f)
    race_id = next(iter(coached))
    assert client.get(f"/races/{race_id}/cars/nope/coaching").json()["error"]["code"] == "not_found"
    r = client.get("/races/nowhere-r9/cars/7/coaching")
    assert r.status_code == 404 and "race" in r.json()["error"]["message"]


def test_recommendations_of_type_coaching(served):
    client, coached = served
    n = sum(d["n_cars"] for d in coached.values())
    body = client.get("/recommendations", params={"type": "coaching", "limit": 500}).json()
    assert body["count"] == n and {i["type"] for i in body["items"]} == {"coaching"}
    race_id = next(iter(coached))
    car = coached[race_id]["cars"][0]["car"]
    one = client.get("/recommendations", params={"type": "coaching", "race_id": race_id, "car": car}).json()
    assert [i["id"] for i in one["items"]] == [f"{race_id}~{car}~coaching"]


def test_openapi_documents_the_route(served):
    client, _ = served
    spec = client.get("/openapi.json").json()
    assert "/races/{race_id}/cars/{car}/coaching" in spec["paths"]
    assert "Coaching" in spec["components"]["schemas"]


def test_store_document_writes_the_tasks_part(served, tmp_path):
    """What the notebook does: its documents as part ``{race_id}.coaching`` of a run the owner began."""
    from kaizenlap.store import begin_run, finish_run

    _, coached = served
    race_id, doc = next(iter(coached.items()))
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with open_store(url) as store:
        begin_run(store, "run-c")
    record = results.store_document(doc, url, "run-c", f"{race_id}.coaching", meta={"engine": "coaching"})
    assert record["counts"] == {"coaching_insights": doc["n_cars"]}
    with open_store(url) as store:
        finish_run(store, "run-c", parts=[f"{race_id}.coaching"])
        got = store.query("run-c", "coaching_insights", {"race_id": race_id})
    assert sorted(d["car"] for d in got) == sorted(c["car"] for c in doc["cars"])
    with pytest.raises(ValueError):
        results.store_document(doc, url, None, "x")
