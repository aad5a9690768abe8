"""Find TRD race files in folders and official zips (read in place), on disk or in a Cloud Storage
bucket (``gs://BUCKET/PREFIX``), and group them by race.

Rules, not folder names: a file's role comes from its base name (``params/ingest.yaml: files``),
its race number from the name or else the nearest ``Race N`` folder, and its track from the
first path part (zip name included) that matches a track alias in ``params/tracks``.

A file is *named* (:attr:`SourceFile.display`: ledger entries, a race's ``files``, the cache key) by its
path from the input's parent folder: ``data/sample`` → ``sample/barber/Race 1/…``, ``gs://b/sample`` →
``sample/barber/Race 1/…``, ``/dl/barber.zip`` → ``barber.zip!Race 1/…``. The same files give the same
names, hence the same cache key and the same published documents, wherever they are stored; the input
itself is recorded by the run.
"""
from __future__ import annotations

import io
import mmap
import os
import re
import struct
import zipfile
from pathlib import Path
from typing import Callable, Iterator

from kaizenlap.core import params
from kaizenlap.core.ledger import Issue, UnreadableFile
from kaizenlap.ingest import gcs
from kaizenlap.ingest.files import (GCS_SCHEME, ZIP_ERRORS, RaceFiles, SourceFile, describe, limits,
                                    member_copies)

ROLES = ("sections", "weather", "best10", "results_overall", "results_class",
         "lap_start", "lap_end", "lap_time")
# Roles whose files are streamed by their task, never read whole by the ingest (not subject to the per-file and
# per-race limits of params/ingest.yaml: limits; their own limit is telemetry.max_file_bytes).
STREAMED_ROLES = ("telemetry",)


def _walk(folder: Path, issues: list[Issue]):
    """The files under ``folder``, in sorted path order (as ``sorted(folder.rglob("*"))``), symbolic links to
    folders not followed. A folder or file that cannot be listed or examined (a path over the system's
    limit of 4,096 bytes, no permission) is an input-level ``unreadable_file`` entry naming it; the walk goes
    on with the rest."""
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        issues.append(Issue("unreadable_file", f"folder cannot be listed ({describe(exc)}); the files under it "
                            "are not read", file=str(folder)))
        return
    for e in entries:
        path = folder / e.name
        try:
            is_dir = e.is_dir(follow_symlinks=False)
            is_file = not is_dir and e.is_file()
        except OSError as exc:
            issues.append(Issue("unreadable_file", f"cannot be examined ({describe(exc)}); not read",
                                file=str(path)))
            continue
        if is_dir:
            yield from _walk(path, issues)
        elif is_file:
            yield path


def _iter_files(root: Path, issues: list[Issue], base: str = ""):
    try:
        is_dir = root.is_dir()
    except OSError as exc:
        issues.append(Issue("unreadable_file", f"cannot be examined ({describe(exc)}); not read", file=str(root)))
        return
    if is_dir:
        for p in _walk(root, issues):
            yield from _iter_files(p, issues, base)
        return
    if root.suffix.lower() == ".zip":
        damaged = None
        try:
            with zipfile.ZipFile(root) as zf:
                infos = zf.infolist()
                if len(infos) > limits()["max_zip_entries"]:
                    issues.append(Issue("over_limit", f"{len(infos)} zip entries, over the limit of "
                                        f"{limits()['max_zip_entries']} (params/ingest.yaml: limits); not read",
                                        file=str(root)))
                    return
                names = [i.filename for i in infos if not i.is_dir()]
        except (zipfile.BadZipFile, *ZIP_ERRORS) as exc:
            # A truncated zip has lost its central directory: name its races from the local headers, so
            # they fail (with this reason) instead of vanishing from the run.
            names = list(dict.fromkeys(_local_header_names(root)))
            damaged = f"the zip is damaged ({describe(exc)}; truncated?): its entries cannot be trusted"
            issues.append(Issue("unreadable_file", f"not a readable zip: {describe(exc)}"
                                + (f"; {len(names)} entry name(s) recovered from local headers, their races fail"
                                   if names else ""), file=str(root)))
        for name, copy in member_copies(names):
            src = SourceFile(root, name, base, damaged=damaged, copy=copy)
            if damaged is None and name.lower().endswith(".zip"):
                yield from _nested_zip(src, issues)
            else:
                yield src
        return
    yield SourceFile(root, None, base)


def _nested_zip(outer: SourceFile, issues: list[Issue]):
    """The members of a zip held in a zip (one level: a zip in it is not opened), read under the same limits as
    any member (``max_file_bytes`` for the inner zip, then for each member; the ratio guard at each level)."""
    try:
        data = outer.read_bytes()
    except UnreadableFile as exc:
        issues.append(exc.issue)
        if exc.issue.code == "over_limit":
            # An inner zip over the per-file limit (one holding a race's telemetry): its members are listed from
            # its directory through a stream, and only the streamed roles (telemetry) are used from it.
            yield from _streamed_members(outer, issues)
        return
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            names = [i.filename for i in infos if not i.is_dir()]
    except (zipfile.BadZipFile, *ZIP_ERRORS) as exc:
        issues.append(Issue("unreadable_file", f"a zip inside the zip, not readable: {describe(exc)}",
                            file=outer.display))
        return
    if len(infos) > limits()["max_zip_entries"]:
        issues.append(Issue("over_limit", f"{len(infos)} zip entries, over the limit of "
                            f"{limits()['max_zip_entries']} (params/ingest.yaml: limits); not read",
                            file=outer.display))
        return
    for name, copy in member_copies(names):
        src = SourceFile(outer.path, outer.member, outer.base, nested=name, copy=copy)
        if name.lower().endswith(".zip"):
            issues.append(Issue("unreadable_file", "a zip inside a zip inside a zip: not opened (one level of "
                                "nesting is read)", file=src.display))
            continue
        yield src


def _streamed_members(outer: SourceFile, issues: list[Issue]):
    """The members of a streamed role (telemetry) in a zip inside a zip too large to read whole: the inner zip
    opened as a stream (only its directory is read here; the telemetry task streams the member)."""
    if not isinstance(outer.path, Path):
        return
    try:
        with zipfile.ZipFile(outer.path) as zf, zf.open(outer.member) as fh, zipfile.ZipFile(fh) as inner:
            names = [i.filename for i in inner.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, KeyError, *ZIP_ERRORS) as exc:
        issues.append(Issue("unreadable_file", f"a zip inside the zip, not readable: {describe(exc)}",
                            file=outer.display))
        return
    for name, copy in member_copies(names[:limits()["max_zip_entries"]]):
        src = SourceFile(outer.path, outer.member, outer.base, nested=name, copy=copy)
        if classify(src) in STREAMED_ROLES:
            yield src


def _local_base(root: Path) -> str:
    parent = str(root.parent)
    return parent if parent.endswith("/") else parent + "/"


def _local_header_names(path: Path) -> list[str]:
    """Member names from the local file headers of a zip whose central directory is lost (a memory-mapped
    scan, at most ``max_zip_entries`` names)."""
    names: list[str] = []
    try:
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            i = mm.find(b"PK\x03\x04")
            while i != -1 and i + 30 <= len(mm) and len(names) < limits()["max_zip_entries"]:
                flags = struct.unpack("<H", mm[i + 6:i + 8])[0]
                n, m = struct.unpack("<HH", mm[i + 26:i + 30])
                raw = mm[i + 30:i + 30 + n]
                name = raw.decode("utf-8" if flags & 0x800 else "cp437", "replace")
                if name and not name.endswith("/"):
                    names.append(name)
                i = mm.find(b"PK\x03\x04", i + 30 + n)
    except (OSError, ValueError):       # empty file (mmap of 0 bytes), unreadable
        pass
    return names


def classify(src: SourceFile) -> str | None:
    """The file's role (one of :data:`ROLES` or :data:`STREAMED_ROLES`), or None for a file KaizenLap does not
    read."""
    rules = params.load("ingest")["files"]
    name = src.name
    for role in STREAMED_ROLES:
        if rules.get(role) and re.search(rules[role], name, re.I):
            return role
    if any(re.search(p, name, re.I) for p in rules["ignore"]):
        return None
    if not name.lower().endswith(".csv"):
        return None
    for role in ROLES:
        if re.search(rules[role], name, re.I):
            return role
    return None


def race_number(src: SourceFile) -> int | None:
    rules = params.load("ingest")["files"]
    stem = re.sub(r"\.csv$", "", src.name, flags=re.I)
    for pat in rules["race_number_in_name"]:
        m = re.search(pat, stem, re.I)
        if m:
            return int(m.group(1))
    for part in reversed(src.parts[:-1]):
        for pat in rules["race_number_in_folder"]:
            m = re.search(pat, part.strip(), re.I)
            if m:
                return int(m.group(1))
    return None


def track_of(src: SourceFile) -> str | None:
    for part in reversed(src.parts):
        track = params.track_for_name(part)
        if track:
            return track
    return None


def local_files(root: str | Path, issues: list[Issue]) -> Iterator[SourceFile] | None:
    """The files under a local input (a folder, a zip, a file), or None (with an entry) when it is absent."""
    root = Path(root)
    try:
        exists = root.exists()
    except OSError as exc:          # a path over the system's limit (ENAMETOOLONG), ...
        issues.append(Issue("unreadable_file", f"input path cannot be examined ({describe(exc)})", file=str(root)))
        return None
    if not exists:
        issues.append(Issue("missing_file", "input path does not exist", file=str(root)))
        return None
    return _iter_files(root, issues, _local_base(root))


def gcs_files(url: str, issues: list[Issue]) -> Iterator[SourceFile] | None:
    """The objects under ``gs://BUCKET/PREFIX`` (zips read as zips), or None (with an entry)."""
    blobs = gcs.list_input(url, issues)
    if blobs is None:
        return None

    def files():
        for src in gcs.iter_files(url, blobs, issues):
            # a zip inside an object's zip is read as a local one is (one level), never skipped in silence
            if src.member and src.member.lower().endswith(".zip"):
                yield from _nested_zip(src, issues)
            else:
                yield src
    return files()


# One handler per URL scheme (as papermill's iorw): the input's scheme picks how its files are listed.
HANDLERS: dict[str, Callable[[str | Path, list[Issue]], Iterator[SourceFile] | None]] = {
    GCS_SCHEME: gcs_files,
}


def handler_for(item: str | Path) -> Callable[[str | Path, list[Issue]], Iterator[SourceFile] | None]:
    if isinstance(item, str):
        for scheme, handler in HANDLERS.items():
            if item.startswith(scheme):
                return handler
    return local_files


def discover(inputs: list[Path | str]) -> tuple[list[RaceFiles], list[Issue]]:
    """Group every race file under ``inputs`` (folders, zips, files; ``gs://`` URLs) by (track, race number)."""
    issues: list[Issue] = []
    races: dict[tuple[str, int], RaceFiles] = {}
    for root in inputs:
        found_files = handler_for(root)(root, issues)
        if found_files is None:
            continue
        found = 0
        for src in found_files:
            role = classify(src)
            if role is None:
                continue
            number = race_number(src)
            track = track_of(src)
            if track is None:
                issues.append(Issue("unknown_track", "no track alias in params/tracks matches this path",
                                    file=src.display))
                continue
            if number is None:
                issues.append(Issue("missing_file", "no race number in the file name or its folders",
                                    file=src.display))
                continue
            top = limits()["max_race_number"]
            if not 1 <= number <= top:
                issues.append(Issue("bad_race_number", f"race number {number} is outside 1..{top} "
                                    "(params/ingest.yaml: limits.max_race_number; a copy such as 'Race 0' or "
                                    "'Race 99'?); file not used", file=src.display))
                continue
            found += 1
            race = races.setdefault((track, number), RaceFiles(track, number))
            race.files.setdefault(role, []).append(src)
        if found == 0:
            issues.append(Issue("no_race_files", "no TRD race file found in this input", file=str(root)))
    return [races[k] for k in sorted(races)], issues


