"""A subset run (`run --races X --engines pattern --store S`) never takes the season away: the store keeps
serving every race of the run before it, with X's pattern documents replaced, and `reports/latest` keeps every
race's reports."""
import json
import os
import shutil
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from test_store_support import ROOT  # noqa: F401  (puts the project root on sys.path)
from kaizenlap.sample import write_season
from kaizenlap.store import open_store
from serve.app import create_app

RACES = ["barber-r1", "barber-r2", "sonoma-r1"]


def _run(*args, cwd):
    proc = subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), "run", *args], capture_output=True,
                          text=True, timeout=900, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


@pytest.fixture(scope="module")
def season(tmp_path_factory):
    base = tmp_path_factory.mktemp("subset")
    write_season(base / "sample", seed=2025)
    return base


def test_a_subset_run_keeps_the_season_served(season):
    url = f"sqlite:///{season / 'store.db'}"
    reports = season / "reports"
    common = ["--data", str(season / "sample"), "--reports", str(reports), "--store", url, "--workers", "2",
              "--no-reports"]
    _run("--races", *RACES, *common, cwd=season)
    with TestClient(create_app(url)) as client:
        before = {r["race_id"] for r in client.get("/races").json()["items"]}
        pattern_before = client.get("/recommendations", params={"race_id": "barber-r1", "type": "pattern",
                                                                 "limit": 500}).json()["items"]
    assert before == set(RACES)
    # the subset run: one race, one task kind, with a changed engine setting so its documents differ
    params = season / "params"
    shutil.copytree(ROOT / "params", params)
    shutil.copytree(ROOT / "notebooks", season / "notebooks")
    text = (params / "engines.yaml").read_text()
    (params / "engines.yaml").write_text(text.replace("trend_fdr: 0.05", "trend_fdr: 0.5"))
    env_proc = subprocess.run([sys.executable, str(ROOT / "run_pipeline.py"), "run", "--races", "barber-r1",
                               "--engines", "pattern", *common], capture_output=True, text=True, timeout=900,
                              cwd=season, env={**os.environ, "KAIZENLAP_PARAMS": str(params)})
    assert env_proc.returncode == 0, env_proc.stderr[-4000:]
    with TestClient(create_app(url)) as client:
        assert {r["race_id"] for r in client.get("/races").json()["items"]} == set(RACES)
        for rid in RACES:
            assert client.get(f"/races/{rid}/composite").status_code == 200, rid
            assert client.get(f"/races/{rid}/weather").status_code == 200, rid
            cars = client.get(f"/races/{rid}/cars").json()["items"]
            assert cars and client.get(f"/races/{rid}/cars/{cars[0]['car']}/laps").status_code == 200
        track = client.get("/tracks/barber").json()
        assert sorted(track["races"]) == ["barber-r1", "barber-r2"]
        pattern_after = client.get("/recommendations", params={"race_id": "barber-r1", "type": "pattern",
                                                                "limit": 500}).json()["items"]
        other = client.get("/recommendations", params={"race_id": "sonoma-r1", "type": "pattern",
                                                        "limit": 500}).json()["items"]
        assert other, "another race's pattern documents are still served"
    assert {d["id"] for d in pattern_after} == {d["id"] for d in pattern_before}
    with open_store(url) as store:
        active = store.active()
        run = store.get_run(active["run_id"])
    assert run["carried"]["from_run"] == active["previous_run_ids"][0]               # the full run
    assert "barber-r1.composite" in run["carried"]["parts"] and run["carried"]["counts"]["laps"] > 0
    assert "barber-r1.pattern" not in run["carried"]["parts"]                         # recomputed, not carried
    # reports/latest holds the whole season: the subset's task, and the others linked from the run before
    latest = json.loads((reports / "latest" / "run.json").read_text())
    keys = {t["key"] for t in latest["tasks"]}
    assert {f"{r}/composite" for r in RACES} <= keys and "barber-r1/pattern" in keys
    assert latest["carried_tasks"] == len(latest["tasks"]) - 1
    assert all((reports / "latest" / t["target"] / t["files"]["json"]).exists() for t in latest["tasks"])
    [mine] = [t for t in latest["tasks"] if not t["carried"]]
    assert (mine["key"], mine["status"]) == ("barber-r1/pattern", "ok")
    doc = json.loads((reports / "latest" / "barber-r1" / "pattern.json").read_text())
    assert doc["params"]["trend_fdr"] == 0.5                                           # the new document
