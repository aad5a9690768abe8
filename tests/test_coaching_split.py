"""The objective's diagnosis from a section-local split of its loss (issue 20: "comes more from pace than
consistency" while the pace gap carries the car's whole deficit; docs/DATA_REFERENCE.md §11.6), on a hand-made
race whose truth is known: car D is 3% slow everywhere and loses time in IM2 only through slow laps (3 in 4)
(spread), car P loses a constant 0.3 s in IM2 (pace)."""
import numpy as np
import pandas as pd
import pytest

from kaizenlap.coaching import deterministic
from kaizenlap.coaching.brief import build_brief
from kaizenlap.coaching.validate import validate
from kaizenlap.engines import sections

SUBS = ("im1a", "im1", "im2a", "im2", "im3a", "fl")
BASE = np.array([12.0, 18.0, 15.0, 25.0, 14.0, 16.0])
LAPS = 24


def race() -> dict:
    rng = np.random.default_rng(5)
    rows = []
    for car in ("A", "B", "C", "E", "D", "P"):
        scale = 1.03 if car == "D" else 1.0 + 0.002 * "ABCE".find(car)
        for lap in range(1, LAPS + 1):
            t = BASE * scale + rng.normal(0, 0.03, 6)
            if car == "D" and lap % 4 != 0:
                t[3] += rng.uniform(0.25, 0.4)          # three laps in four slow in IM2: spread, not pace
            if car == "P":
                t[3] += 0.3                           # every lap 0.3 s slower in IM2: pace
            rows.append({"track_id": "hand", "race_id": "hand-r1", "car": car, "number": car, "class": "Am",
                         "lap": lap, **{f"{s}_s": round(float(v), 3) for s, v in zip(SUBS, t)},
                         "s1_s": round(t[0] + t[1], 3), "s2_s": round(t[2] + t[3], 3),
                         "s3_s": round(t[4] + t[5], 3), "lap_time_s": round(float(t.sum()), 3),
                         "is_clean": True, "exclusion_reasons": ""})
    return sections.analyse(pd.DataFrame(rows), "hand-r1")


@pytest.fixture(scope="module")
def doc():
    return race()


def test_a_slow_car_losing_a_section_on_most_but_not_all_laps_is_diagnosed_spread(doc):
    b = build_brief("D", composite=None, sections=doc, weather=None, pattern=None)
    assert b.objective.section == "im2"
    # the engine's pace gap there carries the car's whole 3% deficit (0.75 s of IM2's 25 s) and exceeds its
    # consistency cost: compared as they are, it would read "pace"
    pg, cc = b.fact("sections.im2.pace_gap"), b.fact("sections.im2.consistency_cost")
    assert pg.lo > cc.hi
    pp, sp = b.fact("sections.im2.pace_part"), b.fact("sections.im2.spread_part")
    assert pp.value + sp.value == pytest.approx(b.fact("sections.im2.section_loss").value, abs=1e-9)
    assert pp.lo <= 0.05 and sp.lo > pp.hi
    assert b.objective.diagnosis == "consistency"
    syn = deterministic.synthesize(b)
    se = b.fact("sections.im2.scatter_excess")
    assert se.lo > 0 and se.value == pytest.approx(se.value)
    assert any("likely scatter, not pace" in h.text for h in syn.hypotheses)
    assert syn.actions[0].measure.metric == "section_time_iqr_s"
    assert validate(syn.model_dump(), b).ok


def test_a_constant_loss_in_a_section_is_diagnosed_pace(doc):
    b = build_brief("P", composite=None, sections=doc, weather=None, pattern=None)
    assert b.objective.section == "im2" and b.objective.diagnosis == "pace"
    pp = b.fact("sections.im2.pace_part")
    assert pp.lo <= 0.3 * (1 - 25 / 100) <= pp.hi + 0.02      # 0.3 s less its share of the car's own deficit
    syn = deterministic.synthesize(b)
    assert any("likely pace, not scatter" in h.text for h in syn.hypotheses)
    assert validate(syn.model_dump(), b).ok
