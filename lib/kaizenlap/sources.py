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

import hashlib
import io
import mmap
import os
import re
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from . import params
from .ledger import Issue, UnreadableFile

# What a damaged zip member raises while it is opened or inflated (bad CRC-32, corrupt deflate data,
# a truncated stream, an unsupported compression method, an encrypted entry).
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError,
               ValueError, struct.error, zipfile.LargeZipFile)


def limits() -> dict:
    """``params/ingest.yaml: limits``."""
    return params.load("ingest")["limits"]


def _mib(n: int | float) -> str:
    return f"{n / 1048576:.1f} MiB" if n >= 1048576 else f"{int(n)} bytes"

# Order matters: `lap_start_time` and `lap_end_time` must be tried before `lap_time`.
ROLES = ("sections", "weather", "best10", "results_overall", "results_class",
         "lap_start", "lap_end", "lap_time")


GCS_SCHEME = "gs://"


def is_gcs(item) -> bool:
    """``gs://BUCKET[/PREFIX]``: an input in Cloud Storage."""
    return isinstance(item, str) and item.startswith(GCS_SCHEME)


@dataclass(frozen=True)
class SourceFile:
    """A file on disk (``path``), an object in Cloud Storage (:class:`kaizenlap.gcs.GcsObject`), or a
    member of a zip of either (``member`` set). ``base`` is the input's parent folder, the part of the
    location left out of :attr:`display` (empty: the full location is the name). ``damaged`` says why a
    member of a zip whose directory cannot be read is unreadable (the member's name was recovered from its
    local header, so the race it belongs to can be reported as failed rather than vanish)."""
    path: Path | object
    member: str | None = None
    base: str = ""
    damaged: str | None = None

    @property
    def location(self) -> str:
        """Where the file is: its full path or ``gs://`` URL (zip member after ``!``)."""
        return f"{self.path}!{self.member}" if self.member else str(self.path)

    @property
    def display(self) -> str:
        """The file's name: its location less the input's parent folder (see the module docstring)."""
        loc = self.location
        if self.base and loc.startswith(self.base):
            return loc[len(self.base):].lstrip("/")
        return loc

    @property
    def parts(self) -> list[str]:
        """Path parts from the outermost folder to the base name, zip name and members included."""
        parts = list(self.path.parts)
        if self.member:
            parts += list(PurePosixPath(self.member).parts)
        return parts

    @property
    def name(self) -> str:
        return self.parts[-1]

    def _unreadable(self, message: str, code: str = "unreadable_file") -> UnreadableFile:
        return UnreadableFile(Issue(code, message, file=self.display))

    def read_bytes(self, budget: int | None = None) -> bytes:
        """The file's bytes, at most ``budget`` of them (default ``limits.max_file_bytes``).

        Raises :class:`UnreadableFile` (never anything else) for a file that cannot be read: not a regular
        file, over the limits (checked on the sizes declared beforehand and counted while inflating, so a
        zip bomb stops at the limit), an encrypted or corrupt zip entry (bad CRC-32, bad deflate data)."""
        lim = limits()
        cap = lim["max_file_bytes"] if budget is None else min(budget, lim["max_file_bytes"])
        self_limit = (f"the limit of {_mib(cap)} per file" if cap == lim["max_file_bytes"] else
                      f"the {_mib(cap)} left of the limit of {_mib(lim['max_race_bytes'])} per race")
        if self.damaged:
            raise self._unreadable(self.damaged)
        if self.member is None:
            if isinstance(self.path, Path):
                return self._read_plain(cap, self_limit)
            return self._read_object(cap, self_limit)
        try:
            # A zip on disk, or one in Cloud Storage read through its seekable (ranged) stream.
            with (zipfile.ZipFile(self.path) if isinstance(self.path, Path) else
                  _ObjectZip(self.path)) as zf:
                info = zf.getinfo(self.member)
                return self._read_member(zf, info, cap, lim, self_limit)
        except UnreadableFile:
            raise
        except KeyError:
            raise self._unreadable("zip entry not found (the zip changed while it was read)") from None
        except _ZIP_ERRORS as exc:
            raise self._unreadable(f"zip entry cannot be read: {_describe(exc)}") from None

    def _read_object(self, cap: int, limit: str) -> bytes:
        """A Cloud Storage object (:class:`kaizenlap.gcs.GcsObject`), size-checked like a file on disk."""
        try:
            size = self.path.size()
            if size is not None and size > cap:
                raise self._unreadable(f"{_mib(size)}, over {limit} (params/ingest.yaml: limits); not read",
                                       "over_limit")
            data = self.path.read_bytes()
        except UnreadableFile:
            raise
        except Exception as exc:  # noqa: BLE001 - any client/transport error is this file's error
            raise self._unreadable(f"cannot be read: {_describe(exc)}") from None
        if len(data) > cap:
            raise self._unreadable(f"over {limit} (params/ingest.yaml: limits); not read", "over_limit")
        return data

    def _read_plain(self, cap: int, limit: str) -> bytes:
        try:
            st = os.stat(self.path)
            if not stat.S_ISREG(st.st_mode):
                raise self._unreadable("not a regular file (a FIFO, device or socket); not read")
            if st.st_size > cap:
                raise self._unreadable(f"{_mib(st.st_size)}, over {limit} (params/ingest.yaml: limits); "
                                       "not read", "over_limit")
            with open(self.path, "rb") as fh:
                data = fh.read(cap + 1)
        except OSError as exc:
            raise self._unreadable(f"cannot be read: {_describe(exc)}") from None
        if len(data) > cap:      # it grew while being read
            raise self._unreadable(f"over {limit} (params/ingest.yaml: limits); not read", "over_limit")
        return data

    def _read_member(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, lim: dict, limit: str) -> bytes:
        if info.flag_bits & 0x1:
            raise self._unreadable("zip entry is encrypted (password-protected); KaizenLap reads only "
                                   "unencrypted zips")
        ratio_cap, ratio_min = lim["max_compression_ratio"], lim["ratio_min_bytes"]
        if info.file_size > cap:
            raise self._unreadable(f"zip entry declares {_mib(info.file_size)} uncompressed, over {limit} "
                                   "(params/ingest.yaml: limits); not read", "over_limit")
        if info.file_size > ratio_min and info.file_size > ratio_cap * max(info.compress_size, 1):
            raise self._unreadable(f"zip entry declares a compression ratio of "
                                   f"{info.file_size / max(info.compress_size, 1):.0f}:1, over the limit of "
                                   f"{ratio_cap}:1 (params/ingest.yaml: limits); not read (a zip bomb?)",
                                   "over_limit")
        chunks, n = [], 0
        chunk = int(lim["read_chunk_bytes"])
        with zf.open(info) as fh:
            while True:
                # never more than `cap + 1` bytes held: the declared size may lie
                block = fh.read(min(chunk, cap + 1 - n))
                if not block:
                    break
                n += len(block)
                chunks.append(block)
                if n > cap:
                    raise self._unreadable(
                        f"zip entry inflates past {limit} (it declares "
                        f"{_mib(info.file_size)}); reading stopped (params/ingest.yaml: limits)", "over_limit")
                if n > ratio_min and n > ratio_cap * max(info.compress_size, 1):
                    raise self._unreadable(
                        f"zip entry inflates past a compression ratio of {ratio_cap}:1 "
                        f"({_mib(n)} from {info.compress_size} bytes); reading stopped (a zip bomb?)", "over_limit")
        return b"".join(chunks)


@dataclass
class RaceFiles:
    track_id: str
    race_number: int
    files: dict[str, list[SourceFile]] = field(default_factory=dict)
    _contents: dict[SourceFile, bytes] = field(default_factory=dict, repr=False, compare=False)
    _errors: dict[SourceFile, UnreadableFile] = field(default_factory=dict, repr=False, compare=False)
    _bytes_read: int = field(default=0, repr=False, compare=False)

    def read(self, src: SourceFile) -> bytes:
        """The bytes of one of this race's files, read once (hashed for the cache key, then parsed).

        Raises :class:`UnreadableFile` (the same one each time) for a file that cannot be read or that
        would take the race past ``limits.max_race_bytes``."""
        if src in self._errors:
            raise self._errors[src]
        if src not in self._contents:
            left = limits()["max_race_bytes"] - self._bytes_read
            try:
                if left <= 0:
                    raise src._unreadable(f"the race's files already total {_mib(self._bytes_read)}, the "
                                          "limit per race (params/ingest.yaml: limits); not read", "over_limit")
                data = src.read_bytes(budget=left)
            except UnreadableFile as exc:
                self._errors[src] = exc
                raise
            self._bytes_read += len(data)
            self._contents[src] = data
        return self._contents[src]

    def fingerprint(self, src: SourceFile) -> str:
        """Content hash of a file for the cache key; an unreadable file hashes its error message."""
        try:
            return content_hash(self.read(src))
        except UnreadableFile as exc:
            return "unreadable:" + content_hash(str(exc.issue.to_dict()).encode())

    def release(self) -> None:
        """Drop the raw bytes (the parsed race holds what it needs)."""
        self._contents.clear()

    @property
    def race_id(self) -> str:
        return f"{self.track_id}-r{self.race_number}"


def zip_members(names) -> list[str]:
    """The members of a zip KaizenLap looks at: files, not folders nor macOS resource forks, sorted."""
    return sorted(n for n in names if not n.endswith("/") and not n.startswith("__MACOSX/")
                  and not PurePosixPath(n).name.startswith("._"))


def _iter_files(root: Path, issues: list[Issue], base: str = ""):
    if root.is_dir():
        for p in sorted(root.rglob("*")):
            if p.is_file():
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
        except (zipfile.BadZipFile, *_ZIP_ERRORS) as exc:
            # A truncated zip has lost its central directory: name its races from the local headers, so
            # they fail (with this reason) instead of vanishing from the run.
            names = _local_header_names(root)
            damaged = f"the zip is damaged ({_describe(exc)}; truncated?): its entries cannot be trusted"
            issues.append(Issue("unreadable_file", f"not a readable zip: {_describe(exc)}"
                                + (f"; {len(names)} entry name(s) recovered from local headers, their races fail"
                                   if names else ""), file=str(root)))
        for name in zip_members(set(names)):
            yield SourceFile(root, name, base, damaged=damaged)
        return
    yield SourceFile(root, None, base)


def _local_base(root: Path) -> str:
    parent = str(root.parent)
    return parent if parent.endswith("/") else parent + "/"


class _ObjectZip(zipfile.ZipFile):
    """A zip in Cloud Storage, read through the object's seekable stream (closed with the zip)."""

    def __init__(self, obj) -> None:
        self._stream = obj.open()
        try:
            super().__init__(self._stream)
        except BaseException:
            self._stream.close()
            raise

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._stream.close()


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "..."


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
    """The file's role (one of :data:`ROLES`), or None for a file KaizenLap does not read."""
    rules = params.load("ingest")["files"]
    name = src.name
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


def discover(inputs: list[Path | str]) -> tuple[list[RaceFiles], list[Issue]]:
    """Group every race file under ``inputs`` (folders, zips, files; ``gs://`` URLs) by (track, race number)."""
    issues: list[Issue] = []
    races: dict[tuple[str, int], RaceFiles] = {}
    for root in inputs:
        if is_gcs(root):
            from .gcs import iter_files, list_input
            blobs = list_input(root, issues)
            if blobs is None:
                continue
            found_files = iter_files(root, blobs, issues)
        else:
            root = Path(root)
            if not root.exists():
                issues.append(Issue("missing_file", "input path does not exist", file=str(root)))
                continue
            found_files = _iter_files(root, issues, _local_base(root))
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
            found += 1
            race = races.setdefault((track, number), RaceFiles(track, number))
            race.files.setdefault(role, []).append(src)
        if found == 0:
            issues.append(Issue("no_race_files", "no TRD race file found in this input", file=str(root)))
    return [races[k] for k in sorted(races)], issues


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def open_text(data: bytes) -> io.StringIO:
    return io.StringIO(data.decode("utf-8-sig"))
