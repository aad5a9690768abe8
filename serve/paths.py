"""Paths: server paths in documents served relative to the data root, and the file a static URL names
under a root (every escape refused)."""
from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any


def data_roots(data: list[str]) -> list[str]:
    """Directories that server paths are made relative to: a folder input itself, a file (zip) input's
    folder; longest first."""
    roots = set()
    for d in data:
        d = posixpath.normpath(str(d))
        if not d.startswith("/"):
            continue
        roots.add(posixpath.dirname(d) if posixpath.splitext(d)[1] else d)
    return sorted(roots, key=len, reverse=True)


_ABS_PATH = re.compile(r"(?<![\w.:/])/(?:[^\s/'\"!;,()]+/)+")


def relative_paths(obj: Any, roots: list[str]) -> Any:
    """``obj`` (JSON-like) with every absolute server path made relative: a path under a data root loses
    the root; any other absolute directory prefix is dropped (the file name stays). When ``roots`` is
    empty the common folder of the document's absolute paths is the root."""
    if not roots:
        found: list[str] = []
        _collect(obj, found)
        if found:
            common = posixpath.commonpath([posixpath.dirname(f) for f in found])
            roots = [common] if common not in ("", "/") else []
    prefixes = [r.rstrip("/") + "/" for r in roots]

    def fix(text: str) -> str:
        if "/" not in text:
            return text
        for prefix in prefixes:
            text = text.replace(prefix, "")
        return _ABS_PATH.sub("", text)

    def walk(o):
        if isinstance(o, str):
            return fix(o)
        if isinstance(o, dict):
            return {k: walk(v) for k, v in o.items()}
        if isinstance(o, list):
            return [walk(v) for v in o]
        return o
    return walk(obj)


def _collect(o: Any, out: list[str]) -> None:
    if isinstance(o, str):
        if o.startswith("/"):
            out.append(o.split("!", 1)[0])
    elif isinstance(o, dict):
        for v in o.values():
            _collect(v, out)
    elif isinstance(o, list):
        for v in o:
            _collect(v, out)


def public_run(run: dict) -> dict:
    """A run document as served: the reports folder by its run folder name only, input paths relative."""
    run = dict(run)
    meta = dict(run.get("meta") or {})
    roots = data_roots(meta.get("data") or [])
    if "reports" in meta:
        meta["reports"] = posixpath.basename(str(meta["reports"]).rstrip("/"))
    if "data" in meta:
        meta["data"] = [posixpath.basename(posixpath.normpath(str(d))) for d in meta["data"]]
    run["meta"] = meta
    return relative_paths(run, roots)


def _safe_parts(path: str) -> list[str] | None:
    raw = path.split("/")
    if "" in raw[:-1]:                     # '//x', 'a//b': an absolute path or a smuggled one
        return None
    parts = [p for p in raw if p]
    for p in parts:
        if (p in (".", "..") or p.startswith(".") or any(ch in "\\%:\ufffd" or ord(ch) < 32 for ch in p)
                or len(p) > 255):
            return None
    return parts


def safe_dir(root: Path, path: str) -> Path | None:
    """The folder under ``root`` that ``path`` names (same refusals as :func:`safe_file`), or None."""
    parts = _safe_parts(path)
    if parts is None:
        return None
    try:
        cand = (root / Path(*parts)).resolve() if parts else root
        return cand if cand.is_dir() and cand.is_relative_to(root) else None
    except (OSError, ValueError):
        return None


def safe_file(root: Path, path: str, spa: bool = True) -> Path | None:
    """The file under ``root`` that ``path`` (already URL-decoded once) names, or None. Anything that
    looks like an escape (dot segments, backslashes, NUL, '%' left after decoding, hidden files,
    symlinks leading out) is refused; with ``spa``, a path with no extension falls back to index.html
    (client routing: a deep link such as /race/barber-r1 reloads the app)."""
    parts = _safe_parts(path)
    if parts is None:
        return None
    try:
        cand = (root / Path(*parts)).resolve() if parts else root
        if not cand.is_relative_to(root):
            return None
        if cand.is_dir():
            cand = cand / "index.html"
        if cand.is_file() and cand.resolve().is_relative_to(root):
            return cand
    except (OSError, ValueError):
        return None
    if spa and (not parts or "." not in parts[-1]):
        index = root / "index.html"
        if index.is_file() and index.resolve().is_relative_to(root):
            return index
    return None


def redact_url(url: str) -> str:
    return url.split("@")[-1] if "://" in url and "@" in url else url
