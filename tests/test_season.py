"""A car's season (kaizenlap.engines.season; issue 21, item 4) on hand-computed cases: the median's
order-statistic interval (binomial table), the finish status, the finding rebuilt from the published section
documents, and whether the previous race's finding held."""
from __future__ import annotations

from kaizenlap.engines.season import car_season, finish, median_interval, sections_doc


def test_median_interval_order_statistics():
    # n=10: P(B<=1) = 11/1024 = 0.0107 <= 0.025 < P(B<=2) = 56/1024 -> ranks 2 and 9 (the textbook table)
    e = median_interval(list(range(10, 0, -1)))
    assert (e["value"], e["lo"], e["hi"], e["n"]) == (5.5, 2.0, 9.0, 10)
    # n=6: P(B<=0) = 1/64 = 0.0156 -> ranks 1 and 6; n=5: 1/32 = 0.031 > 0.025 -> no interval
    e6 = median_interval([3, 1, 2, 6, 5, 4])
    assert (e6["value"], e6["lo"], e6["hi"]) == (3.5, 1.0, 6.0)
    e5 = median_interval([1, 2, 3, 4, 5])
    assert (e5["value"], e5["lo"], e5["hi"], e5["n"]) == (3.0, None, None, 5)
    # n=20: ranks 6 and 15 (P(B<=5) = 0.0207, P(B<=6) = 0.0577); NaN and None are dropped
    e20 = median_interval([float(i) for i in range(1, 21)] + [float("nan"), None])
    assert (e20["lo"], e20["hi"], e20["n"]) == (6.0, 15.0, 20)
    assert median_interval([])["value"] is None


def _cars(*laps):
    return [{"car": str(i), "laps": n} for i, n in enumerate(laps, 1)]


def test_finish_status():
    cars = _cars(24, 24, 23, 13)
    q = {"reconciliation": [{"car": "1", "official_position": 1, "official_laps": 24},
                            {"car": "2", "official_position": 2, "official_laps": 24},
                            {"car": "3", "official_position": 3, "official_laps": 23},
                            {"car": "4", "official_position": 4, "official_laps": 13, "official_class_position": 2}]}
    assert finish(q, cars, "1")["status"] == "winner"
    assert finish(q, cars, "2")["status"] == "lead lap"
    f3 = finish(q, cars, "3")
    assert (f3["status"], f3["laps_down"], f3["position"]) == ("+1 lap", 1, 3)
    f4 = finish(q, cars, "4")        # 11 laps down >= max(3, ceil(2.4)): stopped early
    assert (f4["status"], f4["dnf"], f4["class_position"], f4["field_size"]) == ("DNF (13 laps)", True, 2, 4)
    assert finish(None, cars, "9") == {}


def _sec(race, car, section, lo, value, hi, set_="subsections", preferred=True):
    return {"race_id": race, "car": car, "scope": "car", "section_set": set_, "preferred": preferred,
            "section": section, "available": True,
            "section_loss": {"value": value, "lo": lo, "hi": hi, "n": 20, "method": "m"}}


def test_sections_doc_and_season_finding_held():
    a1 = [_sec("a-r1", "7", "im1", 0.05, 0.10, 0.15), _sec("a-r1", "7", "im2", 0.10, 0.30, 0.40),
          _sec("a-r1", "7", "fl", -0.2, -0.1, 0.0), _sec("a-r1", "7", "s1", 0.2, 0.5, 0.6, "sectors", False),
          _sec("a-r1", "8", "im1", 1, 2, 3)]                    # another car's document is ignored
    doc = sections_doc("7", a1)
    assert doc["cars"][0]["preferred_set"] == "subsections"
    assert [s["section"] for s in doc["cars"][0]["subsections"]["sections"]] == ["im1", "im2", "fl"]
    # race 2 at the same track: im2 still wholly above zero (held); im1 too, fl not -> chance 2/3
    a2 = [_sec("a-r2", "7", "im1", 0.01, 0.05, 0.09), _sec("a-r2", "7", "im2", 0.02, 0.2, 0.3),
          _sec("a-r2", "7", "fl", -0.1, 0.0, 0.1)]
    # another track, later: no previous race there
    b1 = [_sec("b-r1", "7", "im1", -0.1, 0.0, 0.1)]
    races = [{"race_id": "b-r1", "track_id": "b", "race_number": 1, "date": "2025-06-01", "cars": _cars(20, 20, 20, 20, 20, 20, 20)},
             {"race_id": "a-r2", "track_id": "a", "race_number": 2, "date": "2025-05-02", "cars": _cars(*[20] * 7)},
             {"race_id": "a-r1", "track_id": "a", "race_number": 1, "date": "2025-05-01", "cars": _cars(*[20] * 7)},
             {"race_id": "c-r1", "track_id": "c", "race_number": 1, "date": "2025-07-01", "cars": _cars(20)}]
    pattern = {"trend": {"points": {"field_pace_s": [0.3, -0.1, 0.2, 0.1, 0.0, 0.5, 0.4]}}}
    coach = {"headline": "h", "actions": [{"section": "im2", "action": "In IM2, do x", "measure": {"target": 1}}]}
    s = car_season("7", races, {"a-r1": {"sections": a1, "pattern": pattern, "coaching": coach},
                                "a-r2": {"sections": a2}, "b-r1": {"sections": b1}})
    assert [r["race_id"] for r in s["races"]] == ["a-r1", "a-r2", "b-r1"]     # c-r1: car 7 did not run
    r1, r2, rb = s["races"]
    assert r1["finding"]["section"] == "im2" and r1["finding"]["section_loss"]["value"] == 0.30
    assert r1["previous"] is None
    assert r1["pace_gap"]["value"] == 0.2 and r1["pace_gap"]["n"] == 7 and r1["pace_gap"]["lo"] == -0.1
    assert r1["objective"]["section"] == "im2" and r1["objective"]["action"] == "In IM2, do x"
    assert r2["previous"]["race_id"] == "a-r1" and r2["previous"]["held"] is True
    assert abs(r2["previous"]["chance"] - 2 / 3) < 1e-12 and r2["previous"]["now"]["value"] == 0.2
    assert r2["pace_gap"]["value"] is None and r2["objective"] is None
    assert rb["finding"] is None and rb["previous"] is None
    assert (s["n_races"], s["findings_checked"], s["findings_held"]) == (3, 1, 1)


def test_previous_finding_did_not_hold_or_was_absent():
    a1 = [_sec("a-r1", "7", "im1", 0.05, 0.10, 0.15), _sec("a-r1", "7", "im2", -0.1, 0.0, 0.1)]
    a2 = [_sec("a-r2", "7", "im1", -0.05, 0.02, 0.09), _sec("a-r2", "7", "im2", 0.1, 0.2, 0.3)]
    races = [{"race_id": f"a-r{i}", "track_id": "a", "race_number": i, "date": f"2025-05-0{i}",
              "cars": [{"car": "7", "laps": 20}]} for i in (1, 2)]
    s = car_season("7", races, {"a-r1": {"sections": a1}, "a-r2": {"sections": a2}})
    p = s["races"][1]["previous"]
    assert p["finding"]["section"] == "im1" and p["held"] is False and p["chance"] == 0.5
    assert (s["findings_checked"], s["findings_held"]) == (1, 0)
    # no significant weakness in race 1: nothing to check
    s = car_season("7", races, {"a-r1": {"sections": a2[:1]}, "a-r2": {"sections": a2}})
    p = s["races"][1]["previous"]
    assert p["finding"] is None and p["held"] is None and s["findings_checked"] == 0
