import json
import subprocess
import sys
from pathlib import Path

import minirace

ROOT = Path(__file__).resolve().parents[1]


def run(*args):
    return subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), *map(str, args)],
                          capture_output=True, text=True)


def test_inspect_json_document(tmp_path):
    minirace.write_race(tmp_path / "barber", 1)
    proc = run("inspect", tmp_path, "--json", "--no-cache")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)           # stdout holds exactly the document
    [race] = doc["races"]
    assert {k: race[k] for k in ("race_id", "track_id", "race_number", "date", "laps", "clean_laps",
                                 "weather_rows")} == {
        "race_id": "barber-r1", "track_id": "barber", "race_number": 1, "date": "2025-09-06", "laps": 24,
        "clean_laps": 12, "weather_rows": 16}
    car7 = next(c for c in race["cars"] if c["car"] == "7")
    assert car7 == {"car": "7", "number": "7", "class": "Pro", "laps": 8, "clean_laps": 4, "best_lap_s": 99.1,
                    "best_lap_number": 6}
    assert {"code", "message", "severity"} <= set(race["issues"][0])
    assert "ingested 1 race" in proc.stderr


def test_inspect_text(tmp_path):
    minirace.write_race(tmp_path / "barber", 1)
    proc = run("inspect", tmp_path)
    assert proc.returncode == 0
    assert "barber-r1" in proc.stdout and "1:39.100" in proc.stdout and "ledger:" in proc.stdout


def test_usage_errors_exit_2(tmp_path):
    assert run().returncode == 2
    assert run("inspect").returncode == 2
    assert run("inspect", tmp_path, "--bogus").returncode == 2


def test_nothing_found_exits_1(tmp_path):
    proc = run("inspect", tmp_path, "--json")
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["issues"][0]["code"] == "no_race_files"


def test_run_flags_reach_the_pipeline(monkeypatch, tmp_path):
    from kaizenlap import cli
    seen = {}

    class Result:
        exit_code, run_id, run_dir, tasks, failed, wall_s = 0, "r", tmp_path, [], [], 0.0

        def counts(self):
            return {"ok": 0, "reused": 0, "failed": 0}

    monkeypatch.setattr(cli, "run", lambda *a, **k: (seen.update(k), Result())[1])
    assert cli.main(["run", "--fresh-kernels", "--scheduler", "tcp://127.0.0.1:18300", "--engines", "pattern",
                     "composite_track"]) == 0
    assert seen["fresh_kernels"] is True and seen["scheduler"] == "tcp://127.0.0.1:18300"
    assert seen["engines"] == ["pattern", "composite_track"]
    assert run("run", "--engines", "nope").returncode == 2        # choices come from the engine registry
