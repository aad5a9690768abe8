"""End to end: ``run_pipeline.py run`` over the two races of one track (sample season, else real barber)."""
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from test_store_support import BACKENDS, firestore_emulator, new_store_url  # noqa: F401

from kaizenlap import cli, pipeline
from kaizenlap.pipeline.manifest import MANIFEST
from kaizenlap.tasks import record as results
from kaizenlap.tasks.model import Task
from kaizenlap.engines import composite, pattern, sections, weather
from kaizenlap.ingest.loader import load_race_by_id

RACES = ["barber-r1", "barber-r2"]
ENGINES = ("composite", "sections", "weather", "pattern")


@pytest.fixture(scope="module")
def season(tmp_path_factory) -> Path:
    # The sample season is the test bed: if it cannot be written, that is a failure, not a reason to
    # switch silently to other data.
    from kaizenlap.sample import write_season
    out = tmp_path_factory.mktemp("season")
    write_season(out, seed=2025)
    assert (out / "barber").is_dir(), "the sample season has no barber folder"
    return out


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("reports")


@pytest.fixture(scope="module")
def first_run(season, reports):
    return pipeline.run([season], race_ids=RACES, workers=2, reports_dir=reports, progress=False)


def _run_json(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


def _by_key(result) -> dict:
    return {t.key: t for t in result.tasks}


def _statuses(run_dir: Path) -> dict:
    return {t["key"]: t["status"] for t in _run_json(run_dir)["tasks"]}


def test_first_run_writes_every_report(first_run, reports):
    assert first_run.exit_code == 0, [(t.key, t.error) for t in first_run.failed]
    run_dir = first_run.run_dir
    expected = {f"{r}/{e}" for r in RACES for e in (*ENGINES, "coaching")} | {"barber/weather_track",
                                                                              "barber/composite_track"}
    expected |= {"barber-r1/telemetry"}           # the race with a telemetry file (the sample's barber-r1)
    assert _statuses(run_dir) == {k: "ok" for k in expected}
    index = (run_dir / "index.html").read_text()
    for key in expected:
        target, name = key.split("/")
        for ext in ("ipynb", "html", "json"):
            f = run_dir / target / f"{name}.{ext}"
            assert f.is_file() and f.stat().st_size > 0, f
            assert f'href="{target}/{name}.{ext}"' in index
    # headlines reach the index; the executed notebook carries the injected parameters
    assert "composite 1:" in index and ("most common significant weakness" in index
                                        or "no single most common weakness" in index)
    nb = json.loads((run_dir / "barber-r1" / "composite.ipynb").read_text())
    assert any("injected-parameters" in c["metadata"].get("tags", []) for c in nb["cells"])
    # HTML hides code but keeps the figures
    html = (run_dir / "barber-r1" / "sections.html").read_text()
    assert "data:image/png;base64" in html and "nb.load_race(" not in html
    assert (reports / "latest").resolve() == run_dir.resolve()
    run = _run_json(run_dir)
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", run["run_id"]) and run["exit_code"] == 0
    manifest = json.loads((run_dir / MANIFEST).read_text())
    assert len(manifest["documents"]) == len(expected)


def test_documents_equal_direct_engine_calls(first_run, season):
    run_dir = first_run.run_dir
    races = {rid: load_race_by_id([season], rid) for rid in RACES}
    for rid, race in races.items():
        direct = {"composite": composite.analyse(race.laps, rid), "sections": sections.analyse(race.laps, rid),
                  "weather": weather.analyse_race(race.laps, race.weather, rid),
                  "pattern": pattern.analyse(race.laps, rid)}
        for engine, doc in direct.items():
            saved, meta = results.load_document(run_dir / rid / f"{engine}.json")
            assert saved == json.loads(json.dumps(doc)), f"{rid}/{engine}"
            assert meta["run_id"] == first_run.run_id and meta["race_id"] == rid
        # coaching read the run's engine and track documents (handed over as `inputs`), computed none itself
        saved, meta = results.load_document(run_dir / rid / "coaching.json")
        from kaizenlap.coaching import engine as coaching, inputs as coaching_inputs
        from kaizenlap.store.ingest_documents import quality_document
        docs = {f"{t}/{n}": results.load_document(run_dir / t / f"{n}.json")[0]
                for t, n in [(rid, e) for e in ENGINES] + [("barber", "weather_track"), ("barber", "composite_track")]}
        if (run_dir / rid / "telemetry.json").is_file():
            docs[f"{rid}/telemetry"] = results.load_document(run_dir / rid / "telemetry.json")[0]
        prev = coaching_inputs.previous_race(rid)          # race 2 reports whether race 1's finding held
        if prev and (run_dir / prev / "sections.json").is_file():
            docs[f"{prev}/sections"] = results.load_document(run_dir / prev / "sections.json")[0]
        inp = coaching_inputs.from_inputs(race, docs, quality_document(race))
        from kaizenlap.engines import persistence
        rows = persistence.check(inp.previous, inp.race_docs["sections"]) if inp.previous else None
        again = coaching.analyse(inp.race_docs, inp.track_docs, inp.quality, synthesizer="deterministic", cache=None,
                                 follow_ups=rows, previous_race_id=inp.previous_race_id)
        assert any(c.get("follow_up") for c in again["cars"]) == (prev is not None), rid
        assert [c["car"] for c in saved["cars"]] == [c["car"] for c in again["cars"]] and saved["n_cars"] > 0
        assert saved["cars"] == json.loads(json.dumps(again["cars"]))
        assert saved["generator"]["kind"] == "deterministic" and _run_json(run_dir)["llm"] == "deterministic"
        cells = json.loads((run_dir / rid / "coaching.ipynb").read_text())["cells"]
        shown = json.dumps([c.get("outputs", []) for c in cells])
        assert "Engine documents read from the run" in shown and "Computed here" not in shown
    track = weather.analyse_track([(r.laps, r.weather) for r in races.values()], "barber")
    saved, meta = results.load_document(run_dir / "barber" / "weather_track.json")
    assert saved == json.loads(json.dumps(track)) and meta["scope"] == "track"
    pooled = composite.analyse(pd.concat([r.laps for r in races.values()], ignore_index=True), "barber", scope="track")
    saved, meta = results.load_document(run_dir / "barber" / "composite_track.json")
    assert saved == json.loads(json.dumps(pooled)) and meta["scope"] == "track" and saved["races"] == RACES
    # the weekend's ceiling is no slower than either race's
    best = {f["section_set"]: f["total_s"] for f in saved["field"] if f["class"] == "all"}
    for rid in RACES:
        race_doc, _ = results.load_document(run_dir / rid / "composite.json")
        for f in race_doc["field"]:
            if f["class"] == "all" and f.get("available"):
                assert best[f["section_set"]] <= f["total_s"] + 1e-9, (rid, f["section_set"])


def test_second_run_reuses_everything(first_run, season, reports, capsys):
    code = cli.main(["run", "--data", str(season), "--races", *RACES, "--reports", str(reports)])
    assert code == 0
    run_dir = reports / "latest"
    assert run_dir.resolve() != first_run.run_dir.resolve()
    assert set(_statuses(run_dir).values()) == {"reused"}
    for t in _run_json(run_dir)["tasks"]:
        assert t["reused_from"] == first_run.run_id
        for name in t["files"].values():
            assert (run_dir / t["target"] / name).is_file()
    assert "reused" in (run_dir / "index.html").read_text()
    assert "13 reused, 0 failed" in capsys.readouterr().out
    # --llm is parsed by the setting's one parser before anything runs
    assert cli.main(["run", "--data", str(season), "--reports", str(reports), "--llm", "gopher://x"]) == 2
    assert "--llm: KAIZENLAP_LLM='gopher://x'" in capsys.readouterr().err


def test_force_reruns_and_a_failing_task_is_reported(first_run, season, reports, capsys):
    # Two tasks only (keeps the suite fast): one that --force must execute again, one that fails.
    code = cli.main(["run", "--data", str(season), "--races", "barber-r1", "nosuch-r9", "--reports", str(reports),
                     "--engines", "pattern", "--force", "--workers", "2", "--no-reports"])
    assert code == 1
    run_dir = (reports / "latest").resolve()
    run = _run_json(run_dir)
    st = {t["key"]: t for t in run["tasks"] if not t["carried"]}
    assert set(st) == {"barber-r1/pattern", "nosuch-r9/pattern"}
    # a subset run's folder keeps the other tasks of the run before it, linked and marked as carried
    assert run["carried_tasks"] == len(run["tasks"]) - 2 > 0
    assert st["barber-r1/pattern"]["status"] == "ok"                # --force: executed again, not reused
    assert st["barber-r1/pattern"]["fingerprint"] == _by_key(first_run)["barber-r1/pattern"].fingerprint
    assert not (run_dir / "barber-r1" / "pattern.html").exists()     # --no-reports
    assert (run_dir / "barber-r1" / "pattern.json").read_bytes() != b""
    bad = st["nosuch-r9/pattern"]
    assert bad["status"] == "failed"
    assert bad["error"]["ename"] == "KeyError" and "nosuch-r9" in bad["error"]["evalue"]
    assert isinstance(bad["error"]["exec_count"], int) and "load_race" in bad["error"]["source"]
    assert (run_dir / "nosuch-r9" / "pattern.ipynb").exists()     # the failed notebook is kept for reading
    assert run["exit_code"] == 1 and run["counts"] == {"ok": 1, "reused": 0, "failed": 1}
    out = capsys.readouterr().out
    assert "FAILED nosuch-r9/pattern: cell [" in out and "KeyError" in out
    assert "Failures" in (run_dir / "index.html").read_text()


def test_reuse_without_reports_skips_html(first_run, season, reports):
    # a run with --no-reports then one with reports: the HTML is exported from the reused notebook
    res = pipeline.run([season], race_ids=["barber-r2"], engines=["weather"], reports_dir=reports,
                       html=False, progress=False)
    assert [t.status for t in res.tasks] == ["reused"] and "html" not in res.tasks[0].files
    assert not (res.run_dir / "barber-r2" / "weather.html").exists()


def test_unknown_engine_is_a_usage_error(season, reports):
    with pytest.raises(ValueError, match="unknown engine"):
        pipeline.run([season], engines=["nope"], reports_dir=reports, progress=False)


def test_kernel_is_this_python():
    import sys
    kdir = pipeline.ensure_kernel()
    spec = json.loads((kdir / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable
    from jupyter_client.kernelspec import KernelSpecManager
    assert KernelSpecManager().get_kernel_spec("python3").argv[0] == sys.executable


@pytest.mark.parametrize("backend", BACKENDS)
def test_notebooks_write_to_store_and_run_publishes_with_failed_tasks(first_run, season, reports, tmp_path, backend,
                                                                      request):
    from kaizenlap.core.ids import weather_track_id
    from kaizenlap.store import data_version, open_store
    url = new_store_url(backend, tmp_path, request)
    code = cli.main(["run", "--data", str(season), "--races", "barber-r1", "nosuch-r9", "--reports", str(reports),
                     "--engines", "pattern", "weather_track", "--workers", "2", "--force", "--store", url])
    assert code == 1                                     # a task failed; the rest is still published
    run_dir = (reports / "latest").resolve()
    store = open_store(url)
    assert store.active()["run_id"] == run_dir.name
    run = store.get_run(run_dir.name)
    assert run["status"] == "complete"
    assert [t["task"] for t in run["failed_tasks"]] == ["nosuch-r9/pattern"]
    assert run["parts"] == ["barber-r1.pattern", "barber.weather_track", "ingest"]
    # Each notebook wrote its own documents under the run id, and its executed report says so.
    for target, name in (("barber-r1", "pattern"), ("barber", "weather_track")):
        nb = (run_dir / target / f"{name}.ipynb").read_text()
        assert f"as part `{target}.{name}`" in nb and f"under run `{run_dir.name}`" in nb, name
        page = (run_dir / target / f"{name}.html").read_text()
        assert f"Stored in <code>{url}</code>" in page and f"<code>{target}.{name}</code>" in page, name
    part = {p["part"]: p for p in store.list_parts(run_dir.name)}["barber-r1.pattern"]
    doc, _ = results.load_document(run_dir / "barber-r1" / "pattern.json")
    served = store.query(run_dir.name, "ml_pattern_recommendations", {"race_id": "barber-r1"})
    assert served == sorted(pattern.documents(doc), key=lambda d: d["id"])
    assert part["counts"] == {"ml_pattern_recommendations": len(served)} and part["meta"]["engine"] == "pattern"
    track = store.get(run_dir.name, "ml_weather_recommendations", weather_track_id("barber-r1"))
    assert track["scope"] == "track" and track["track_id"] == "barber" and "n" in track
    assert [d["race_id"] for d in store.query(run_dir.name, "races")] == ["barber-r1"]
    manifest = json.loads((run_dir / MANIFEST).read_text())
    assert manifest["store"]["published"] is True and manifest["store"]["run_id"] == run_dir.name
    assert manifest["store"]["data_version"] == run["data_version"]
    assert "published as run" in (run_dir / "index.html").read_text()

    # Again, nothing changed: every task is reused, the pipeline writes their parts from the recorded
    # documents, and the new run has the same content (same data version) under a new run id.
    code = cli.main(["run", "--data", str(season), "--races", "barber-r1", "--reports", str(reports),
                     "--engines", "pattern", "weather_track", "--workers", "2", "--no-reports", "--store", url])
    assert code == 0
    again = (reports / "latest").resolve().name
    assert again != run_dir.name and store.active()["run_id"] == again
    rerun = store.get_run(again)
    assert rerun["data_version"] == run["data_version"] and rerun["failed_tasks"] == []
    assert {t["status"] for t in _run_json(reports / again)["tasks"]} == {"reused"}
    everything = {c: store.query(again, c) for c in rerun["counts"]}
    assert data_version(everything) == rerun["data_version"]


def test_unreachable_store_fails_the_run_but_keeps_the_reports(first_run, season, reports, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = cli.main(["run", "--data", str(season), "--races", "barber-r1", "--reports", str(reports),
                     "--engines", "pattern", "--no-reports", "--store", f"sqlite:///{blocker / 'store.db'}"])
    assert code == 1
    run = _run_json((reports / "latest").resolve())
    assert run["store"]["published"] is False and run["store"]["error"]
    assert [t["status"] for t in run["tasks"] if not t["carried"]] == ["reused"]       # the engines' work stands


def test_reused_races_start_their_track_task_once(first_run, season, reports, monkeypatch):
    # every race task reused: the track task is started once (it used to be started again afterwards)
    calls = []
    real = pipeline.reuse.reuse
    monkeypatch.setattr(pipeline.reuse, "reuse",
                        lambda task, *a, **k: (calls.append(task.key), real(task, *a, **k))[1])
    res = pipeline.run([season], race_ids=RACES, reports_dir=reports, html=False, progress=False)
    assert sorted(calls) == sorted(t.key for t in res.tasks) and len(calls) == 13      # 2 × (4 engines + coaching) + barber-r1 telemetry + 2 track tasks
    assert all(t.status == "reused" for t in res.tasks)


def test_store_run_fails_a_task_that_wrote_nothing_and_discards_failed_parts(season, tmp_path):
    """The owner's bookkeeping without notebooks: a reused task's part comes from its JSON, a failed task's
    part is deleted, and a task that says ok but left no part is turned into a failed task."""
    from kaizenlap.ingest.loader import load
    from kaizenlap.store import open_store, stage
    from kaizenlap.tasks.registry import engine_documents
    from kaizenlap.tasks.store_run import StoreRun
    url = f"sqlite:///{tmp_path / 'store.db'}"
    races, _ = load([season], race_ids=["barber-r1"])
    race = races[0]
    run_dir = tmp_path / "run"
    owner = StoreRun(url, "run-1")
    assert owner.begin(races, {"test": True})["counts"]["laps"] == len(race.laps)
    doc = pattern.analyse(race.laps, "barber-r1")
    results.save_document(doc, run_dir / "barber-r1", "pattern")
    comp = composite.analyse(race.laps, "barber-r1")
    store = open_store(url)
    stage(store, "run-1", "barber-r1.composite", engine_documents("composite", comp))   # then it "failed"

    def task(name, status, files=None):
        return Task(key=f"barber-r1/{name}", kind="race", target="barber-r1", name=name, engine=name,
                             notebook="", parameters={}, race_ids=["barber-r1"], status=status, files=files or {})
    reused = task("pattern", "reused", {"json": "pattern.json"})
    failed = task("composite", "failed")
    silent = task("sections", "ok", {"json": "sections.json"})
    for t in (reused, failed, silent):
        owner.task_done(t, run_dir)
    record = owner.finish([reused, failed, silent])
    assert record["published"] and record["failed_tasks"] == 2
    assert silent.status == "failed" and silent.error["ename"] == "MissingStoreDocuments"
    run = store.get_run("run-1")
    assert run["parts"] == ["barber-r1.pattern", "ingest"]
    assert sorted(t["task"] for t in run["failed_tasks"]) == ["barber-r1/composite", "barber-r1/sections"]
    assert store.count("run-1", "best_case_composites") == 0      # the failed task's documents are not served
    assert store.query("run-1", "ml_pattern_recommendations") == sorted(pattern.documents(doc),
                                                                        key=lambda d: d["id"])


def test_load_scope_gives_the_race_or_the_tracks_races(season):
    from kaizenlap.ingest.race_files import load_scope
    races, track_id, subject = load_scope(season, "race", "barber-r2")
    assert [r.race_id for r in races] == ["barber-r2"] and (track_id, subject) == ("barber", "barber-r2")
    races, track_id, subject = load_scope(season, "track", "barber-r2")      # the track of the race given
    assert [r.race_id for r in races] == RACES and (track_id, subject) == ("barber", "barber")
    races, _, _ = load_scope(season, "track", "barber-r1", "barber", ["barber-r2"])
    assert [r.race_id for r in races] == ["barber-r2"]
    with pytest.raises(ValueError, match="scope"):
        load_scope(season, "season", "barber-r1")
