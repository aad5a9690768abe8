"""Coaching's reads of params/: ``params.load`` stats the file on every call (so an edit is seen at once); a
brief and its validation read the same few settings thousands of times, so they are kept for
:data:`TTL_S` seconds here (an edit is seen within that time; a change of ``$KAIZENLAP_PARAMS`` at once)."""
from __future__ import annotations

import time

from kaizenlap.core import params
from kaizenlap.core.environment import env

TTL_S = 1.0
_CACHE: dict[tuple[str, str | None], tuple[float, dict]] = {}


def load(name: str) -> dict:
    key = (name, env("KAIZENLAP_PARAMS"))
    now = time.monotonic()
    hit = _CACHE.get(key)
    if hit is not None and now - hit[0] < TTL_S:
        return hit[1]
    doc = params.load(name)
    _CACHE[key] = (now, doc)
    return doc
