"""Telemetry in the pipeline (issue 22, items 1, 5, 6): discovery lists a race's telemetry file as a streamed role
(a CSV beside the timing files, a zip member, a member of a zip inside a zip), fingerprinted cheaply and never read
by the ingest nor held to the per-file limit of the timing files; a race without telemetry loads as before."""
from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from kaizenlap.ingest import loader, sources
from kaizenlap.ingest.files import SourceFile
from kaizenlap.ingest.loader import load
from kaizenlap.ingest.sources import classify, discover
from kaizenlap.sample import write_season
from kaizenlap.sample_telemetry import RACES
from test_store_support import firestore_emulator  # noqa: F401  (the client fixture's Firestore backend)


@pytest.fixture(scope="module")
def season(tmp_path_factory):
    out = tmp_path_factory.mktemp("season")
    truth = write_season(out, seed=2025)
    return out, truth


@pytest.mark.parametrize("name, role", [
    ("R1_barber_telemetry_data.csv", "telemetry"),
    ("r2_Road_America_TELEMETRY_DATA_sample.CSV", "telemetry"),
    ("R1_barber_telemetry_data_sample.csv", "telemetry"),
    ("telemetry notes.csv", None),
    ("R1_barber_telemetry_data.pdf", None),
    ("barber_telemetry.csv", None),
])
def test_the_role_comes_from_the_file_name(name, role):
    assert classify(SourceFile(Path("/data/barber") / name)) == role
    assert classify(SourceFile(Path("/dl/barber.zip"), f"Barber/Race 1/{name}")) == role


def test_the_sample_season_lists_telemetry_where_it_is_and_nowhere_else(season):
    out, truth = season
    found, issues = discover([out])
    assert {rf.race_id for rf in found if "telemetry" in rf.files} == {f"{t}-r{n}" for t, n in RACES}
    assert len(found) == 14
    races, more = load([out], use_cache=False, race_ids=[f"{t}-r{n}" for t, n in RACES] + ["barber-r2"])
    issues += more
    have = {r.race_id: r.telemetry for r in races if r.telemetry}
    assert set(have) == {f"{t}-r{n}" for t, n in RACES}
    by_id = {r["race_id"]: r for r in truth["races"]}
    for rid, tel in have.items():
        assert tel["file"].endswith(by_id[rid]["telemetry"]["file"])
    # the VIR member is ~100 MB uncompressed, over the 64 MiB limit of a timing file: listed, not read
    vir = have["vir-r1"]
    assert vir["bytes"] > 64 << 20 and vir["fingerprint"].startswith("zip:")
    with zipfile.ZipFile(out / "virginia-international-raceway.zip") as zf:
        info = zf.getinfo("VIR/Race 1/R1_vir_telemetry_data.csv")
    assert vir["fingerprint"] == f"zip:{info.CRC:08x}:{info.file_size}"
    barber = have["barber-r1"]
    st = os.stat(out / "barber" / "R1_barber_telemetry_data.csv")
    assert barber["fingerprint"] == f"stat:{st.st_size}:{st.st_mtime_ns}"
    assert not [i for i in issues if i.code in ("over_limit", "unreadable_file")]
    for r in races:
        assert r.status == "loaded" and not [i for i in r.issues if i.code == "over_limit"]
        assert ("telemetry" in r.files) == (r.race_id in have)


def test_the_ingest_never_reads_the_telemetry_file(season, monkeypatch):
    out, _ = season
    found, _ = discover([out])

    def refuse(self, budget=None):
        if classify(self) == "telemetry":
            raise AssertionError(f"telemetry read whole: {self.display}")
        return real(self, budget)
    real = SourceFile.read_bytes
    monkeypatch.setattr(SourceFile, "read_bytes", refuse)
    for rf in found:
        if rf.race_id in ("barber-r1", "vir-r1"):
            race = loader._parse_and_cache(rf, None)
            assert race.telemetry and race.status == "loaded"
            loader._race_key(rf)


def _zip(entries: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_a_member_of_a_zip_inside_a_zip(season, tmp_path, monkeypatch):
    out, _ = season
    tel = (out / "barber" / "R1_barber_telemetry_data.csv").read_bytes()[:300_000]
    timing = {p.name: p.read_bytes() for p in (out / "barber").iterdir()
              if ("Race 1" in p.name or p.name.startswith("R1_")) and "telemetry" not in p.name}
    inner = _zip({**{f"Race 1/{k}": v for k, v in timing.items()}, "Race 1/R1_barber_telemetry_data.csv": tel})
    (tmp_path / "barber.zip").write_bytes(_zip({"barber-inner.zip": inner}, zipfile.ZIP_STORED))
    races, _ = load([tmp_path / "barber.zip"], use_cache=False)
    (race,) = races
    assert race.status == "loaded" and race.telemetry["location"].endswith(
        "barber.zip!barber-inner.zip!Race 1/R1_barber_telemetry_data.csv")
    assert race.telemetry["bytes"] == len(tel)
    # an inner zip over the per-file limit: its telemetry is still listed (streamed), the rest is over the limit
    lim = sources.limits()
    monkeypatch.setattr(sources, "limits", lambda: {**lim, "max_file_bytes": len(inner) // 2})
    monkeypatch.setattr("kaizenlap.ingest.files.limits", lambda: {**lim, "max_file_bytes": len(inner) // 2})
    found, issues = discover([tmp_path / "barber.zip"])
    assert [i.code for i in issues] == ["over_limit"]
    (rf,) = found
    assert list(rf.files) == ["telemetry"]
    assert rf.files["telemetry"][0].streamed_fingerprint()[1] == len(tel)


def test_a_telemetry_file_over_its_own_limit_is_a_ledger_entry(season, monkeypatch):
    out, _ = season
    real = loader.params.load

    def patched(name):
        doc = real(name)
        if name == "ingest":
            doc = {**doc, "telemetry": {**doc["telemetry"], "max_file_bytes": 1000}}
        return doc
    monkeypatch.setattr(loader.params, "load", patched)
    races, _ = load([out], use_cache=False, race_ids=["barber-r1"])
    (race,) = races
    assert race.telemetry is None and race.status == "loaded"
    (issue,) = [i for i in race.issues if i.code == "over_limit"]
    assert issue.file.endswith("R1_barber_telemetry_data.csv") and "telemetry.max_file_bytes" in issue.message


# ------------------------------------------------------------------------------ the task, the store and the API

RUN_RACES = ["barber-r1", "vir-r1", "sonoma-r1"]
# The engines run here (the sections engine's bootstrap and the coaching that reads it are left to
# tests/test_engines.py and the full run; tests/test_executors.py runs the telemetry notebook on every executor).
ENGINES = ["composite", "weather", "pattern", "telemetry"]


@pytest.fixture(scope="module")
def published(season):
    """The in-process run (the same analyse -> documents path as the notebooks) of a race with telemetry and one
    without."""
    from kaizenlap.tasks.inprocess import documents_for_races
    out, truth = season
    races, issues = load([out], race_ids=["vir-r1", "sonoma-r1"])
    docs, meta = documents_for_races(races, issues, engines=ENGINES)
    return docs, meta, {r["race_id"]: r for r in truth["races"]}


def test_telemetry_is_published_for_the_races_that_have_it_and_every_engine_runs_without(published):
    docs, meta, _ = published
    assert meta["failed_tasks"] == []
    assert {d["race_id"] for d in docs["telemetry"]} == {"vir-r1"}
    kinds = {d["type"] for d in docs["telemetry"]}
    assert kinds == {"telemetry_race", "telemetry_trace", "telemetry"}
    # the race without telemetry: the other engines' documents are there
    for coll in ("best_case_composites", "ml_weather_recommendations", "ml_pattern_recommendations"):
        assert any(d.get("race_id") == "sonoma-r1" for d in docs[coll]), coll


def test_the_task_is_planned_only_where_there_is_telemetry(season):
    from kaizenlap.tasks.plan import plan
    out, _ = season
    races, _ = load([out], race_ids=RUN_RACES)
    tasks = plan([out], races, RUN_RACES, None)
    keys = {t.key for t in tasks}
    assert {"barber-r1/telemetry", "vir-r1/telemetry"} <= keys and "sonoma-r1/telemetry" not in keys
    tel = next(t for t in tasks if t.key == "vir-r1/telemetry")
    assert set(tel.fingerprint_parts["inputs"]) == {"vir-r1"}
    assert {"ingest.telemetry", "engines.telemetry"} <= set(tel.fingerprint_parts["params"])
    assert "kaizenlap.engines.telemetry" in tel.fingerprint_parts["code"]
    # the file's fingerprint changes: only the telemetry task re-runs, and the coaching that reads it
    before = {t.key: t.fingerprint for t in tasks}
    vir = next(r for r in races if r.race_id == "vir-r1")
    vir.telemetry = {**vir.telemetry, "fingerprint": "zip:00000000:1"}
    after = {t.key: t.fingerprint for t in plan([out], races, RUN_RACES, None)}
    assert {k for k in before if before[k] != after[k]} == {"vir-r1/telemetry", "vir-r1/coaching"}


@pytest.fixture(scope="module", params=["sqlite", "firestore"])
def client(request, published, tmp_path_factory):
    from fastapi.testclient import TestClient
    from test_store_support import new_store_url
    from kaizenlap.store import open_store, publish_documents
    from serve.app import create_app
    docs, meta, truth = published
    url = new_store_url(request.param, tmp_path_factory.mktemp(request.param), request)
    store = open_store(url)
    publish_documents(store, "run-1", docs, meta)
    with TestClient(create_app(url, pointer_ttl_s=0)) as c:
        yield c, docs, truth
    store.close()


def test_every_get_route_declares_every_field_it_serves(client):
    """Every GET route's body is typed in the OpenAPI schema at every depth (the run record, races, cars, the
    telemetry document, coaching, ...), not passed through as undeclared extras (issue 17 item 6)."""
    from pydantic import TypeAdapter
    from model_support import fill, get_routes, undeclared
    from serve import models as M
    c, docs, _ = client
    car = next(d for d in docs["telemetry"] if d["type"] == "telemetry_race" and d["race_id"] == "vir-r1")["cars"][0]
    values = {"race_id": "vir-r1", "track_id": "vir", "car": car["car"], "section": "s1", "number": car["car"]}
    checked, extras = [], {}
    for path, route in get_routes(c.app.routes):
        if path.startswith("/live"):
            continue                                   # no live replay here: tests/test_live.py checks its field
        r = c.get(fill(path, values))
        if r.status_code == 404:
            continue
        assert r.status_code == 200, (path, r.text[:200])
        if more := undeclared(TypeAdapter(route.response_model).validate_python(r.json())):
            extras[path] = sorted(more)
        checked.append(path)
    assert extras == {}
    assert {"/runs", "/races", "/races/{race_id}/summary", "/races/{race_id}/telemetry",
            "/races/{race_id}/cars/{car}/telemetry", "/tracks"} <= set(checked), checked
    # a run with a failed task and a carried part, as the executors record them, is typed too
    run = {"run_id": "r2", "status": "complete", "parts": ["ingest"], "meta": {"races": ["vir-r1"]},
           "failed_tasks": [{"task": "vir-r1/coaching", "race_id": "vir-r1",
                             "error": {"ename": "CellTimeoutError", "evalue": "a cell ran past 120 s",
                                       "cell_index": 3, "exec_count": 3, "source": "doc = analyse(race)"}},
                            {"task": "coaching:vir-r1", "race_id": "vir-r1", "error": "ValueError: x",
                             "traceback": "Traceback ..."}],
           "carried": {"from_run": "r1", "parts": [], "counts": {},
                       "for_failed": [{"task": "vir-r1/coaching", "part": "vir-r1.coaching", "carried": True,
                                       "from_run": "r1", "counts": {"coaching_insights": 5}}]}}
    assert undeclared(TypeAdapter(M.Run).validate_python(run)) == set()


def _truth_medians(tel_truth: dict, car: str, i: int) -> tuple[float, float]:
    per = tel_truth["cars"][car]["per_lap"]
    return (float(np.median([p["corners"][i][0] for p in per if p["corners"][i][0] is not None])),
            float(np.median([p["corners"][i][1] for p in per])))


def test_race_telemetry_endpoint_equals_the_engine_and_the_truth(client):
    c, docs, truth = client
    r = c.get("/races/vir-r1/telemetry")
    assert r.status_code == 200, r.text[:300]
    body = r.json()
    summary = next(d for d in docs["telemetry"] if d["type"] == "telemetry_race" and d["race_id"] == "vir-r1")
    assert body["available"] and [x["corner"] for x in body["corners"]] == [x["corner"] for x in summary["corners"]]
    assert len(body["cars"]) == len(truth["vir-r1"]["telemetry"]["cars"]) == 5
    checked = 0
    for car in body["cars"]:
        eng = next(x for x in summary["cars"] if x["car"] == car["car"])
        for i, item in enumerate(car["corners"]):
            for k in ("brake_m", "min_kph", "exit_kph"):
                assert item[k] == eng["corners"][i][k]                       # the engine's numbers, unchanged
            assert item["min_kph"]["n"] >= 5 and item["min_kph"]["lo"] <= item["min_kph"]["value"] <= \
                item["min_kph"]["hi"]
            brake, vmin = _truth_medians(truth["vir-r1"]["telemetry"], car["car"], i)
            assert abs(item["min_kph"]["value"] - vmin) < 1.0
            if item["brake_m"]["value"] is not None:
                assert abs(item["brake_m"]["value"] - brake) < 5.0
                checked += 1
    assert checked > 20
    # the reconciliation with the official sector times is served: the 35 complete laps of the 5 cars checked,
    # none flagged (the generated laps are clean), S1-S3
    sc = body["section_check"]
    assert sc == summary["section_check"] and sc["n_laps"] == 35 and sc["n_flagged"] == 0, sc
    assert [x["sector"] for x in sc["sectors"]] == ["S1", "S2", "S3"] and all(x["n"] == 35 for x in sc["sectors"])
    assert body["reference_car"] == min(body["cars"], key=lambda x: x["reference"]["time_s"])["car"]
    assert len(r.content) < 200_000


def test_car_telemetry_against_the_fastest_car_equals_the_truth(client):
    c, _, truth = client
    tel = truth["vir-r1"]["telemetry"]["cars"]
    ref = c.get("/races/vir-r1/telemetry").json()["reference_car"]
    for car in [x for x in tel if x != ref][:2]:
        r = c.get(f"/races/vir-r1/cars/{car}/telemetry")
        assert r.status_code == 200, r.text[:300]
        body = r.json()
        assert body["reference_car"] == ref and body["step_m"] == 5.0
        n = len(body["distance_m"])
        assert n == len(body["delta_s"]) == len(body["channels"]["speed_kph"]) == \
            len(body["reference_channels"]["throttle_pct"])
        assert abs(body["distance_m"][1] - body["distance_m"][0] - 5.0) < 1e-9
        # the corners' parts add up to the lap difference, which is the timing's
        assert abs(sum(x["delta_s"] for x in body["corners"]) - body["lap_delta_s"]) < 0.001
        assert abs(body["lap_delta_s"] - (body["lap_time_s"] - body["reference_lap_time_s"])) < 0.003
        assert abs(body["delta_s"][-1] - body["lap_delta_s"]) < 0.002
        mine = {p["lap"]: p for p in tel[car]["per_lap"]}[body["lap"]]
        theirs = {p["lap"]: p for p in tel[ref]["per_lap"]}[body["reference_lap"]]
        for i, x in enumerate(body["corners"]):
            assert abs(x["delta_s"] - (mine["corners"][i][5] - theirs["corners"][i][5])) < 0.02
            assert abs(x["min_kph"] - mine["corners"][i][1]) < 1.0
            assert abs(x["ref_min_kph"] - theirs["corners"][i][1]) < 1.0
            if mine["corners"][i][0] is not None and x["brake_m"] is not None:
                assert abs(x["brake_m"] - mine["corners"][i][0]) < 5.0
        assert len(r.content) < 120_000                      # a phone's payload (1 point per 5 m)
    other = [x for x in tel if x != ref][0]
    body = c.get(f"/races/vir-r1/cars/{ref}/telemetry", params={"ref": other}).json()
    assert body["reference_car"] == other and body["lap_delta_s"] < 0


def _running_truth(per_lap: dict, lap, ref) -> np.ndarray:
    """The truth's running delta at the corners' segment ends: the generator's segment times (1 m profile)."""
    return np.cumsum([a[5] - b[5] for a, b in zip(per_lap[lap]["corners"], per_lap[ref]["corners"])])


def test_car_telemetry_against_its_own_best_equals_the_truth(client):
    """ref=own: the car's median clean lap (from the lap table's clean laps and timing lap times, computed here)
    against its best; the parts add up to the lap difference and match the generator's segment times; the delta
    trace ends at the lap difference and passes through the truth's running delta at every corner's segment end;
    any other complete lap (lap=N) too, from its 10 m trace."""
    c, docs, truth = client
    tel = truth["vir-r1"]["telemetry"]["cars"]
    corners = c.get("/races/vir-r1/telemetry").json()["corners"]
    ends = [x["segment_m"][1] for x in corners]
    checked = 0
    for car in tel:
        per = {p["lap"]: p for p in tel[car]["per_lap"]}
        clean = sorted((d["lap_time_s"], d["lap"]) for d in docs["laps"] if d["race_id"] == "vir-r1"
                       and str(d["car"]) == car and d["is_clean"] and d["lap"] in per)
        best, median = clean[0][1], clean[len(clean) // 2][1]
        r = c.get(f"/races/vir-r1/cars/{car}/telemetry", params={"ref": "own"})
        assert r.status_code == 200, r.text[:300]
        body = r.json()
        assert body["own_best"] and body["reference_car"] == car and body["lap_kind"] == "median"
        assert (body["lap"], body["reference_lap"]) == (median, best) and median != best
        assert body["typical"]["lap"] == median and body["typical"]["n"] == len(clean)
        assert {x["lap"]: x["role"] for x in body["laps"]}[median] == "median"
        assert c.get(f"/races/vir-r1/cars/{car}/telemetry", params={"ref": car}).json()["lap"] == median
        laps = [median] + [x for x in per if x not in (median, best)][:2]
        for lap in laps:
            b = body if lap == median else c.get(f"/races/vir-r1/cars/{car}/telemetry",
                                                 params={"ref": "own", "lap": str(lap)}).json()
            assert b["lap"] == lap and b["lap_kind"] == ("median" if lap == median else "chosen")
            want = per[lap]["lap_time_s"] - per[best]["lap_time_s"]
            assert abs(b["lap_delta_s"] - want) < 0.003, (car, lap, b["lap_delta_s"], want)
            assert abs(sum(x["delta_s"] for x in b["corners"]) - b["lap_delta_s"]) < 0.001
            assert abs(b["delta_s"][-1] - b["lap_delta_s"]) < 0.002
            run = _running_truth(per, lap, best)
            for i, x in enumerate(b["corners"]):
                assert abs(x["delta_s"] - (per[lap]["corners"][i][5] - per[best]["corners"][i][5])) < 0.02
                assert abs(x["min_kph"] - per[lap]["corners"][i][1]) < 1.0
                assert abs(x["ref_min_kph"] - per[best]["corners"][i][1]) < 1.0
                k = int(np.argmin(np.abs(np.asarray(b["distance_m"]) - ends[i])))
                assert abs(b["delta_s"][k] - run[i]) < 0.02, (car, lap, x["corner"], b["delta_s"][k], run[i])
            has = b["channels"]["speed_kph"] is not None
            assert has == (lap == median) and b["reference_channels"]["speed_kph"] is not None
            assert b["delta_step_m"] == (5.0 if lap == median else 10.0)
            checked += 1
        assert len(r.content) < 150_000
    assert checked >= 12
    r = c.get("/races/vir-r1/cars/72/telemetry", params={"ref": "own", "lap": "99"})
    assert r.status_code == 404 and "no complete lap 99" in r.json()["error"]["message"]
    assert c.get("/races/vir-r1/cars/72/telemetry", params={"lap": "x1"}).status_code == 422


def test_a_race_without_telemetry_answers_a_clear_404(client):
    c, _, _ = client
    for path in ("/races/sonoma-r1/telemetry", "/races/sonoma-r1/cars/2/telemetry"):
        r = c.get(path)
        assert r.status_code == 404
        assert "no telemetry for this race" in r.json()["error"]["message"]
    r = c.get("/races/nowhere-r1/telemetry")
    assert r.status_code == 404 and "race 'nowhere-r1' not found" in r.json()["error"]["message"]
    r = c.get("/races/vir-r1/cars/999/telemetry")
    assert r.status_code == 404 and "no telemetry for car 999" in r.json()["error"]["message"]
    assert c.get("/races/vir-r1/telemetry", params={"ref": "2"}).status_code == 422     # not a parameter here


def test_a_malformed_telemetry_row_is_a_ledger_entry_naming_file_and_line(season, tmp_path):
    import shutil
    from kaizenlap.tasks.inprocess import documents_for_races
    out, _ = season
    shutil.copytree(out / "barber", tmp_path / "barber")
    path = tmp_path / "barber" / "R1_barber_telemetry_data.csv"
    lines = path.read_bytes().split(b"\n")
    fields = lines[500].split(b",")
    fields[9] = b"abc"                                    # telemetry_value
    lines[500] = b",".join(fields)                        # file line 501 (the header is line 1)
    path.write_bytes(b"\n".join(lines))
    races, _ = load([tmp_path], use_cache=False, race_ids=["barber-r1"])
    docs, meta = documents_for_races(races, engines=["telemetry"])
    assert meta["failed_tasks"] == []
    summary = next(d for d in docs["telemetry"] if d["type"] == "telemetry_race")
    (bad,) = [i for i in summary["issues"] if i["code"] == "telemetry_bad_value"]
    assert bad["line"] == 501 and bad["file"].endswith("barber/R1_barber_telemetry_data.csv")
    assert summary["available"] and all(c["reference"] for c in summary["cars"])     # the rest goes on


# ------------------------------------------------------------------------------ coaching facts

@pytest.fixture(scope="module")
def vir_doc(season):
    from kaizenlap.tasks.inprocess import execute
    out, truth = season
    races, _ = load([out], race_ids=["vir-r1"])
    _, documents = execute(races, ["telemetry"])
    return documents["vir-r1/telemetry"], {r["race_id"]: r for r in truth["races"]}["vir-r1"]["telemetry"]


def test_coaching_facts_are_the_engines_numbers_and_the_truths(vir_doc):
    import re
    from kaizenlap.coaching import telemetry_facts as tf
    from kaizenlap.coaching.brief import brief_for_car
    doc, truth = vir_doc
    ref = tf.reference_car(doc)
    assert ref["car"] == min(truth["cars"], key=lambda c: min(p["lap_time_s"] for p in truth["cars"][c]["per_lap"]))
    names = [x["corner"] for x in doc["corners"]]
    claimed = 0
    for car in doc["cars"]:
        facts = tf.facts_for_car(doc, car["car"])
        if car["car"] == ref["car"]:
            assert [f["fact_id"] for f in facts] == ["telemetry.none"] and facts[0]["missing"]
            continue
        t = tf.corner_tests(doc, car["car"])
        assert all(r["q"] >= r["p"] for r in t["corners"])
        for f in facts:
            if f.get("missing"):
                continue
            claimed += 1
            corner = f["fact_id"].split(".")[1]
            i = names.index(corner)
            # traceable: recomputed from the engine's per-lap segment times
            seg = [lap["corners"][i]["segment_s"] for lap in car["laps"] if lap["is_clean"]]
            ref_seg = [lap["corners"][i]["segment_s"] for lap in ref["laps"] if lap["is_clean"]]
            assert f["value"] == pytest.approx(np.median(np.array(seg) - np.median(ref_seg)), abs=1e-12)
            assert f["n"] == len(seg) >= 5 and f["lo"] <= f["value"] <= f["hi"] and f["lo"] > -1
            # and the truth: the same statistic on the generator's segment times
            t_car = [p["corners"][i][5] for p in truth["cars"][car["car"]]["per_lap"]
                     if p["lap"] in {lap["lap"] for lap in car["laps"] if lap["is_clean"]}]
            t_ref = [p["corners"][i][5] for p in truth["cars"][ref["car"]]["per_lap"]
                     if p["lap"] in {lap["lap"] for lap in ref["laps"] if lap["is_clean"]}]
            assert abs(f["value"] - float(np.median(np.array(t_car) - np.median(t_ref)))) < 0.02
            # the words: the brake difference is the engine's medians', the corner its name, n and interval shown
            b = next(x for x in car["corners"] if x["corner"] == corner)["brake_m"]["value"]
            rb = next(x for x in ref["corners"] if x["corner"] == corner)["brake_m"]["value"]
            m = re.search(r"brakes (\d+) m (earlier|later) than Car (\S+) into (\S+)", f["text"])
            if m:
                assert int(m[1]) == round(abs(b - rb)) and (m[2] == "earlier") == (b < rb)
                assert m[3] == ref["car"] and m[4] == corner
            assert f"n={len(seg)}" in f["text"] and "95% CI" in f["text"]
        # the hook: the brief carries them
        brief = brief_for_car(car["car"], {"telemetry": doc})
        assert [x.fact_id for x in brief.facts if x.source == "telemetry"] == [f["fact_id"] for f in facts]
    assert claimed >= 4


def test_coaching_facts_under_no_difference_claim_nothing(vir_doc):
    """A placebo: a car whose laps are the reference car's own (shifted by nothing) has no corner claimed."""
    import copy
    from kaizenlap.coaching import telemetry_facts as tf
    doc, _ = vir_doc
    doc = copy.deepcopy(doc)
    ref = tf.reference_car(doc)
    twin = copy.deepcopy(ref)
    twin["car"], twin["vehicle_id"] = "999", "GR86-999-999"
    twin["reference"] = {**twin["reference"], "time_s": twin["reference"]["time_s"] + 1}
    doc["cars"].append(twin)
    facts = tf.facts_for_car(doc, "999")
    assert [f["fact_id"] for f in facts] == ["telemetry.no_corner"]
    assert tf.facts_for_car(None, "5") == []


def test_the_validator_reads_the_metres_and_km_h_of_real_telemetry_facts(vir_doc):
    """The validator reads back each claimed telemetry fact's metres and km/h (telemetry_facts.quantities) as the
    engine's medians; an answer quoting the fact passes, the same answer with the brake difference 11 m off, the
    minimum speed 6 km/h off or the brake point the wrong way round is refused."""
    from kaizenlap.coaching import telemetry_facts as tf
    from kaizenlap.coaching.brief import brief_for_car
    from kaizenlap.coaching.validate import validate
    doc, _ = vir_doc
    ref = tf.reference_car(doc)
    checked = 0
    for car in doc["cars"]:
        if car["car"] == ref["car"]:
            continue
        brief = brief_for_car(car["car"], {"telemetry": doc})
        # what the whole race's documents give the brief (composite, sections, the track's params): its cars, the
        # reference among them, and the track's corners
        brief.cars = sorted({*brief.cars, *(str(c["car"]) for c in doc["cars"])})
        brief.corners = [x["corner"] for x in doc["corners"]]
        for f in [x for x in brief.facts if x.source == "telemetry" and not x.missing]:
            q = tf.quantities(f.fact_id, f.text)
            mine = next(x for x in car["corners"] if x["corner"] == q["corner"])
            theirs = next(x for x in ref["corners"] if x["corner"] == q["corner"])
            assert q["min_kph"] == round(mine["min_kph"]["value"]) and q["ref_min_kph"] == round(
                theirs["min_kph"]["value"])
            if q.get("brake_dir"):
                d = mine["brake_m"]["value"] - theirs["brake_m"]["value"]
                assert q["brake_m"] == round(abs(d)) and q["brake_dir"] == ("earlier" if d < 0 else "later")
            assert q["reference"] == ref["car"]

            def answer(text):
                return {"headline": f"Car {car['car']}: time lost at {q['corner']} under braking",
                        "hypotheses": [{"text": "This likely comes from: " + text, "supported_by": [f.fact_id]}],
                        "actions": []}
            assert validate(answer(f.text), brief).ok, validate(answer(f.text), brief).errors
            wrong = f.text.replace(f"minimum {q['min_kph']:.0f} km/h", f"minimum {q['min_kph'] + 6:.0f} km/h")
            assert not validate(answer(wrong), brief).ok
            if q.get("brake_dir") and q["brake_m"] >= 1:
                far = f.text.replace(f"brakes {q['brake_m']:.0f} m", f"brakes {q['brake_m'] + 11:.0f} m")
                flip = f.text.replace(f"m {q['brake_dir']} than", "m " + ("later" if q["brake_dir"] == "earlier"
                                                                            else "earlier") + " than")
                for bad in (far, flip):
                    errs = validate(answer(bad), brief).errors
                    assert errs and any(("wrong way" in e or "not a cited fact" in e) for e in errs), errs
            checked += 1
    assert checked >= 4
