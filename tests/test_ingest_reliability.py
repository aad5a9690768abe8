"""Issue 18, items 3, 7 and 8: inputs that published nothing, lost data silently or aborted discovery. Each
input is built at test time from the hand-made mini race (tests/minirace.py): race 1 intact beside a race 2
(or a zip, a folder) made hostile; what must come out is stated by hand (laps, cars, instants), never taken
from KaizenLap's own logic."""
from __future__ import annotations

import io
import os
import shutil
import warnings
import zipfile
from pathlib import Path

import pandas as pd
import pytest

import minirace
from test_store_support import BACKENDS, firestore_emulator, new_store_url  # noqa: F401
from hostile import write_zip_bomb
from kaizenlap.core import ids
from kaizenlap.ingest import files as sources
from kaizenlap.ingest.loader import load

MINI_LAPS, MINI_CLEAN = 24, 12      # clean for lap-time statistics (11 for sections: one lap lacks a split)


def _season(tmp_path: Path) -> tuple[Path, dict[str, Path]]:
    """``data/barber``: race 1 and race 2 as flat files; returns the root and race 2's files by role."""
    root = tmp_path / "data"
    minirace.write_race(root / "barber", 1)
    return root, minirace.write_race(root / "barber", 2)


def _load(*inputs):
    races, issues = load(list(inputs), use_cache=False)
    return {r.race_id: r for r in races}, issues


def _race1_intact(races) -> None:
    r1 = races["barber-r1"]
    assert r1.status == "loaded" and len(r1.laps) == MINI_LAPS and r1.clean_laps == MINI_CLEAN


def _codes(race, code):
    return [i for i in race.issues if i.code == code]


def _set_numbers(path: Path, old: str, new: str) -> list[int]:
    """Rewrite the NUMBER of every row of car ``old``; returns the lines (1-based) rewritten."""
    lines = path.read_text(encoding="utf-8").splitlines()
    hit = []
    for i, line in enumerate(lines[1:], start=2):
        f = line.split(";")
        if f[0] == old:
            f[0] = new
            lines[i - 1] = ";".join(f)
            hit.append(i)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return hit


# ------------------------------------------------------------------------------------------- item 3: car numbers

def test_car_number_over_firestore_id_limit_drops_that_car_with_file_line_column(tmp_path):
    root, files = _season(tmp_path)
    long_number = "9" * 1490                                   # doc ids built from it exceed 1,500 bytes
    lines = _set_numbers(files["sections"], "7", long_number)
    races, _ = _load(root)
    _race1_intact(races)
    r2 = races["barber-r2"]
    [issue] = _codes(r2, "bad_car_number")
    assert issue.severity == "error" and issue.column == "NUMBER" and issue.line == lines[0] == 2
    assert issue.file == "data/barber/" + files["sections"].name and "8 row(s) dropped" in issue.message
    assert r2.status == "loaded" and sorted(r2.laps["car"].unique()) == ["0", "03"] and len(r2.laps) == 16
    for car, lap in zip(r2.laps["car"], r2.laps["lap"]):           # every id built from a kept car is valid
        assert ids.valid_doc_id(ids.doc_id(r2.race_id, car, ids.lap_key(lap), "im3a"))


def test_inspect_shows_the_dropped_car_with_its_file_line_and_column(tmp_path, capsys):
    """``inspect`` on the same season: not silent (the entry, with its file, line and column, under race 2) and
    exit 0 as the README says (every race loaded; the car dropped is in its race's ledger)."""
    from kaizenlap.cli import main
    root, files = _season(tmp_path)
    _set_numbers(files["sections"], "7", "9" * 1490)
    assert main(["inspect", str(root), "--no-cache"]) == 0
    out = capsys.readouterr().out
    race2 = out[out.index("== barber-r2"):]
    assert "[error] bad_car_number: car number '9999" in race2 and "(1490 bytes)" in race2
    assert f"{files['sections'].name}, line 2, column NUMBER)" in race2


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_season_with_a_dropped_car_publishes_on_both_stores(tmp_path, request, backend):
    """The issue's case end to end: a 1,490-byte car number in race 2 once made the store refuse the whole run
    ("invalid document id ... nothing is published"). Now both races' documents publish, on SQLite and on the
    Firestore emulator, and race 2 is served with its two other cars."""
    from fastapi.testclient import TestClient

    from kaizenlap.store import open_store, publish_documents
    from kaizenlap.tasks.inprocess import documents_for_races
    from serve.app import create_app
    root, files = _season(tmp_path)
    _set_numbers(files["sections"], "7", "9" * 1490)
    races, _ = _load(root)
    docs, meta = documents_for_races(list(races.values()))
    url = new_store_url(backend, tmp_path, request)
    with open_store(url) as store:
        publish_documents(store, "run-1", docs, meta)
    with TestClient(create_app(url)) as c:
        for rid, cars in (("barber-r1", ["0", "03", "7"]), ("barber-r2", ["0", "03"])):
            got = sorted(x["car"] for x in c.get(f"/races/{rid}/cars").json()["items"])
            assert got == cars, (rid, got)
            assert c.get(f"/races/{rid}/composite").status_code == 200


def test_race_whose_every_car_number_is_unusable_fails(tmp_path):
    root, files = _season(tmp_path)
    for car, bad in (("7", "13/B"), ("03", "."), ("0", "__x__")):
        _set_numbers(files["sections"], car, bad)
    races, _ = _load(root)
    _race1_intact(races)
    r2 = races["barber-r2"]
    assert r2.status == "failed" and r2.laps.empty
    assert {i.car for i in _codes(r2, "bad_car_number")} == {"13/B", ".", "__x__"}


def test_invisible_and_fullwidth_characters_in_car_numbers_are_normalised(tmp_path):
    root, files = _season(tmp_path)
    _set_numbers(files["sections"], "7", "7\u200b")           # a zero-width space after the 7
    _set_numbers(files["sections"], "03", "\uff10\uff13")       # full-width digits 0 3
    races, _ = _load(root)
    r2 = races["barber-r2"]
    assert r2.status == "loaded" and sorted(r2.laps["car"].unique()) == ["0", "03", "7"] and len(r2.laps) == 24
    norm = {(i.car, i.line, i.column) for i in _codes(r2, "car_number_normalised")}
    assert norm == {("7", 2, "NUMBER"), ("03", 10, "NUMBER")}
    # the normalised cars reconcile with the official files written with plain numbers
    assert not [i for i in r2.issues if i.severity == "error"]


@pytest.mark.parametrize("parts", [("x" * 1501,), ("run", "é" * 500), ("9" * 1495, "l0001")])
def test_doc_id_refuses_an_id_over_firestores_1500_bytes(parts):
    with pytest.raises(ValueError):
        ids.doc_id(*parts)


@pytest.mark.parametrize("part, escaped", [(".", "=2E"), ("..", "=2E=2E"), ("__x__", "=5F_x__"), ("13/B", "13=2FB"),
                                           ("7\u200b", "7=E2=80=8B")])
def test_doc_id_escapes_what_firestore_refuses(part, escaped):
    assert ids.doc_id(part) == escaped and ids.valid_doc_id(escaped)


def test_longest_accepted_car_gives_valid_ids():
    car = "Z" * ids.CAR_NUMBER_MAX_CHARS + "-99"               # the longest number, a shared instance
    assert ids.check_id("car", car) == car                      # the API's path parameter accepts it
    did = ids.doc_id("road-america-r9", car, ids.lap_key(1000), "im3a")
    assert did == f"road-america-r9~{car}~l1000~im3a" and ids.valid_doc_id(did)


# ------------------------------------------------------------------------------------------- item 7: silent losses

def _zip_of(files: dict[str, Path], zp: Path, prefix: str = "barber/") -> Path:
    with zipfile.ZipFile(zp, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in files.values():
            zf.write(p, prefix + p.name)
    return zp


def _race2_elsewhere(tmp_path: Path) -> dict[str, Path]:
    return minirace.write_race(tmp_path / "r2" / "barber", 2)


def test_zip_inside_a_zip_is_read(tmp_path):
    root = tmp_path / "data"
    minirace.write_race(root / "barber", 1)
    inner = _zip_of(_race2_elsewhere(tmp_path), tmp_path / "barber_r2.zip")
    with zipfile.ZipFile(root / "outer.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(inner, "barber_r2.zip")
    races, issues = _load(root)
    _race1_intact(races)
    r2 = races["barber-r2"]
    assert r2.status == "loaded" and len(r2.laps) == MINI_LAPS and r2.clean_laps == MINI_CLEAN
    assert r2.files["sections"] == ["data/outer.zip!barber_r2.zip!barber/"
                                    "23_AnalysisEnduranceWithSections_Race 2_Anonymized.CSV"]
    assert not [i for i in issues if i.severity == "error"]


def test_bomb_inside_a_zip_is_refused(tmp_path):
    root = tmp_path / "data"
    minirace.write_race(root / "barber", 1)
    bomb = write_zip_bomb(tmp_path / "bomb.zip", "barber/23_AnalysisEnduranceWithSections_Race 3.CSV", 1024)
    with zipfile.ZipFile(root / "outer.zip", "w", zipfile.ZIP_STORED) as zf:
        zf.write(bomb, "bomb.zip")
    races, _ = _load(root)
    _race1_intact(races)
    r3 = races["barber-r3"]
    assert r3.status == "failed" and _codes(r3, "over_limit")[0].file.endswith("bomb.zip!barber/"
                                                                                "23_AnalysisEnduranceWithSections_Race 3.CSV")


def test_backslash_member_paths_are_folders(tmp_path):
    """A Windows tool's zip: ``Barber\\R1\\23_….CSV`` (the race number only in the folder)."""
    folder = tmp_path / "src"
    written = minirace.write_race(folder, 1)
    zp = tmp_path / "data" / "gr_cup.zip"
    zp.parent.mkdir()
    with zipfile.ZipFile(zp, "w", zipfile.ZIP_DEFLATED) as zf:
        for role, p in written.items():
            zf.write(p, "Barber\\R1\\" + p.name.replace("_Race 1", ""))
    races, issues = _load(zp)
    assert list(races) == ["barber-r1"], [str(i) for i in issues]
    _race1_intact(races)


def test_same_member_name_twice_identical_is_one_copy_with_an_entry(tmp_path):
    files = _race2_elsewhere(tmp_path)
    zp = tmp_path / "data" / "barber_r2.zip"
    zp.parent.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                      # zipfile warns "Duplicate name"
        with zipfile.ZipFile(zp, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in files.values():
                zf.write(p, "barber/" + p.name)
            zf.write(files["sections"], "barber/" + files["sections"].name)
    races, _ = _load(zp)
    r2 = races["barber-r2"]
    assert r2.status == "loaded" and len(r2.laps) == MINI_LAPS
    [dup] = _codes(r2, "duplicate_file")
    assert dup.file.endswith(files["sections"].name + " (copy 2)")


def test_same_member_name_twice_different_fails_the_race(tmp_path):
    files = _race2_elsewhere(tmp_path)
    text = files["sections"].read_text()
    other = text.replace(";Toyota;", ";Lexus;", 1)                 # one field of one row differs
    assert other != text
    zp = tmp_path / "data" / "barber_r2.zip"
    zp.parent.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(zp, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in files.values():
                zf.write(p, "barber/" + p.name)
            zf.writestr("barber/" + files["sections"].name, other)
    races, _ = _load(zp)
    r2 = races["barber-r2"]
    assert r2.status == "failed" and _codes(r2, "conflicting_files")


@pytest.mark.parametrize("weather_start_local", ["23:50", "00:00"])
def test_race_across_local_midnight_keeps_its_crossings_in_order(tmp_path, monkeypatch, weather_start_local):
    """Laps from 23:50 CDT on 2025-09-06 past midnight; the weather starts before or after midnight. Every
    crossing is 2025-09-07 04:50:00 UTC + (the lap's HOUR - 23:50:00), HOUR counted on past 24:00."""
    start = 23 * 3600 + 50 * 60
    monkeypatch.setattr(minirace, "START_LOCAL_S", start)
    real_fmt_hour = minirace.fmt_hour
    monkeypatch.setattr(minirace, "fmt_hour", lambda s: real_fmt_hour(s % 86400))
    root = tmp_path / "data"
    files = minirace.write_race(root / "barber", 1)
    start_utc = pd.Timestamp("2025-09-07 04:50:00", tz="UTC")
    epoch = int(start_utc.timestamp()) + (0 if weather_start_local == "23:50" else 600)
    files["weather"].write_text(minirace.weather_text(epoch))
    races, _ = _load(root)
    r1 = races["barber-r1"]
    assert r1.status == "loaded" and len(r1.laps) == MINI_LAPS
    expected = {(r["car"], r["lap"]): start_utc + pd.Timedelta(milliseconds=round((r["hour"] - start) * 1000))
                for r in minirace.lap_rows()}
    assert any(r["hour"] >= 86400 for r in minirace.lap_rows())             # the race does cross midnight
    got = {(c, int(n)): t for c, n, t in zip(r1.laps["car"], r1.laps["lap"], r1.laps["crossing_utc"])}
    assert got.keys() == expected.keys()
    assert max(abs(got[k] - expected[k]) for k in got) < pd.Timedelta(microseconds=10)
    assert r1.date == "2025-09-06" and _codes(r1, "midnight_crossing")


def test_mixed_utf8_and_latin1_give_one_spelling(tmp_path):
    """TEAM and DRIVER_NAME appended; lines alternate UTF-8 and Latin-1, one line mixes both in its fields."""
    root, files = _season(tmp_path)
    path = files["sections"]
    lines = path.read_text().splitlines()
    out = [(lines[0] + ";DRIVER_NAME;TEAM").encode()]
    for n, line in enumerate(lines[1:], start=2):
        if n == 5:      # driver name in UTF-8, team in Latin-1, on one line
            out.append(line.encode() + b";" + "José".encode() + b";" + "Équipe Légère".encode("latin-1"))
        else:
            enc = "utf-8" if n % 2 else "latin-1"
            out.append(f"{line};José;Équipe Légère".encode(enc))
    path.write_bytes(b"\n".join(out) + b"\n")
    races, _ = _load(root)
    r2 = races["barber-r2"]
    assert r2.status == "loaded" and len(r2.laps) == MINI_LAPS
    assert set(r2.laps["team"]) == {"Équipe Légère"} and set(r2.laps["driver_name"]) == {"José"}
    [enc] = _codes(r2, "encoding_repaired")
    assert enc.line == 2 and enc.file.endswith(path.name) and enc.message.startswith("13 line(s)")


def test_doubled_weather_rows_and_a_reading_30h_off(tmp_path):
    root, files = _season(tmp_path)
    path = files["weather"]
    lines = path.read_text().splitlines()
    doubled = [lines[0]] + [l for l in lines[1:] for _ in (0, 1)]               # rows 2..33: each row twice
    far = lines[5].split(";")
    far[0] = str(int(far[0]) + 30 * 3600)
    clash = lines[3].split(";")
    clash[2] = "35.00"                                                           # same time, other AIR_TEMP
    path.write_text("\n".join(doubled + [";".join(far), ";".join(clash)]) + "\n")
    races, _ = _load(root)
    r2 = races["barber-r2"]
    assert r2.status == "loaded" and len(r2.weather) == 16
    assert list(r2.weather["air_temp_c"]) == pytest.approx([29.0 + 0.1 * i for i in range(16)])
    [dup] = _codes(r2, "duplicate_rows")
    assert dup.file.endswith(path.name) and dup.message.startswith("16 rows") and dup.line == 3
    [far_issue] = _codes(r2, "outside_race_window")
    assert far_issue.line == 34 and far_issue.column == "TIME_UTC_SECONDS"
    assert [(i.line, i.column) for i in _codes(r2, "bad_value")] == [(35, "TIME_UTC_SECONDS")]


def test_race_0_and_race_99_copies_are_not_races(tmp_path):
    root, _ = _season(tmp_path)
    minirace.write_race(root / "barber" / "copies", 0)
    minirace.write_race(root / "barber" / "copies", 99)
    races, issues = _load(root)
    assert sorted(races) == ["barber-r1", "barber-r2"]
    bad = [i for i in issues if i.code == "bad_race_number"]
    assert len(bad) == 8 and all(i.severity == "error" for i in bad)
    assert {i.file.split("_Race ")[1].split("_")[0] for i in bad} == {"0", "99"}


# ------------------------------------------------------------------------------------------- item 8: limits

def _deep_folder(root: Path, total_bytes: int) -> Path:
    """A chain of folders whose path is over ``total_bytes`` (made relative to open folders: the system refuses
    paths over 4,096 bytes)."""
    name = "d" * 200
    fd = os.open(root, os.O_RDONLY)
    depth = total_bytes // (len(name) + 1) + 1
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fd)
            nfd = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        with open(os.open("23_AnalysisEnduranceWithSections_Race 3.CSV", os.O_WRONLY | os.O_CREAT, dir_fd=fd),
                  "w") as fh:
            fh.write(minirace.sections_text())
    finally:
        os.close(fd)
    return root.joinpath(*[name] * depth)


def test_folder_path_over_4096_bytes_is_an_entry_and_the_rest_goes_on(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KAIZENLAP_LOG", str(tmp_path / "k.log"))
    root, _ = _season(tmp_path)
    deep = _deep_folder(root / "barber", 4200)
    assert len(str(deep).encode()) > 4096
    races, issues = _load(root)
    _race1_intact(races)
    assert races["barber-r2"].status == "loaded" and "barber-r3" not in races
    [entry] = [i for i in issues if i.code == "unreadable_file"]
    assert entry.severity == "error" and str(deep).startswith(entry.file) and len(entry.file.encode()) > 3800
    from kaizenlap.cli import main
    assert main(["inspect", str(root), "--json", "--no-cache"]) == 1
    assert '"barber-r2"' in capsys.readouterr().out
    shutil.rmtree(root / "barber", ignore_errors=True)


def test_lap_file_over_the_laps_limit_fails_its_race(tmp_path, monkeypatch):
    root, files = _season(tmp_path)
    lim = dict(sources.limits())
    assert 0 < lim["max_laps_per_race"] < 100_000          # a 100,000-lap race is refused (docs 1.8)
    monkeypatch.setattr(sources, "limits", lambda: {**lim, "max_laps_per_race": MINI_LAPS - 1})
    races, _ = _load(root)
    for r in races.values():
        assert r.status == "failed"
        [issue] = _codes(r, "over_limit")
        assert issue.file.endswith(f"Race {r.race_number}_Anonymized.CSV") and "24 data rows" in issue.message
    monkeypatch.setattr(sources, "limits", lambda: {**lim, "max_laps_per_race": MINI_LAPS})
    races, _ = _load(root)
    _race1_intact(races)
