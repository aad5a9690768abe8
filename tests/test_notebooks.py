"""The engine notebooks run top to bottom with their defaults (nbval, lax: no output comparison) on a
small data set: the sample season in a temporary folder via $KAIZENLAP_DATA; the committed notebooks carry
no outputs."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_notebooks_are_committed_without_outputs():
    assert {p.name for p in NOTEBOOKS} >= {"best_case_composite.ipynb", "section_analysis.ipynb",
                                           "weather_correlation.ipynb", "pattern_detection.ipynb"}
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text())
        assert nb["cells"][0]["cell_type"] == "markdown", path.name
        tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1 and 'race_id = "barber-r1"' in "".join(tagged[0]["source"]), path.name
        for c in nb["cells"]:
            if c["cell_type"] == "code":
                assert c["outputs"] == [] and c["execution_count"] is None, path.name


@pytest.fixture(scope="module")
def small_data(tmp_path_factory) -> Path:
    # A failure to write the sample season fails the test loudly (no fallback to other data).
    from kaizenlap.sample import write_season
    out = tmp_path_factory.mktemp("nb-season")
    write_season(out, seed=2025)
    assert (out / "barber").is_dir(), "the sample season has no barber folder"
    return out


def test_notebooks_run_with_nbval(small_data, tmp_path):
    env = dict(os.environ, KAIZENLAP_DATA=str(small_data), PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                           "--nbval-current-env", "--rootdir", str(tmp_path), *map(str, NOTEBOOKS)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout.splitlines()[-1]


def test_notebook_cell_ids_are_unique_and_engine_settings_are_a_parameter():
    for path in sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        ids = [c.get("id") for c in nb["cells"]]
        assert len(ids) == len(set(ids)), path.name
        params = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
        if path.stem != "coaching_synthesis":
            assert "overrides = None" in "".join(params["source"]), path.name


def test_environment_yml_installs_the_tested_versions():
    text = (Path(__file__).resolve().parents[1] / "environment.yml").read_text(encoding="utf-8")
    assert "- -c constraints.txt" in text and "-e .[dev,lab]" in text


def test_the_notebooks_show_text_columns_whole():
    """Every engine notebook sets the display options (kaizenlap.lab.setup_display), under which a text
    column (a lap's reasons, a message) is shown whole, not cut at pandas' 50 characters."""
    import pandas as pd

    from kaizenlap import lab
    for path in NOTEBOOKS:
        assert "nb.setup_display()" in path.read_text(encoding="utf-8"), path.name
    text = "caution; after_caution; pit_in: a reason of more than fifty characters, shown whole"
    with pd.option_context("display.max_colwidth", 50):
        lab.setup_display()
        shown = pd.DataFrame({"exclusion_reasons": [text]})._repr_html_()
    assert text in shown
