"""Cloud Storage input (``gs://BUCKET/PREFIX``, zips in a bucket) against ``gcp-storage-emulator`` on
127.0.0.1, anonymous credentials: the same bytes give the same names, the same cache keys, the same
ingest documents and the same published data version as the same files in a local folder.

The emulator is started on a free loopback port by the module fixture and stopped after it. The
pipeline comparison runs one race and one engine (pattern) from each side: the ingest part covers the
whole season (14 races) and the notebook part shows that a task running from the bucket (its own kernel,
reading gs:// itself) publishes exactly what the local run publishes; more engines would only repeat the
same path at a minute each.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from kaizenlap import cli
from kaizenlap.ingest import gcs
from kaizenlap.ingest.loader import _race_key, load
from kaizenlap.ingest.sources import discover
from kaizenlap.store import data_version, open_store
from kaizenlap.store.ingest_documents import ingest_documents

BUCKET = "kaizenlap-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def emulator():
    exe = Path(sys.executable).with_name("gcp-storage-emulator")
    port = _free_port()
    proc = subprocess.Popen([str(exe), "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory", "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"gcp-storage-emulator did not start: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.1)
    saved = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{port}"
    gcs.client.cache_clear()
    gcs.client().create_bucket(BUCKET)
    yield f"http://127.0.0.1:{port}"
    gcs.client.cache_clear()
    if saved is None:
        os.environ.pop("STORAGE_EMULATOR_HOST", None)
    else:
        os.environ["STORAGE_EMULATOR_HOST"] = saved
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def season(tmp_path_factory, emulator) -> Path:
    """The sample season in a local folder ``sample`` and under ``gs://kaizenlap-test/sample``; Barber
    also as a zip, locally ``zips/barber.zip`` and in the bucket ``zips/barber.zip``."""
    from kaizenlap.sample import write_season
    base = tmp_path_factory.mktemp("local")
    write_season(base / "sample", seed=2025)
    assert gcs.upload_tree(base / "sample", f"gs://{BUCKET}/sample") > 50
    (base / "zips").mkdir()
    with zipfile.ZipFile(base / "zips" / "barber.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted((base / "sample" / "barber").rglob("*")):
            zf.write(p, p.relative_to(base / "sample").as_posix())
    gcs.client().bucket(BUCKET).blob("zips/barber.zip").upload_from_filename(str(base / "zips" / "barber.zip"))
    return base


def _keys(inputs) -> dict[str, str]:
    races, issues = discover(inputs)
    assert issues == []
    return {rf.race_id: _race_key(rf) for rf in races}


def test_bucket_and_folder_give_the_same_names_keys_and_documents(season):
    local, remote = [season / "sample"], [f"gs://{BUCKET}/sample"]
    keys = _keys(local)
    assert len(keys) == 14 and _keys(remote) == keys
    (l_races, l_issues), (r_races, r_issues) = load(local, use_cache=False), load(remote, use_cache=False)
    assert l_issues == r_issues == []
    assert [r.race_id for r in r_races] == [r.race_id for r in l_races] == sorted(keys)
    first = r_races[0]
    assert first.files["sections"] == ["sample/barber/23_AnalysisEnduranceWithSections_Race 1_Anonymized.CSV"]
    assert [r.summary() for r in r_races] == [r.summary() for r in l_races]
    l_docs, r_docs = ingest_documents(l_races), ingest_documents(r_races)
    assert sum(map(len, r_docs.values())) > 1000
    assert data_version(r_docs) == data_version(l_docs)


def test_zip_in_a_bucket_reads_like_the_zip_on_disk(season):
    local = _keys([season / "zips" / "barber.zip"])
    assert sorted(local) == ["barber-r1", "barber-r2"]
    assert _keys([f"gs://{BUCKET}/zips/barber.zip"]) == local          # the object itself
    assert _keys([f"gs://{BUCKET}/zips"]) == _keys([season / "zips"])  # a prefix holding it
    races, _ = load([f"gs://{BUCKET}/zips/barber.zip"], use_cache=False)
    assert races[0].files["weather"] == ["barber.zip!barber/26_Weather_Race 1_Anonymized.CSV"]
    assert races[0].status == "loaded" and races[0].clean_laps > 100


def test_missing_bucket_or_prefix_is_reported_and_the_rest_loads(season):
    races, issues = load([f"gs://{BUCKET}/nosuch", season / "zips"], use_cache=False)
    assert [r.race_id for r in races] == ["barber-r1", "barber-r2"]
    assert [(i.code, i.file) for i in issues] == [("missing_file", f"gs://{BUCKET}/nosuch")]
    _, issues = load(["gs://nosuch-bucket-kz"], use_cache=False)
    assert [(i.code, i.file) for i in issues] == [("missing_file", "gs://nosuch-bucket-kz")]
    assert "NotFound" in issues[0].message or "404" in issues[0].message


def test_inspect_a_bucket(season, capsys):
    assert cli.main(["inspect", f"gs://{BUCKET}/zips/barber.zip", "--json", "--no-cache"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["race_id"] for r in doc["races"]] == ["barber-r1", "barber-r2"] and doc["issues"] == []


def test_run_from_the_bucket_publishes_the_local_data_version(season, tmp_path, monkeypatch):
    """``run`` with the data from the settings (USE_LOCAL_FILES=false, GCS_BUCKET_NAME, GCS_PREFIX), each
    side with its own cache so the bucket's bytes are parsed, not the local run's cache."""
    versions = {}
    for side in ("local", "bucket"):
        monkeypatch.setenv("KAIZENLAP_CACHE", str(tmp_path / side / "cache"))
        url = f"sqlite:///{tmp_path / side / 'store.db'}"
        args = ["run", "--races", "barber-r1", "--engines", "pattern", "--workers", "1", "--no-reports",
                "--reports", str(tmp_path / side / "reports"), "--store", url]
        if side == "local":
            args += ["--data", str(season / "sample")]
        else:
            monkeypatch.setenv("USE_LOCAL_FILES", "false")
            monkeypatch.setenv("GCS_BUCKET_NAME", BUCKET)
            monkeypatch.setenv("GCS_PREFIX", "sample/")
        assert cli.main(args) == 0, side
        with open_store(url) as store:
            run = store.get_run(store.active()["run_id"])
        assert run["parts"] == ["barber-r1.pattern", "ingest"] and run["counts"]["ml_pattern_recommendations"] > 0
        versions[side] = (run["data_version"], run["counts"])
    assert versions["bucket"] == versions["local"]


def test_a_zip_inside_a_zip_in_a_bucket_reads_like_on_disk(season):
    """Issue 18 item 7a on Cloud Storage: the official zip held in another zip is read (one level), as on disk,
    never skipped in silence."""
    outer = season / "zips" / "outer.zip"
    with zipfile.ZipFile(outer, "w", zipfile.ZIP_STORED) as zf:
        zf.write(season / "zips" / "barber.zip", "downloads/barber.zip")
    gcs.client().bucket(BUCKET).blob("nested/outer.zip").upload_from_filename(str(outer))
    local, _ = load([outer], use_cache=False)
    remote, issues = load([f"gs://{BUCKET}/nested/outer.zip"], use_cache=False)
    assert sorted(r.race_id for r in remote) == sorted(r.race_id for r in local) == ["barber-r1", "barber-r2"]
    assert [r.summary() for r in remote] == [r.summary() for r in local] and not issues
    outer.unlink()
