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
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from . import params
from .ledger import Issue

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
    location left out of :attr:`display` (empty: the full location is the name)."""
    path: Path | object
    member: str | None = None
    base: str = ""

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

    def read_bytes(self) -> bytes:
        if not isinstance(self.path, Path):
            return self.path.read_bytes(self.member)
        if self.member is None:
            return self.path.read_bytes()
        with zipfile.ZipFile(self.path) as zf:
            return zf.read(self.member)


@dataclass
class RaceFiles:
    track_id: str
    race_number: int
    files: dict[str, list[SourceFile]] = field(default_factory=dict)
    _contents: dict[SourceFile, bytes] = field(default_factory=dict, repr=False, compare=False)

    def read(self, src: SourceFile) -> bytes:
        """The bytes of one of this race's files, read once (hashed for the cache key, then parsed)."""
        if src not in self._contents:
            self._contents[src] = src.read_bytes()
        return self._contents[src]

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
        try:
            with zipfile.ZipFile(root) as zf:
                names = [i.filename for i in zf.infolist() if not i.is_dir()]
        except (zipfile.BadZipFile, OSError) as exc:
            issues.append(Issue("unreadable_file", f"not a readable zip: {exc}", file=str(root)))
            return
        for name in zip_members(names):
            yield SourceFile(root, name, base)
        return
    yield SourceFile(root, None, base)


def _local_base(root: Path) -> str:
    parent = str(root.parent)
    return parent if parent.endswith("/") else parent + "/"


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
