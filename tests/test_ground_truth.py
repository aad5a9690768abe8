"""The engines recover what the sample season's generator injected (ground_truth.json)."""
import pytest

from kaizenlap.engines import pattern, sections, weather
from kaizenlap.ingest import load
from kaizenlap.sample import write_season


@pytest.fixture(scope="module")
def season(tmp_path_factory):
    out = tmp_path_factory.mktemp("gt-season")
    truth = write_season(out, seed=2025)
    races, _ = load([out])
    return {r.race_id: r for r in races}, truth


def test_weakest_subsection_ranked_first(season):
    races, truth = season
    hits = total = 0
    for t in truth["races"]:
        doc = sections.analyse(races[t["race_id"]].laps, t["race_id"])
        cars = {c["car"]: c for c in doc["cars"]}
        for car, gt in t["cars"].items():
            if gt["weakest_loss_s"] >= 0.2 and cars.get(car, {}).get("subsections", {}).get("available"):
                total += 1
                hits += cars[car]["subsections"]["sections"][0]["section"] == gt["weakest_subsection"]
    assert total > 200
    assert hits / total >= 0.90, f"{hits}/{total}"


def test_trend_sign(season):
    races, truth = season
    right = total = 0
    for t in truth["races"]:
        doc = pattern.analyse(races[t["race_id"]].laps, t["race_id"])
        cars = {c["car"]: c for c in doc["cars"] if c.get("available")}
        for car, gt in t["cars"].items():
            if abs(gt["trend_s_per_lap"]) >= 0.05 and car in cars:
                total += 1
                right += (cars[car]["trend"]["slope_s_per_lap"]["value"] > 0) == (gt["trend_s_per_lap"] > 0)
    assert total > 50 and right == total, f"{right}/{total}"


def test_within_race_temperature_coefficient_inside_interval(season):
    """Per race: where the model says identifiable, the interval holds the generator's gamma; the races with
    a passing cloud (temperature not linear in lap number) are identifiable; the others say why not."""
    races, truth = season
    covered = identifiable = clouds = 0
    for t in truth["races"]:
        r = races[t["race_id"]]
        fit = weather.analyse_race(r.laps, r.weather, t["race_id"]).get("pace_vs_track_temp", {})
        if not fit.get("available"):
            assert fit.get("reason") or not t["weather_file"], t["race_id"]
            assert "slope_s_per_c" not in fit
            continue
        identifiable += 1
        clouds += t["cloud"] is not None
        est = fit["slope_s_per_c"]
        covered += est["lo"] <= t["temp_coefficient_s_per_c"] <= est["hi"]
    assert clouds == sum(t["cloud"] is not None for t in truth["races"]) == 5
    assert covered == identifiable, f"{covered}/{identifiable}"


def test_track_temperature_model(season):
    """Pooled per track: a number only where temperature varies within the races; the damp race (Road
    America race 1, slower for a reason other than temperature) makes the pooled model 'confounded with race'."""
    races, truth = season
    by_track = {}
    for r in races.values():
        by_track.setdefault(r.track_id, []).append((r.laps, r.weather))
    identifiable = 0
    for track, items in by_track.items():
        gamma = next(t["temp_coefficient_s_per_c"] for t in truth["races"] if t["track_id"] == track)
        doc = weather.analyse_track(items, track)
        if not doc["identifiable"]:
            assert doc["reason"]                       # said, with the reason, never a number
            assert "track_temp_s_per_c" not in doc
            continue
        identifiable += 1
        est = doc["track_temp_s_per_c"]
        assert est["lo"] <= gamma <= est["hi"], (track, gamma, est)
    damp = [t for t in truth["races"] if t["damp"]]
    assert [t["race_id"] for t in damp] == ["road-america-r1"] and damp[0]["race_effect_s"] > 3
    ra = weather.analyse_track(by_track["road-america"], "road-america")
    assert ra["identifiable"] is False and ra["reason"].startswith("confounded with race")
    assert identifiable >= 1
