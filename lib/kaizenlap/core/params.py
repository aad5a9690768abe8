"""Configuration lives in ``params/`` (YAML), never in code. This module only finds and reads it."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from kaizenlap.core.environment import env

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def params_dir() -> Path:
    """``$KAIZENLAP_PARAMS`` if set, else ``params/`` at the repository root (a checkout, ``pip install -e``),
    else the copy an installed wheel carries (``kaizenlap/resources/params``, beside ``resources/notebooks``)."""
    value = env("KAIZENLAP_PARAMS")
    if value:
        return Path(value)
    here = Path(__file__).resolve()
    packaged = here.parents[1] / "resources" / "params"      # kaizenlap/resources/params in a wheel
    if (packaged / "ingest.yaml").exists():
        return packaged
    for parent in here.parents:
        if (parent / "params" / "ingest.yaml").exists():
            return parent / "params"
    cwd = Path.cwd() / "params"
    if (cwd / "ingest.yaml").exists():
        return cwd
    raise FileNotFoundError("params/ not found: set KAIZENLAP_PARAMS to the params directory")


_LOADED: dict[Path, tuple[tuple[int, int], dict[str, Any]]] = {}


def load(name: str) -> dict[str, Any]:
    """``params/<name>.yaml`` as a dict, parsed once per version of the file: an edit (new modification time or
    size) is seen by the next call, in a running kernel too, without a restart."""
    path = params_dir() / f"{name}.yaml"
    st = path.stat()
    stamp = (st.st_mtime_ns, st.st_size)
    hit = _LOADED.get(path)
    if hit is None or hit[0] != stamp:
        with open(path, encoding="utf-8") as fh:
            hit = (stamp, yaml.load(fh, Loader=_LOADER))
        _LOADED[path] = hit
    return hit[1]


def tracks() -> dict[str, dict[str, Any]]:
    """Every ``params/tracks/*.yaml``, keyed by track id (parsed once per file version: the files carry
    traced outlines, so they are kept parsed while their modification times are unchanged)."""
    paths = sorted((params_dir() / "tracks").glob("*.yaml"))
    key = tuple((str(p), p.stat().st_mtime_ns) for p in paths)
    if key not in _TRACKS:
        out = {}
        for path in paths:
            with open(path, encoding="utf-8") as fh:
                doc = yaml.load(fh, Loader=_LOADER)
            out[doc["track_id"]] = doc
        _TRACKS.clear()
        _TRACKS[key] = out
    return {k: dict(v) for k, v in _TRACKS[key].items()}


_TRACKS: dict[tuple, dict[str, dict[str, Any]]] = {}


def track_for_name(text: str) -> str | None:
    """The track id whose alias occurs in ``text`` as a whole word (letters around it excluded)."""
    low = text.lower()
    for track_id, doc in tracks().items():
        for alias in doc.get("aliases", [track_id]):
            if re.search(rf"(?<![a-z]){alias}(?![a-z])", low):
                return track_id
    return None
