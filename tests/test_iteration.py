"""The iteration loop: a task's fingerprint covers what it reads, so an edit re-runs only the tasks that read
it; `run --dry-run` says what would re-run and why."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kaizenlap.ingest.loader import load
from kaizenlap.sample import write_season
from kaizenlap.tasks import plan as planner

ROOT = Path(__file__).resolve().parents[1]
RACES = ["barber-r1", "barber-r2", "sonoma-r1"]


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("iteration") / "sample"
    write_season(out, seed=2025)
    return out


@pytest.fixture(scope="module")
def races(sample_dir):
    loaded, _ = load([sample_dir], race_ids=RACES)
    return loaded


@pytest.fixture
def project_copy(tmp_path, monkeypatch):
    """params/ and notebooks/ copied, KAIZENLAP_PARAMS pointing at the copy (the repository root is its parent)."""
    for d in ("params", "notebooks"):
        shutil.copytree(ROOT / d, tmp_path / d)
    monkeypatch.setenv("KAIZENLAP_PARAMS", str(tmp_path / "params"))
    return tmp_path


def _fingerprints(races):
    tasks = planner.plan([], races, RACES, None)
    return {t.key: (t.fingerprint, t.result_fingerprint) for t in tasks}


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_a_params_edit_reruns_only_the_tasks_that_read_it(races, project_copy):
    before = _fingerprints(races)
    _edit(project_copy / "params" / "engines.yaml", "trend_fdr: 0.05", "trend_fdr: 0.1")
    after = _fingerprints(races)
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {f"{r}/{n}" for r in RACES for n in ("pattern", "coaching")}


def test_a_comment_in_an_unread_params_file_reruns_nothing(races, project_copy):
    before = _fingerprints(races)
    with open(project_copy / "params" / "serve.yaml", "a", encoding="utf-8") as fh:
        fh.write("# a comment\n")
    assert _fingerprints(races) == before


def test_a_markdown_edit_rerenders_its_notebook_only(races, project_copy):
    before = _fingerprints(races)
    nb = project_copy / "notebooks" / "pattern_detection.ipynb"
    text = nb.read_text(encoding="utf-8")
    nb.write_text(re.sub(r'"# ', '"# Edited: ', text, count=1), encoding="utf-8")
    after = _fingerprints(races)
    changed = {k for k in before if before[k][0] != after[k][0]}
    assert changed == {f"{r}/pattern" for r in RACES}
    assert all(before[k][1] == after[k][1] for k in before)     # what readers depend on is unchanged


def test_an_engine_edit_reruns_its_tasks_and_their_readers(races, monkeypatch):
    before = _fingerprints(races)
    real = planner.code_closure

    def edited(roots):
        out = real(roots)
        if "kaizenlap.engines.weather" in out:
            out["kaizenlap.engines.weather"] = "edited"
        return out
    monkeypatch.setattr(planner, "code_closure", edited)
    after = _fingerprints(races)
    changed = {k.split("/")[1] for k in before if before[k] != after[k]}
    # pattern reads field-relative pace from the weather engine; coaching reads every engine's document
    assert changed == {"weather", "weather_track", "pattern", "coaching"}


def test_dry_run_says_what_would_rerun_and_why(sample_dir, project_copy, tmp_path):
    env = {**os.environ, "KAIZENLAP_PARAMS": str(project_copy / "params")}
    reports = tmp_path / "reports"
    args = [sys.executable, str(ROOT / "run_pipeline.py"), "run", "--data", str(sample_dir), "--races", "barber-r1",
            "--engines", "pattern", "--reports", str(reports), "--no-reports", "--workers", "1"]
    first = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    dry = subprocess.run([*args, "--dry-run"], env=env, capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "would run 0 of 1 task(s); reuse 1" in dry.stdout
    # an edited paragraph: the report is re-rendered from the executed notebook, nothing is executed
    nb = project_copy / "notebooks" / "pattern_detection.ipynb"
    nb.write_text(re.sub(r'"# ', '"# Edited narration: ', nb.read_text(encoding="utf-8"), count=1), encoding="utf-8")
    with_html = [a for a in args if a != "--no-reports"]
    second = subprocess.run(with_html, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    latest = json.loads((reports / "latest" / "run.json").read_text())
    [task] = latest["tasks"]
    assert (task["status"], task["rerendered"]) == ("reused", True)
    assert "executing on" not in second.stderr                   # no kernel was started
    html = (reports / "latest" / "barber-r1" / task["files"]["html"]).read_text(encoding="utf-8")
    assert "Edited narration: " in html
    _edit(project_copy / "params" / "engines.yaml", "trend_fdr: 0.05", "trend_fdr: 0.1")
    dry = subprocess.run([*args, "--dry-run"], env=env, capture_output=True, text=True, timeout=300)
    assert "would run 1 of 1 task(s)" in dry.stdout
    assert "run   barber-r1/pattern: params: engines.pattern" in dry.stdout
    assert len([p for p in reports.glob("*/run.json") if not p.parent.is_symlink()]) == 2   # a dry run writes no run
