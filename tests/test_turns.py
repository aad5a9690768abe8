"""Issue 20, item 2: each track's official turns placed on the lap from its official map (params/tracks,
scripts/place_turns.py, kaizenlap.tracks.turns), checked against the published turn lists and what the maps
draw; the sections named in turns in coaching (one wording: ``section_labels``)."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kaizenlap.coaching import corpus, objective
from kaizenlap.coaching.validate import validate
from kaizenlap.core import params
from kaizenlap.tracks import turns as U

ROOT = Path(__file__).resolve().parents[1]
TRD = ROOT.parent / "shared" / "trd"
TELEMETRY = ROOT.parent / "shared" / "trd-telemetry-sample" / "R1_barber_telemetry_data_sample.csv"
TRACKS = params.tracks()
PLACED = sorted(t for t, p in TRACKS.items() if p.get("turns"))


def _sector(tp: dict, d: float) -> str:
    edges = np.cumsum([0.0, *tp["sector_lengths_m"]])
    return f"S{int(np.searchsorted(edges, d, side='right'))}"


def test_six_tracks_placed_barber_left_out_with_its_reason():
    assert PLACED == ["cota", "indianapolis", "road-america", "sebring", "sonoma", "vir"]
    assert "NOT PLACED" in (ROOT / "params" / "tracks" / "barber.yaml").read_text(encoding="utf-8")
    ev = TRACKS["barber"]["turns_evidence"]
    assert ev["status"] == "not placed" and not TRACKS["barber"].get("turns")
    assert sorted(ev["counts"]) == [14, 15, 16, 17]        # the published counts disagree: why it is not placed


def test_bends_of_a_hand_made_square():
    # a square traced clockwise on the map (y down), 300 m a side, from a corner: four 90-degree right bends,
    # the one at the S/F line found across it; the same square the other way round: four left bends
    c = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]], float)
    sq = np.vstack([np.linspace(c[i], c[i + 1], 50, endpoint=False) for i in range(4)])
    got = U.bends(sq, [1 / 3, 2 / 3], [400.0, 400.0, 400.0])
    assert [(round(d), s, round(a)) for d, s, a in got] == [(0, "R", 90), (300, "R", 90), (600, "R", 90),
                                                            (900, "R", 90)]
    back = U.bends(sq[::-1], [1 / 3, 2 / 3], [400.0, 400.0, 400.0])
    assert [s for _, s, _ in back] == ["L"] * 4 and [round(a) for _, _, a in back] == [90] * 4
    assert np.allclose(np.diff([d for d, _, _ in back]), 300.0)


def test_barber_outline_bends_as_recorded_and_as_the_guides_describe_turns_1_to_5():
    tp = TRACKS["barber"]
    got = U.bends(np.asarray(tp["outline"], float), tp["sector_fractions"], tp["sector_lengths_m"])
    assert [[round(d), s, round(a)] for d, s, a in got] == tp["turns_evidence"]["outline_bends"]
    # the turns every source agrees on: 1 left, 2-3 one right-hand arc, 4 right over the crest, 5 the left hairpin
    # (the sharpest left of the lap): 1-4 in S1, the hairpin just past the S1/S2 line
    sides = [s for _, s, _ in got[:5]]
    assert sides == ["L", "R", "R", "R", "L"] and got[4][2] == max(a for _, s, a in got if s == "L")
    assert got[3][0] < tp["sector_lengths_m"][0] < got[4][0] < tp["sector_lengths_m"][0] + 100


def _telemetry_bends(path: Path, length_m: float) -> list[tuple[float, str, float, float]]:
    """``[(metres, side, degrees, median steering)]`` of the sample's GPS trace: heading change over +-40 m
    (8 steps of 5 m), a bend the extreme of its side within +-30 m; metres from the lap-distance channel scaled
    by ``length_m`` / 3715 (the channel reads at least 3,715 m a lap)."""
    import pandas as pd

    df = pd.read_csv(path)
    df = df[df["lap"] == 2]
    w = df.pivot_table(index="timestamp", columns="telemetry_name", values="telemetry_value", aggfunc="first")
    w = w.sort_index()
    ts = pd.to_datetime(w.index).astype("int64").to_numpy() / 1e9
    ld = w["Laptrigger_lapdist_dls"].dropna()
    lapdist = np.interp(ts, pd.to_datetime(ld.index).astype("int64").to_numpy() / 1e9, ld.to_numpy())
    lat, lon = w["VBOX_Lat_Min"].ffill().to_numpy(), w["VBOX_Long_Minutes"].ffill().to_numpy()
    x = np.radians(lon - lon[0]) * 6371000.0 * np.cos(np.radians(lat[0]))
    y = np.radians(lat - lat[0]) * 6371000.0
    s = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
    keep = np.concatenate([[True], np.diff(s) > 0.01])
    grid = np.arange(0.0, s[keep][-1], 5.0)
    gx, gy = (np.interp(grid, s[keep], v[keep]) for v in (x, y))
    head = np.unwrap(np.arctan2(np.gradient(gy), np.gradient(gx)))
    dh = -np.degrees(head[16:] - head[:-16])                     # over +-40 m; + = clockwise = right-hander
    at = grid[8:-8]
    steer = np.interp(at, s[keep], w["Steering_Angle"].ffill().to_numpy()[keep])
    metres = np.interp(at, s[keep], lapdist[keep]) * length_m / 3715.0
    out = []
    for i in range(len(dh)):
        near = dh[max(0, i - 6):i + 7]
        if abs(dh[i]) >= 15 and dh[i] == (near.max() if dh[i] > 0 else near.min()):
            out.append((float(metres[i]), "R" if dh[i] > 0 else "L", float(abs(dh[i])),
                        float(np.median(steer[max(0, i - 8):i + 9]))))
    return out


@pytest.mark.skipif(not TELEMETRY.is_file(), reason="the TRD telemetry sample is not on this machine")
def test_barber_outline_s3_matches_the_real_telemetry():
    # an independent check of the traced outline (and so of the bends the published lists were compared with):
    # the sample covers S3 of one lap; its GPS bends are the outline's, side for side, within 30 m (20 m seen)
    tp = TRACKS["barber"]
    tel = _telemetry_bends(TELEMETRY, tp["length_m"])
    assert [[round(d), s, round(a)] for d, s, a, _ in tel] == tp["turns_evidence"]["telemetry_s3_bends"]
    for _, side, _, steer in tel:                                 # steering: positive to the left
        assert (steer > 0) == (side == "L"), (side, steer)
    s3 = [b for b in tp["turns_evidence"]["outline_bends"] if b[0] >= sum(tp["sector_lengths_m"][:2])]
    for d, side, _, _ in tel:
        assert any(b[1] == side and abs(b[0] - d) <= 30 for b in s3), (d, side)
    for d, side, deg in s3:
        if deg >= 40:
            assert any(t[1] == side and abs(t[0] - d) <= 30 for t in tel), (d, side)


@pytest.mark.parametrize("tid", PLACED)
def test_turn_count_matches_the_published_list(tid):
    tp = TRACKS[tid]
    pub = tp["turns_published"]
    numbers = [str(t["number"]) for t in tp["turns"]]
    whole = [n for n in numbers if n.isdigit()]          # 3A, 12a: part of a numbered corner on the map
    missing = set(map(str, pub.get("not_on_map") or {}))
    assert len(whole) + len(missing) == pub["count"], (tid, whole, missing)
    assert not missing & set(numbers)
    assert sorted({int(n) for n in whole} | {int(n) for n in missing}) == list(range(1, pub["count"] + 1))


@pytest.mark.parametrize("tid", PLACED)
def test_turns_increase_with_distance_and_lie_on_the_lap(tid):
    tp = TRACKS[tid]
    by_number = sorted(tp["turns"], key=lambda t: U.turn_key(t["number"]))
    d = np.array([float(t["distance_m"]) for t in by_number])
    assert (np.diff(d) > 0).all(), d
    assert 0 < d[0] and d[-1] < tp["length_m"]
    lines = tp["subsection_lines_m"]
    edges = np.cumsum([0.0, *tp["sector_lengths_m"]])
    for i, x in enumerate(lines):                       # each sub-section line inside its own sector
        assert edges[i] < x < edges[i + 1]


@pytest.mark.parametrize("tid", PLACED)
def test_each_turn_in_the_sector_the_map_draws_it_in(tid):
    tp = TRACKS[tid]
    on_map = tp["turns_published"]["sectors_on_map"]
    where = {str(t["number"]): _sector(tp, float(t["distance_m"])) for t in tp["turns"]}
    assert sorted(n for ns in on_map.values() for n in ns) == sorted(where)
    for sector, numbers in on_map.items():
        for n in numbers:
            assert where[str(n)] == sector, (tid, n, where[str(n)], sector)


@pytest.mark.parametrize("tid", PLACED)
def test_directions_as_published(tid):
    tp = TRACKS[tid]
    pub = tp["turns_published"]
    got = {str(t["number"]): t.get("direction") for t in tp["turns"]}
    for n, way in (pub.get("directions") or {}).items():
        assert got[str(n)] == way, (tid, n, got[str(n)], way)
    if pub.get("direction_counts"):      # COTA: 11 left-handers, 9 right-handers (Turn 4's 10 deg bend counted too)
        fp, xp = np.cumsum([0.0, *tp["sector_lengths_m"]]), [0.0, *tp["sector_fractions"], 1.0]
        signs = [U.heading_change_deg(tp["outline"], float(np.interp(t["distance_m"], fp, xp)), 80.0 / tp["length_m"])
                 for t in tp["turns"]]
        assert {"L": sum(a < 0 for a in signs), "R": sum(a > 0 for a in signs)} == pub["direction_counts"]


@pytest.mark.parametrize("tid", PLACED)
def test_directions_follow_the_committed_outline(tid):
    # the yaml's direction is the outline's own heading change at the turn (no PDF needed to check it)
    tp = TRACKS[tid]
    fp = np.cumsum([0.0, *tp["sector_lengths_m"]])
    xp = [0.0, *tp["sector_fractions"], 1.0]
    for t in tp["turns"]:
        f = float(np.interp(float(t["distance_m"]), fp, xp))
        a = U.heading_change_deg(tp["outline"], f, 80.0 / tp["length_m"])
        assert abs(abs(a) - t["turn_deg"]) <= 3, (tid, t, a)
        if t.get("direction"):
            assert t["direction"] == ("R" if a > 0 else "L")


@pytest.mark.skipif(not TRD.is_dir(), reason="the official maps (shared/trd) are not on this machine")
def test_committed_turns_are_a_fresh_placement_from_the_maps():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "place_turns.py"), "--check", "--trd", str(TRD)],
                       capture_output=True, text=True, env={"PYTHONPATH": str(ROOT / "lib"), "PATH": "/usr/bin"})
    assert r.returncode == 0, r.stderr


def test_labels_on_hand_made_turns():
    track = {"sector_lengths_m": [1000.0, 1000.0, 1000.0], "subsection_lines_m": [400.0, 1500.0, 2600.0],
             "turns": [{"number": "1", "distance_m": 200}, {"number": "2", "distance_m": 390},
                       {"number": "3", "distance_m": 700}, {"number": "4", "distance_m": 1200},
                       {"number": "4a", "distance_m": 1300}, {"number": "5", "distance_m": 2900}],
             "turns_published": {"names": {"3": "Big Bend", "5": "Last", "4a": "Last"}}}
    assert U.section_labels(track) == {
        "s1": "S1 (Turns 1\u20133, Big Bend)", "im1a": "IM1A (Turns 1\u20132)", "im1": "IM1 (Turn 3, Big Bend)",
        "s2": "S2 (Turns 4\u20134a, Last)", "im2a": "IM2A (Turns 4\u20134a, Last)", "im2": "IM2 (no numbered turn)",
        "s3": "S3 (Turn 5, Last)", "im3a": "IM3A (no numbered turn)", "fl": "FL (Turn 5, Last)"}
    no_lines = {**track, "subsection_lines_m": None}
    assert U.section_labels(no_lines)["im1"] == "IM1 (second part of S1: Turns 1\u20133, Big Bend)"
    assert U.section_labels({**track, "turns": []}) == {}


def test_coaching_names_sections_in_official_turns_barber_keeps_corners():
    p = objective.section_places("road-america", ["s3", "im1a", "im2"])
    assert p == {"s3": "S3 (Turns 12\u201314, Canada Corner)", "im1a": "IM1A (Turn 1)",
                 "im2": "IM2 (Turns 8\u201311, Carousel, The Kink)"}
    assert objective.section_places("cota", ["im1a", "im1"]) == {"im1a": "IM1A (Turn 1)", "im1": "IM1 (Turns 2\u20134)"}
    assert objective.section_places("barber", ["s1"]) == {"s1": "S1 (C1\u2013C3)"}     # not placed: the old wording


def test_track_document_serves_the_same_labels():
    from kaizenlap.store.ingest_documents import track_documents

    docs = {d["track_id"]: d for d in track_documents({})}
    assert docs["sebring"]["section_labels"]["fl"] == "FL (Turn 17, Sunset Bend)"
    assert docs["sebring"]["section_labels"] == U.section_labels(TRACKS["sebring"])
    assert [t["number"] for t in docs["vir"]["turns"]][-5:] == ["12a", "14", "15", "16", "17"]
    assert docs["barber"]["turns"] is None and docs["barber"]["section_labels"] is None


def _turn_brief():
    data = json.loads(corpus.CORPUS.read_text(encoding="utf-8"))
    d = dict(data["brief"], track_id="cota")
    d["places"] = objective.section_places("cota", list(d.get("sections") or []))
    d["turns"] = [t["number"] for t in objective.track_turns("cota")]
    return corpus.brief_of(d), data


def test_validator_turn_numbers_in_labels_are_no_figures_and_stray_turns_are_caught():
    brief, data = _turn_brief()
    right = next(c["answer"] for c in data["right"])
    text = right if isinstance(right, str) else json.dumps(right, ensure_ascii=False)
    for sec, old in (data["brief"].get("places") or {}).items():      # the corpus brief is Barber's
        text = text.replace(old, brief.places[sec])
    base = json.loads(text)
    sec = base["actions"][0]["section"]
    label = brief.places[sec]
    assert "Turn" in label
    ok = json.loads(json.dumps(base))
    ok["headline"] = f"{label} is where to look first; Turn 2 and T3 are corners of this track."
    assert validate(json.dumps(ok), brief).ok, validate(json.dumps(ok), brief).errors
    bad = json.loads(json.dumps(base))
    bad["headline"] = f"{label} is where to look first; Turn 25 is the key."
    errors = validate(json.dumps(bad), brief).errors
    assert any("'Turn 25' is no corner" in e for e in errors), errors


def test_report_names_the_action_section_in_turns():
    from kaizenlap.coaching.report import car_markdown

    car = {"car": "7", "track_id": "cota", "headline": "h", "generator": {"label": "deterministic", "validation": "ok"},
           "hypotheses": [], "actions": [{"section": "im1a", "action": "a", "evidence": ["x"],
                                          "measure": {"metric": "m", "target": 1.0, "over_laps": 5}}]}
    assert "action \\[IM1A \\(Turn 1\\)\\]" in car_markdown(car)              # Markdown-escaped brackets
    assert "action \\[IM1A \\(first part of S1, C1\u2013C3\\)\\]" in car_markdown({**car, "track_id": "barber"})
