"""Coverage is a product feature: every interval type with a counterpart in the sample season's truth
covers that truth 85-99% of the time (kaizenlap.coverage; bench/coverage.py prints the full table)."""
import pytest

from kaizenlap import coverage
from kaizenlap.ingest.loader import load
from kaizenlap.sample import write_season

TYPES = {"median", "best_k", "pace_gap", "consistency_cost", "loss", "section_loss", "personal_composite",
         "personal_best_k"}


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    out = tmp_path_factory.mktemp("coverage-season")
    write_season(out, seed=2025)
    races, _ = load([out], use_cache=False)
    rows = coverage.coverage_rows({r.race_id: r for r in races}, seed=2025, draws=200)
    return coverage.coverage_table(rows)


def test_every_interval_type_is_measured(table):
    assert set(table["statistic"]) == TYPES
    assert (table["n_intervals"] >= 300).all(), table


def test_coverage_between_85_and_99_percent(table):
    bad = table[~table["coverage"].between(0.85, 0.99)]
    assert bad.empty, bad.to_string()
