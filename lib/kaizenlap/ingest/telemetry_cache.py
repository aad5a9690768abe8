"""A race's telemetry in the per-race cache: the file discovery listed (``Race.telemetry``: on disk, in a zip, or
in Cloud Storage, where the object is streamed by ranged reads at the generation listed) streamed once by
:func:`kaizenlap.ingest.telemetry.read_telemetry` into ``<cache>/telemetry/<race>-<key>/`` (one Parquet file per
car) with a manifest (``cache.json``: the cars' files, the rows read and kept, the channels, the clock offsets and
the ledger entries). The key hashes the file's name and cheap fingerprint (size and time, the zip member's CRC),
the reader's source and ``params/ingest.yaml: telemetry``: an unchanged file is never read twice, an edited one
(or reader) is read again. The folder is written under a temporary name and renamed whole, so concurrent tasks
of one race (the Dask executor's workers) never see half a cache.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from kaizenlap.core import params
from kaizenlap.core.atomic import write_json
from kaizenlap.core.ledger import Issue
from kaizenlap.core.paths import cache_dir
from kaizenlap.ingest import telemetry as reader
from kaizenlap.ingest.telemetry import TelemetryCache

MANIFEST = "cache.json"


def cache_key(tel: dict) -> str:
    """The cache key of a race's telemetry file (``Race.telemetry``)."""
    h = hashlib.sha256()
    h.update(f"{tel['file']}|{tel['fingerprint']}".encode())
    h.update(Path(reader.__file__).read_bytes())
    h.update(json.dumps(params.load("ingest")["telemetry"], sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def _issue(d: dict) -> Issue:
    return Issue(**{k: d.get(k) for k in ("code", "message", "file", "line", "column", "car", "laps", "severity")
                    if d.get(k) is not None})


def _manifest(cache: TelemetryCache, tel: dict) -> dict:
    return {"file": tel["file"], "fingerprint": tel["fingerprint"],
            "files": {v: p.name for v, p in cache.files.items()}, "rows": cache.rows, "kept": cache.kept,
            "channels": cache.channels, "clock_offset_s": cache.clock_offset_s, "bytes_read": cache.bytes_read,
            "issues": [i.to_dict() for i in cache.issues]}


def _restore(folder: Path) -> TelemetryCache:
    m = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    files = {v: folder / name for v, name in m["files"].items()}
    if not all(p.is_file() for p in files.values()):
        raise FileNotFoundError(f"{folder}: a car's Parquet file is missing")
    return TelemetryCache(folder, files=files, rows=m["rows"], kept=m["kept"], channels=m["channels"],
                          clock_offset_s=m["clock_offset_s"], issues=[_issue(d) for d in m["issues"]],
                          bytes_read=m["bytes_read"])


def _generation(tel: dict) -> int | None:
    """The generation a Cloud Storage object was listed at (its fingerprint ``object:<size>:<generation>``), so
    the reader streams the bytes the listing saw; None for a file on disk or a zip member."""
    fp = str(tel.get("fingerprint") or "")
    if tel.get("remote") and fp.startswith("object:"):
        generation = fp.split(":")[2]
        return int(generation) if generation.isdigit() else None
    return None


def race_telemetry(race, root: str | Path | None = None) -> tuple[TelemetryCache | None, bool]:
    """``(cache, reused)`` of ``race``'s telemetry (None when the race has none): read from the per-race cache
    when it is there, else streamed from the file into it. Never raises for bad content: the reader's ledger
    entries (naming the file as the race names it, and the line) are on the cache."""
    tel = getattr(race, "telemetry", None)
    if not tel:
        return None, False
    base = Path(root) if root is not None else cache_dir() / "telemetry"
    folder = base / f"{race.race_id}-{cache_key(tel)}"
    if (folder / MANIFEST).is_file():
        try:
            return _restore(folder), True
        except (OSError, ValueError, KeyError, TypeError):   # a damaged entry is read again, never trusted
            shutil.rmtree(folder, ignore_errors=True)
    tmp = base / f".{folder.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    cache = reader.read_telemetry(tel["location"], tmp, generation=_generation(tel))
    for issue in cache.issues:                       # the file as the race's ledger names it
        issue.file = tel["file"]
    write_json(tmp / MANIFEST, _manifest(cache, tel))
    try:
        tmp.rename(folder)
    except OSError:                                  # another worker finished it first: use theirs
        shutil.rmtree(tmp, ignore_errors=True)
        if not (folder / MANIFEST).is_file():
            raise
    return _restore(folder), False


__all__ = ["race_telemetry", "cache_key", "MANIFEST"]
