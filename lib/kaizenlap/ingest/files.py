"""One input file, wherever it is stored: :class:`SourceFile` (a file on disk, a member of a zip, an object in
Cloud Storage, read under the ingest limits of ``params/ingest.yaml``) and :class:`RaceFiles` (a race's files by
role). The scheme handlers (:mod:`kaizenlap.ingest.sources` for disk, :mod:`kaizenlap.ingest.gcs` for ``gs://``)
list inputs as these.
"""
from __future__ import annotations

import hashlib
import io
import os
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from kaizenlap.core import params
from kaizenlap.core.ledger import Issue, UnreadableFile

# What a damaged zip member raises while it is opened or inflated (bad CRC-32, corrupt deflate data,
# a truncated stream, an unsupported compression method, an encrypted entry).
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError,
              ValueError, struct.error, zipfile.LargeZipFile)


def limits() -> dict:
    """``params/ingest.yaml: limits``."""
    return params.load("ingest")["limits"]


def _mib(n: int | float) -> str:
    return f"{n / 1048576:.1f} MiB" if n >= 1048576 else f"{int(n)} bytes"

# Order matters: `lap_start_time` and `lap_end_time` must be tried before `lap_time`.
GCS_SCHEME = "gs://"


def is_gcs(item) -> bool:
    """``gs://BUCKET[/PREFIX]``: an input in Cloud Storage."""
    return isinstance(item, str) and item.startswith(GCS_SCHEME)


@dataclass(frozen=True)
class SourceFile:
    """A file on disk (``path``), an object in Cloud Storage (:class:`kaizenlap.ingest.gcs.GcsObject`), or a
    member of a zip of either (``member`` set). ``base`` is the input's parent folder, the part of the
    location left out of :attr:`display` (empty: the full location is the name). ``damaged`` says why a
    member of a zip whose directory cannot be read is unreadable (the member's name was recovered from its
    local header, so the race it belongs to can be reported as failed rather than vanish). ``nested`` is a
    member of the zip ``member`` (a zip inside a zip: one level is read). ``copy`` picks the k-th (0-based)
    of several entries with the same name in one zip (each copy is a file of its own, compared by content
    like any duplicate, docs/DATA_REFERENCE.md 1.5)."""
    path: Path | object
    member: str | None = None
    base: str = ""
    damaged: str | None = None
    nested: str | None = None
    copy: int = 0

    @property
    def location(self) -> str:
        """Where the file is: its full path or ``gs://`` URL (zip member after ``!``, a copy of a name that a
        zip holds several times numbered)."""
        loc = f"{self.path}!{self.member}" if self.member else str(self.path)
        if self.nested:
            loc += f"!{self.nested}"
        return loc + (f" (copy {self.copy + 1})" if self.copy else "")

    @property
    def display(self) -> str:
        """The file's name: its location less the input's parent folder (see the module docstring)."""
        loc = self.location
        if self.base and loc.startswith(self.base):
            return loc[len(self.base):].lstrip("/")
        return loc

    @property
    def parts(self) -> list[str]:
        """Path parts from the outermost folder to the base name, zip name and members included (a member
        name's backslashes, as Windows tools write them, separate parts too)."""
        parts = list(self.path.parts)
        for name in (self.member, self.nested):
            if name:
                parts += list(PurePosixPath(member_path(name)).parts)
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
        zip bomb stops at the limit), an encrypted or corrupt zip entry (bad CRC-32, bad deflate data). A
        member of a zip inside a zip is read from the inner zip's bytes, each level under the same limits."""
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
                if self.nested is None:
                    return self._read_member(zf, entry(zf, self.member, self.copy), cap, lim, self_limit)
                full = lim["max_file_bytes"]
                inner = self._read_member(zf, entry(zf, self.member), full, lim, f"the limit of {_mib(full)} "
                                          "per file (the enclosing zip)")
            with zipfile.ZipFile(io.BytesIO(inner)) as zf:
                return self._read_member(zf, entry(zf, self.nested, self.copy), cap, lim, self_limit)
        except UnreadableFile:
            raise
        except KeyError:
            raise self._unreadable("zip entry not found (the zip changed while it was read)") from None
        except ZIP_ERRORS as exc:
            raise self._unreadable(f"zip entry cannot be read: {describe(exc)}") from None

    def streamed_fingerprint(self) -> tuple[str, int | None]:
        """(fingerprint, uncompressed size) of a file that is streamed, never read whole (a race's telemetry,
        ~1.5 GB): size and modification time of a file on disk, the CRC-32 and size a zip declares for a member
        (of a zip inside a zip too: the inner zip is opened as a stream, only its directory is read), the
        object's generation and size in Cloud Storage. Cheap: nothing is hashed. An error is its own
        fingerprint (``unreadable:...``), never raised."""
        try:
            if self.member is None:
                if isinstance(self.path, Path):
                    st = os.stat(self.path)
                    return f"stat:{st.st_size}:{st.st_mtime_ns}", st.st_size
                size = self.path.size()
                return f"object:{size}:{getattr(self.path, 'generation', None) or ''}", size
            with (zipfile.ZipFile(self.path) if isinstance(self.path, Path) else _ObjectZip(self.path)) as zf:
                info = entry(zf, self.member, 0 if self.nested else self.copy)
                if self.nested is None:
                    return f"zip:{info.CRC:08x}:{info.file_size}", info.file_size
                with zf.open(info) as inner_fh, zipfile.ZipFile(inner_fh) as inner:
                    nested = entry(inner, self.nested, self.copy)
                    return (f"zip:{info.CRC:08x}:{info.file_size}!{nested.CRC:08x}:{nested.file_size}",
                            nested.file_size)
        except (KeyError, *ZIP_ERRORS) as exc:
            return "unreadable:" + content_hash(describe(exc).encode()), None
        except Exception as exc:  # noqa: BLE001 - a Cloud Storage client error is this file's error
            return "unreadable:" + content_hash(describe(exc).encode()), None

    def _read_object(self, cap: int, limit: str) -> bytes:
        """A Cloud Storage object (:class:`kaizenlap.ingest.gcs.GcsObject`), size-checked like a file on disk."""
        try:
            size = self.path.size()
            if size is not None and size > cap:
                raise self._unreadable(f"{_mib(size)}, over {limit} (params/ingest.yaml: limits); not read",
                                       "over_limit")
            data = self.path.read_bytes()
        except UnreadableFile:
            raise
        except Exception as exc:  # noqa: BLE001 - any client/transport error is this file's error
            raise self._unreadable(f"cannot be read: {describe(exc)}") from None
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
            raise self._unreadable(f"cannot be read: {describe(exc)}") from None
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


def member_path(name: str) -> str:
    """A zip member's name with '/' between its parts: Windows tools write backslashes (``Barber\\R1\\23_….csv``),
    which the zip format does not allow but which mean the same folders."""
    return name.replace("\\", "/")


def zip_members(names) -> list[str]:
    """The members of a zip KaizenLap looks at: files, not folders nor macOS resource forks, sorted (each name
    once)."""
    out = set()
    for n in names:
        p = member_path(n)
        if not p.endswith("/") and not p.startswith("__MACOSX/") and not PurePosixPath(p).name.startswith("._"):
            out.add(n)
    return sorted(out)


def member_copies(names: list[str]) -> list[tuple[str, int]]:
    """(name, copy) for every entry of :func:`zip_members`, a name held k times giving copies 0..k-1."""
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    return [(n, k) for n in zip_members(counts) for k in range(counts[n])]


def entry(zf: zipfile.ZipFile, name: str, copy: int = 0) -> zipfile.ZipInfo:
    """The ``copy``-th entry named ``name`` (``ZipFile.getinfo`` gives only the last one); KeyError if none."""
    found = [i for i in zf.infolist() if i.filename == name]
    if copy >= len(found):
        raise KeyError(name)
    return found[copy]


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


def describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "..."


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
