"""Headlines with a minimum sample and an interval (issue 19, item 4): the most consistent car is named only
when separable from the next, consistency has an interval, field-relative pace needs a field, and the rank
is said in whole cars."""
import numpy as np
import pandas as pd

from kaizenlap.engines import pattern
from kaizenlap.engines.weather import field_relative_pace
from kaizenlap.tasks import record


def laps_table(sds: dict, n: int = 20, seed: int = 3, field_cars_per_lap=None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for car, sd in sds.items():
        for lap in range(2, n + 2):
            t = 98.0 + 0.01 * lap + rng.normal(0, sd)
            rows.append({"car": car, "class": "Am", "lap": lap, "track_id": "barber", "race_id": "barber-r1",
                         "lap_time_s": t, "is_clean": True, "is_clean_sections": True,
                         "s1_s": t * 0.3, "s2_s": t * 0.3, "s3_s": t * 0.4,
                         **{f"{x}_s": t / 6 for x in ("im1a", "im1", "im2a", "im2", "im3a", "fl")}})
    return pd.DataFrame(rows)


def test_a_clearly_more_consistent_car_is_named_with_an_interval():
    doc = pattern.analyse(laps_table({"7": 0.05, "8": 0.30, "9": 0.32, "10": 0.35, "11": 0.28}), "barber-r1")
    h = record.headline(doc)
    assert h["most_consistent_car"] == "7" and "95% CI" in h["text"]
    e = next(c for c in doc["cars"] if c["car"] == "7")
    assert e["consistency"]["lo"] < e["residual_sd_s"] < e["consistency"]["hi"] and e["consistency"]["n"] == 20
    assert (e["more_consistent_than"], e["others"], e["consistency_percentile"]) == (4, 4, 100)


def test_cars_alike_in_consistency_name_no_car():
    doc = pattern.analyse(laps_table({"7": 0.20, "8": 0.21, "9": 0.22, "10": 0.25, "11": 0.24}), "barber-r1")
    h = record.headline(doc)
    assert h["most_consistent_car"] is None and h["text"].startswith("no car stands out for consistency")


def test_too_few_laps_to_rate_names_no_car():
    doc = pattern.analyse(laps_table({"7": 0.02, "8": 0.3, "9": 0.3, "10": 0.3, "11": 0.3}, n=6), "barber-r1")
    assert record.headline(doc)["most_consistent_car"] is None


def test_field_relative_pace_needs_five_cars_on_the_lap():
    laps = laps_table({str(c): 0.1 for c in range(6)}, n=4)
    laps.loc[(laps["lap"] == 3) & (laps["car"].isin(["0", "1"])), "is_clean"] = False     # lap 3: 4 clean
    pace = field_relative_pace(laps)
    assert pace[laps["lap"] == 3].isna().all() and pace[laps["lap"] != 3].notna().all()


def test_percentiles_are_whole_numbers():
    doc = pattern.analyse(laps_table({str(c): 0.1 + 0.013 * c for c in range(8)}), "barber-r1")
    for e in doc["cars"]:
        assert isinstance(e["consistency_percentile"], int) and 0 <= e["more_consistent_than"] <= e["others"] == 7


def test_one_rated_car_is_not_named_most_consistent():
    """A car rated alone (the others have too few laps) has no car to be more consistent than: none is named."""
    cars = [{"car": "7", "available": True, "consistency_n": 20, "residual_sd_s": 0.10},
            {"car": "8", "available": True, "consistency_n": 5, "residual_sd_s": 0.30}]
    pick = pattern.most_consistent(cars)
    assert pick["car"] is None and "no car to compare it with" in pick["reason"]


def test_the_coaching_fact_ranks_in_whole_cars_of_the_others():
    """The brief's rank fact says "more consistent than k of the other n cars" (the car is not one of the field
    it is ranked against), never a percentage of "the field's 8 cars"."""
    from kaizenlap.coaching.brief import build_brief
    doc = pattern.analyse(laps_table({str(c): 0.1 + 0.013 * c for c in range(8)}), "barber-r1")
    seen = set()
    for e in doc["cars"]:
        b = build_brief(e["car"], composite=None, sections=None,
                        weather={"usable": False, "reason": "no weather file"}, pattern=doc)
        f = b.fact("pattern.consistency_rank")
        k = e["more_consistent_than"]
        seen.add(k)
        assert f.text == f"on that SD, more consistent than {k} of the other 7 cars" and (f.value, f.n) == (k, 7)
        assert "%" not in f.text and b.fact("pattern.consistency_percentile") is None
    assert seen == set(range(8))


def test_coaching_field_median_needs_five_cars_on_the_lap():
    """The coaching objective's field-relative times use the engines' one rule (``weather.field_min_cars``, 5):
    a lap number only 4 cars ran clean is not a field (it was 3 in params/coaching.yaml before)."""
    from kaizenlap.coaching import objective
    recs = [[car, lap, "s1", 30.0 + 0.1 * int(car) + 0.01 * lap, True]
            for car in map(str, range(6)) for lap in (2, 3, 4) if not (lap == 3 and car in ("0", "1"))]
    rel = objective.relative_laps({"laps": recs})
    assert objective.field_min_cars() == 5
    assert rel[("2", "s1")][0].tolist() == [2, 4] and rel[("0", "s1")][0].tolist() == [2, 4]


def test_the_lap_to_lap_sd_is_told_with_its_interval():
    """An estimated SD a driver reads carries its 95% interval (the pattern engine's chi-square interval) and n."""
    from kaizenlap.coaching.brief import build_brief
    doc = pattern.analyse(laps_table({str(c): 0.1 + 0.013 * c for c in range(8)}), "barber-r1")
    e = doc["cars"][0]
    b = build_brief(e["car"], composite=None, sections=None, weather={"usable": False, "reason": "no weather file"},
                    pattern=doc)
    f = b.fact("pattern.residual_sd")
    assert (f.lo, f.hi, f.n) == (e["consistency"]["lo"], e["consistency"]["hi"], e["consistency"]["n"])
    assert f.lo < f.value < f.hi and "95% CI" in f.text and f"n={f.n} clean laps" in f.text
