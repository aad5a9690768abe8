"""Malformed input: each case gives a clear message naming file, line and column, and every other
race still loads. Two hand-made races side by side; race 2's files are damaged, race 1 must be intact."""
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import minirace
from kaizenlap.ingest.loader import load

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def season(tmp_path):
    folder = tmp_path / "data" / "barber"
    minirace.write_race(folder, 1)
    files = minirace.write_race(folder, 2)
    return tmp_path / "data", files


def _load(root):
    races, issues = load([root], use_cache=False)
    by_id = {r.race_id: r for r in races}
    r1 = by_id["barber-r1"]
    assert r1.status == "loaded" and len(r1.laps) == 24 and r1.clean_laps == 12     # 11 for section statistics
    assert not [i for i in r1.issues if i.severity == "error"]
    return by_id, issues


def _name(path: Path) -> str:
    """How the ledger names a file of the input ``tmp/data``: from the input's parent (kaizenlap.ingest.sources)."""
    parts = path.parts
    return "/".join(parts[parts.index("data"):])


def _one(race, code):
    hits = [i for i in race.issues if i.code == code]
    assert hits, f"no {code} in {[str(i) for i in race.issues]}"
    return hits[0]


def test_truncated_row(season):
    root, files = season
    path = files["sections"]
    text = path.read_text()
    path.write_text(text.rstrip("\n")[:-60] + "\n")   # last row cut off mid-write
    races, _ = _load(root)
    r2 = races["barber-r2"]
    issue = _one(r2, "malformed_row")
    assert issue.file == _name(path) and issue.line == 25 and issue.column  # the first missing column
    assert r2.status == "loaded" and len(r2.laps) == 23


def test_wrong_delimiter(season):
    root, files = season
    path = files["sections"]
    path.write_text(path.read_text().replace(";", ","))
    races, _ = _load(root)
    issue = _one(races["barber-r2"], "wrong_delimiter")
    assert races["barber-r2"].status == "failed"
    assert issue.file == _name(path) and issue.line == 1 and "';'" in issue.message


def test_missing_required_column(season):
    root, files = season
    path = files["sections"]
    lines = path.read_text().splitlines()
    header = [h.strip() for h in lines[0].split(";")]
    i = header.index("LAP_TIME")
    path.write_text("\n".join(";".join(f for j, f in enumerate(l.split(";")) if j != i) for l in lines) + "\n")
    races, _ = _load(root)
    issue = _one(races["barber-r2"], "missing_column")
    assert (issue.file, issue.line, issue.column) == (_name(path), 1, "LAP_TIME")
    assert races["barber-r2"].status == "failed"


def test_garbage_in_time_fields(season):
    root, files = season
    path = files["sections"]
    lines = path.read_text().splitlines()
    f = lines[3].split(";")
    f[8] = "4O.5OO"              # S2, letter O for zero
    f[24], f[25] = "", ""        # no S1/S2_SECONDS either, so S2 comes from the broken field
    lines[3] = ";".join(f)
    g = lines[5].split(";")
    g[3] = "1:3x.000"            # LAP_TIME: the row cannot be placed
    lines[5] = ";".join(g)
    path.write_text("\n".join(lines) + "\n")
    races, _ = _load(root)
    r2 = races["barber-r2"]
    bad = {(i.line, i.column) for i in r2.issues if i.code == "bad_value"}
    assert (4, "S2") in bad and (6, "LAP_TIME") in bad
    assert all(i.file == _name(path) for i in r2.issues if i.code == "bad_value")
    assert len(r2.laps) == 23
    lap = r2.laps[r2.laps["source_line"] == 4].iloc[0]
    # S2 is rebuilt from its two sub-sections (IM2a 15.000 + IM2 24.300), not left as garbage or zero
    assert lap["s2_s"] == pytest.approx(39.3)
    f = lines[3].split(";")
    f[31:35] = ["", "", "", ""]  # now IM2a/IM2 are gone too: S2 is missing, the lap out of section statistics
    lines[3] = ";".join(f)
    path.write_text("\n".join(lines) + "\n")
    races, _ = _load(root)
    lap = races["barber-r2"].laps.query("source_line == 4").iloc[0]
    # a valid lap time still counts for lap-time statistics (issue 19, item 2); sections it cannot feed
    assert lap["flag_missing_sectors"] and not lap["is_clean_sections"] and lap["is_clean"]


def test_empty_file(season):
    root, files = season
    files["weather"].write_text("")
    races, _ = _load(root)
    r2 = races["barber-r2"]
    issue = _one(r2, "unreadable_file")
    assert issue.file == _name(files["weather"]) and "empty" in issue.message
    assert r2.status == "loaded" and len(r2.weather) == 0 and len(r2.laps) == 24


def test_binary_junk(season):
    root, files = season
    files["best10"].write_bytes(bytes(range(256)) * 40)
    races, _ = _load(root)
    r2 = races["barber-r2"]
    issue = _one(r2, "unreadable_file")
    assert issue.file == _name(files["best10"]) and issue.line == 1 and "binary" in issue.message
    assert r2.status == "loaded"


def test_zip_with_nothing_relevant(season, tmp_path):
    root, _ = season
    junk = tmp_path / "junk.zip"
    with zipfile.ZipFile(junk, "w") as zf:
        zf.writestr("notes.txt", "nothing here")
        zf.writestr("barber/photo.jpg", b"\xff\xd8\xff")
    races, issues = load([root, junk], use_cache=False)
    assert {r.race_id for r in races} == {"barber-r1", "barber-r2"}
    assert [(i.code, i.file) for i in issues] == [("no_race_files", str(junk))]
    not_a_zip = tmp_path / "broken.zip"
    not_a_zip.write_bytes(b"PK\x03\x04 this is not really a zip")
    races, issues = load([root, not_a_zip], use_cache=False)
    assert len(races) == 2 and any(i.code == "unreadable_file" and i.file == str(not_a_zip) for i in issues)


def test_duplicated_race_files(season):
    root, files = season
    copy = root / "barber" / "copy" / files["sections"].name
    copy.parent.mkdir()
    copy.write_bytes(files["sections"].read_bytes())
    races, _ = _load(root)
    issue = _one(races["barber-r2"], "duplicate_file")
    assert _name(files["sections"]) in issue.message or _name(copy) in issue.message
    assert races["barber-r2"].status == "loaded" and len(races["barber-r2"].laps) == 24
    # a copy that differs: neither can be trusted
    copy.write_text(copy.read_text().replace("1:39.500", "1:39.600"))
    races, _ = _load(root)
    assert races["barber-r2"].status == "failed"
    assert _one(races["barber-r2"], "conflicting_files").file in {_name(copy), _name(files["sections"])}


def test_cli_reports_failed_race_and_goes_on(season):
    root, files = season
    files["sections"].write_text("NUMBER,LAP_NUMBER,LAP_TIME\n1,1,1:40.000\n")
    proc = subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), "inspect", str(root), "--json",
                           "--no-cache"], capture_output=True, text=True)
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    status = {r["race_id"]: r["status"] for r in doc["races"]}
    assert status == {"barber-r1": "loaded", "barber-r2": "failed"}
    r2 = next(r for r in doc["races"] if r["race_id"] == "barber-r2")
    assert r2["issues"][0]["code"] == "wrong_delimiter" and r2["issues"][0]["line"] == 1
