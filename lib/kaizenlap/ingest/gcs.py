"""Cloud Storage input: ``gs://BUCKET[/PREFIX]`` read in place with ``google-cloud-storage``.

An input URL is an object (a CSV or an official zip) when one has exactly that name, else a folder: every
object under ``PREFIX/``. Objects are pinned to the generation seen when listing, so a file replaced
during a run is never mixed with its old copy. A CSV is downloaded when the ingest reads it (as a file on
disk would be read); a zip is read through a seekable stream (ranged reads), so only its directory and
the members read are transferred, never the whole archive.

The files get the names files on disk would get (:mod:`kaizenlap.ingest.sources`): ``gs://b/sample/barber/x.csv``
is ``sample/barber/x.csv``, hence the same cache key and the same published documents as the same bytes
in a folder ``sample``.

``$STORAGE_EMULATOR_HOST`` (e.g. ``http://127.0.0.1:9023``, the ``gcp-storage-emulator``) sends every call
to that emulator with anonymous credentials; otherwise the client uses Application Default Credentials
(on Cloud Run: the job's service account).
"""
from __future__ import annotations

import functools
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

from kaizenlap.core.environment import env
from kaizenlap.core.ledger import Issue
from kaizenlap.ingest.files import GCS_SCHEME, SourceFile, member_copies

ZIP_CHUNK_BYTES = 1 << 20     # ranged-read size of a zip's stream


def parse_url(url: str) -> tuple[str, str]:
    """``gs://bucket/a/b/`` → ``("bucket", "a/b")``; raises ValueError for anything else."""
    if not url.startswith(GCS_SCHEME):
        raise ValueError(f"not a Cloud Storage URL: {url!r} (expected gs://BUCKET[/PREFIX])")
    bucket, _, prefix = url[len(GCS_SCHEME):].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {url!r} (expected gs://BUCKET[/PREFIX])")
    return bucket, prefix.strip("/")


@functools.lru_cache(maxsize=1)
def client():
    """One client per process: the emulator's (anonymous) when ``$STORAGE_EMULATOR_HOST`` is set."""
    from google.cloud import storage
    project = env("GOOGLE_CLOUD_PROJECT")
    if env("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials
        return storage.Client(project=project or "kaizenlap-emulator", credentials=AnonymousCredentials())
    return storage.Client(project=project)


@dataclass(frozen=True)
class GcsObject:
    """One object of a bucket, pinned to a generation."""
    bucket: str
    name: str
    generation: int | None = None
    size_bytes: int | None = None     # as listed (checked against the ingest limits before downloading)

    def __str__(self) -> str:
        return f"{GCS_SCHEME}{self.bucket}/{self.name}"

    @property
    def parts(self) -> tuple[str, ...]:
        return (f"{GCS_SCHEME}{self.bucket}", *PurePosixPath(self.name).parts)

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix

    def blob(self):
        return client().bucket(self.bucket).blob(self.name, generation=self.generation)

    def open(self):
        """A seekable binary stream over the object (ranged reads of ``ZIP_CHUNK_BYTES``)."""
        return self.blob().open("rb", chunk_size=ZIP_CHUNK_BYTES)

    def size(self) -> int | None:
        """The object's size in bytes as listed (checked against the ingest limits before downloading)."""
        return self.size_bytes

    def read_bytes(self) -> bytes:
        """The whole object (zip members are read by :class:`kaizenlap.ingest.files.SourceFile`, limits applied)."""
        return self.blob().download_as_bytes()


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}".splitlines()[0]


def list_input(url: str, issues: list[Issue]) -> list | None:
    """The objects of the input ``url`` (the object of that name, else every object under ``PREFIX/``);
    None, with a ledger entry, when there is none or the bucket cannot be listed."""
    bucket_name, prefix = parse_url(url)
    try:
        single = client().bucket(bucket_name).get_blob(prefix) if prefix else None
        if single is not None:
            return [single]
        blobs = [b for b in client().list_blobs(bucket_name, prefix=f"{prefix}/" if prefix else None)
                 if not b.name.endswith("/")]
    except Exception as exc:  # noqa: BLE001 - any client/transport error is reported on the input
        issues.append(Issue("missing_file", f"cannot list the input: {_error(exc)}", file=url))
        return None
    if not blobs:
        issues.append(Issue("missing_file", "no object under this input", file=url))
        return None
    return blobs


def iter_files(url: str, blobs: list, issues: list[Issue]):
    """The :class:`SourceFile` of every file of ``blobs`` (:func:`list_input`; zip members included), in
    name order. An unreadable zip becomes a ledger entry; the rest goes on."""
    bucket_name, prefix = parse_url(url)
    # The input's parent: names then start with the prefix's last folder (the bucket's name for a bucket).
    base = f"{GCS_SCHEME}{bucket_name}/{prefix.rsplit('/', 1)[0]}/" if "/" in prefix else \
        (f"{GCS_SCHEME}{bucket_name}/" if prefix else GCS_SCHEME)
    for b in sorted(blobs, key=lambda b: b.name):
        obj = GcsObject(bucket_name, b.name, b.generation, b.size)
        if obj.suffix.lower() != ".zip":
            yield SourceFile(obj, None, base)
            continue
        try:
            with obj.open() as fh, zipfile.ZipFile(fh) as zf:
                names = [i.filename for i in zf.infolist() if not i.is_dir()]
        except Exception as exc:  # noqa: BLE001 - a bad zip or a failed read: the rest goes on
            issues.append(Issue("unreadable_file", f"not a readable zip: {_error(exc)}", file=str(obj)))
            continue
        for name, copy in member_copies(names):
            yield SourceFile(obj, name, base, copy=copy)


def upload_tree(local_root, url: str) -> int:
    """Upload every file under the folder ``local_root`` to ``url`` (``gs://BUCKET/PREFIX``), same layout;
    returns the number of objects (tests, and seeding a bucket from a downloaded season)."""
    from pathlib import Path
    bucket_name, prefix = parse_url(url)
    bucket = client().bucket(bucket_name)
    n = 0
    root = Path(local_root)
    for p in sorted(root.rglob("*")):
        if p.is_file():
            name = "/".join(filter(None, [prefix, p.relative_to(root).as_posix()]))
            bucket.blob(name).upload_from_filename(str(p))
            n += 1
    return n
