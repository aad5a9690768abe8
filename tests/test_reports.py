"""Reports a reviewer can trust (issue 11): every exported report names what it came from (commit, library
fingerprint, parameters, params/ sections, input checksums, when), shows no absolute path of the server,
loads nothing from a CDN and is smaller than nbconvert's default page; the run index shows each race's data
quality; the task graph draws every dependency."""
import hashlib
import json
import re
import zipfile
from pathlib import Path

import nbformat
import pytest

from kaizenlap import plots
from kaizenlap.core.paths import repo_root, resolve_data
from kaizenlap.ingest.loader import load
from kaizenlap.pipeline import index, kernels, provenance
from kaizenlap.sample import write_season
from kaizenlap.tasks.graph import dot, edges, mermaid
from kaizenlap.tasks.model import Task
from kaizenlap.tasks.plan import library_hash, params_hashes, race_hash
from kaizenlap.tasks.registry import registry

ROOT = repo_root()
SAMPLE = ROOT / "data" / "sample"


@pytest.fixture(scope="module", autouse=True)
def _one_kernel():
    yield
    kernels.shutdown_kernels()


@pytest.fixture(scope="module")
def races():
    if not (SAMPLE / "ground_truth.json").exists():      # a fresh clone where `make sample` has not run
        write_season(SAMPLE)
    found, _ = load(resolve_data(str(SAMPLE)), use_cache=True, race_ids=["barber-r1", "sebring-r1"])
    return {r.race_id: r for r in found}


def _notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    params = nbformat.v4.new_code_cell('output_dir = None\nname = "x"\ndata = []\nrace_id = None\n'
                                       'race_files = None')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Pattern report\nA small report."), params,
        nbformat.v4.new_code_cell("import os\nprint('reading', data[0], 'and', "
                                  f"{str(ROOT / 'lib' / 'kaizenlap' / 'plots.py')!r})\n"
                                  "print('cache at /srv/kaizen/cache/deep/file.parquet; the documents in', output_dir)"),
        nbformat.v4.new_code_cell("from IPython.display import Markdown\nMarkdown(f'Document: `{output_dir}/x.json`')"),
        nbformat.v4.new_code_cell("import pandas as pd\npd.DataFrame({'car': ['a', 'b'], 'lap_s': [97.9, 98.4]})"),
        nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0]);"),
        nbformat.v4.new_code_cell('open(f"{output_dir}/{name}.json", "w").write("{}")'),
    ]
    nbformat.write(nb, str(path))
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory, races):
    """One small notebook executed by the pipeline's worker code and exported with the provenance a
    scheduler hands over (:func:`provenance.for_task`)."""
    tmp = tmp_path_factory.mktemp("report")
    run_dir = tmp / "20260101T000000Z-abcdef"
    out = run_dir / "barber-r1"
    parameters = {"race_id": "barber-r1", "data": [str(SAMPLE)], "output_dir": str(out), "name": "pattern",
                  "race_files": {"barber-r1": str(run_dir / ".races" / "barber-r1.pickle")}}
    task = Task(key="barber-r1/pattern", kind="race", target="barber-r1", name="pattern", engine="pattern",
                notebook="pattern_detection.ipynb", parameters=parameters, race_ids=["barber-r1"],
                fingerprint="f" * 64)
    prov = provenance.for_task(task, inputs=provenance.race_inputs([races["barber-r1"]], [SAMPLE]))
    spec = {"notebook": str(_notebook(tmp / "pattern.ipynb")), "out_dir": str(out), "name": "pattern",
            "parameters": parameters, "html": True, "cwd": str(ROOT), "timeout": 60, "fresh": False,
            "memory_limit_mb": None, "provenance": prov}
    res = kernels.execute_task(spec)
    assert res["status"] == "ok", res["error"]
    page = out / res["files"]["html"]
    return {"html": page.read_text(encoding="utf-8"), "size": page.stat().st_size, "ipynb": out / "pattern.ipynb",
            "out": out}


def _provenance(page: str) -> dict:
    m = re.search(r'<script[^>]*id="kaizenlap-provenance"[^>]*>(.*?)</script>', page, re.S)
    assert m, "no provenance record in the page"
    return json.loads(m.group(1).replace("<\\/", "</"))


def test_the_report_carries_its_provenance(report, races):
    page = report["html"]
    assert 'id="provenance"' in page and "Provenance: commit" in page
    prov = _provenance(page)
    git = provenance.git_state()
    if git is not None:                               # a checkout: the commit is named
        assert prov["git"]["commit"] == git["commit"] and git["commit"][:12] in page
    assert prov["library_hash"] == library_hash() and prov["library_hash"][:12] in page
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", prov["generated_utc"])
    assert prov["task"] == "barber-r1/pattern" and prov["fingerprint"] == "f" * 64
    # the parameters it computed with, not where it wrote; the data path relative to the checkout
    assert prov["parameters"] == {"race_id": "barber-r1", "data": ["data/sample"], "name": "pattern"}
    assert prov["params"] == params_hashes(registry()["pattern"].params) and "engines.pattern" in prov["params"]
    inputs = prov["inputs"]["barber-r1"]
    assert inputs["race_hash"] == race_hash(races["barber-r1"])
    name = races["barber-r1"].files["lap_time"][0]
    sha = hashlib.sha256((SAMPLE.parent / name).read_bytes()).hexdigest()
    assert inputs["files"]["lap_time"] == {name: sha} and sha in page


def test_the_report_shows_no_absolute_path_of_the_server(report):
    page = report["html"]
    assert str(ROOT) not in page
    assert str(report["out"]) not in page and "/srv/kaizen" not in page
    assert "reading data/sample and lib/kaizenlap/plots.py" in page          # repo-relative
    assert "cache at deep/file.parquet" in page                              # elsewhere: the last 2 parts
    assert "the documents in 20260101T000000Z-abcdef/barber-r1" in page      # its last 2 parts
    assert "Document: <code>barber-r1/x.json</code>" in page                 # in markdown output too
    # the executed notebook itself is untouched (it is the record of what ran)
    assert str(report["out"]) in report["ipynb"].read_text()


def test_the_report_loads_nothing_from_a_cdn_and_keeps_plots_and_tables(report):
    page = report["html"]
    for needle in ("require.min.js", "mathjax", "MathJax", "cdnjs", "cdn.jsdelivr", "unpkg.com", "<script src"):
        assert needle not in page
    assert "data:image/png;base64," in page and "<table" in page and "97.9" in page
    assert "<h1" in page and "Pattern report" in page
    assert "import pandas" not in page                                       # code hidden


def test_the_report_is_smaller_than_the_default_export(report):
    from nbconvert import HTMLExporter
    nb = nbformat.read(str(report["ipynb"]), as_version=4)
    old, _ = HTMLExporter(exclude_input=True, exclude_input_prompt=True,
                          exclude_output_prompt=True).from_notebook_node(nb)
    assert report["size"] < len(old.encode()) - 200_000          # the default page carries ~290 KB of template
    assert report["size"] < 60_000


def test_export_without_a_provenance_still_names_commit_library_and_time(report, tmp_path):
    page = kernels.export_html(report["ipynb"], tmp_path / "pattern.html").read_text()
    prov = _provenance(page)
    assert prov["library_hash"] == library_hash() and prov["generated_utc"] and "git" in prov
    assert prov["parameters"]["race_id"] == "barber-r1" and "output_dir" not in prov["parameters"]
    assert prov["params"] == params_hashes(registry()["pattern"].params)       # the task named by the file
    assert str(ROOT) not in page


def test_no_git_no_failure(tmp_path, monkeypatch):
    assert provenance.git_state(tmp_path) is None or provenance.git_state(tmp_path)["commit"]
    monkeypatch.setenv("PATH", str(tmp_path))                             # git not installed
    assert provenance.git_state() is None


def test_input_checksums_read_files_and_zip_members(races):
    inputs = provenance.race_inputs([races["sebring-r1"]], [SAMPLE])["sebring-r1"]
    name = races["sebring-r1"].files["lap_time"][0]
    outer, member = name.split("!")
    with zipfile.ZipFile(SAMPLE.parent / outer) as zf:
        assert inputs["files"]["lap_time"][name] == hashlib.sha256(zf.read(member)).hexdigest()
    assert provenance.file_sha256("sample/nowhere.csv", [SAMPLE]) is None
    assert provenance.file_sha256("x/y.csv", ["gs://bucket/prefix"]) is None


def test_redaction():
    roots = provenance.redaction_roots({"data": ["/mnt/season/2025"], "output_dir": "/var/reports/run1/barber-r1"})
    text = (f"{ROOT}/lib/x.py; /mnt/season/2025/barber/lap.csv, '/var/reports/run1/barber-r1/p.json' "
            "\x1b[0;32m/usr/lib/python3/site-packages/pandas/core/frame.py\x1b[0m https://example.com/a/b 3/4/5 m/s "
            "sqlite:////var/store/x.db")
    out = provenance.redact_text(text, roots)
    assert out == ("lib/x.py; barber/lap.csv, 'barber-r1/p.json' \x1b[0;32mcore/frame.py\x1b[0m "
                   "https://example.com/a/b 3/4/5 m/s sqlite:////var/store/x.db")
    assert provenance.redact_text(f"cwd {ROOT}", roots) == "cwd ."


def test_the_index_links_each_races_data_quality(tmp_path, races):
    quality = index.write_quality(tmp_path, races.values())
    q = quality["barber-r1"]
    assert q["file"] == "barber-r1/data_quality.json" and (tmp_path / q["file"]).exists()
    assert q["reconciliation"]["cars"] > 0 and q["ledger"]["entries"] == len(races["barber-r1"].issues)
    run = {"run_id": "r", "started_utc": "t", "wall_s": 1.0, "counts": {"ok": 1}, "workers": 1, "data": ["data/sample"],
           "kaizenlap_version": "0", "library_hash": "0" * 64, "quality": quality,
           "tasks": [{"target": "barber-r1", "name": "pattern", "kind": "race", "status": "ok", "duration_s": 1.0,
                      "files": {"html": "pattern.html"}, "key": "barber-r1/pattern", "race_ids": ["barber-r1"]}]}
    page = index.render_index(run)
    assert "<h2>Data quality</h2>" in page and "href='#quality-barber-r1'" in page
    assert 'href="barber-r1/data_quality.json"' in page and "id='quality-sebring-r1'" in page
    rec = q["reconciliation"]
    assert f"best lap agrees with the official for {rec['best_lap_agrees']}/{rec['official_best_lap']}" in page
    del run["quality"]
    assert "Data quality" not in index.render_index(run)                 # older run.json: no section


def test_the_task_graph_has_every_dependency():
    reg = registry()
    text = mermaid(reg)
    assert text.startswith("flowchart LR")
    deps = [(d, n) for n, s in reg.items() for d in s.after]
    assert deps and edges(reg) == deps
    for d, n in deps:
        assert f"    {d} --> {n}\n" in text
        assert f'"{d}" -> "{n}";' in dot(reg)
    for name, spec in reg.items():                 # race scope as rectangles, track scope as rounded nodes
        assert (f'{name}["' if spec.scope == "race" else f'{name}("') in text
    assert 'subgraph race_scope["per race"]' in text and "subgraph track_scope" in text


def test_heatmap_colour_bar_label():
    import pandas as pd
    m = pd.DataFrame({"S1": [0.2, 0.5], "S2": [0.8, 0.5]}, index=["a", "b"])
    fig = plots.loss_heatmap(m, cbar_label="share of lap-time variance")
    assert any(ax.get_ylabel() == "share of lap-time variance" for ax in fig.axes)
    assert any(ax.get_ylabel() == "s" for ax in plots.loss_heatmap(m).axes)
