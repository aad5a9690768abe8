"""The same run through every executor: warm kernels (default), fresh kernels, a Dask LocalCluster of 2
workers on 127.0.0.1 — same tasks, same statuses, same published data version. And a ``kill -9`` of
``run`` leaves no process behind."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kaizenlap import pipeline

ROOT = Path(__file__).resolve().parents[1]
RACE = "barber-r1"
# a race task with many documents, the race's telemetry (barber-r1 has a telemetry file), one track task
ENGINES = ["sections", "weather", "telemetry", "weather_track"]


@pytest.fixture(scope="module")
def season(tmp_path_factory) -> Path:
    from kaizenlap.sample import write_season
    out = tmp_path_factory.mktemp("season")
    write_season(out, seed=2025)
    return out


def _run(season, tmp_path, label, **kw):
    url = f"sqlite:///{tmp_path / f'{label}.db'}"
    res = pipeline.run([season], race_ids=[RACE], workers=2, reports_dir=tmp_path / label, store_url=url,
                       html=False, progress=False, force=True, engines=ENGINES, **kw)
    from kaizenlap.store import open_store
    store = open_store(url)
    run = store.get_run(res.run_id)
    store.close()
    return res, run


def test_warm_fresh_and_dask_runs_publish_the_same_data(season, tmp_path):
    warm, warm_run = _run(season, tmp_path, "warm")
    assert warm.exit_code == 0, [(t.key, t.error) for t in warm.failed]
    statuses = {t.key: t.status for t in warm.tasks}
    assert statuses == {f"{RACE}/sections": "ok", f"{RACE}/weather": "ok", f"{RACE}/telemetry": "ok",
                        "barber/weather_track": "ok"}
    assert warm_run["counts"]["telemetry"] > 0
    assert {t.worker["mode"] for t in warm.tasks} == {"warm"}
    # two workers, each one kernel for all its notebooks
    assert len({t.worker["kernel_pid"] for t in warm.tasks}) <= 2
    assert max(t.worker["kernel_notebook"] for t in warm.tasks) >= 2

    fresh, fresh_run = _run(season, tmp_path, "fresh", fresh_kernels=True)
    assert {t.key: t.status for t in fresh.tasks} == statuses
    assert {t.worker["mode"] for t in fresh.tasks} == {"fresh"}
    assert fresh_run["data_version"] == warm_run["data_version"]

    from distributed import LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None,
                      processes=True, silence_logs=40) as cluster:
        dask, dask_run = _run(season, tmp_path, "dask", scheduler=cluster.scheduler_address)
        dask_pids = {t.worker["pid"] for t in dask.tasks}
        from distributed import Client
        with Client(cluster.scheduler_address) as client:
            worker_pids = set(client.run(os.getpid).values())
    assert {t.key: t.status for t in dask.tasks} == statuses, [(t.key, t.error) for t in dask.failed]
    assert dask_run["data_version"] == warm_run["data_version"]
    assert os.getpid() not in dask_pids and dask_pids <= worker_pids
    assert json.loads((dask.run_dir / "run.json").read_text())["executor"] == cluster.scheduler_address


def _descendants(pid: int) -> list:
    import psutil
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def test_kill_9_of_run_leaves_no_orphans(season, tmp_path):
    import psutil
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_pipeline.py"), "run", "--data", str(season), "--races",
                             RACE, "barber-r2", "--reports", str(tmp_path / "reports"), "--workers", "2",
                             "--force"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    seen: dict[int, psutil.Process] = {}
    deadline = time.monotonic() + 120
    try:
        # wait until both workers run a kernel
        while time.monotonic() < deadline:
            for p in _descendants(proc.pid):
                seen[p.pid] = p
            kernels = [p for p in seen.values() if p.is_running() and "ipykernel_launcher" in " ".join(p.cmdline())]
            if len(kernels) >= 2:
                break
            time.sleep(0.3)
        assert len(kernels) >= 2, "the run never started two kernels"
        time.sleep(1.0)
        for p in _descendants(proc.pid):
            seen[p.pid] = p
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        survivors = []
        end = time.monotonic() + 20
        while time.monotonic() < end:
            survivors = [p for p in seen.values() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
            if not survivors:
                break
            time.sleep(0.25)
        assert survivors == [], [(p.pid, " ".join(p.cmdline())[:120]) for p in survivors]
        assert len(seen) >= 4           # two workers and their kernels (and the resource tracker) were there
    finally:
        for p in seen.values():         # never leave anything behind, even when the test fails
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        if proc.poll() is None:
            proc.kill()
