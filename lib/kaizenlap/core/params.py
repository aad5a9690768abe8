"""Configuration lives in ``params/`` (YAML), never in code. This module only finds and reads it."""
from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def params_dir() -> Path:
    """``$KAIZENLAP_PARAMS`` if set, else ``params/`` at the repository root (a checkout, ``pip install -e``),
    else the copy an installed wheel carries (``kaizenlap/resources/params``, beside ``resources/notebooks``)."""
    env = os.environ.get("KAIZENLAP_PARAMS")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    packaged = here.parent / "resources" / "params"
    if (packaged / "ingest.yaml").exists():
        return packaged
    for parent in here.parents:
        if (parent / "params" / "ingest.yaml").exists():
            return parent / "params"
    cwd = Path.cwd() / "params"
    if (cwd / "ingest.yaml").exists():
        return cwd
    raise FileNotFoundError("params/ not found: set KAIZENLAP_PARAMS to the params directory")


@functools.lru_cache(maxsize=None)
def load(name: str) -> dict[str, Any]:
    """``params/<name>.yaml`` as a dict."""
    with open(params_dir() / f"{name}.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@functools.lru_cache(maxsize=None)
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
