"""The car ahead at the flag as a second rival (issue 20, item 3; docs/DATA_REFERENCE.md §11.6), on a hand-made
race whose section times are known: who the rivals are, what the car ahead gains where it beats noise, nothing
for a class winner, and deterministic text that passes the validator."""
import numpy as np
import pytest

from kaizenlap.coaching import deterministic
from kaizenlap.coaching.brief import build_brief
from kaizenlap.coaching.objective import ahead_at_flag, rival_of
from kaizenlap.coaching.validate import validate

SUBS = ("im1a", "im1", "im2a", "im2", "im3a", "fl")
BASE = (12.0, 18.0, 15.0, 25.0, 14.0, 16.0)
A = 1.0 / 6
# Per car: class and its offset in each sub-section (s/lap over BASE). Car 13 is the one coached.
CARS = {
    "9": ("Pro", [A - 0.5] * 6),                          # fastest overall, another class
    "1": ("Am", [A - 0.2] * 6),                           # class winner
    "22": ("Am", [A - 0.4 / 6] * 6),                      # 0.4 s a lap quicker than 13 everywhere: the pace rival
    "5": ("Am", [A, A + 0.175, A + 0.175, A - 0.5, A + 0.175, A + 0.175]),   # slower than 13 by 0.2 s a lap,
                                                          # 0.5 s quicker in IM2, level in IM1A: ahead at the flag
    "13": ("Am", [A] * 6),
    "8": ("Am", [A + 0.5] * 6),
}
ORDER = ["9", "1", "22", "5", "13", "8"]                   # official finishing order (overall)
LAPS = 20
NOISE = 0.03


def sections_doc() -> dict:
    rng = np.random.default_rng(7)
    laps, cars = [], []
    for car, (cls, off) in CARS.items():
        for lap in range(1, LAPS + 1):
            t = [b + o + rng.normal(0, NOISE) for b, o in zip(BASE, off)]
            for sec, v in zip(SUBS, t):
                laps.append({"car": car, "lap": lap, "section": sec, "time_s": v, "is_clean": True})
            for k, sec in enumerate(("s1", "s2", "s3")):
                laps.append({"car": car, "lap": lap, "section": sec, "time_s": t[2 * k] + t[2 * k + 1],
                             "is_clean": True})
        items = []
        for rank, sec in enumerate(SUBS, start=1):
            loss = (0.3, 0.2, 0.4) if (car == "13" and sec == "im2") else (0.0, -0.05, 0.05)
            items.append({"section": sec, "rank": rank, "n": LAPS, "significant": loss[1] > 0,
                          "section_loss": {"value": loss[0], "lo": loss[1], "hi": loss[2], "n": LAPS}})
        cars.append({"car": car, "class": cls, "n_clean": LAPS, "preferred_set": "subsections",
                     "subsections": {"available": True, "n": LAPS, "sections": items}})
    return {"engine": "sections", "race_id": "hand-r1", "track_id": "hand", "cars": cars, "laps": laps}


def quality(class_positions: bool = False) -> dict:
    rec = []
    in_class: dict[str, int] = {}
    for pos, car in enumerate(ORDER, start=1):
        cls = CARS[car][0]
        in_class[cls] = in_class.get(cls, 0) + 1
        rec.append({"car": car, "class": cls, "official_position": pos,
                    "official_class_position": in_class[cls] if class_positions else None})
    return {"race_id": "hand-r1", "reconciliation": rec}


@pytest.fixture(scope="module")
def doc():
    return sections_doc()


def test_the_car_ahead_at_the_flag_is_the_next_car_of_the_class_in_the_official_order(doc):
    for by_class in (False, True):
        q = quality(by_class)
        assert ahead_at_flag("13", q, doc)["car"] == "5"
        assert ahead_at_flag("5", q, doc)["car"] == "22"
        assert ahead_at_flag("1", q, doc) is None                 # won the class (the Pro car ahead is not a rival)
        assert ahead_at_flag("9", q, doc) is None                 # won overall
        assert ahead_at_flag("8", q, doc) == {"car": "13", "position": 5 if not by_class else 4,
                                              "own_position": 6 if not by_class else 5,
                                              "by": "class" if by_class else "overall"}
    q = quality()
    q["reconciliation"][4]["official_position"] = None        # car 13 not classified: nothing inferred
    assert ahead_at_flag("13", q, doc) is None
    assert ahead_at_flag("13", None, doc) is None
    assert rival_of("13", doc)["car"] == "22"                 # the pace rival is another car


def test_the_brief_names_the_car_ahead_and_its_gains_where_they_beat_noise(doc):
    b = build_brief("13", composite=None, sections=doc, weather=None, pattern=None, quality=quality())
    assert b.rival == "22" and b.rival_ahead == "5"
    car = b.fact("rival_ahead.car")
    assert car is not None and car.car == "5"
    assert car.value == pytest.approx(-0.2, abs=0.05)          # 13's median lap minus 5's: 5 is slower by pace
    g = b.fact("rival_ahead.im2.gain")
    assert g.car == "5" and g.n == LAPS and g.lo > 0 and g.lo <= 0.5 <= g.hi
    assert g.value == pytest.approx(0.5, abs=0.03)
    for sec in ("im1", "im2a", "im3a", "fl"):                  # 5 is 0.175 s slower there: a clear loss
        f = b.fact(f"rival_ahead.{sec}.gain")
        assert f is not None and f.hi < 0 and f.lo <= -0.175 <= f.hi, sec
    assert b.fact("rival_ahead.im1a.gain") is None             # level there: within the noise, nothing said
    assert b.to_dict()["rival_ahead"] == "5"


def test_no_second_rival_for_a_winner_or_when_the_car_ahead_is_the_pace_rival(doc):
    for car in ("1", "22"):           # 1 won the class; 22 finished behind 1, its pace rival
        b = build_brief(car, composite=None, sections=doc, weather=None, pattern=None, quality=quality())
        assert b.rival_ahead is None and not [f for f in b.facts if f.fact_id.startswith("rival_ahead.")], car
    b = build_brief("13", composite=None, sections=doc, weather=None, pattern=None, quality=None)
    assert b.rival == "22" and b.rival_ahead is None           # no results: the pace rival only


def test_deterministic_text_names_the_car_ahead_and_passes_the_validator(doc):
    b = build_brief("13", composite=None, sections=doc, weather=None, pattern=None, quality=quality())
    assert b.objective.section == "im2"
    syn = deterministic.synthesize(b)
    said = [h for h in syn.hypotheses if "car ahead at the flag" in h.text]
    assert len(said) == 1 and "Car 5" in said[0].text and "rival_ahead.im2.gain" in said[0].supported_by
    r = validate(syn.model_dump(), b)
    assert r.ok, r.errors


def test_a_front_runner_is_coached_as_one(doc):
    """Car 9 is 0.5 s/sub-section quicker than the field's median everywhere; given a sure IM2 loss it is told it is
    already quicker than the field there and aims for its own best quarter, without "deficit" or "your better laps
    already do it" (issue 20: texts that read oddly for a car faster than the field)."""
    import copy

    d = copy.deepcopy(doc)
    nine = next(e for e in d["cars"] if e["car"] == "9")
    item = next(i for i in nine["subsections"]["sections"] if i["section"] == "im2")
    item["section_loss"] = {"value": 0.3, "lo": 0.2, "hi": 0.4, "n": LAPS}
    b = build_brief("9", composite=None, sections=d, weather=None, pattern=None, quality=quality())
    assert b.objective.section == "im2" and b.rival is None          # the fastest car: no nearest faster car
    med, p25 = b.fact("target.im2.median"), b.fact("target.im2.p25")
    # in IM2 the field's median on a lap is the mean of cars 1 and 22 there (offsets -0.2 and -0.4/6 of six cars)
    assert med.value == pytest.approx(-0.5 + (0.2 + 0.4 / 6) / 2, abs=0.03)
    syn = deterministic.synthesize(b)
    (a,) = syn.actions
    assert a.action.startswith("In IM2: already ") and f"{abs(med.value):.3f} s quicker" in a.action
    assert f"{abs(p25.value):.3f} s quicker" in a.action and f"a quarter of your {p25.n} clean laps" in a.action
    text = " ".join([syn.headline, *(h.text for h in syn.hypotheses), a.action])
    assert "already do it" not in text and "deficit" not in text
    r = validate(syn.model_dump(), b)
    assert r.ok, r.errors
