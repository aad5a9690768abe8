"""Issue 9: one named regression test per item (item 6, kill -9 orphans, is the pipeline's). Each hostile
input is built at test time from the hand-made mini race (tests/minirace.py) or by tests/hostile.py: two
races side by side, race 2 damaged; race 1 must load intact and race 2 fail (or lose exactly the bad rows)
with an error naming file, line and column."""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import minirace
from hostile import write_zip_bomb
from kaizenlap.ingest import files as sources   # the limits are read where a file is read
from kaizenlap.ingest.loader import load

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = "barber/23_AnalysisEnduranceWithSections_Race 2_Anonymized.CSV"



def _shown(path) -> str:
    """A race file's name as ingest shows it: its path from the input's parent folder (the input is the
    test's ``data`` folder)."""
    parts = Path(path).parts
    return "/".join(parts[parts.index("data"):])

def _season(tmp_path: Path, zipped: bool = False):
    """Race 1 as files; race 2 as files (``files`` role -> path) or as one zip (``zip`` path)."""
    root = tmp_path / "data"
    minirace.write_race(root / "barber", 1)
    files = minirace.write_race(tmp_path / "r2" / "barber", 2)
    if not zipped:
        for p in files.values():
            shutil.move(p, root / "barber" / p.name)
        return root, {k: root / "barber" / p.name for k, p in files.items()}
    zp = root / "barber_r2.zip"
    with zipfile.ZipFile(zp, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in files.values():
            zf.write(p, f"barber/{p.name}")
    return root, zp


def _load(root):
    races, issues = load([root], use_cache=False)
    by_id = {r.race_id: r for r in races}
    r1 = by_id["barber-r1"]
    # 12 laps clean for lap-time statistics, 11 for section statistics (one lap lacks a split; 19 item 2)
    assert r1.status == "loaded" and len(r1.laps) == 24 and r1.clean_laps == 12
    assert int(r1.laps["is_clean_sections"].sum()) == 11
    assert not [i for i in r1.issues if i.severity == "error"]
    return by_id, issues


def _error(race, code):
    hits = [i for i in race.issues if i.code == code and i.severity == "error"]
    assert hits, f"no {code} error in {[str(i) for i in race.issues]}"
    return hits[0]


def _edit_field(path: Path, line: int, field: int, value: str) -> None:
    lines = path.read_text().splitlines()
    f = lines[line - 1].split(";")
    f[field] = value
    lines[line - 1] = ";".join(f)
    path.write_text("\n".join(lines) + "\n")


def _patch(zp: Path, local_offset: int, central_offset: int, fn) -> None:
    b = bytearray(zp.read_bytes())
    i, j = b.find(b"PK\x03\x04"), b.find(b"PK\x01\x02")
    fn(b, i + local_offset, j + central_offset)
    zp.write_bytes(bytes(b))


def _first_member_data(b: bytearray) -> int:
    i = b.find(b"PK\x03\x04")
    n, m = struct.unpack("<HH", b[i + 26:i + 30])
    return i + 30 + n + m


# -------------------------------------------------------------------------------- damaged files and CSV errors

@pytest.mark.parametrize("damage", ["bad_crc", "corrupt_deflate", "encrypted"])
def test_damaged_zip_entry_fails_its_race_only(tmp_path, damage):
    root, zp = _season(tmp_path, zipped=True)
    b = bytearray(zp.read_bytes())
    i, j = b.find(b"PK\x03\x04"), b.find(b"PK\x01\x02")     # the first member is the sections file
    if damage == "bad_crc":
        b[i + 14] ^= 0xFF
        b[j + 16] ^= 0xFF
    elif damage == "corrupt_deflate":
        s = _first_member_data(b)
        b[s + 5:s + 60] = b"\xff" * 55
    else:
        b[i + 6] |= 1
        b[j + 8] |= 1
    zp.write_bytes(bytes(b))
    races, _ = _load(root)
    r2 = races["barber-r2"]
    issue = _error(r2, "unreadable_file")
    assert r2.status == "failed" and issue.file == f"{zp.relative_to(root.parent)}!{SECTIONS}"
    expect = {"bad_crc": "CRC", "corrupt_deflate": "decompress", "encrypted": "encrypted"}[damage]
    assert expect in issue.message


@pytest.mark.parametrize("damage", ["field_over_128k", "unterminated_quote"])
def test_csv_errors_fail_the_file_with_its_line(tmp_path, damage):
    root, files = _season(tmp_path)
    value = "x" * 200_000 if damage == "field_over_128k" else '"Pro'
    path = files["sections"]
    text = path.read_text()
    if damage == "unterminated_quote":
        text += "\n".join(text.splitlines()[1:]) * 300    # > 128 KiB after the quote, as in a real file
        path.write_text(text)
    _edit_field(path, 4, 20, value)                        # line 4, CLASS
    races, _ = _load(root)
    r2 = races["barber-r2"]
    issue = _error(r2, "unreadable_file")
    assert r2.status == "failed" and (issue.file, issue.line) == (_shown(path), 4)
    if damage == "unterminated_quote":
        assert "unterminated quote" in issue.message and issue.column == "CLASS"


def test_weather_time_out_of_range_is_a_bad_value(tmp_path):
    root, files = _season(tmp_path)
    _edit_field(files["weather"], 4, 0, "1e30")
    races, _ = _load(root)
    r2 = races["barber-r2"]
    issue = _error(r2, "bad_value")
    assert (issue.file, issue.line, issue.column) == (_shown(files["weather"]), 4, "TIME_UTC_SECONDS")
    assert r2.status == "loaded" and len(r2.weather) == 15          # 16 rows, the bad one dropped


def test_duplicated_header_name(tmp_path):
    root, files = _season(tmp_path)
    path = files["sections"]
    path.write_text(path.read_text().replace("CLASS;GROUP", "CLASS;CLASS", 1))   # GROUP renamed CLASS
    races, _ = _load(root)
    r2 = races["barber-r2"]
    issue = _error(r2, "duplicate_column")
    assert r2.status == "failed" and (issue.file, issue.line, issue.column) == (_shown(path), 1, "CLASS")


def test_identical_duplicate_column_is_merged(tmp_path):
    root, files = _season(tmp_path)
    path = files["weather"]
    lines = [l + ";" + l.split(";")[2] for l in path.read_text().splitlines()]   # AIR_TEMP again at the end
    path.write_text("\n".join(lines) + "\n")
    races, _ = _load(root)
    r2 = races["barber-r2"]
    hit = [i for i in r2.issues if i.code == "duplicate_column"]
    assert hit and hit[0].severity == "warning" and r2.status == "loaded" and len(r2.weather) == 16


def test_cli_no_traceback_exit_1_and_log_file(tmp_path):
    root, zp = _season(tmp_path, zipped=True)
    b = bytearray(zp.read_bytes())
    b[b.find(b"PK\x01\x02") + 16] ^= 0xFF
    b[b.find(b"PK\x03\x04") + 14] ^= 0xFF
    zp.write_bytes(bytes(b))
    env = {**os.environ, "KAIZENLAP_LOG": str(tmp_path / "k.log")}
    proc = subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), "inspect", str(root), "--json",
                           "--no-cache"], capture_output=True, text=True, env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    status = {r["race_id"]: r["status"] for r in json.loads(proc.stdout)["races"]}
    assert status == {"barber-r1": "loaded", "barber-r2": "failed"}
    assert (tmp_path / "k.log").exists()


def test_unexpected_fault_is_a_failed_race_and_a_logged_traceback(tmp_path, monkeypatch, caplog):
    """The safety net: a fault no reader anticipated fails that race (ingest_error), never the run."""
    import kaizenlap.ingest.loader as ingest
    root, _ = _season(tmp_path)
    real = ingest.load_race

    def boom(rf):
        if rf.race_number == 2:
            raise RuntimeError("nobody expected this")
        return real(rf)
    monkeypatch.setattr(ingest, "load_race", boom)
    races, _ = _load(root)
    issue = _error(races["barber-r2"], "ingest_error")
    assert races["barber-r2"].status == "failed" and "RuntimeError" in issue.message and issue.file
    assert any("Traceback" in (r.exc_text or "") or r.exc_info for r in caplog.records)


# -------------------------------------------------------------------------------- size limits and zip bombs

def _rss_of_inspect(path: Path) -> tuple[int, dict]:
    """Peak RSS (KiB) of a fresh process running ``inspect --json`` on ``path``, and its document. VmHWM of the
    process's own memory map: ``ru_maxrss`` would carry the forking pytest process's size across exec."""
    code = ("import resource, sys, json, io, contextlib; from kaizenlap.cli import main; buf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf): rc = main(['inspect', sys.argv[1], '--json', '--no-cache'])\n"
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
            "print(json.dumps({'rc': rc, 'rss': int(hwm), "
            "'doc': json.loads(buf.getvalue())}))")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                          env={**os.environ, "KAIZENLAP_LOG": str(path.parent / "k.log")})
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return out["rss"], out


def test_zip_bomb_is_refused_and_memory_bounded(tmp_path):
    root, _ = _season(tmp_path)
    bomb = write_zip_bomb(root / "barber_r3.zip", "barber/23_AnalysisEnduranceWithSections_Race 3.CSV", 2048)
    assert bomb.stat().st_size < 3 << 20                         # 2 GiB inflated from ~2 MiB
    # A second bomb whose headers lie (declare 40 MiB, under every limit): inflating stops at the declared
    # size and the CRC check fails, so the lie costs at most the declared bytes.
    liar = write_zip_bomb(root / "barber_r4.zip", "barber/23_AnalysisEnduranceWithSections_Race 4.CSV", 1024,
                          declared_size=40 << 20)
    del liar
    rss_kib, out = _rss_of_inspect(root)
    races = {r["race_id"]: r for r in out["doc"]["races"]}
    assert out["rc"] == 1 and races["barber-r1"]["status"] == "loaded"
    assert races["barber-r3"]["status"] == "failed" and races["barber-r4"]["status"] == "failed"
    r3 = races["barber-r3"]["issues"][0]
    assert r3["code"] == "over_limit" and r3["file"].endswith("barber_r3.zip!barber/23_AnalysisEnduranceWithSections_Race 3.CSV")
    assert races["barber-r4"]["issues"][0]["code"] in ("unreadable_file", "over_limit")
    assert rss_kib < 600 * 1024, rss_kib                         # far below the 2 GiB the bomb holds


def test_limits_per_entry_and_per_race(tmp_path, monkeypatch):
    lim = dict(sources.limits())
    root, zp = _season(tmp_path, zipped=True)
    # per entry: a limit below the sections file's size (checked on the declared size before inflating;
    # CPython's zipfile never inflates past the declared size, the count while inflating is a second guard)
    monkeypatch.setattr(sources, "limits", lambda: {**lim, "max_file_bytes": 2000, "read_chunk_bytes": 512})
    [r2], _ = load([zp], use_cache=False)
    issue = _error(r2, "over_limit")
    assert r2.status == "failed" and issue.file == f"{zp.name}!{SECTIONS}" and "2000 bytes" in issue.message
    # per race: the lap file fits, the other files do not
    size = zipfile.ZipFile(zp).getinfo(SECTIONS).file_size
    monkeypatch.setattr(sources, "limits", lambda: {**lim, "max_race_bytes": size + 100})
    races, _ = load([zp], use_cache=False)
    r2 = races[0]
    over = [i for i in r2.issues if i.code == "over_limit"]
    assert r2.status == "loaded" and over and "per race" in over[0].message


# -------------------------------------------------------------------------------- duplicate rows and shared numbers

def test_exact_duplicate_rows_are_one_car(tmp_path):
    root, files = _season(tmp_path)
    path = files["sections"]
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0]] + [l for l in lines[1:] for _ in (0, 1)]) + "\n")  # every row twice
    races, _ = _load(root)
    r2 = races["barber-r2"]
    assert sorted(r2.laps["car"].unique()) == ["0", "03", "7"] and len(r2.laps) == 24
    dup = [i for i in r2.issues if i.code == "duplicate_rows"]
    assert len(dup) == 1 and dup[0].severity == "warning" and "24 rows" in dup[0].message and dup[0].line == 3
    assert not [i for i in r2.issues if i.code == "shared_car_number"]
    assert r2.clean_laps == 12 and int(r2.laps["is_clean_sections"].sum()) == 11


def test_real_restart_still_splits_a_shared_number(tmp_path):
    root, files = _season(tmp_path)
    path = files["sections"]
    lines = path.read_text().splitlines()
    car7 = [l for l in lines[1:] if l.startswith("7;")]
    other = [l.replace("Pro", "Pro", 1).replace(";1;", ";2;", 1) for l in car7[:3]]   # DRIVER_NUMBER 2: not exact
    path.write_text("\n".join([lines[0]] + lines[1:] + other) + "\n")
    races, _ = _load(root)
    r2 = races["barber-r2"]
    assert {"7-1", "7-2"} <= set(r2.laps["car"]) and (r2.laps["car"] == "7-2").sum() == 3


# -------------------------------------------------------------------------------- header-only files

def test_header_only_file_says_no_data_rows(tmp_path):
    root, files = _season(tmp_path)
    path = files["sections"]
    path.write_text(path.read_text().splitlines()[0] + "\n")
    races, _ = _load(root)
    issue = _error(races["barber-r2"], "no_data_rows")
    assert races["barber-r2"].status == "failed" and issue.file == _shown(path) and "no data rows" in issue.message


# -------------------------------------------------------------------------------- bad values, truncated zips, exit codes

@pytest.mark.parametrize("value", ["1e30", "-5", "2.5", "99999999999999999999", "1001"])
def test_bad_lap_number_is_a_bad_value_row_dropped(tmp_path, value):
    root, files = _season(tmp_path)
    _edit_field(files["sections"], 4, 2, value)              # car 7, lap 3
    races, _ = _load(root)
    r2 = races["barber-r2"]
    issue = _error(r2, "bad_value")
    assert (issue.file, issue.line, issue.column) == (_shown(files["sections"]), 4, "LAP_NUMBER")
    assert "dropped" in issue.message
    assert len(r2.laps) == 23 and sorted(r2.laps["car"].unique()) == ["0", "03", "7"]   # no phantom car
    assert r2.laps["lap"].between(1, 8).all()


def test_bad_counts_in_official_files(tmp_path):
    root, files = _season(tmp_path)
    _edit_field(files["best10"], 2, 5, "2.5")                 # BESTLAP_1_LAPNUM
    _edit_field(files["results_overall"], 2, 0, "1e30")       # POSITION
    races, _ = _load(root)
    bad = {(i.file, i.line, i.column) for i in races["barber-r2"].issues if i.code == "bad_value"}
    assert (_shown(files["best10"]), 2, "BESTLAP_1_LAPNUM") in bad
    assert (_shown(files["results_overall"]), 2, "POSITION") in bad


def test_truncated_zip_fails_its_race_exit_1(tmp_path):
    root, zp = _season(tmp_path, zipped=True)
    zp.write_bytes(zp.read_bytes()[: zp.stat().st_size // 2])
    races, issues = _load(root)
    assert races["barber-r2"].status == "failed"
    assert _error(races["barber-r2"], "unreadable_file").file == f"{zp.relative_to(root.parent)}!{SECTIONS}"
    assert [(i.code, i.severity, i.file) for i in issues] == [("unreadable_file", "error", str(zp))]
    proc = subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), "inspect", str(root), "--no-cache"],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr


# -------------------------------------------------------------------------------- the run command's help

def test_run_help_matches_what_run_does():
    proc = subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), "run", "--help"], capture_output=True,
                          text=True)
    text = " ".join(proc.stdout.split())
    assert proc.returncode == 0 and "comes later" not in text
    assert "publish" in text and "sqlite:///PATH" in text and "firestore://PROJECT" in text


def test_run_exits_1_on_an_unreadable_input_with_no_race_in_it(tmp_path):
    """A zip nothing can be recovered from holds no race to fail: `run` still processes the good race and
    exits 1, the input named in the log (the run must not report success over lost data)."""
    from kaizenlap import pipeline
    root, _ = _season(tmp_path)
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"this is not a zip at all" * 10)
    res = pipeline.run([root, junk], race_ids=["barber-r1"], engines=["pattern"], workers=1,
                       reports_dir=tmp_path / "reports", html=False, progress=False)
    assert [t.status for t in res.tasks] == ["ok"]
    assert res.exit_code == 1
    run = json.loads((res.run_dir / "run.json").read_text())
    assert run["exit_code"] == 1
    assert ("unreadable_file", "error", str(junk)) in \
        [(i["code"], i["severity"], i["file"]) for i in run["input_issues"]]
