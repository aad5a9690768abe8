"""The run's manifest ``results.json``: every engine document of the run with its checksum, and what was
published to the results store."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from kaizenlap.core.atomic import write_json
from kaizenlap.tasks.record import load_document, now_utc

MANIFEST = "results.json"


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(run_dir: str | os.PathLike, store: dict | None = None) -> dict:
    """Write ``<run_dir>/results.json``: every engine document of the run (path, engine, scope,
    race/track, sha256) and, when the run went to a results store, what was published there (``store``:
    url, run id, data version, counts, failed tasks, or the error). Returns the manifest."""
    run_dir = Path(run_dir)
    docs = []
    for path in sorted(run_dir.glob("*/*.json")):
        try:
            doc, meta = load_document(path)
        except (OSError, json.JSONDecodeError):
            continue
        if "engine" not in doc:
            continue
        docs.append({"path": path.relative_to(run_dir).as_posix(), "engine": doc["engine"],
                     "scope": doc.get("scope", "race"), "race_id": doc.get("race_id"),
                     "track_id": doc.get("track_id"), "run_id": meta.get("run_id"), "sha256": sha256_file(path)})
    manifest = {"run_dir": str(run_dir), "documents": docs, "written_utc": now_utc(),
                "store": store or {"url": None, "published": False,
                                   "note": "no store URL given: the documents are the JSON files listed here"}}
    write_json(run_dir / MANIFEST, manifest)
    return manifest
