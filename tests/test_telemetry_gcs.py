"""Telemetry in Cloud Storage (issue 22, items 1 and 6): a race's telemetry file found under ``gs://`` is streamed
by ranged reads through the same reader as a file on disk (never downloaded whole), against
``gcp-storage-emulator`` on 127.0.0.1 (the fixture of tests/test_gcs.py). The truth is the same bytes read from
disk: the same rows, ledger entries (file and line), channels and clock offsets, and byte-identical Parquet files.
"""
from __future__ import annotations

import filecmp
import zipfile
from pathlib import Path

import pytest

from kaizenlap.ingest import gcs
from kaizenlap.ingest import telemetry as tel
from kaizenlap.ingest.loader import load_race
from kaizenlap.ingest.sources import discover
from kaizenlap.ingest.telemetry import read_telemetry
from kaizenlap.ingest.telemetry_cache import race_telemetry
from test_gcs import emulator  # noqa: F401 - the module's emulator fixture
from test_telemetry_reader import _messy

BUCKET = "kaizenlap-test"
NAME = "R1_barber_telemetry_data.csv"


@pytest.fixture(scope="module")
def barber(tmp_path_factory, emulator) -> Path:  # noqa: F811 - the imported fixture
    """Barber's sample files (timing and the generated telemetry) on disk and under ``gs://BUCKET/tel/barber``."""
    from kaizenlap.sample import write_season
    base = tmp_path_factory.mktemp("season")
    write_season(base / "sample", seed=2025)
    assert gcs.upload_tree(base / "sample" / "barber", f"gs://{BUCKET}/tel/barber") > 5
    return base / "sample" / "barber"


def _summary(cache) -> tuple:
    return (cache.rows, cache.kept, cache.channels, cache.clock_offset_s, cache.bytes_read,
            [(i.code, i.file, i.line, i.column, i.message) for i in cache.issues])


def _same_files(a, b) -> None:
    assert list(a.files) == list(b.files) and a.files
    for vehicle in a.files:
        assert filecmp.cmp(a.files[vehicle], b.files[vehicle], shallow=False), vehicle


class _Ranges:
    """Records every ranged download (Blob.download_as_bytes: start, end, bytes received) while installed."""

    def __init__(self, monkeypatch) -> None:
        from google.cloud.storage.blob import Blob
        self.calls: list[tuple] = []
        self.generations: set[tuple] = set()
        real = Blob.download_as_bytes

        def spy(blob, *a, **kw):
            self.generations.add((blob.name, blob.generation))      # asked for (the answer's headers rewrite it)
            data = real(blob, *a, **kw)
            self.calls.append((blob.name, kw.get("start"), kw.get("end"), len(data)))
            return data
        monkeypatch.setattr(Blob, "download_as_bytes", spy)


def test_a_races_telemetry_in_a_bucket_is_streamed_like_the_file_on_disk(barber, tmp_path, monkeypatch):
    """Discovery → the race's telemetry entry → the per-race cache, from the bucket and from the folder: the
    same cache (before: the object became one ``unreadable_file`` entry); every download a bounded range of at
    most one block, never the whole object."""
    spy = _Ranges(monkeypatch)
    caches = {}
    for side, where in (("disk", barber), ("bucket", f"gs://{BUCKET}/tel/barber")):
        found, issues = discover([where])
        [r1] = [rf for rf in found if rf.race_id == "barber-r1"]
        race = load_race(r1)
        assert race.telemetry["file"] == f"barber/{NAME}" and race.telemetry["remote"] == (side == "bucket")
        cache, reused = race_telemetry(race, tmp_path / side)
        assert not reused and not [i for i in cache.issues if i.code == "unreadable_file"]
        caches[side] = cache
    disk, bucket = caches["disk"], caches["bucket"]
    assert disk.rows > 50_000 and disk.bytes_read == (barber / NAME).stat().st_size
    assert _summary(bucket) == _summary(disk)
    _same_files(bucket, disk)
    listed = int(race.telemetry["fingerprint"].split(":")[2])     # the generation discovery saw
    assert {g for n, g in spy.generations if n.endswith(NAME)} == {listed}
    block = int(tel.settings()["block_bytes"])
    reads = [c for c in spy.calls if c[0].endswith(NAME)]
    assert reads and all(s is not None and e is not None and e - s <= block for _, s, e, _ in reads)
    assert disk.bytes_read <= sum(n for *_, n in reads) <= disk.bytes_read + (1 << 20)    # + the header's probe


@pytest.mark.parametrize("read_ranges", [1, 2])
def test_the_object_read_in_ranges_gives_the_files_bytes(barber, tmp_path, monkeypatch, read_ranges):
    """The parallel reader on an object: each range its own stream of ranged requests from its cut."""
    monkeypatch.setattr(tel.os, "cpu_count", lambda: 2)
    limits = {"read_ranges": read_ranges, "split_min_bytes": 0, "block_bytes": 1 << 20}
    url = f"gs://{BUCKET}/tel/barber/{NAME}"
    spy = _Ranges(monkeypatch)
    remote = read_telemetry(url, tmp_path / "bucket", limits=limits)
    local = read_telemetry(barber / NAME, tmp_path / "disk", limits=limits)
    assert _summary(remote) == _summary(local) and remote.rows > 50_000
    _same_files(remote, local)
    one = read_telemetry(barber / NAME, tmp_path / "one", limits={**limits, "read_ranges": 1})
    assert _summary(one) == _summary(local)                         # the ranges give what one stream gives
    _same_files(one, local)
    starts = sorted({s for _, s, _, _ in spy.calls if s})
    size = (barber / NAME).stat().st_size
    if read_ranges == 2:                   # a request starting near the middle: the second range's first read
        assert any(abs(s - size / 2) < 1 << 20 for s in starts)
    assert all(e - s <= (1 << 20) for _, s, e, _ in spy.calls if s is not None)


def test_malformed_rows_in_a_bucket_name_file_and_line(barber, tmp_path, monkeypatch):
    """The hand-made malformed file (tests/test_telemetry_reader.py), in the bucket, read in two ranges: the
    ledger as from disk; and an object or member that is not there is one unreadable_file entry, no crash."""
    monkeypatch.setattr(tel.os, "cpu_count", lambda: 2)
    path, truth = _messy(tmp_path, bad_text=True)
    bucket = gcs.client().bucket(BUCKET)
    bucket.blob(f"tel/messy/{path.name}").upload_from_filename(str(path))
    limits = {"block_bytes": 2048, "read_ranges": 2, "split_min_bytes": 0}
    remote = read_telemetry(f"gs://{BUCKET}/tel/messy/{path.name}", tmp_path / "bucket", limits=limits)
    local = read_telemetry(path, tmp_path / "disk", limits=limits)
    assert _summary(remote) == _summary(local)
    got = {i.code: (int(i.message.split()[0]), i.file) for i in remote.issues}
    assert got["telemetry_bad_value"] == (truth["bad"], path.name)
    assert got["telemetry_duplicate_rows"][0] == truth["dup"]
    assert all(i.line and i.line > 2 for i in remote.issues)
    _same_files(remote, local)
    for url in (f"gs://{BUCKET}/tel/messy/nosuch_telemetry_data.csv", f"gs://{BUCKET}/tel/nosuch.zip!x.csv"):
        gone = read_telemetry(url, tmp_path / "gone")
        assert [i.code for i in gone.issues] == ["unreadable_file"] and gone.rows == 0 and not gone.files


def test_a_zip_member_in_a_bucket_reads_as_on_disk(barber, tmp_path):
    """``gs://bucket/x.zip!member``: the zip's directory and the member's bytes by ranged reads, one stream."""
    zpath = tmp_path / "tel.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(barber / NAME, f"barber/{NAME}")
    gcs.client().bucket(BUCKET).blob("tel/zips/tel.zip").upload_from_filename(str(zpath))
    remote = read_telemetry(f"gs://{BUCKET}/tel/zips/tel.zip!barber/{NAME}", tmp_path / "bucket")
    local = read_telemetry(f"{zpath}!barber/{NAME}", tmp_path / "disk")
    assert _summary(remote) == _summary(local) and remote.rows > 50_000
    _same_files(remote, local)


def test_the_generation_listed_is_the_one_read(barber, tmp_path, monkeypatch):
    """An object replaced after the listing: the reader asks for the generation the listing saw (the race's
    fingerprint ``object:<size>:<generation>``), so it never mixes the old listing with new bytes. The emulator
    keeps no old generations (it answers with the live one), so what is checked is the generation of every
    request."""
    bucket = gcs.client().bucket(BUCKET)
    blob = bucket.blob("tel/gen/R1_gen_telemetry_data.csv")
    lines = (barber / NAME).read_text().splitlines(keepends=True)
    blob.upload_from_string("".join(lines[:101]))
    first = bucket.get_blob(blob.name).generation
    blob.upload_from_string("".join(lines[:51]))
    url = f"gs://{BUCKET}/{blob.name}"
    spy = _Ranges(monkeypatch)
    read_telemetry(url, tmp_path / "pinned", generation=first)
    assert spy.generations == {(blob.name, first)}
    spy.generations.clear()
    assert read_telemetry(url, tmp_path / "live").rows == 50
    assert spy.generations == {(blob.name, None)}
    from kaizenlap.ingest.telemetry_cache import _generation
    assert _generation({"remote": True, "fingerprint": f"object:6762:{first}"}) == first
    assert _generation({"remote": False, "fingerprint": "stat:1:2"}) is None
