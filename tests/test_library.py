"""The library a data scientist calls: `import kaizenlap` (docs/API.md)."""
import pytest

import kaizenlap
from kaizenlap.engines import pattern
from kaizenlap.engines.common import engine_settings
from kaizenlap.sample import write_season


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("library") / "sample"
    truth = write_season(out, seed=2025)
    return out, truth


def test_races_lists_the_season(sample):
    data, truth = sample
    table = kaizenlap.races(data)
    assert sorted(table["race_id"]) == sorted(r["race_id"] for r in truth["races"])
    assert (table["status"] == "loaded").all() and (table["clean_laps"] > 0).all()


def test_laps_helpers_agree_with_the_race(sample):
    data, _ = sample
    race = kaizenlap.load_race(data, "barber-r1")
    laps = kaizenlap.Laps(race.laps)
    assert len(laps.clean()) == race.clean_laps and isinstance(laps.clean(), kaizenlap.Laps)
    fastest = laps.clean().fastest()
    clean = race.laps[race.laps["is_clean"]]
    assert fastest.set_index("car")["lap_time_s"].to_dict() == clean.groupby("car")["lap_time_s"].min().to_dict()
    assert len(laps.flagged()) == len(race.laps) - race.clean_laps
    assert laps.flagged("first_lap")["lap"].eq(1).all()
    car = fastest["car"].iloc[0]
    assert set(laps.by_car(car)["car"]) == {car}
    with pytest.raises(ValueError, match="unknown flag"):
        laps.flagged("wet")


def test_analyse_with_overrides_for_one_call(sample):
    data, _ = sample
    race = kaizenlap.load_race(data, "barber-r1")
    plain = kaizenlap.analyse(race, "pattern")
    assert plain == pattern.analyse(race.laps, "barber-r1")               # no override: the engine's document
    loose = kaizenlap.analyse(race, "pattern", trend_fdr=0.5)
    assert loose["params"]["trend_fdr"] == 0.5 and plain["params"]["trend_fdr"] == 0.05
    assert kaizenlap.analyse(race, "pattern", **{"pattern.trend_fdr": 0.5}) == loose
    assert kaizenlap.analyse(race, "pattern") == plain                      # the override ended with the call
    strict = kaizenlap.analyse(race, "composite", min_clean_laps=10_000)
    assert strict != kaizenlap.analyse(race, "composite")
    with pytest.raises(ValueError, match="unknown engine setting"):
        kaizenlap.analyse(race, "pattern", trend_fdrr=0.1)
    with pytest.raises(ValueError, match="unknown task"):
        kaizenlap.analyse(race, "telemetryy")


def test_engine_settings_block_restores_the_file_values():
    with engine_settings({"pattern": {"trend_fdr": 0.3}}) as cfg:
        assert cfg["pattern"]["trend_fdr"] == 0.3
    with engine_settings() as cfg:
        assert cfg["pattern"]["trend_fdr"] == 0.05


def test_the_face_is_lazy():
    import subprocess
    import sys
    code = "import sys, kaizenlap.core.params; print('kaizenlap.library' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
    assert "analyse" in dir(kaizenlap)
