"""The engine registry: every task kind's dispatch reads it, and a new task kind that reads other tasks'
documents is one entry (plus its notebook)."""
import pytest

import minirace
from kaizenlap import cli
from kaizenlap.tasks import plan as planner
from kaizenlap.tasks import record as results
from kaizenlap.tasks import registry as reg
from kaizenlap.tasks import inprocess


def test_every_consumer_reads_the_registry():
    names = list(reg.registry())
    assert names == ["composite", "sections", "weather", "pattern", "telemetry", "weather_track", "composite_track",
                     "coaching"]
    assert reg.task_names() == tuple(names)
    assert {n: s.engine for n, s in reg.registry().items() if s.scope == reg.TRACK} == \
        {"weather_track": "weather", "composite_track": "composite"}
    run = next(a for a in cli.build_parser()._subparsers._group_actions[0].choices["run"]._actions
               if a.dest == "engines")
    assert list(run.choices) == names
    with pytest.raises(ValueError, match="unknown engine"):
        reg.engine_documents("nope", {})
    assert results.headline({"engine": "nope"}) == {"text": ""}


@pytest.fixture
def synthesis(monkeypatch):
    """A per-race task kind reading its race's sections and pattern documents and its track's weather model."""
    def analyse(races, subject, inputs):
        return {"engine": "coaching", "race_id": subject, "scope": "race", "inputs": sorted(inputs),
                "cars": len(inputs[f"{subject}/pattern"]["cars"])}
    spec = reg.EngineSpec("coaching", "coaching", "pattern_detection.ipynb", reg.RACE, analyse,
                          lambda d: {"text": f"{d['cars']} cars"},
                          lambda d: [{"id": d["race_id"], "race_id": d["race_id"], "cars": d["cars"]}],
                          "coaching_insights", after=("sections", "pattern", "weather_track"))
    table = dict(reg.registry())
    table["coaching"] = spec
    monkeypatch.setattr(reg, "_REGISTRY", table)
    return spec


def test_a_dependent_task_kind_is_one_entry(synthesis, tmp_path):
    minirace.write_race(tmp_path / "barber", 1)
    minirace.write_race(tmp_path / "barber", 2)
    from kaizenlap.ingest.loader import load
    races, _ = load([tmp_path], use_cache=False)
    docs, meta = inprocess.documents_for_races(races)
    assert meta["failed_tasks"] == []
    assert [d["id"] for d in docs["coaching_insights"]] == ["barber-r1", "barber-r2"]
    n_cars = {r.race_id: r.laps["car"].nunique() for r in races}
    assert {d["id"]: d["cars"] for d in docs["coaching_insights"]} == n_cars
    assert results.headline({"engine": "coaching", "scope": "race", "cars": 3}) == {"text": "3 cars"}
    # the pipeline's plan: after its inputs, which it names by task key
    tasks = planner.plan([tmp_path], races, ["barber-r1", "barber-r2"], None)
    keys = [t.key for t in tasks]
    c1 = next(t for t in tasks if t.key == "barber-r1/coaching")
    assert c1.after == ["barber-r1/sections", "barber-r1/pattern", "barber/weather_track"]
    assert all(keys.index(k) < keys.index(c1.key) for k in c1.after)
    assert c1.parameters["race_id"] == "barber-r1" and len({t.fingerprint for t in tasks}) == len(tasks)


def test_a_failed_dependency_fails_the_dependent_task(synthesis, tmp_path, monkeypatch):
    from kaizenlap.engines import pattern
    minirace.write_race(tmp_path / "barber", 1)
    from kaizenlap.ingest.loader import load
    races, _ = load([tmp_path], use_cache=False)
    monkeypatch.setattr(pattern, "analyse", lambda laps, rid: 1 / 0)
    docs, meta = inprocess.documents_for_races(races)
    failed = {t["task"]: t["error"] for t in meta["failed_tasks"]}
    assert set(failed) == {"pattern:barber-r1", "coaching:barber-r1"}
    assert failed["coaching:barber-r1"].startswith("DependencyFailed") and docs["coaching_insights"] == []


def test_coaching_is_registered_after_the_engines_and_its_fingerprint_follows_the_llm_setting(tmp_path):
    minirace.write_race(tmp_path / "barber", 1)
    minirace.write_race(tmp_path / "barber", 2)
    from kaizenlap.ingest.loader import load
    races, _ = load([tmp_path], use_cache=False)
    s = reg.spec("coaching")
    assert (s.scope, s.notebook, s.collection) == (reg.RACE, "coaching_synthesis.ipynb", "coaching_insights")
    ids = ["barber-r1", "barber-r2"]

    def coaching(llm):
        tasks = planner.plan([tmp_path], races, ids, None, options={"llm": llm})
        return {t.key: t for t in tasks}

    a, b = coaching("deterministic"), coaching("ollama+http://127.0.0.1:11434?model=gemma3:4b")
    c1 = a["barber-r1/coaching"]
    assert c1.after == ["barber-r1/composite", "barber-r1/sections", "barber-r1/weather", "barber-r1/pattern",
                        "barber/weather_track", "barber/composite_track"]
    assert c1.parameters["llm"] == "deterministic" and "llm" not in a["barber-r1/pattern"].parameters
    assert a["barber-r1/coaching"].fingerprint != b["barber-r1/coaching"].fingerprint
    assert all(a[k].fingerprint == b[k].fingerprint for k in a if not k.endswith("/coaching"))
    assert len(a) == 2 * 5 + 2          # per race: 4 engines + coaching; per track: weather_track, composite_track
