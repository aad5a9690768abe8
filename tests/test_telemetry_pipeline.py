"""Telemetry in the pipeline (issue 22, items 1, 5, 6): discovery lists a race's telemetry file as a streamed role
(a CSV beside the timing files, a zip member, a member of a zip inside a zip), fingerprinted cheaply and never read
by the ingest nor held to the per-file limit of the timing files; a race without telemetry loads as before."""
from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from kaizenlap.ingest import loader, sources
from kaizenlap.ingest.files import SourceFile
from kaizenlap.ingest.loader import load
from kaizenlap.ingest.sources import classify, discover
from kaizenlap.sample import write_season
from kaizenlap.sample_telemetry import RACES


@pytest.fixture(scope="module")
def season(tmp_path_factory):
    out = tmp_path_factory.mktemp("season")
    truth = write_season(out, seed=2025)
    return out, truth


@pytest.mark.parametrize("name, role", [
    ("R1_barber_telemetry_data.csv", "telemetry"),
    ("r2_Road_America_TELEMETRY_DATA_sample.CSV", "telemetry"),
    ("R1_barber_telemetry_data_sample.csv", "telemetry"),
    ("telemetry notes.csv", None),
    ("R1_barber_telemetry_data.pdf", None),
    ("barber_telemetry.csv", None),
])
def test_the_role_comes_from_the_file_name(name, role):
    assert classify(SourceFile(Path("/data/barber") / name)) == role
    assert classify(SourceFile(Path("/dl/barber.zip"), f"Barber/Race 1/{name}")) == role


def test_the_sample_season_lists_telemetry_where_it_is_and_nowhere_else(season):
    out, truth = season
    races, issues = load([out], use_cache=False)
    have = {r.race_id: r.telemetry for r in races if r.telemetry}
    assert set(have) == {f"{t}-r{n}" for t, n in RACES}
    by_id = {r["race_id"]: r for r in truth["races"]}
    for rid, tel in have.items():
        assert tel["file"].endswith(by_id[rid]["telemetry"]["file"])
    # the VIR member is ~100 MB uncompressed, over the 64 MiB limit of a timing file: listed, not read
    vir = have["vir-r1"]
    assert vir["bytes"] > 64 << 20 and vir["fingerprint"].startswith("zip:")
    with zipfile.ZipFile(out / "virginia-international-raceway.zip") as zf:
        info = zf.getinfo("VIR/Race 1/R1_vir_telemetry_data.csv")
    assert vir["fingerprint"] == f"zip:{info.CRC:08x}:{info.file_size}"
    barber = have["barber-r1"]
    st = os.stat(out / "barber" / "R1_barber_telemetry_data.csv")
    assert barber["fingerprint"] == f"stat:{st.st_size}:{st.st_mtime_ns}"
    assert not [i for i in issues if i.code in ("over_limit", "unreadable_file")]
    for r in races:
        assert r.status == "loaded" and not [i for i in r.issues if i.code == "over_limit"]
        assert ("telemetry" in r.files) == (r.race_id in have)


def test_the_ingest_never_reads_the_telemetry_file(season, monkeypatch):
    out, _ = season
    found, _ = discover([out])

    def refuse(self, budget=None):
        if classify(self) == "telemetry":
            raise AssertionError(f"telemetry read whole: {self.display}")
        return real(self, budget)
    real = SourceFile.read_bytes
    monkeypatch.setattr(SourceFile, "read_bytes", refuse)
    for rf in found:
        if rf.race_id in ("barber-r1", "vir-r1"):
            race = loader._parse_and_cache(rf, None)
            assert race.telemetry and race.status == "loaded"
            loader._race_key(rf)


def _zip(entries: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_a_member_of_a_zip_inside_a_zip(season, tmp_path, monkeypatch):
    out, _ = season
    tel = (out / "barber" / "R1_barber_telemetry_data.csv").read_bytes()[:300_000]
    timing = {p.name: p.read_bytes() for p in (out / "barber").iterdir()
              if ("Race 1" in p.name or p.name.startswith("R1_")) and "telemetry" not in p.name}
    inner = _zip({**{f"Race 1/{k}": v for k, v in timing.items()}, "Race 1/R1_barber_telemetry_data.csv": tel})
    (tmp_path / "barber.zip").write_bytes(_zip({"barber-inner.zip": inner}, zipfile.ZIP_STORED))
    races, _ = load([tmp_path / "barber.zip"], use_cache=False)
    (race,) = races
    assert race.status == "loaded" and race.telemetry["location"].endswith(
        "barber.zip!barber-inner.zip!Race 1/R1_barber_telemetry_data.csv")
    assert race.telemetry["bytes"] == len(tel)
    # an inner zip over the per-file limit: its telemetry is still listed (streamed), the rest is over the limit
    lim = sources.limits()
    monkeypatch.setattr(sources, "limits", lambda: {**lim, "max_file_bytes": len(inner) // 2})
    monkeypatch.setattr("kaizenlap.ingest.files.limits", lambda: {**lim, "max_file_bytes": len(inner) // 2})
    found, issues = discover([tmp_path / "barber.zip"])
    assert [i.code for i in issues] == ["over_limit"]
    (rf,) = found
    assert list(rf.files) == ["telemetry"]
    assert rf.files["telemetry"][0].streamed_fingerprint()[1] == len(tel)


def test_a_telemetry_file_over_its_own_limit_is_a_ledger_entry(season, monkeypatch):
    out, _ = season
    real = loader.params.load

    def patched(name):
        doc = real(name)
        if name == "ingest":
            doc = {**doc, "telemetry": {**doc["telemetry"], "max_file_bytes": 1000}}
        return doc
    monkeypatch.setattr(loader.params, "load", patched)
    races, _ = load([out], use_cache=False, race_ids=["barber-r1"])
    (race,) = races
    assert race.telemetry is None and race.status == "loaded"
    (issue,) = [i for i in race.issues if i.code == "over_limit"]
    assert issue.file.endswith("R1_barber_telemetry_data.csv") and "telemetry.max_file_bytes" in issue.message
