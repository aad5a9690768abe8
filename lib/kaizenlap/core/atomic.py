"""The one atomic write: a reader sees the old file or the new one, never half of one (a temporary file
beside the target, unique per process and thread, then ``os.replace``)."""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Callable, IO


def _tmp_for(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def write_with(path: str | os.PathLike, write: Callable[[IO], Any], binary: bool = False) -> Path:
    """Write ``path`` through ``write(fh)`` atomically; the folder is created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_for(path)
    try:
        with open(tmp, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_with(path, lambda fh: fh.write(text))


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return write_with(path, lambda fh: fh.write(data), binary=True)


def write_json(path: str | os.PathLike, doc: Any, *, indent: int | None = 1, allow_nan: bool = False,
               default: Callable | None = None, sort_keys: bool = False) -> Path:
    """JSON text (UTF-8, a final newline); ``allow_nan=False`` by default: a NaN is a bug, not a number."""
    text = json.dumps(doc, indent=indent, allow_nan=allow_nan, default=default, sort_keys=sort_keys) + "\n"
    return write_text(path, text)
