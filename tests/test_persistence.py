"""Race 1's diagnosis checked on race 2 (issue 20, item 6): a finding is the weakest section whose interval is
above zero; it holds when race 2 says the same; chance is a random section."""
import pytest

from kaizenlap.engines import persistence, sections
from kaizenlap.ingest.loader import load
from kaizenlap.sample import write_season


def est(value, lo, hi):
    return {"value": value, "lo": lo, "hi": hi, "n": 12}


def doc(cars: dict) -> dict:
    return {"cars": [{"car": car, "subsections": {"available": True, "sections": [
        {"section": s, "section_loss": e} for s, e in secs.items()]}} for car, secs in cars.items()]}


def test_a_finding_holds_only_where_race_2_says_so_too():
    r1 = doc({"7": {"a": est(0.30, 0.10, 0.50), "b": est(0.40, -0.05, 0.85), "c": est(-0.2, -0.4, -0.1)},
              "8": {"a": est(0.20, 0.05, 0.35), "b": est(0.25, 0.02, 0.48), "c": est(0.0, -0.1, 0.1)},
              "9": {"a": est(0.10, -0.1, 0.3), "b": est(0.1, -0.1, 0.3), "c": est(0.1, -0.1, 0.3)}})
    r2 = doc({"7": {"a": est(0.20, 0.01, 0.39), "b": est(0.3, 0.1, 0.5), "c": est(0.0, -0.1, 0.1)},
              "8": {"a": est(0.20, 0.05, 0.35), "b": est(0.10, -0.10, 0.30), "c": est(0.0, -0.1, 0.1)},
              "9": {"a": est(0.5, 0.2, 0.8), "b": est(0.1, -0.1, 0.3), "c": est(0.1, -0.1, 0.3)}})
    # car 7: b's interval crosses zero, so a (the largest significant) is the finding; car 8: b; car 9: none
    assert {c: f["section"] for c, f in persistence.findings(r1).items()} == {"7": "a", "8": "b"}
    rows = {r["car"]: r for r in persistence.check(r1, r2)}
    assert rows["7"]["held"] and not rows["8"]["held"] and "9" not in rows
    assert rows["7"]["chance"] == pytest.approx(2 / 3) and rows["8"]["chance"] == pytest.approx(1 / 3)
    s = persistence.summary(list(rows.values()))
    assert (s["cars"], s["held"], s["rate"]) == (2, 1, 0.5) and s["chance_rate"] == pytest.approx(0.5)
    assert 0.5 < s["p_value"] < 0.9                     # P(held >= 1) = 1 - (1/3)(2/3) = 7/9


def test_on_the_sample_the_drivers_weak_section_persists(tmp_path):
    """The generator gives each driver one weakest sub-section per track, the same at both races: race 1's
    findings hold far above chance, and most name the driver's true weakest section (the others name a section
    where the driver's idiosyncratic pace loses nearly as much)."""
    truth = write_season(tmp_path, seed=2025)
    races, _ = load([tmp_path / "barber", tmp_path / "COTA"], use_cache=False)
    docs = {r.race_id: sections.analyse(r.laps, r.race_id) for r in races}
    weak = {(t["race_id"], c): v["weakest_subsection"] for t in truth["races"] for c, v in t["cars"].items()}
    rows = []
    for rid in ("barber-r1", "cota-r1"):
        rows += [{**r, "true": weak[(rid, r["car"])]} for r in persistence.check(docs[rid], docs[rid[:-1] + "2"])]
    assert sum(r["section"] == r["true"] for r in rows) >= 0.75 * len(rows)
    s = persistence.summary(rows)
    assert s["cars"] >= 20 and s["rate"] >= 0.9 and s["chance_rate"] < 0.4 and s["p_value"] < 0.01
