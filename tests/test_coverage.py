"""Coverage is a product feature: every interval type with a counterpart in the sample season's truth
covers that truth 85-99% of the time (kaizenlap.coverage; bench/coverage.py prints the full table)."""
import pytest

from kaizenlap import coverage
from kaizenlap.ingest.loader import load
from kaizenlap.sample import write_season

TYPES = {"median", "best_k", "pace_gap", "consistency_cost", "loss", "section_loss", "personal_composite",
         "personal_best_k"}


@pytest.fixture(scope="module")
def season(tmp_path_factory):
    out = tmp_path_factory.mktemp("coverage-season")
    write_season(out, seed=2025)
    races, _ = load([out], use_cache=False)
    return {r.race_id: r for r in races}


@pytest.fixture(scope="module")
def table(season):
    return coverage.coverage_table(coverage.coverage_rows(season, seed=2025, draws=200))


def test_every_interval_type_is_measured(table):
    assert set(table["statistic"]) == TYPES
    assert (table["n_intervals"] >= 300).all(), table


def test_coverage_between_85_and_99_percent(table):
    bad = table[~table["coverage"].between(0.85, 0.99)]
    assert bad.empty, bad.to_string()


def test_split_half_z_is_standard_when_the_intervals_are_right():
    """Hand-made: two halves whose estimates differ by draws of N(0, 1) with SE 1/sqrt(2) each give SD(z) ~ 1;
    intervals twice too wide give SD(z) ~ 0.5."""
    import numpy as np
    import pandas as pd
    rng = np.random.default_rng(7)
    d = rng.standard_normal(4000)
    for scale, want in ((1.0, 1.0), (2.0, 0.5)):
        half = scale * coverage.Z95 / np.sqrt(2)          # each half's interval half-width
        se = np.hypot(2 * half / (2 * coverage.Z95), 2 * half / (2 * coverage.Z95))
        rows = pd.DataFrame({"statistic": "best_k", "section_set": "sectors", "z": d / se})
        t = coverage.split_half_table(rows)
        assert abs(t["sd_z"].iloc[0] - want) < 0.05 and t["pairs"].iloc[0] == 4000


@pytest.fixture(scope="module")
def sample_halves(season):
    return coverage.split_half_table(coverage.split_half_rows(season)).set_index(["statistic", "section_set"])


def test_split_half_on_the_sample_where_the_model_holds(sample_halves):
    """The generator is the trend-plus-noise model: the order statistics' odd/even halves agree as their
    intervals say (SD(z) 0.85-1.2)."""
    for st in ("best_k", "personal_best_k", "personal_composite"):
        for set_name in ("sectors", "subsections"):
            assert 0.85 <= sample_halves.loc[(st, set_name), "sd_z"] <= 1.2, (st, set_name)


@pytest.mark.xfail(strict=True, reason="issue 19 item 5, not met: on real laps the order-statistic intervals are "
                                       "1.5-2x too wide (split-half SD(z) 0.48-0.69; DATA_REFERENCE 10.5)")
def test_split_half_on_the_real_races(real_races):
    rows = coverage.split_half_rows({k: r for k, r in real_races.items() if r.status == "loaded"})
    t = coverage.split_half_table(rows).set_index(["statistic", "section_set"])
    for st in ("best_k", "personal_best_k", "personal_composite"):
        assert 0.8 <= t.loc[(st, "sectors"), "sd_z"] <= 1.2, t.to_string()
