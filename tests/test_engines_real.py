"""Engine invariants on every real race in ../shared/trd."""
import pytest

from kaizenlap.engines import composite, pattern, sections, weather


@pytest.fixture(scope="module")
def docs(real_races):
    out = {}
    for rid, race in real_races.items():
        out[rid] = {"composite": composite.analyse(race.laps, rid), "sections": sections.analyse(race.laps, rid),
                    "pattern": pattern.analyse(race.laps, rid),
                    "weather": weather.analyse_race(race.laps, race.weather, rid)}
    return out


def test_composite_components_and_official_fastest_lap(real_races, docs):
    """Each field-composite component is the named car's clean lap with that section time, and the
    composite is no slower than the official fastest lap of the race (FL_TIME, an independent file) where
    that lap has its sectors."""
    for rid, race in real_races.items():
        laps = race.laps.set_index(["car", "lap"])
        for f in docs[rid]["composite"]["field"]:
            if not f["available"]:
                continue
            for c in f["components"]:
                row = laps.loc[(c["car"], c["lap"])]
                assert bool(row["is_clean"]) and abs(row[f"{c['section']}_s"] - c["time_s"]) < 1e-9, (rid, c)
        rec = race.reconciliation
        fl = rec["official_fl_time_s"].dropna()
        if fl.empty:
            continue
        fastest = race.laps[(race.laps["lap_time_s"] - fl.min()).abs() < 0.0005]
        if fastest[["s1_s", "s2_s", "s3_s"]].notna().all(axis=1).any():
            total = next(f for f in docs[rid]["composite"]["field"]
                         if f["class"] == "all" and f["section_set"] == "sectors")["total_s"]
            assert total <= fl.min() + 0.010, (rid, total, fl.min())
        assert all(docs[rid]["composite"]["invariants"].values()), rid


def test_every_car_in_every_engine(real_races, docs):
    for rid, race in real_races.items():
        cars = set(race.laps["car"])
        for engine in ("composite", "sections", "pattern"):
            assert {c["car"] for c in docs[rid][engine]["cars"]} == cars, (rid, engine)


def _numbers(obj, path=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _numbers(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _numbers(v, f"{path}[{i}]")
    elif isinstance(obj, float):
        yield path, obj


def test_no_zero_stands_in_for_missing(docs):
    for rid, d in docs.items():
        for f in d["composite"]["field"]:
            for c in f.get("components", []):
                assert c["time_s"] > 0, (rid, c)
        for path, v in _numbers(d["composite"]["cars"]):
            if ".potential_gain_" in path or ".noise_gap_" in path:   # gaps (best lap − composite): 0 or < 0 are values
                continue
            if path.endswith(".value") or path.endswith("_s"):
                assert v > 0, (rid, path)
    sonoma2 = docs["sonoma-r2"]
    assert sonoma2["weather"]["usable"] is False and "conditions" not in sonoma2["weather"]
    sub = [f for f in sonoma2["composite"]["field"] if f["section_set"] == "subsections"]
    assert sub and all(f["available"] is False and "total_s" not in f for f in sub)
    barber = docs["barber-r1"]["weather"]
    assert barber["conditions"]["track_temp_c"]["available"] is False
    assert barber["pace_vs_track_temp"]["available"] is False


def test_estimates_carry_n_and_interval(docs):
    for rid, d in docs.items():
        for car in d["sections"]["cars"]:
            for s in car["sectors"].get("sections", []):
                for stat in ("loss", "pace_gap", "consistency_cost", "median", "best_k"):
                    e = s[stat]
                    assert e["n"] >= 5 and e["lo"] <= e["value"] + 1e-9 and e["value"] <= e["hi"] + 1e-9, (rid, stat)


def test_class_split_only_where_a_race_has_several_classes(real_races, docs):
    for rid, race in real_races.items():
        classes = set(race.laps.loc[race.laps["is_clean"], "class"].dropna())
        shown = {f["class"] for f in docs[rid]["composite"]["field"]}
        assert shown == ({"all"} | classes if len(classes) > 1 else {"all"}), (rid, classes, shown)
