"""Car telemetry (``*_telemetry_data.csv``, ~1.5 GB a race): streamed into a per-race columnar cache.

The TRD file is long: one value a row (``vehicle_id, telemetry_name, telemetry_value, timestamp, meta_time,
lap, ...``), the channels at different rates (speed, rpm and lap distance at about 1/5 of the rate of GPS,
pedals and brakes), the ECU ``timestamp`` on its own clock. :func:`read_telemetry` reads it in blocks with
pyarrow's streaming CSV reader and never holds the file (on disk, in a zip, or in Cloud Storage by ranged
reads). With ``read_ranges`` > 1 (params/ingest.yaml; 1 by default: on the shared 2 cores two ranges never beat
one stream, docs/DESIGN.md) a file or an object is cut at line ends into byte ranges parsed in parallel (pyarrow
parses without the GIL) and joined in file order, so the cache and the ledger are what one stream gives.
Each block is checked, its kept rows go to the car's compact in-memory columns (38 bytes a row; past
``buffer_bytes`` they spill to a scratch Parquet file per car), then
each car is sorted, deduplicated and written once to its Parquet file (long: ``timestamp, channel, value, lap,
line, offset_ms``). Bad rows are ledger entries naming the file and the first line (1-based, the header is
line 1), never a crash:

* ``telemetry_bad_value``: a value that is not a finite number, or a timestamp that is not a time (dropped);
* ``telemetry_out_of_range``: a value outside its channel's range in ``params/ingest.yaml: telemetry`` (dropped);
* ``telemetry_duplicate_rows``: the same car, channel and timestamp again (the first kept);
* ``telemetry_unknown_channel``: a channel name the project does not know (kept, not used by the engines).

:func:`car_frame` then puts one car's channels on one time base (every timestamp at which any channel was
logged; each channel carried forward from its last reading, at most ``carry_ms``); :func:`car_channels` gives the
engine that time base, the lap counter and each channel's raw readings from one pyarrow read, without the pivot
(~4x less CPU for the engine; docs/DATA_REFERENCE.md 10.7 "Speed"). Why pyarrow (measured
by bench/telemetry.py against the first reader, pandas, polars and DuckDB; figures in docs/DATA_REFERENCE.md
4.9 and docs/DESIGN.md "Telemetry reader"): the whole reader costs 1.4-1.65x the CPU of pyarrow's bare
parse, polars' parse-and-partition without any checks costs about the bare parse and DuckDB's about the whole
reader, neither keeps the line numbers the ledger names without more work, and pyarrow is already a
dependency (Parquet).
"""
from __future__ import annotations

import os
import re
import stat
import zipfile
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from kaizenlap.core import params
from kaizenlap.core.ledger import Issue
from kaizenlap.ingest import gcs

COLUMNS = ("expire_at", "lap", "meta_event", "meta_session", "meta_source", "meta_time", "original_vehicle_id",
           "outing", "telemetry_name", "telemetry_value", "timestamp", "vehicle_id", "vehicle_number")
REQUIRED = ("telemetry_name", "telemetry_value", "timestamp", "vehicle_id")
# A file of car telemetry, by name: R1_barber_telemetry_data.csv, ..._sample.csv, "Race 2 telemetry.csv".
FILE_RULE = re.compile(r"telemetry[ _-]?data.*\.csv$|telemetry.*\.csv$", re.I)
_NUMBER = r"^\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*$"
_VEHICLE = re.compile(r"^GR86-(?P<chassis>\d+)-(?P<number>\d+)$")


def settings() -> dict:
    return params.load("ingest")["telemetry"]


def is_telemetry_file(name: str) -> bool:
    return bool(FILE_RULE.search(Path(name.replace("\\", "/")).name))


def vehicle_number(vehicle_id: str) -> str | None:
    """The car number a vehicle id carries (``GR86-002-013`` -> ``13``); None for ``-000`` (no number yet) or
    an id of another shape. Cars are matched on it as the lap events are."""
    m = _VEHICLE.match(vehicle_id or "")
    if not m or int(m["number"]) == 0:
        return None
    return str(int(m["number"]))


@dataclass
class TelemetryCache:
    """What :func:`read_telemetry` wrote: one Parquet file per vehicle, and what it saw."""
    folder: Path
    files: dict[str, Path] = field(default_factory=dict)           # vehicle id -> its Parquet file
    rows: int = 0                                                    # data rows read
    kept: int = 0                                                    # rows written
    channels: dict[str, int] = field(default_factory=dict)          # channel -> rows kept
    clock_offset_s: dict[str, float] = field(default_factory=dict)  # vehicle -> median(meta_time - timestamp)
    issues: list[Issue] = field(default_factory=list)
    bytes_read: int = 0


class _Wrapper:
    """A read-only binary stream over another one, which its owner closes (what pyarrow's reader asks of it)."""

    def readable(self) -> bool:
        return True

    @property
    def closed(self) -> bool:
        return False

    def close(self) -> None:
        pass


class _Counted(_Wrapper):
    """A binary stream that counts the bytes read through it (for the limits and the bench)."""

    def __init__(self, fh: BinaryIO, limit: int) -> None:
        self.fh, self.limit, self.n = fh, limit, 0

    def read(self, size: int = -1) -> bytes:
        data = self.fh.read(size)
        self.n += len(data)
        if self.n > self.limit:
            raise OverflowError(f"over {self.limit} bytes")
        return data


def _gcs_object(url: str, generation: int | None = None):
    """``gs://bucket/name`` as a :class:`kaizenlap.ingest.gcs.GcsObject` (pinned to ``generation`` if given)."""
    bucket, name = gcs.parse_url(url)
    if not name:
        raise FileNotFoundError(f"no object name in {url!r}")
    return gcs.GcsObject(bucket, name, generation)


class _ObjectStream:
    """A Cloud Storage object read forward by ranged requests: each ``read(n)`` one request for the next ``n``
    bytes (the CSV reader asks a block at a time), nothing kept; ``seek`` moves where the next one starts. Each
    request from a fresh handle of the object (``obj.blob()``: no request), so the generation it is pinned to
    holds for every one (the client rewrites a handle's generation from each download's headers)."""

    def __init__(self, obj) -> None:
        self.obj, self.pos = obj, 0

    def read(self, size: int = -1) -> bytes:
        from google.api_core.exceptions import RequestRangeNotSatisfiable
        if size is None or size < 0:
            raise ValueError("an object is read in ranges, never whole")
        if size == 0:
            return b""
        try:
            data = self.obj.blob().download_as_bytes(start=self.pos, end=self.pos + size - 1, checksum=None)
        except RequestRangeNotSatisfiable:         # at or past the end
            return b""
        self.pos += len(data)
        return data

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence != 0:
            raise ValueError("only absolute seeks")
        self.pos = pos
        return pos

    def tell(self) -> int:
        return self.pos

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        pass


def _gcs_stream(obj, chunk_bytes: int, zip_file: bool = False) -> BinaryIO:
    """A Cloud Storage object as a stream of ranged reads: a zip through the client's seekable reader (``chunk_bytes``
    a request, one chunk held, for the zip directory's small seeks and reads); a CSV by :class:`_ObjectStream`."""
    if zip_file:
        return obj.blob().open("rb", chunk_size=chunk_bytes)
    return _ObjectStream(obj)


def _open(source: str | Path, generation: int | None = None,
          chunk_bytes: int = 16 << 20) -> tuple[BinaryIO, str, list]:
    """``source``: a CSV path, ``archive.zip!member`` (``outer.zip!inner.zip!member``), or the same in Cloud
    Storage (``gs://bucket/name``, ``gs://bucket/x.zip!member``: read through ranged requests of ``chunk_bytes``,
    never downloaded whole; ``generation`` pins the object). Returns the stream, its display name and what to
    close."""
    text = str(source)
    remote = text.startswith("gs://")
    if "!" in text and text.split("!", 1)[0].lower().endswith(".zip"):
        outer, member = text.split("!", 1)
        if remote:
            outer_fh = _gcs_stream(_gcs_object(outer, generation), chunk_bytes, zip_file=True)
            zf = zipfile.ZipFile(outer_fh)
            closers = [zf, outer_fh]
        else:
            zf = zipfile.ZipFile(outer)
            closers = [zf]
        shown = outer.rsplit("/", 1)[-1]
        if "!" in member and member.split("!", 1)[0].lower().endswith(".zip"):
            # a member of a zip inside the zip (outer.zip!inner.zip!member): the inner zip read as a stream
            inner_name, member = member.split("!", 1)
            inner_fh = zf.open(inner_name)
            inner = zipfile.ZipFile(inner_fh)
            fh = inner.open(member)
            return fh, f"{shown}!{inner_name}!{member}", [fh, inner, inner_fh, *closers]
        fh = zf.open(member)
        return fh, f"{shown}!{member}", [fh, *closers]
    if remote:
        fh = _gcs_stream(_gcs_object(text, generation), chunk_bytes)
        return fh, text.rsplit("/", 1)[-1], [fh]
    fh = open(text, "rb")
    return fh, Path(text).name, [fh]


class _Range(_Wrapper):
    """At most ``length`` bytes of ``fh`` from where it stands (a byte range of the file, for a reader)."""

    def __init__(self, fh: BinaryIO, length: int | None) -> None:
        self.fh, self.left = fh, length

    def read(self, size: int = -1) -> bytes:
        if self.left is None:
            return self.fh.read(size)
        if size is None or size < 0 or size > self.left:
            size = self.left
        data = self.fh.read(size) if size else b""
        self.left -= len(data)
        return data


def _size(source: str | Path, generation: int | None) -> int | None:
    """The size in bytes of a file that can be opened again at any offset (a plain file, a Cloud Storage
    object); None for a zip member (read as one stream)."""
    text = str(source)
    if "!" in text and text.split("!", 1)[0].lower().endswith(".zip"):
        return None
    if text.startswith("gs://"):
        blob = _gcs_object(text, generation).blob()
        blob.reload()
        return blob.size
    st = os.stat(text)
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def _ranges(source: str | Path, generation: int | None, cfg: dict) -> tuple[list[tuple[int, int | None]], list]:
    """Where the file is cut for the parallel reader: ``[(start, length), ...]`` at line ends (the first range
    from byte 0, the header included) and the header's column names for the ranges after the first. One range
    (``[(0, None)]``, read as one stream) for a zip member, a file under ``split_min_bytes`` or over
    ``max_file_bytes``, ``read_ranges: 1``, or a header or cut point without a line end within 1 MiB."""
    n = max(1, min(int(cfg.get("read_ranges", 1)), os.cpu_count() or 1))
    whole = [(0, None)], []
    if n < 2:
        return whole
    size = _size(source, generation)
    if size is None or size < int(cfg.get("split_min_bytes", 0)) or size > int(cfg["max_file_bytes"]):
        return whole
    probe = 1 << 20
    fh, _, closers = _open(source, generation, chunk_bytes=probe)
    try:
        head = fh.read(probe)
        end = head.find(b"\n")
        if end < 0:
            return whole
        names = pacsv.read_csv(pa.py_buffer(head[: end + 1]),
                               read_options=pacsv.ReadOptions(block_size=probe)).column_names
        cuts = [0]
        for k in range(1, n):
            at = max(size * k // n, cuts[-1], end + 1)
            fh.seek(at - 1)                      # from the byte before: a cut right after a line end stays there
            window = fh.read(probe)
            nl = window.find(b"\n")
            if nl < 0:
                return whole
            cut = at + nl
            if cut >= size:
                break
            if cut > cuts[-1]:
                cuts.append(cut)
    finally:
        for c in closers:
            c.close()
    if len(cuts) < 2:
        return whole
    bounds = cuts + [size]
    return [(a, b - a) for a, b in zip(bounds[:-1], bounds[1:])], names


USED = ("lap", "meta_time", "telemetry_name", "telemetry_value", "timestamp", "vehicle_id")


class _Untyped(Exception):
    """A field the typed pass could not convert: the file is read again as text (:func:`_read_buffered`)."""


_TYPED = {"lap": pa.float64(), "meta_time": pa.timestamp("ms", tz="UTC"), "telemetry_value": pa.float64(),
          "timestamp": pa.timestamp("ms", tz="UTC")}


def _batches(stream: BinaryIO, block_bytes: int, typed: bool = False,
             column_names: list | None = None) -> Iterator[pa.RecordBatch]:
    """The file in blocks, only the columns used: names as dictionaries (a few dozen distinct), the rest as
    text checked and converted per block (a bad field costs its row, never the file). ``typed``: numbers and
    times converted by the CSV reader itself, in its threads (a field it cannot convert raises).
    ``column_names``: a range of the file after its first (no header line; the header's names)."""
    read = pacsv.ReadOptions(block_size=block_bytes, use_threads=True, column_names=column_names)
    types = {c: _TYPED.get(c, pa.string()) if typed else pa.string() for c in USED}
    types.update(telemetry_name=pa.dictionary(pa.int32(), pa.string()),
                 vehicle_id=pa.dictionary(pa.int32(), pa.string()))
    convert = pacsv.ConvertOptions(column_types=types, strings_can_be_null=True, include_missing_columns=True,
                                   include_columns=list(USED))
    reader = pacsv.open_csv(stream, read_options=read, convert_options=convert,
                            parse_options=pacsv.ParseOptions(delimiter=","))
    yield from reader


def _numbers(arr: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(float64 values, valid mask): a field that is not a finite number is invalid. The whole block is cast
    at once; only a block holding a bad field goes through the per-field check."""
    try:
        values = pc.cast(arr, pa.float64())
    except pa.ArrowInvalid:
        ok = pc.fill_null(pc.match_substring_regex(arr, _NUMBER), False)
        values = pc.cast(pc.if_else(ok, arr, pa.scalar(None, pa.string())), pa.float64())
    ok = pc.fill_null(pc.is_finite(values), False)
    return values, ok


def _times(arr: pa.Array) -> pa.Array:
    """ISO 8601 UTC times as timestamp[ms, UTC]; a field that is not one is null."""
    try:
        return pc.cast(arr, pa.timestamp("ms", tz="UTC"))
    except pa.ArrowInvalid:
        return _parse_times(arr)


def _first_line(mask: np.ndarray, lines: np.ndarray) -> int:
    return int(lines[np.argmax(mask)])


def _parse_times(arr: pa.Array) -> pa.Array:
    """ISO 8601 UTC times (``2025-09-05T00:28:20.593Z``) as timestamp[ms, UTC]; anything else null."""
    ok = pc.fill_null(pc.match_substring_regex(arr, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z$"), False)
    clean = pc.replace_substring_regex(pc.if_else(ok, arr, pa.scalar(None, pa.string())), r"Z$", "")
    return pc.cast(pc.cast(clean, pa.timestamp("ms")), pa.timestamp("ms", tz="UTC"))


SCHEMA = pa.schema([("timestamp", pa.timestamp("ms", tz="UTC")), ("channel", pa.string()), ("value", pa.float64()),
                    ("lap", pa.int32()), ("line", pa.int64()), ("offset_ms", pa.int64())])
_LABELS = {"bad_value": ("telemetry_bad_value", "values that are not finite numbers, or times that are not times; "
                         "dropped"),
           "out_of_range": ("telemetry_out_of_range", "values outside their channel's range; dropped"),
           "duplicate": ("telemetry_duplicate_rows", "rows repeating a car, channel and timestamp; the first kept"),
           "unknown": ("telemetry_unknown_channel", "rows of channels the project does not use; kept")}


ENGINES = ("buffered", "scratch")


def read_telemetry(source: str | Path, out_dir: str | Path, *, limits: dict | None = None,
                   engine: str = "buffered", generation: int | None = None) -> TelemetryCache:
    """Stream ``source`` (a CSV or ``zip!member``, on disk or in Cloud Storage: ``gs://bucket/name``, pinned
    to ``generation`` when given) into ``out_dir/<vehicle>.parquet`` (long format: timestamp,
    channel, value, lap, the file line; sorted by time, duplicates dropped). Never raises for bad content: it
    becomes ledger entries on the returned cache; an unreadable or over-limit file is one ``unreadable_file`` /
    ``over_limit`` entry (what was read before it is kept).

    ``engine``: ``"buffered"`` (the default: each car's checked rows kept as compact arrays, spilled to a scratch
    Parquet file only past ``buffer_bytes``, sorted and deduplicated with numpy, one write per car) or
    ``"scratch"`` (the first version: every block appended to a scratch Parquet file per car, then read back and
    deduplicated with pandas; kept for bench/telemetry.py). Both write the same cache and the same ledger."""
    cfg = {**settings(), **(limits or {})}
    if engine == "buffered":
        return _read_buffered(source, Path(out_dir), cfg, generation)
    if engine == "scratch":
        return _read_scratch(source, Path(out_dir), cfg)
    raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")


def _read_scratch(source: str | Path, out: Path, cfg: dict) -> TelemetryCache:
    """The first reader (``engine="scratch"``): blocks appended to ``<vehicle>.parquet.part``, then
    :func:`_finalize` per car."""
    out.mkdir(parents=True, exist_ok=True)
    cache = TelemetryCache(out)
    ranges = {k: tuple(map(float, v)) for k, v in cfg["channels"].items()}
    writers: dict[str, pq.ParquetWriter] = {}
    counts: dict[str, list] = {k: [0, None, None] for k in _LABELS}
    closers: list = []
    name = Path(str(source)).name
    stream = None
    try:
        fh, name, closers = _open(source)
        stream = _Counted(fh, int(cfg["max_file_bytes"]))
        offset = 0
        for batch in _batches(stream, int(cfg["block_bytes"])):
            n = batch.num_rows
            cache.rows += n
            col = {c: batch.column(batch.schema.get_field_index(c)) for c in USED}
            if offset == 0:
                absent = [c for c in REQUIRED if pc.all(pc.is_null(col[c])).as_py()]
                if absent:
                    cache.issues.append(Issue("missing_column", f"telemetry without {', '.join(absent)}",
                                              file=name, line=1, column=absent[0]))
                    return cache
            lines = np.arange(offset + 2, offset + 2 + n)
            offset += n
            value, ok_value = _numbers(col["telemetry_value"])
            ts = _times(col["timestamp"])
            good = pc.and_(pc.and_(ok_value, pc.is_valid(ts)),
                           pc.and_(pc.is_valid(col["vehicle_id"]), pc.is_valid(col["telemetry_name"])))
            good_np = good.to_numpy(zero_copy_only=False)
            if not good_np.all():
                bad = ~good_np
                j = int(np.argmax(bad))
                column = _bad_column(ok_value.to_numpy(zero_copy_only=False), ts, col["vehicle_id"], j)
                _count(counts["bad_value"], int(bad.sum()), int(lines[j]), column)
            lap, _ = _numbers(col["lap"])
            meta = _times(col["meta_time"])
            names = col["telemetry_name"]
            ch_codes = pc.fill_null(names.indices, 0).to_numpy(zero_copy_only=False)
            vocab = names.dictionary.to_pylist()
            lo = np.array([ranges.get(c, (np.nan, np.nan))[0] for c in vocab] or [np.nan])[ch_codes]
            hi = np.array([ranges.get(c, (np.nan, np.nan))[1] for c in vocab] or [np.nan])[ch_codes]
            v = value.to_numpy(zero_copy_only=False)
            unknown = good_np & np.isnan(lo)
            if unknown.any():
                _count(counts["unknown"], int(unknown.sum()), _first_line(unknown, lines), "telemetry_name")
            with np.errstate(invalid="ignore"):
                outside = good_np & ~np.isnan(lo) & ((v < lo) | (v > hi))
            if outside.any():
                _count(counts["out_of_range"], int(outside.sum()), _first_line(outside, lines), "telemetry_value")
            keep = good_np & ~outside
            if not keep.any():
                continue
            table = pa.table({
                "timestamp": ts, "channel": pc.cast(names, pa.string()), "value": value,
                "lap": pc.cast(pc.if_else(pc.is_finite(lap), lap, pa.scalar(None, pa.float64())), pa.int32(),
                               safe=False),
                "line": pa.array(lines, pa.int64()),
                "offset_ms": pc.subtract(pc.cast(meta, pa.int64()), pc.cast(ts, pa.int64()))}).filter(
                pa.array(keep))
            vehicles = col["vehicle_id"].filter(pa.array(keep))
            vcodes = pc.fill_null(vehicles.indices, -1).to_numpy(zero_copy_only=False)
            vvocab = vehicles.dictionary.to_pylist()
            for code in np.unique(vcodes[vcodes >= 0]):
                vehicle = vvocab[code]
                part = table.filter(pa.array(vcodes == code))
                if vehicle not in writers:
                    path = out / f"{_safe(vehicle)}.parquet.part"
                    writers[vehicle] = pq.ParquetWriter(path, SCHEMA, compression="none")     # a scratch file: speed
                    cache.files[vehicle] = out / f"{_safe(vehicle)}.parquet"
                writers[vehicle].write_table(part.cast(SCHEMA))
    except OverflowError:
        cache.issues.append(Issue("over_limit", f"telemetry over {cfg['max_file_bytes']} bytes "
                                  "(params/ingest.yaml telemetry.max_file_bytes); not read further", file=name))
    except (OSError, KeyError, zipfile.BadZipFile, pa.ArrowInvalid, UnicodeDecodeError) as exc:
        cache.issues.append(Issue("unreadable_file", f"telemetry could not be read: {exc}", file=name))
    finally:
        for w in writers.values():
            w.close()
        for c in closers:
            c.close()
    cache.bytes_read = stream.n if stream is not None else 0
    for vehicle, path in list(cache.files.items()):
        kept, dup, first, offset_s = _finalize(path)
        cache.kept += kept
        if dup:
            _count(counts["duplicate"], dup, first, "timestamp")
        if offset_s is not None:
            cache.clock_offset_s[vehicle] = offset_s
    for path in cache.files.values():
        vc = pc.value_counts(pq.read_table(path, columns=["channel"]).column(0)).to_pylist()
        for item in vc:
            cache.channels[item["values"]] = cache.channels.get(item["values"], 0) + int(item["counts"])
    for key, (n, line, column) in counts.items():
        if n:
            code, what = _LABELS[key]
            cache.issues.append(Issue(code, f"{n} row(s): {what}; the first at this line", file=name, line=line,
                                      column=column))
    return cache


_NO_LAP = np.iinfo(np.int32).min        # a lap that is not a number, in the buffers
_PART = pa.schema([("timestamp", pa.int64()), ("channel", pa.int32()), ("value", pa.float64()),
                   ("lap", pa.int32()), ("line", pa.int64()), ("offset_ms", pa.float64())])


class _Buffers:
    """Each car's checked rows as numpy chunks (38 bytes a row), in file order; past ``limit`` bytes they are
    appended to the car's scratch Parquet file (``<car>.parquet.part``, ``.part<tag>`` for a range after the
    first) and the memory freed, so a file of any size is never held."""

    def __init__(self, out: Path, limit: int, tag: str = "") -> None:
        self.out, self.limit, self.nbytes, self.tag = out, limit, 0, tag
        self.chunks: dict[str, list[tuple[np.ndarray, ...]]] = {}
        self.writers: dict[str, pq.ParquetWriter] = {}

    def add(self, vehicle: str, cols: tuple[np.ndarray, ...]) -> None:
        self.chunks.setdefault(vehicle, []).append(cols)
        self.nbytes += sum(c.nbytes for c in cols)
        if self.nbytes > self.limit:
            self.spill()

    def spill(self) -> None:
        for vehicle, chunks in self.chunks.items():
            if not chunks:
                continue
            if vehicle not in self.writers:
                self.writers[vehicle] = pq.ParquetWriter(self._part(vehicle), _PART, compression="none")
            cols = [np.concatenate(c) for c in zip(*chunks)]
            self.writers[vehicle].write_table(pa.table(cols, schema=_PART))
            chunks.clear()
        self.nbytes = 0

    def _part(self, vehicle: str) -> Path:
        return self.out / f"{_safe(vehicle)}.parquet.part{self.tag}"

    def close(self) -> None:
        for w in self.writers.values():
            w.close()

    def take(self, vehicle: str) -> tuple[np.ndarray, ...] | None:
        """The car's rows in file order (what was spilled, then what is buffered); the buffers freed. None
        when this range holds none of the car's rows."""
        parts = []
        if vehicle in self.writers:
            part = self._part(vehicle)
            t = pq.read_table(part)
            parts.append(tuple(t.column(i).to_numpy() for i in range(t.num_columns)))
            part.unlink()
        parts.extend(self.chunks.pop(vehicle, []))
        if not parts:
            return None
        return tuple(np.concatenate(c) for c in zip(*parts))


def _read_buffered(source: str | Path, out: Path, cfg: dict, generation: int | None = None) -> TelemetryCache:
    """The reader (``engine="buffered"``): the file read by pyarrow's streaming CSV reader as one stream, or cut
    into ``read_ranges`` byte ranges at line ends (:func:`_ranges`), each read in its own thread (pyarrow parses
    without the GIL), and checked per block as :func:`_read_scratch` checks, the kept rows as numpy arrays per car
    (:class:`_Buffers`); then the ranges joined in file order (lines, channel codes, first-seen order: what one
    stream gives) and per car :func:`_dedup` and one Parquet write. First pass typed (the CSV reader converts
    numbers and times: 15% less CPU); a field it cannot convert (text where a number or a time belongs) restarts
    the file as text, checked field by field."""
    try:
        return _read_pass(source, out, cfg, typed=True, generation=generation)
    except _Untyped:
        return _read_pass(source, out, cfg, typed=False, generation=generation)


class _Scan:
    """One byte range of the file read and checked: its rows, its ledger counts (lines counted from the range's
    first row: line 2 is its first row), its own channel vocabulary (codes in the order it first saw them), its
    cars' buffers, and how it stopped (None: at its end)."""

    def __init__(self, out: Path, limit: int, tag: str) -> None:
        self.buffers = _Buffers(out, limit, tag)
        self.counts: dict[str, list] = {k: [0, None, None] for k in _LABELS}
        self.vocab: list[str] = []
        self.code_of: dict[str, int] = {}
        self.lo: list[float] = []
        self.hi: list[float] = []
        self.rows = 0
        self.bytes = 0
        self.stop: tuple | None = None
        self.name = ""


def _scan(scan: _Scan, source: str | Path, start: int, length: int | None, names: list, cfg: dict,
          typed: bool, first_range: bool, generation: int | None, n_ranges: int) -> None:
    """Read one range into ``scan`` in blocks of ``block_bytes / n_ranges`` (the parse's memory grows with its
    block: two 8 MiB readers hold what one 16 MiB reader holds). Never raises: an error is ``scan.stop``."""
    ranges = {k: tuple(map(float, v)) for k, v in cfg["channels"].items()}
    block = max(1, int(cfg["block_bytes"]) // n_ranges)
    closers: list = []
    stream = None
    try:
        fh, scan.name, closers = _open(source, generation, chunk_bytes=block)
        if start:
            fh.seek(start)
        stream = _Counted(_Range(fh, length), int(cfg["max_file_bytes"]))
        offset = 0
        for batch in _batches(stream, block, typed, None if first_range else names):
            n = batch.num_rows
            scan.rows += n
            col = {c: batch.column(batch.schema.get_field_index(c)) for c in USED}
            if offset == 0 and first_range:
                absent = [c for c in REQUIRED if pc.all(pc.is_null(col[c])).as_py()]
                if absent:
                    scan.stop = ("missing", Issue("missing_column", f"telemetry without {', '.join(absent)}",
                                                  file=scan.name, line=1, column=absent[0]))
                    return
            first = offset + 2                # the block's first line (the header is line 1)
            offset += n
            _check_block(scan, col, first, n, ranges)
    except OverflowError:
        scan.stop = ("over_limit", None)
    except pa.ArrowInvalid as exc:
        scan.stop = ("invalid", exc)
    except (OSError, KeyError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        scan.stop = ("unreadable", exc)
    except Exception as exc:  # noqa: BLE001 - a Cloud Storage client error is this file's error
        if type(exc).__module__.split(".")[0] not in ("google", "requests", "urllib3"):
            scan.stop = ("raise", exc)
        else:
            scan.stop = ("unreadable", exc)
    finally:
        scan.buffers.close()
        for c in closers:
            c.close()
        scan.bytes = stream.n if stream is not None else 0


def _bad_column(ok_value: np.ndarray, ts: pa.Array, vehicles: pa.Array, j: int) -> str:
    """The column that makes row ``j`` of a block bad (its value, else its time, else its car or channel)."""
    if not ok_value[j]:
        return "telemetry_value"
    if not ts[j].is_valid:
        return "timestamp"
    return "vehicle_id" if not vehicles[j].is_valid else "telemetry_name"


def _check_block(scan: _Scan, col: dict, first: int, n: int, ranges: dict) -> None:
    """One block's checks (ledger counts on ``scan``) and its kept rows to the cars' buffers."""
    value, ok_value = _numbers(col["telemetry_value"])
    ts = _times(col["timestamp"])
    names, vehicles = col["telemetry_name"], col["vehicle_id"]
    good = pc.and_(pc.and_(ok_value, pc.is_valid(ts)), pc.and_(pc.is_valid(vehicles), pc.is_valid(names)))
    good_np = good.to_numpy(zero_copy_only=False)
    all_good = bool(good_np.all())
    if not all_good:
        bad = ~good_np
        j = int(np.argmax(bad))
        _count(scan.counts["bad_value"], int(bad.sum()), first + j,
               _bad_column(ok_value.to_numpy(zero_copy_only=False), ts, vehicles, j))
    block_names = names.dictionary.to_pylist()
    for ch in block_names:
        if ch not in scan.code_of:
            scan.code_of[ch] = len(scan.vocab)
            scan.vocab.append(ch)
            scan.lo.append(ranges.get(ch, (np.nan, np.nan))[0])
            scan.hi.append(ranges.get(ch, (np.nan, np.nan))[1])
    # a null name (a bad row, never kept) points past the vocabulary, at a NaN range
    remap = np.array([scan.code_of[c] for c in block_names] + [len(scan.vocab)], dtype=np.int32)
    ch_codes = remap[pc.fill_null(names.indices, len(remap) - 1).to_numpy(zero_copy_only=False)]
    lo, hi = np.array(scan.lo + [np.nan])[ch_codes], np.array(scan.hi + [np.nan])[ch_codes]
    v = value.to_numpy(zero_copy_only=False)
    known = ~np.isnan(lo)
    unknown = good_np & ~known
    if unknown.any():
        _count(scan.counts["unknown"], int(unknown.sum()), first + int(np.argmax(unknown)), "telemetry_name")
    with np.errstate(invalid="ignore"):
        outside = good_np & known & ((v < lo) | (v > hi))
    if outside.any():
        _count(scan.counts["out_of_range"], int(outside.sum()), first + int(np.argmax(outside)), "telemetry_value")
        keep = good_np & ~outside
    else:
        keep = good_np
    if not keep.any():
        return
    lap, _ = _numbers(col["lap"])
    lap_np = lap.to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        lap_i = np.where(np.isfinite(lap_np) & (np.abs(lap_np) < 2**31 - 1), lap_np, _NO_LAP).astype(np.int32)
    ts_ms = pc.fill_null(pc.cast(ts, pa.int64()), 0).to_numpy(zero_copy_only=False)
    meta = pc.cast(_times(col["meta_time"]), pa.int64()).to_numpy(zero_copy_only=False).astype(np.float64)
    cols = (ts_ms, ch_codes, v, lap_i, np.arange(first, first + n, dtype=np.int64), meta - ts_ms)
    vcodes = pc.fill_null(vehicles.indices, -1).to_numpy(zero_copy_only=False)
    vvocab = vehicles.dictionary.to_pylist()
    if not (keep.all() and all_good):
        cols, vcodes = tuple(c[keep] for c in cols), vcodes[keep]
    if len(vcodes) and vcodes[0] == vcodes[-1] and (vcodes == vcodes[0]).all():
        scan.buffers.add(vvocab[vcodes[0]], cols)         # a block of one car: the real file's order
        return
    order = np.argsort(vcodes, kind="stable")
    codes, starts = np.unique(vcodes[order], return_index=True)
    for code, lo_i, hi_i in zip(codes, starts, list(starts[1:]) + [len(order)]):
        idx = order[lo_i:hi_i]
        scan.buffers.add(vvocab[code], tuple(c[idx] for c in cols))


def _read_pass(source: str | Path, out: Path, cfg: dict, typed: bool,
               generation: int | None = None) -> TelemetryCache:
    out.mkdir(parents=True, exist_ok=True)
    cache = TelemetryCache(out)
    name = Path(str(source)).name
    try:
        cuts, header = _ranges(source, generation, cfg)
    except Exception as exc:  # noqa: BLE001 - the file cannot be examined: one unreadable_file entry
        if isinstance(exc, (OSError, KeyError, zipfile.BadZipFile, UnicodeDecodeError, pa.ArrowInvalid)) or \
                type(exc).__module__.split(".")[0] in ("google", "requests", "urllib3"):
            cache.issues.append(Issue("unreadable_file", f"telemetry could not be read: {exc}", file=name))
            return cache
        raise
    limit = int(cfg["buffer_bytes"]) // len(cuts)
    scans = [_Scan(out, limit, str(i) if i else "") for i in range(len(cuts))]
    args = [(scan, source, a, n, header, cfg, typed, i == 0, generation, len(cuts)) for i, (scan, (a, n)) in
            enumerate(zip(scans, cuts))]
    if len(scans) == 1:
        _scan(*args[0])
    else:
        with ThreadPoolExecutor(max_workers=len(scans)) as pool:
            for f in [pool.submit(_scan, *a) for a in args]:
                f.result()
    # the ranges in file order, as one stream would have seen them: a range that stopped ends the file there
    used: list[_Scan] = []
    for scan in scans:
        used.append(scan)
        name = scan.name or name
        cache.rows += scan.rows
        cache.bytes_read += scan.bytes
        if scan.stop is None:
            continue
        kind, detail = scan.stop
        if kind == "raise" or (kind == "invalid" and typed):
            for s in scans:
                _discard(s.buffers)
            if kind == "raise":
                raise detail
            raise _Untyped() from detail
        if kind == "missing":
            for s in scans:
                _discard(s.buffers)
            cache.issues.append(detail)
            return cache
        if kind == "over_limit":
            cache.issues.append(Issue("over_limit", f"telemetry over {cfg['max_file_bytes']} bytes "
                                      "(params/ingest.yaml telemetry.max_file_bytes); not read further", file=name))
        else:
            cache.issues.append(Issue("unreadable_file", f"telemetry could not be read: {detail}", file=name))
        break
    for scan in scans[len(used):]:
        _discard(scan.buffers)
    # one vocabulary (the first range's codes unchanged), lines from the file's start, cars in first-seen order
    vocab: list[str] = []
    code_of: dict[str, int] = {}
    counts: dict[str, list] = {k: [0, None, None] for k in _LABELS}
    remaps, bases, base = [], [], 0
    for scan in used:
        for ch in scan.vocab:
            if ch not in code_of:
                code_of[ch] = len(vocab)
                vocab.append(ch)
        remaps.append(np.array([code_of[c] for c in scan.vocab] + [0], dtype=np.int32))
        bases.append(base)
        for key, (n, line, column) in scan.counts.items():
            if n:
                _count(counts[key], n, line + base, column)
        base += scan.rows
    vehicles = list(dict.fromkeys(v for scan in used for v in scan.buffers.chunks))

    def take(vehicle: str) -> tuple[np.ndarray, ...]:
        parts = []
        for scan, remap, b in zip(used, remaps, bases):
            cols = scan.buffers.take(vehicle)
            if cols is None:
                continue
            ts_ms, ch, v, lap_i, line, off = cols
            if b:
                ch, line = remap[ch], line + b
            parts.append((ts_ms, ch, v, lap_i, line, off))
        return parts[0] if len(parts) == 1 else tuple(np.concatenate(c) for c in zip(*parts))

    names_arr = pa.array(vocab, pa.string())
    per_channel = np.zeros(len(vocab), dtype=np.int64)
    # cars finished two at a time (numpy sorts and the Parquet write release the GIL), at most two in memory
    # beyond the buffers; cars in the order the file first names them
    with ThreadPoolExecutor(max_workers=max(1, min(2, os.cpu_count() or 1))) as pool:
        pending: deque = deque()
        for vehicle in vehicles:
            pending.append(pool.submit(_finish, vehicle, take(vehicle), out, names_arr))
            if len(pending) >= 2:
                _collect(pending.popleft().result(), cache, counts, per_channel)
        while pending:
            _collect(pending.popleft().result(), cache, counts, per_channel)
    cache.channels = {vocab[i]: int(k) for i, k in enumerate(per_channel) if k}
    for key, (n, line, column) in counts.items():
        if n:
            code, what = _LABELS[key]
            cache.issues.append(Issue(code, f"{n} row(s): {what}; the first at this line", file=name, line=line,
                                      column=column))
    return cache


def _finish(vehicle: str, cols: tuple[np.ndarray, ...], out: Path, names: pa.Array) -> tuple:
    """One car's rows sorted, deduplicated (:func:`_dedup`) and written to ``out/<vehicle>.parquet``."""
    ts_ms, ch, v, lap_i, line, off = cols
    keep, dup_first = _dedup(ts_ms, ch, line, len(names))
    dup = len(ts_ms) - len(keep)
    ts_ms, ch, v, lap_i, line, off = (c[keep] for c in cols)
    have = ~np.isnan(off)
    offset_s = float(np.median(off[have])) / 1000.0 if have.any() else None
    table = pa.table([pa.array(ts_ms, pa.timestamp("ms", tz="UTC")), names.take(pa.array(ch)),
                      pa.array(v, pa.float64()), pa.array(lap_i, pa.int32(), mask=lap_i == _NO_LAP),
                      pa.array(line, pa.int64()), pa.array(off, pa.int64(), mask=~have)], schema=SCHEMA)
    path = out / f"{_safe(vehicle)}.parquet"
    # dictionary pages only where they pay (channel, lap): trying them on times, values and lines costs 2-2.7x
    # the CPU of the write, for a file 15% smaller (docs/DESIGN.md, telemetry reader)
    pq.write_table(table, path, compression="snappy", use_dictionary=["channel", "lap"])
    return vehicle, path, len(ts_ms), dup, dup_first, offset_s, np.bincount(ch, minlength=len(names))


def _collect(done: tuple, cache: TelemetryCache, counts: dict, per_channel: np.ndarray) -> None:
    vehicle, path, kept, dup, dup_first, offset_s, by_channel = done
    if dup:
        _count(counts["duplicate"], dup, dup_first, "timestamp")
    if offset_s is not None:
        cache.clock_offset_s[vehicle] = offset_s
    per_channel += by_channel
    cache.files[vehicle] = path
    cache.kept += kept


def _discard(buffers: "_Buffers") -> None:
    buffers.close()
    for vehicle in buffers.writers:
        buffers._part(vehicle).unlink(missing_ok=True)
    buffers.writers.clear()
    buffers.chunks.clear()


def _dedup(ts_ms: np.ndarray, ch: np.ndarray, line: np.ndarray, n_channels: int) -> tuple[np.ndarray, int | None]:
    """One car's rows (in file order): the indices to keep, sorted by (time, line), a repeat of (channel, time)
    dropped and the earliest line kept; and the first dropped repeat's line (None if none)."""
    n = len(ts_ms)
    if n == 0:
        return np.arange(0), None
    k = max(n_channels, 1)
    if k < 2**16 and np.abs(ts_ms).max() < 2**62 // k:
        key = ts_ms * k + ch
        order = np.argsort(key, kind="stable")            # nearly sorted already: timsort runs
        sk = key[order]
    else:
        order = np.lexsort((ch, ts_ms))                     # stable: file order within a key
        sk = None
    same = (sk[1:] == sk[:-1]) if sk is not None else \
        (ts_ms[order][1:] == ts_ms[order][:-1]) & (ch[order][1:] == ch[order][:-1])
    if not same.any():
        keep = np.arange(n)
        first = None
    else:
        dup = np.zeros(n, dtype=bool)
        dup[order[1:][same]] = True
        first = int(line[dup].min())
        keep = np.flatnonzero(~dup)
    kt = ts_ms[keep]
    if len(kt) > 1 and (kt[1:] < kt[:-1]).any():
        keep = keep[np.argsort(kt, kind="stable")]
    return keep, first


def _finalize(part_path: Path) -> tuple[int, int, int | None, float | None]:
    """One car's long rows sorted by time, repeats of (channel, timestamp) dropped (the first line kept).
    Returns (rows kept, repeats, the first repeat's line, median clock offset in s)."""
    src = Path(str(part_path) + ".part")
    table = pq.read_table(src)
    frame = table.to_pandas()
    frame = frame.sort_values(["timestamp", "line"], kind="stable")
    dup = frame.duplicated(["channel", "timestamp"], keep="first").to_numpy()
    first = int(frame["line"].to_numpy()[dup].min()) if dup.any() else None
    frame = frame[~dup]
    off = frame["offset_ms"].dropna()
    offset_s = float(np.median(off)) / 1000.0 if len(off) else None
    pq.write_table(pa.Table.from_pandas(frame, schema=SCHEMA, preserve_index=False), part_path, compression="snappy")
    src.unlink()
    return len(frame), int(dup.sum()), first, offset_s


def _count(slot: list, n: int, line: int, column: str) -> None:
    slot[0] += n
    if slot[1] is None or line < slot[1]:
        slot[1], slot[2] = line, column


def _safe(vehicle: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", vehicle)[:120] or "vehicle"


def car_frame(path: str | Path, carry_ms: int | None = None) -> pd.DataFrame:
    """One car's telemetry on one time base: a row per timestamp at which any channel was logged, a column
    per channel, each channel carried forward from its last reading for at most ``carry_ms`` (else missing),
    and ``lap`` (the car-side lap counter)."""
    carry = int(settings()["carry_ms"] if carry_ms is None else carry_ms)
    long = pq.read_table(path).to_pandas()
    if long.empty:
        return pd.DataFrame(columns=["timestamp", "lap"])
    wide = long.pivot_table(index="timestamp", columns="channel", values="value", aggfunc="first")
    lap = long.groupby("timestamp")["lap"].max()
    t = pd.DatetimeIndex(wide.index).as_unit("ms").asi8     # ms since the epoch
    out = {}
    for ch in wide.columns:
        v = wide[ch].to_numpy(float)
        have = ~np.isnan(v)
        idx = np.where(have, np.arange(len(v)), -1)
        last = np.maximum.accumulate(idx)
        filled = np.where(last >= 0, v[np.clip(last, 0, None)], np.nan)
        age = np.where(last >= 0, t - t[np.clip(last, 0, None)], np.inf)
        out[ch] = np.where(age <= carry, filled, np.nan)
    frame = pd.DataFrame(out, index=wide.index)
    frame["lap"] = lap.reindex(wide.index).astype("Int32")
    frame.index.name = "timestamp"
    return frame.reset_index()


@dataclass
class CarChannels:
    """One car's cache file as numpy arrays (:func:`car_channels`): ``t`` the time base (ms since the epoch, as
    float: every timestamp at which some channel has a value, ascending, as :func:`car_frame`'s rows), ``lap``
    the car-side lap counter at each (the largest logged at that timestamp; NaN where none) and per channel its
    readings ``(t, value)`` in file order (the cache is sorted by time)."""
    t: np.ndarray
    lap: np.ndarray
    channels: dict[str, tuple[np.ndarray, np.ndarray]]

    def has(self, channel: str) -> bool:
        return channel in self.channels

    def raw(self, channel: str) -> tuple[np.ndarray, np.ndarray]:
        empty = (np.empty(0, float), np.empty(0, float))
        return self.channels.get(channel, empty)


def car_channels(path: str | Path) -> CarChannels:
    """:func:`car_frame`'s time base and lap counter and each channel's raw readings, from one read of the file
    with pyarrow and numpy (no pandas, no pivot: the engine needs each channel as (time, value) arrays, not the
    wide frame). Same numbers as ``car_frame(path)["timestamp"/"lap"]`` and the long rows per channel."""
    table = pq.read_table(path, columns=["timestamp", "channel", "value", "lap"], read_dictionary=["channel"])
    table = table.unify_dictionaries().combine_chunks()
    ts_col, ch_col = table.column("timestamp"), table.column("channel")
    ts_null = ts_col.is_null().to_numpy(zero_copy_only=False) if ts_col.null_count else None
    ts = ts_col.cast(pa.int64())
    ts = (pc.fill_null(ts, np.iinfo(np.int64).min) if ts_null is not None else ts).to_numpy()  # NaT: pandas' asi8
    value = table.column("value").to_numpy()                       # nulls -> NaN
    lap = table.column("lap").cast(pa.float64()).to_numpy()        # nulls -> NaN
    chunk = ch_col.chunk(0) if ch_col.num_chunks else pa.array([], pa.dictionary(pa.int32(), pa.string()))
    codes = (pc.fill_null(chunk.indices, -1) if chunk.null_count else chunk.indices).to_numpy() if len(chunk) \
        else np.empty(0, np.int64)
    names = chunk.dictionary.to_pylist() if len(chunk) else []
    channels = {}
    for k, name in enumerate(names):                               # file order within each channel
        grp = np.flatnonzero(codes == k)
        if len(grp):
            channels[name] = (ts[grp].astype(float), value[grp])
    # the time base: car_frame's pivot rows (a non-null time with a non-NaN value of a named channel), the lap
    # counter the largest at each time over all its rows (as groupby("timestamp")["lap"].max())
    keep = np.ones(len(ts), bool) if ts_null is None else ~ts_null
    tk, lk = ts[keep], lap[keep]
    has = (~np.isnan(value) & (codes >= 0))[keep]
    if len(tk) > 1 and not (np.diff(tk) >= 0).all():
        order = np.argsort(tk, kind="stable")
        tk, lk, has = tk[order], lk[order], has[order]
    if not len(tk):
        return CarChannels(np.empty(0, float), np.empty(0, float), channels)
    start = np.concatenate([[0], np.flatnonzero(np.diff(tk)) + 1])
    lap_max = np.fmax.reduceat(lk, start)
    any_value = np.logical_or.reduceat(has, start)
    return CarChannels(tk[start][any_value].astype(float), lap_max[any_value], channels)
