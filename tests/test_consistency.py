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
