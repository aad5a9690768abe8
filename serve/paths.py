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


# The server's own top folders (``/tmp``, ``/home``, ``/srv`` ...): an absolute path starting with one is a
# path of this machine, never a URL of the app (whose routes are excluded by name).
_ROUTES = {"reports", "assets", "docs", "races", "tracks", "recommendations", "runs", "health", "race", "track",
           "api", "openapi.json"}
try:
    _TOP = sorted((p.name for p in Path("/").iterdir() if p.name not in _ROUTES and re.fullmatch(r"[\w.-]+", p.name)),
                  key=len, reverse=True)
except OSError:
    _TOP = []
_SERVER_PATH = re.compile(r"(?:(?<=:///)|(?<![\w.:/]))/(?:%s)(?:/[^\s'\"<>!;,()]*)*" % "|".join(map(re.escape, _TOP))
                          ) if _TOP else None


def scrub_server_paths(text: str, roots: list[str] = ()) -> str:
    """``text`` (a report, an executed notebook, a run record, a log) with this machine's absolute paths made
    relative: under one of ``roots`` (the reports folder) relative to it, any other by its last two parts."""
    if _SERVER_PATH is None:
        return text
    prefixes = [r.rstrip("/") + "/" for r in sorted(roots, key=len, reverse=True)]

    def fix(m: re.Match) -> str:
        path = m.group(0)
        for prefix in prefixes:
            if path.startswith(prefix):
                return path[len(prefix):] or "."
        parts = [p for p in path.split("/") if p]
        return "/".join(parts[-2:])
    return _SERVER_PATH.sub(fix, text)


def redact_url(url: str) -> str:
    """A store URL as a user may see it: no credentials, and a file store by its file name only (never the
    server's folders): ``sqlite:////srv/state/kaizenlap.db`` -> ``sqlite:///kaizenlap.db``."""
    if "://" not in url:
        return posixpath.basename(url.rstrip("/"))
    scheme, rest = url.split("://", 1)
    rest = rest.split("@")[-1]
    if scheme == "sqlite":
        return f"sqlite:///{posixpath.basename(rest.rstrip('/'))}"
    return f"{scheme}://{rest}"
