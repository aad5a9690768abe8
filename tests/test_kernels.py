"""Warm kernels: notebooks executed one after another in one kernel are isolated (namespace, matplotlib
rc, inline plots kept), and a kernel that dies, hangs or grows past its memory limit is replaced, its task
failed with the cell named."""
import json
from pathlib import Path

import nbformat
import pytest

from kaizenlap.core.paths import repo_root
from kaizenlap.pipeline import kernels


def _notebook(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    params = nbformat.v4.new_code_cell('output_dir = None\nname = "x"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# test"), params, *map(nbformat.v4.new_code_cell, cells),
                nbformat.v4.new_code_cell('open(f"{output_dir}/{name}.json", "w").write("{}")')]
    nbformat.write(nb, str(path))
    return path


def _task(tmp_path: Path, name: str, nb: Path, timeout: int = 60, memory_limit_mb=None, html=False) -> dict:
    out = tmp_path / "out"
    spec = {"notebook": str(nb), "out_dir": str(out), "name": name,
            "parameters": {"output_dir": str(out), "name": name}, "html": html, "cwd": str(repo_root()),
            "timeout": timeout, "fresh": False, "memory_limit_mb": memory_limit_mb}
    res = kernels.execute_task(spec)
    res["nb"] = json.loads((out / f"{name}.ipynb").read_text()) if (out / f"{name}.ipynb").exists() else None
    return res


def _outputs(nb: dict, index: int) -> list[dict]:
    return nb["cells"][index]["outputs"]


@pytest.fixture(scope="module", autouse=True)
def _one_kernel():
    yield
    kernels.shutdown_kernels()


def test_notebooks_in_one_kernel_are_isolated(tmp_path):
    rc = _task(tmp_path, "first", _notebook(
        tmp_path / "first.ipynb", "leak = 42",
        "import matplotlib as mpl, matplotlib.pyplot as plt\nmpl.rcParams['lines.linewidth'] = 9.0\n"
        "import pandas as pd\npd.set_option('display.max_rows', 3)"), html=True)
    assert rc["status"] == "ok", rc["error"]
    pid = rc["worker"]["kernel_pid"]
    # the parameters/injected-parameters cells and papermill's per-cell metadata are there
    tags = [c["metadata"].get("tags", []) for c in rc["nb"]["cells"]]
    assert ["parameters"] in tags and ["injected-parameters"] in tags
    assert all("duration" in c["metadata"]["papermill"] for c in rc["nb"]["cells"] if c["cell_type"] == "code")
    assert rc["nb"]["metadata"]["papermill"]["parameters"] == {"output_dir": str(tmp_path / "out"), "name": "first"}

    leak = _task(tmp_path, "second", _notebook(tmp_path / "second.ipynb", "print(leak)"))
    assert leak["worker"]["kernel_pid"] == pid and leak["worker"]["kernel_notebook"] == 2   # same kernel
    assert leak["status"] == "failed" and leak["error"]["ename"] == "NameError"
    assert "leak" in leak["error"]["evalue"] and leak["error"]["source"] == "print(leak)"
    assert leak["error"]["exec_count"] == 3          # counted from 1 again, as in a fresh kernel

    plot = _task(tmp_path, "third", _notebook(
        tmp_path / "third.ipynb",
        "import matplotlib as mpl, matplotlib.pyplot as plt, pandas as pd\n"
        "line, = plt.plot([0, 1], [0, 1])\nprint(line.get_linewidth(), mpl.rcParams['lines.linewidth'], "
        "pd.get_option('display.max_rows'))"), html=True)
    assert plot["status"] == "ok", plot["error"] and plot["worker"]["kernel_pid"] == pid
    out = _outputs(plot["nb"], 3)
    assert not any("ERROR" in "".join(o.get("text", "")) for o in out)
    default = __import__("matplotlib").rcParamsDefault["lines.linewidth"]
    assert any("".join(o.get("text", "")).split() == [str(default), str(default), "60"] for o in out if o["output_type"] == "stream")
    assert any("image/png" in o.get("data", {}) for o in out)          # %matplotlib inline still in force
    assert "<img" in (tmp_path / "out" / "third.html").read_text()


def test_a_dead_kernel_is_replaced_and_its_task_names_the_cell(tmp_path):
    first = _task(tmp_path, "ok1", _notebook(tmp_path / "ok1.ipynb", "x = 1"))
    dead = _task(tmp_path, "dies", _notebook(tmp_path / "dies.ipynb", "x = 1", "import os\nos._exit(3)"))
    assert dead["status"] == "failed" and dead["error"]["ename"] == "DeadKernelError"
    assert dead["error"]["cell_index"] == 4 and "os._exit(3)" in dead["error"]["source"]
    assert dead["worker"]["kernel_replaced"] is True
    after = _task(tmp_path, "ok2", _notebook(tmp_path / "ok2.ipynb", "x = 2"))
    assert after["status"] == "ok" and after["worker"]["kernel_pid"] not in (None, first["worker"]["kernel_pid"])


def test_a_hung_cell_times_out_and_the_kernel_is_replaced(tmp_path):
    before = _task(tmp_path, "ok1", _notebook(tmp_path / "ok1.ipynb", "x = 1"))
    hung = _task(tmp_path, "hangs", _notebook(tmp_path / "hangs.ipynb", "import time\ntime.sleep(120)"), timeout=3)
    assert hung["status"] == "failed" and hung["error"]["ename"] == "CellTimeoutError"
    assert hung["error"]["cell_index"] == 3 and "time.sleep(120)" in hung["error"]["source"]
    after = _task(tmp_path, "ok2", _notebook(tmp_path / "ok2.ipynb", "x = 2"))
    assert after["status"] == "ok" and after["worker"]["kernel_pid"] != before["worker"]["kernel_pid"]


def test_a_kernel_past_its_memory_limit_is_stopped_and_replaced(tmp_path):
    import psutil
    base = _task(tmp_path, "ok1", _notebook(tmp_path / "ok1.ipynb", "x = 1"))
    rss_mb = psutil.Process(base["worker"]["kernel_pid"]).memory_info().rss / 2**20
    limit = rss_mb + 150
    big = _task(tmp_path, "grows", _notebook(tmp_path / "grows.ipynb", "import time\nblob = b'x' * (400 * 2**20)\n"
                                             "time.sleep(20)"), memory_limit_mb=limit)
    assert big["status"] == "failed" and big["error"]["ename"] == "KernelMemoryLimit"
    assert f"{limit:.0f} MB" in big["error"]["evalue"] and "blob" in big["error"]["source"]
    after = _task(tmp_path, "ok2", _notebook(tmp_path / "ok2.ipynb", "x = 2"), memory_limit_mb=limit)
    assert after["status"] == "ok" and after["worker"]["kernel_pid"] != base["worker"]["kernel_pid"]
