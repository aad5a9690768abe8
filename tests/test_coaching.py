"""Coaching synthesis: the grounding validator (adversarial cases), confidence, the brief, the deterministic
synthesizer over the whole sample season, the published schema, the cache and the store documents."""
import json
import math

import pytest

from kaizenlap.coaching import confidence, deterministic, engine, model
from kaizenlap.coaching.brief import Brief, build_brief
from kaizenlap.coaching.model import Fact
from kaizenlap.coaching.validate import numbers, validate


def F(fact_id, value, unit="s/lap", n=20, lo=None, hi=None, digits=3, section=None, kind="section_loss",
      missing=False):
    return Fact(fact_id=fact_id, text=fact_id, value=value, unit=unit, n=n, lo=lo, hi=hi, digits=digits,
                source="sections", kind=kind, section=section, missing=missing)


@pytest.fixture
def brief():
    facts = [F("sections.im2.section_loss", 0.3124, lo=0.2011, hi=0.4187, section="im2"),
             F("sections.im2.pace_gap", 0.2507, lo=0.1, hi=0.38, section="im2", kind="section_detail"),
             F("sections.im2.best_k", 24.5126, unit="s", lo=24.4, hi=24.6, section="im2", kind="section_detail"),
             F("sections.fl.section_loss", -0.041, lo=-0.12, hi=0.03, section="fl"),
             F("pattern.residual_sd", 0.4518, unit="s", n=22, kind="consistency"),
             F("composite.best_clean_lap", 98.512, unit="s", n=22, kind="potential"),
             F("limit.track_temp", None, unit="", n=0, kind="weather", missing=True)]
    return Brief(race_id="barber-r1", track_id="barber", car="13", car_class="Am", n_clean=22, n_laps=27,
                 facts=facts, cars=["13", "7", "55"], sections=["im2", "fl", "s1", "s2", "s3"],
                 laps=list(range(1, 28)))


def good():
    return {"headline": "Car 13 loses 0.312 s/lap in IM2 beyond its overall deficit (95% CI 0.201 to 0.419).",
            "hypotheses": [{"text": "The IM2 loss likely comes from pace: the pace gap is 0.251 s/lap.",
                            "supported_by": ["sections.im2.section_loss", "sections.im2.pace_gap"]}],
            "actions": [{"section": "im2", "action": "Bring the median IM2 time down to 24.513 s over the next "
                                                     "5 laps.",
                         "measure": {"metric": "median_section_time_s", "target": 24.513, "over_laps": 5},
                         "evidence": ["sections.im2.best_k"]}]}


def with_(path, value):
    ans = json.loads(json.dumps(good()))
    cur = ans
    for key in path[:-1]:
        cur = cur[key]
    cur[path[-1]] = value
    return ans


def test_a_grounded_answer_passes(brief):
    r = validate(good(), brief)
    assert r.ok, r.errors
    assert validate(json.dumps(good()), brief).ok


@pytest.mark.parametrize("path,value,expect", [
    # a wrong number
    (("headline",), "Car 13 loses 0.412 s/lap in IM2.", "the number 0.412"),
    # a number rounded dishonestly (0.3124 is 0.31 or 0.312, never 0.35; issue 20 accepts honest rounding)
    (("headline",), "Car 13 loses 0.35 s/lap in IM2.", "the number 0.35 "),
    (("hypotheses", 0, "text"), "The IM2 loss likely comes from pace: the pace gap is 0.2507 s/lap.", "0.2507"),
    # a number of a fact the hypothesis does not cite
    (("hypotheses", 0, "text"), "The IM2 loss may come from inconsistency: robust SD 0.452 s.", "0.452"),
    # an invented lap
    (("hypotheses", 0, "text"), "The IM2 loss likely started on lap 31.", "lap 31 is not a lap"),
    # an unknown section
    (("actions", 0, "action"), "Brake later into S4 to bring IM2 down to 24.513 s over 5 laps.", "section S4"),
    (("actions", 0, "section"), "im3a", "section im3a is not in the brief"),
    # a car that is not in the race
    (("headline",), "Car 99 loses 0.312 s/lap in IM2.", "car 99 is not in the brief"),
    # a hypothesis stated as fact
    (("hypotheses", 0, "text"), "The IM2 loss comes from pace: the pace gap is 0.251 s/lap.", "stated as fact"),
    # a hypothesis citing nothing / something unknown
    (("hypotheses", 0, "supported_by"), [], "supported_by"),
    (("hypotheses", 0, "supported_by"), ["sections.im9.section_loss"], "unknown fact"),
    # an action without a target / with an unmeasurable metric / a target no cited fact has / no evidence
    (("actions", 0, "measure"), {"metric": "median_section_time_s", "over_laps": 5}, "target"),
    (("actions", 0, "measure", "metric"), "feel", "not measurable"),
    (("actions", 0, "measure", "target"), 24.0, "not the value of a cited fact"),
    (("actions", 0, "evidence"), [], "evidence"),
    # a field the schema does not have
    (("hypotheses", 0, "confidence"), "high", "schema"),
])
def test_adversarial_answers_are_rejected(brief, path, value, expect):
    r = validate(with_(path, value), brief)
    assert not r.ok
    assert any(expect in e for e in r.errors), r.errors


def test_invalid_json_is_rejected(brief):
    for text in ("", "{", "Sure! Here is the coaching: {\"headline\": 1", "[1, 2]", "null"):
        r = validate(text, brief)
        assert not r.ok and r.errors
    assert validate("{", brief).errors[0].startswith("invalid JSON")


def test_number_reading():
    assert numbers("IM2 costs 0.312 s/lap (95% CI 0.201 to 0.419, n=20) on lap 7 for car 13") == \
        ["0.312", "95", "0.201", "0.419", "20"]
    assert numbers("best 1:38.512 vs -0.041") == ["98.512", "0.041"]
    assert numbers("S1, IM1a, FL and sector 2") == []
    # a number after "lap" is a lap only when it is a whole number: "best clean lap 0.214 s off" is a number
    assert numbers("best clean lap 0.214 s off; laps 3-5") == ["0.214"]


def test_signed_values_and_interval_bounds_may_be_written(brief):
    ans = good()
    ans["headline"] = "FL: -0.041 s/lap (95% CI -0.120 to 0.030); best clean lap 1:38.512."
    assert validate(ans, brief).ok


def test_confidence_from_intervals_and_n(brief):
    g = {f.fact_id: confidence.fact_grade(f) for f in brief.facts}
    # excludes zero, n=20 >= 15, half-width 0.109 <= 0.5*0.312 -> high
    assert g["sections.im2.section_loss"] == "high"
    # excludes zero but half-width 0.14 > 0.5*0.251 -> medium
    assert g["sections.im2.pace_gap"] == "medium"
    # a difference whose interval includes zero -> low
    assert g["sections.fl.section_loss"] == "low"
    # an exact figure (no interval) -> medium; a missing-data fact -> low
    assert g["pattern.residual_sd"] == "medium" and g["limit.track_temp"] == "low"
    few = F("x", 0.5, lo=0.4, hi=0.6, n=4)
    assert confidence.fact_grade(few) == "low"
    conf, basis = confidence.hypothesis_confidence([brief.facts[3], brief.facts[0]])
    assert conf == "high" and "sections.im2.section_loss" in basis and "n=20" in basis


def test_document_confidence_is_derived_not_taken(brief):
    syn = model.Synthesis.model_validate(good())
    gen = model.Generator(kind="deterministic", label="x", validation="accepted")
    doc = engine.document(brief, syn, gen)
    assert doc["hypotheses"][0]["confidence"] == "high"
    assert [f["fact_id"] for f in doc["facts"]] == brief.ids()
    model.CoachingDocument.model_validate(doc)


def test_committed_schema_is_the_models_export():
    assert model.SCHEMA_PATH.read_text(encoding="utf-8") == model.schema_text(), \
        "serve/schemas/coaching.schema.json is stale: python -m kaizenlap.coaching.schema writes it"


def test_cache_key_changes_with_brief_model_and_prompt(brief):
    k = engine.cache_key(brief, "m", "openai_chat", "coaching_v1")
    assert k == engine.cache_key(brief, "m", "openai_chat", "coaching_v1")
    assert k != engine.cache_key(brief, "m2", "openai_chat", "coaching_v1")
    assert k != engine.cache_key(brief, "m", "openai_chat", "coaching_v2")
    brief.facts[0].value = 0.3125
    assert k != engine.cache_key(brief, "m", "openai_chat", "coaching_v1")


# --------------------------------------------------------------------------- on the sample season

@pytest.fixture(scope="module")
def season_inputs(tmp_path_factory):
    """The four engine documents, track documents and quality ledger of every race of the sample season."""
    from kaizenlap.tasks import inprocess
    from kaizenlap.ingest.loader import load
    from kaizenlap.sample import write_season

    out = tmp_path_factory.mktemp("coaching-season")
    write_season(out, seed=2025)
    races, _ = load([out])
    return inprocess.coaching_inputs(races)


def test_brief_from_engine_documents(season_inputs):
    from kaizenlap.coaching.brief import briefs_for_race

    inp = season_inputs[0]
    briefs = briefs_for_race(inp.race_docs, inp.track_docs, inp.quality)
    assert [b.car for b in briefs] == sorted(c["car"] for c in inp.race_docs["composite"]["cars"])
    full = next(b for b in briefs if b.fact("limit.clean_laps") is None)
    # the section-loss facts are the sections engine's numbers, ranked by the engine's rank
    car = next(c for c in inp.race_docs["sections"]["cars"] if c["car"] == full.car)
    top = car[car["preferred_set"]]["sections"][0]
    f = full.fact(f"sections.{top['section']}.section_loss")
    assert f.value == top["section_loss"]["value"] and (f.lo, f.hi, f.n) == (
        top["section_loss"]["lo"], top["section_loss"]["hi"], top["section_loss"]["n"])
    losses = [x for x in full.facts if x.kind == "section_loss"]
    assert losses[0].section == top["section"]
    assert [x.rank for x in full.facts] == list(range(1, len(full.facts) + 1))
    assert len({x.fact_id for x in full.facts}) == len(full.facts)
    comp = next(c for c in inp.race_docs["composite"]["cars"] if c["car"] == full.car)
    assert full.fact("composite.best_clean_lap").value == comp["best_clean_lap_s"]
    # a missing-data fact is never a zero
    for x in full.facts:
        if x.missing:
            assert x.value is None or x.fact_id.startswith("limit.clean_laps")


def test_missing_data_is_a_fact():
    b = build_brief("7", composite=None, sections=None, weather={"usable": False, "reason": "no weather file"},
                    pattern=None, weather_track=None, quality=None)
    ids = b.ids()
    assert "limit.clean_laps" in ids and "limit.weather" in ids and "limit.weather_track" in ids
    assert b.fact("limit.weather").value is None
    syn = deterministic.synthesize(b)
    assert "only 0 clean laps" in syn.headline and not syn.actions
    assert validate(syn.model_dump(), b).ok


def test_deterministic_passes_the_validator_on_the_whole_season(season_inputs):
    """Every car-race of the sample season (316) gets a document; every deterministic text is grounded."""
    n = 0
    outcomes = set()
    for inp in season_inputs:
        doc = engine.analyse(inp.race_docs, inp.track_docs, inp.quality, synthesizer="deterministic", cache=None)
        assert doc["n_cars"] == len(inp.race_docs["composite"]["cars"])
        for car in doc["cars"]:
            b = build_brief(car["car"], composite=inp.race_docs["composite"], sections=inp.race_docs["sections"],
                            weather=inp.race_docs["weather"], pattern=inp.race_docs["pattern"],
                            weather_track=inp.track_docs["weather_track"],
                            composite_track=inp.track_docs["composite_track"], quality=inp.quality)
            r = validate({k: car[k] for k in ("headline", "hypotheses", "actions")} | {
                "hypotheses": [{"text": h["text"], "supported_by": h["supported_by"]} for h in car["hypotheses"]]}, b)
            assert r.ok, (car["race_id"], car["car"], r.errors)
            assert car["generator"]["kind"] == "deterministic" and "deterministic" in car["generator"]["label"]
            model.CoachingDocument.model_validate(car)
            outcomes.add(car["generator"]["validation"])
            if b.n_clean >= 5:
                # an action only on a section whose loss is clear of zero; none where no section stands out or the
                # only such losses came in traffic (objective.in_traffic_only)
                clear = [f for f in b.facts if f.kind == "section_loss" and f.lo is not None and f.lo > 0
                         and f.section not in b.objective.traffic]
                assert bool(car["actions"]) == bool(clear), (car["race_id"], car["car"], car["headline"])
                assert all(a["section"] in {f.section for f in clear} for a in car["actions"])
                assert car["hypotheses"] or not clear, (car["race_id"], car["car"])
            n += 1
        stored = engine.documents(doc)
        assert len({d["id"] for d in stored}) == len(stored) == doc["n_cars"]
        assert all(d["type"] == "coaching" and d["scope"] == "car" for d in stored)
    assert n == 316
    assert outcomes == {"accepted"}


def test_every_car_of_every_real_race_gets_grounded_coaching(real_races):
    """One document per car of every real race; cars with too few clean laps get a short one that says so."""
    from kaizenlap.tasks import inprocess

    races = list(real_races.values())
    inputs = inprocess.coaching_inputs(races)
    assert {i.race_id for i in inputs} == {r.race_id for r in races if r.status == "loaded" and len(r.laps)}
    short = total = 0
    for inp in inputs:
        doc = engine.analyse(inp.race_docs, inp.track_docs, inp.quality, synthesizer="deterministic", cache=None)
        race = real_races[inp.race_id]
        assert sorted(c["car"] for c in doc["cars"]) == sorted(race.laps["car"].astype(str).unique())
        for car in doc["cars"]:
            total += 1
            model.CoachingDocument.model_validate(car)
            if any(f["fact_id"] == "limit.clean_laps" for f in car["facts"]):
                short += 1
                assert "clean laps" in car["headline"] and not car["actions"]
    assert total > 150 and short < total
