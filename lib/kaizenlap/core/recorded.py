"""A recorded task document as read back: the engine's document, and the ``meta`` key that says what produced
it (written by :func:`kaizenlap.tasks.record.save_document`)."""
from __future__ import annotations

import json
import os
from pathlib import Path

META_KEY = "meta"


def load_document(path: str | os.PathLike) -> tuple[dict, dict]:
    """``(engine document, meta)`` from a recorded document file."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    meta = doc.pop(META_KEY, {})
    return doc, meta
