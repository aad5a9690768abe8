"""The race lap by lap (kaizenlap.ingest.progress, the store's race_progress documents, GET /races/{id}/progress)
against independent truth: the official results files of the real races (positions, race times and the gap of P2
at the flag) and the synthetic season's ground truth (every car's lap times, the FCY laps)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from test_real_trd import RACES, rows_of, secs

from kaizenlap.ingest.loader import load
from kaizenlap.ingest.progress import order_key, race_progress
from kaizenlap.sample import write_season
from kaizenlap.store import open_store, publish_documents
from kaizenlap.store.ingest_documents import ingest_documents
from serve.app import create_app

TOL = 0.0015      # the timing prints ms; two printed times differ by at most 1 ms of rounding


def _official_rows(race, trd: Path) -> list[dict]:
    chosen = race.results_choice["results_overall"]["file"]
    return rows_of(trd.parent / chosen)


def _position(row) -> int:
    return int(float(row["POSITION"]))


def check_against_official(race, trd_dir) -> tuple[bool, bool]:
    """Assert the race's progress against its official results file; returns whether every classified car's
    position and whether the official P2's gap were compared (not where penalties make them differ)."""
    race_id = race.race_id
    compared = [False, False]
    prog = race_progress(race.laps, race.reconciliation)
    rows = _official_rows(race, trd_dir)
    numbers = Counter(r["NUMBER"] for r in rows)
    off = {r["NUMBER"]: r for r in rows if numbers[r["NUMBER"]] == 1}
    cars = {c["number"]: c for c in prog["cars"] if c["number"] in off and "-" not in c["car"]}
    classified = [n for n, c in cars.items() if off[n]["STATUS"] == "Classified" and off[n]["LAPS"]
                  and int(off[n]["LAPS"]) == c["laps"]]
    assert len(classified) >= 0.8 * len(prog["cars"]), race_id
    # Race time at the car's last line = the official total time, unless the officials added a time penalty
    # (never taken away: the official time is never shorter).
    penalty = {n: secs(off[n]["TOTAL_TIME"]) - cars[n]["race_time_s"] for n in classified}
    assert min(penalty.values()) > -TOL, race_id
    clean = [n for n in classified if abs(penalty[n]) < TOL]
    assert len(clean) >= 0.8 * len(classified), (race_id, {n: p for n, p in penalty.items() if abs(p) >= TOL})
    # The classification from the timing (most laps, then the earlier time at the line) orders the unpenalised
    # cars as the official times do; in a race without any penalty (no time added, no car moved down), every
    # classified car's position is the official one.
    ours = sorted(clean, key=lambda n: cars[n]["final_position"])
    assert ours == sorted(clean, key=lambda n: (-int(off[n]["LAPS"]), secs(off[n]["TOTAL_TIME"]))), race_id
    by_time = sorted(classified, key=lambda n: (-int(off[n]["LAPS"]), secs(off[n]["TOTAL_TIME"])))
    if len(clean) == len(classified) and by_time == sorted(classified, key=lambda n: _position(off[n])):
        compared[0] = True
        assert {n: cars[n]["final_position"] for n in classified} == {n: _position(off[n]) for n in classified}
    # The official position is carried beside the timing's, as the reconciliation matched it.
    rec = race.reconciliation.set_index("car")["official_position"]
    for c in prog["cars"]:
        want = rec.get(c["car"])
        assert c["official_position"] == (None if want is None or want != want else int(want))
    # The gap of the official P2 to the official winner at the flag, from the race times at the line.
    p1, p2 = (next(r for r in rows if r["POSITION"] and _position(r) == k) for k in (1, 2))
    if p1["NUMBER"] in clean and p2["NUMBER"] in clean and cars[p2["NUMBER"]]["laps"] == cars[p1["NUMBER"]]["laps"]:
        gap = cars[p2["NUMBER"]]["race_time_s"] - cars[p1["NUMBER"]]["race_time_s"]
        assert gap == pytest.approx(secs(p2["GAP_FIRST"].lstrip("+")), abs=TOL), race_id
        compared[1] = True
    # The document's own P2 gap is that difference too (the timing's P1 and P2).
    a, b = prog["cars"][:2]
    assert b["gap_s"] == pytest.approx(b["race_time_s"] - a["race_time_s"], abs=TOL)
    # The winner's gap is zero, and its position at its last line is P1.
    assert a["gap_s"] == 0 and a["by_lap"][-1]["position"] == 1 and a["laps"] == prog["leader_laps"]
    return compared[0], compared[1]


@pytest.mark.parametrize("race_id", sorted(RACES))
def test_progress_matches_official_results(real_races, trd_dir, race_id):
    check_against_official(real_races[race_id], trd_dir)


def test_official_checks_are_not_vacuous(real_races, trd_dir):
    """On some real races every classified car's position is compared (no penalty there), and on most the
    official P2's gap (P1 and P2 unpenalised, on the same lap): all ten."""
    done = {r: check_against_official(real_races[r], trd_dir) for r in sorted(RACES)}
    assert sum(p for p, _ in done.values()) >= 4 and sum(g for _, g in done.values()) == 10, done


def test_real_cautions_are_the_leaders_non_green_laps(real_races):
    race = real_races["barber-r1"]
    prog = race_progress(race.laps, race.reconciliation)
    laps = race.laps
    leader = laps.sort_values(["lap", "elapsed_s"]).groupby("lap").first()
    assert prog["caution_laps"] == sorted(int(k) for k in leader.index[leader["flag"] != "GF"]
                                          if leader.at[k, "flag"] != "FF")
    assert prog["caution_laps"] == [1, 2]
    assert race_progress(real_races["barber-r2"].laps)["caution_laps"] == []


# --------------------------------------------------------------------------- the synthetic season's truth

@pytest.fixture(scope="module")
def season(tmp_path_factory):
    out = tmp_path_factory.mktemp("progress-season")
    truth = write_season(out, seed=2025, telemetry=False)
    races, _ = load([out], use_cache=False)
    return {r.race_id: r for r in races}, {r["race_id"]: r for r in truth["races"]}


def test_progress_equals_sample_truth(season):
    races, truth = season
    for race_id, race in races.items():
        tr = truth[race_id]
        prog = race_progress(race.laps, race.reconciliation)
        # every car's race time at every line: the cumulative sum of its true lap times
        elapsed = {c: [sum(d["lap_times_s"][:k]) for k in range(1, d["laps"] + 1)] for c, d in tr["cars"].items()}
        ranks = {}
        for k in range(1, max(len(e) for e in elapsed.values()) + 1):
            at = sorted((round(e[k - 1], 3), c) for c, e in elapsed.items() if len(e) >= k)
            for pos, (t, c) in enumerate(at, 1):
                ranks[(c, k)] = (pos, t - at[0][0])
        for c in prog["cars"]:
            assert [x["lap"] for x in c["by_lap"]] == list(range(1, tr["cars"][c["car"]]["laps"] + 1))
            for x in c["by_lap"]:
                pos, gap = ranks[(c["car"], x["lap"])]
                assert x["race_time_s"] == pytest.approx(elapsed[c["car"]][x["lap"] - 1], abs=TOL)
                assert (x["position"], x["gap_s"]) == (pos, pytest.approx(gap, abs=TOL)), (race_id, c["car"], x)
            assert (c["best_lap_s"], c["best_lap"]) == (tr["cars"][c["car"]]["best_lap_s"],
                                                        tr["cars"][c["car"]]["best_lap_number"])
        # the classification: most laps, then the earlier total; the FCY laps are the cautions
        order = sorted(elapsed, key=lambda c: order_key(len(elapsed[c]), round(elapsed[c][-1], 3), c))
        assert [c["car"] for c in prog["cars"]] == order, race_id
        assert prog["caution_laps"] == sorted(tr["fcy_laps"]), race_id
        # laps down at the flag: the winner's laps − the car's
        assert [c["laps_down"] for c in prog["cars"]] == [prog["leader_laps"] - len(elapsed[c]) for c in order]
    assert any(truth[r]["fcy_laps"] for r in races)     # cautions are checked where there are some


def test_lapped_car_laps_down_and_gap():
    """A hand-made race: B is lapped on lap 3 (A crosses its line 3 before B crosses its line 2)."""
    import pandas as pd
    rows = [("A", 1, 100.0), ("A", 2, 200.0), ("A", 3, 300.0), ("A", 4, 400.0),
            ("B", 1, 110.0), ("B", 2, 305.0), ("B", 3, 420.0)]
    laps = pd.DataFrame([{"car": c, "number": c, "class": "Am", "lap": k, "elapsed_s": t, "lap_time_s": None,
                          "flag_caution": k == 2, "flag_deleted": False, "flag_pit_in": False,
                          "flag_pit_out": False} for c, k, t in rows])
    laps["lap_time_s"] = laps.groupby("car")["elapsed_s"].diff().fillna(laps["elapsed_s"])
    prog = race_progress(laps)
    a, b = prog["cars"]
    assert (a["car"], b["car"], b["laps_down"], prog["leader_laps"]) == ("A", "B", 1, 4)
    assert [(x["position"], x["gap_s"], x["laps_down"]) for x in b["by_lap"]] == [(2, 10.0, 0), (2, 105.0, 1),
                                                                                     (2, 120.0, 1)]
    assert b["gap_s"] == 120.0 and prog["caution_laps"] == [2]
    assert (a["best_lap_s"], a["best_lap"]) == (100.0, 2)


# --------------------------------------------------------------------------- the store document and the API

def test_progress_endpoint_serves_the_document(real_races, tmp_path):
    races = [real_races["barber-r1"], real_races["indianapolis-r1"]]
    docs = ingest_documents(races)
    assert [d["id"] for d in docs["race_progress"]] == ["barber-r1", "indianapolis-r1"]
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = open_store(url)
    publish_documents(store, "run-1", docs, {})
    with TestClient(create_app(url, pointer_ttl_s=0)) as client:
        r = client.get("/races/indianapolis-r1/progress")
        assert r.status_code == 200, r.text[:300]
        body = r.json()
        assert body["race_id"] == "indianapolis-r1" and body["caution_laps"] == [12, 13, 14]
        # on the road car 22 won; the officials' +5 s penalty put it eighth, and car 55 first
        first = body["cars"][0]
        assert (first["number"], first["final_position"], first["official_position"]) == ("22", 1, 8)
        assert next(c for c in body["cars"] if c["number"] == "55")["official_position"] == 1
        assert all(len(c["by_lap"]) == c["laps"] for c in body["cars"])
        assert client.get("/races/nope-r9/progress").json()["error"]["code"] == "not_found"
    store.close()


def test_live_order_at_the_flag_is_the_progress_classification(real_races):
    """One running-order rule (order_key): live mode's order after a real race's last crossing is the progress
    document's classification, car for car."""
    from kaizenlap.live.feed import ReplayFeed
    from kaizenlap.live.state import LiveState
    for race_id in ("indianapolis-r1",):          # 29 cars, one lapped, five DNF
        race = real_races[race_id]
        feed = ReplayFeed(race)
        st = LiveState(feed.meta(), analysis_every=0)
        for c in feed.crossings():
            st.apply(c)
        assert st.order() == [c["car"] for c in race_progress(race.laps)["cars"]], race_id
