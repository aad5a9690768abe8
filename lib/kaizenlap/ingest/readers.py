"""Read one delimited TRD file into strings, tolerating every encoding variant in the data and
reporting what it cannot read with file, line and column.

Variants handled: UTF-8 BOM, CRLF, a trailing delimiter on every line (an empty extra column),
header names with leading spaces, quoted fields. Each row keeps its 1-based source line number in
``_line`` (the header is line 1) so later checks can point at it.
"""
from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from kaizenlap.core import params
from kaizenlap.core.ledger import Issue, UnreadableFile
from kaizenlap.ingest.files import SourceFile
from kaizenlap.ingest.timefmt import parse_durations

__all__ = ["UnreadableFile", "Table", "decode", "read_table", "duration_column", "number_column",
           "integer_column"]


@dataclass
class Table:
    frame: pd.DataFrame          # all columns as strings, plus ``_line``
    source: SourceFile
    issues: list[Issue]

    @property
    def file(self) -> str:
        return self.source.display


def _latin1_bytes(exc: UnicodeDecodeError) -> tuple[str, int]:
    """Codec error handler: the bytes that are not UTF-8 are read as Latin-1 (every byte is a character)."""
    return exc.object[exc.start:exc.end].decode("latin-1"), exc.end


codecs.register_error("kaizenlap-latin1", _latin1_bytes)


def decode_text(src: SourceFile, data: bytes | None = None) -> tuple[str, list[Issue]]:
    """The file's text and an ``encoding_repaired`` entry when some of it is not UTF-8.

    UTF-8 (a BOM removed) is read as UTF-8; every byte sequence that is not valid UTF-8 is read as Latin-1,
    byte by byte, so a file whose lines (or fields) mix the two encodings gives one spelling of each name
    (``Équipe`` from either). Binary junk (more than 8 control characters other than CR, LF, TAB in the
    first 4096) is unreadable."""
    data = src.read_bytes() if data is None else data
    if not data.strip():
        raise UnreadableFile(Issue("unreadable_file", "file is empty", file=src.display))
    if b"\x00" in data[:4096]:
        raise UnreadableFile(Issue("unreadable_file", "binary content (NUL bytes), not a CSV text file",
                                   file=src.display, line=1))
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
    text = data.decode("utf-8-sig", errors="kaizenlap-latin1")
    controls = sum(ch < " " and ch not in "\r\n\t" for ch in text[:4096])
    if controls > 8:
        raise UnreadableFile(Issue("unreadable_file", "binary content, not a CSV text file",
                                   file=src.display, line=line))
    bad = 0
    for raw in data.split(b"\n"):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            bad += 1
    return text, [Issue("encoding_repaired", f"{bad} line(s) are not UTF-8 (the first is line {line}); their "
                        "characters that are not UTF-8 read as Latin-1", file=src.display, line=line)]


def decode(src: SourceFile, data: bytes | None = None) -> str:
    """The file's text (:func:`decode_text` without its ledger entry)."""
    return decode_text(src, data)[0]


def read_table(src: SourceFile, delimiter: str, required: list[str],
               rename: Callable[[str], str] | None = None, data: bytes | None = None) -> Table:
    """Parse ``src`` into a string DataFrame; raise :class:`UnreadableFile` if it cannot be used.

    ``rename`` maps a header variant to its canonical name (e.g. ``INT-1_time`` -> ``IM1_time``).
    Rows with the wrong number of fields are dropped with a ``malformed_row`` issue.
    """
    text, enc_issues = decode_text(src, data)
    # Only \n, \r\n and \r end a line (str.splitlines would also split on \x85, \u2028, ...).
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    rows, line_of_row, issues = _records(src, text, delimiter)
    if not rows:
        raise UnreadableFile(Issue("unreadable_file", "no header line", file=src.display, line=1))
    header = [h.strip() for h in rows[0]]
    if len(header) == 1:
        other = ";" if delimiter == "," else ","
        found = f"'{other}'" if other in rows[0][0] else "no delimiter"
        raise UnreadableFile(Issue(
            "wrong_delimiter", f"header has {found}; expected fields separated by '{delimiter}'",
            file=src.display, line=1))
    trailing_empty = header[-1] == ""
    if trailing_empty:
        header = header[:-1]
    if rename:
        header = [rename(h) for h in header]
    header = [h if h else f"#{i + 1}" for i, h in enumerate(header)]   # an unnamed column keeps its place
    missing = [c for c in required if c not in header]
    if missing:
        raise UnreadableFile(Issue("missing_column", f"required column(s) {', '.join(missing)} not in header",
                                   file=src.display, line=1, column=missing[0]))
    if not issues and not any(r and not (len(r) == 1 and not r[0].strip()) for r in rows[1:]):
        raise UnreadableFile(Issue("no_data_rows", "the file has a header and no data rows",
                                   file=src.display, line=1))
    good: list[list[str]] = []
    line_numbers: list[int] = []
    width = len(header)
    for i, row in zip(line_of_row[1:], rows[1:]):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line
        if len(row) == width + 1 and row[-1].strip() == "":
            row = row[:-1]  # trailing delimiter
        if len(row) != width:
            col = header[len(row)] if len(row) < width else f"#{len(row)}"
            issues.append(Issue("malformed_row",
                                f"{len(row)} fields where the header has {width}; row dropped",
                                file=src.display, line=i, column=col))
            continue
        good.append([v.strip() for v in row])
        line_numbers.append(i)
    header, good = _merge_duplicate_columns(src, header, good, issues)
    frame = pd.DataFrame(good, columns=header, dtype=object) if good else \
        pd.DataFrame({c: pd.Series(dtype=object) for c in header})
    frame["_line"] = pd.array(line_numbers, dtype="int64")
    return Table(frame, src, enc_issues + issues)


def _records(src: SourceFile, text: str, delimiter: str) -> tuple[list[list[str]], list[int], list[Issue]]:
    """CSV records of ``text`` with the line each starts on. No TRD field holds a line break, so a record
    spanning lines is a quote gone wrong: dropped as ``malformed_row`` when the quote closes, the whole file
    unreadable when it never does (it would swallow the rest of the file). A field over the csv module's
    limit (128 KiB) makes the file unreadable, with the line it starts on."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows: list[list[str]] = []
    line_of_row: list[int] = []
    issues: list[Issue] = []
    start = 1
    lines = None
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            lines = lines or text.split("\n")
            where = lines[start - 1] if start - 1 < len(lines) else ""
            col = _quote_column(rows, where, delimiter)
            what = "an unterminated quote" if '"' in where else "a field"
            raise UnreadableFile(Issue(
                "unreadable_file", f"{what} from line {start} runs past the csv limit of "
                f"{csv.field_size_limit()} characters ({exc}); the file cannot be split into rows",
                file=src.display, line=start, column=col)) from None
        end = reader.line_num
        if end > start and any("\n" in v for v in row):
            col = _field_name(rows, next(i for i, v in enumerate(row) if "\n" in v))
            lines = lines or text.split("\n")
            if sum(line.count('"') for line in lines[start - 1:end]) % 2:     # "" escapes come in pairs
                raise UnreadableFile(Issue(
                    "unreadable_file", f"an unterminated quote at line {start} swallows the rest of the file "
                    f"(lines {start}-{end}); the file cannot be split into rows",
                    file=src.display, line=start, column=col))
            issues.append(Issue("malformed_row", f"a quoted field spans lines {start}-{end} (no TRD field holds "
                                "a line break); the rows it merges are dropped",
                                file=src.display, line=start, column=col))
            start = end + 1
            continue
        rows.append(row)
        line_of_row.append(start)         # the line the record starts on
        start = end + 1
    return rows, line_of_row, issues


def _field_name(rows: list[list[str]], i: int) -> str:
    header = [h.strip() for h in rows[0]] if rows else []
    return header[i] if i < len(header) and header[i] else f"#{i + 1}"


def _quote_column(rows: list[list[str]], line: str, delimiter: str) -> str | None:
    if '"' not in line:
        return None
    return _field_name(rows, line[: line.index('"')].count(delimiter))


def _merge_duplicate_columns(src: SourceFile, header: list[str], good: list[list[str]], issues: list[Issue]):
    """A name twice in the header: copies identical on every row are merged (a warning); copies that
    differ make the file unreadable (which one holds the data cannot be known)."""
    seen: dict[str, int] = {}
    drop: list[int] = []
    for i, name in enumerate(header):
        if name not in seen:
            seen[name] = i
            continue
        j = seen[name]
        if any(r[i] != r[j] for r in good):
            raise UnreadableFile(Issue("duplicate_column",
                                       f"column {name} appears twice in the header (fields {j + 1} and {i + 1}) "
                                       "with different values; which one holds the data cannot be known",
                                       file=src.display, line=1, column=name))
        issues.append(Issue("duplicate_column", f"column {name} appears twice in the header (fields {j + 1} and "
                            f"{i + 1}) with identical values; one copy used", file=src.display, line=1,
                            column=name, severity="warning"))
        drop.append(i)
    if not drop:
        return header, good
    keep = [i for i in range(len(header)) if i not in set(drop)]
    return [header[i] for i in keep], [[r[i] for i in keep] for r in good]


def duration_column(table: Table, column: str, rows: pd.Series | None = None) -> pd.Series:
    """Seconds from a time column of ``table`` (only ``rows`` when given, NaN elsewhere); bad values
    become NaN and ``bad_value`` issues."""
    if column not in table.frame:
        return pd.Series(float("nan"), index=table.frame.index)
    frame = table.frame if rows is None else table.frame[rows]
    seconds, bad = parse_durations(frame[column])
    # A time beyond limits.max_duration_s (48 h) is no TRD time (and would overflow a timestamp).
    absurd = seconds.abs() > params.load("ingest")["limits"]["max_duration_s"]
    if absurd.any():
        values, lines = frame[column].to_numpy(), frame["_line"].to_numpy()
        for i in np.flatnonzero(absurd.to_numpy()):
            table.issues.append(Issue("bad_value", f"{values[i]!r} is beyond "
                                      f"{params.load('ingest')['limits']['max_duration_s']:g} s, not a TRD time",
                                      file=table.file, line=int(lines[i]), column=column))
        seconds = seconds.mask(absurd)
    if rows is not None:
        seconds = seconds.reindex(table.frame.index)
    if bad.any():
        values, lines = frame[column].to_numpy(), frame["_line"].to_numpy()
        for i in np.flatnonzero(bad.to_numpy()):
            table.issues.append(Issue("bad_value", f"{values[i]!r} is not a time", file=table.file,
                                      line=int(lines[i]), column=column))
    return seconds


def number_column(table: Table, column: str, lo: float | None = None, hi: float | None = None) -> pd.Series:
    """Floats from a numeric column of ``table``; bad values (and, when given, values outside
    ``[lo, hi)``) become NaN and ``bad_value`` issues."""
    if column not in table.frame:
        return pd.Series(float("nan"), index=table.frame.index)
    raw = table.frame[column].to_numpy(dtype=object)
    value_of: dict[object, float] = {}
    bad_values: dict[object, str] = {}
    for v in set(raw):
        if v is None or v == "":
            value_of[v] = np.nan
            continue
        try:
            value_of[v] = float(v)
            if not np.isfinite(value_of[v]):   # 'nan', 'inf' are not readings
                raise ValueError(v)
        except (TypeError, ValueError):
            value_of[v] = np.nan
            bad_values[v] = f"{v!r} is not a number"
            continue
        if (lo is not None and value_of[v] < lo) or (hi is not None and value_of[v] >= hi):
            value_of[v] = np.nan
            bad_values[v] = f"{v!r} is outside the plausible range [{lo}, {hi})"
    out = pd.Series(np.fromiter((value_of[v] for v in raw), dtype="float64", count=len(raw)),
                    index=table.frame.index)
    _report(table, column, raw, bad_values)
    return out


_INTEGER = re.compile(r"^[+-]?\d{1,18}(?:\.0*)?$")
_DIGITS = re.compile(r"^[+-]?\d+(?:\.0*)?$")        # '3.0' is 3 (some exports write counts as decimals)


def integer_column(table: Table, column: str, lo: int = 0, hi: int | None = None) -> pd.Series:
    """Integers (``Int64``) from a count or lap-number column: written as digits, optionally with a zero
    fraction (``3``, ``3.0``; ``2.5``, ``1e30``, ``0x10`` are not counts), within ``[lo, hi]``; anything else
    is NA and a ``bad_value`` issue."""
    if column not in table.frame:
        return pd.Series(pd.NA, index=table.frame.index, dtype="Int64")
    raw = table.frame[column].to_numpy(dtype=object)
    value_of: dict[object, object] = {}
    bad_values: dict[object, str] = {}
    for v in set(raw):
        if v is None or v == "":
            value_of[v] = pd.NA
            continue
        if not isinstance(v, str) or not _DIGITS.match(v):
            value_of[v] = pd.NA
            bad_values[v] = f"{v!r} is not a whole number"
            continue
        n = int(v.split(".")[0]) if _INTEGER.match(v) else (-1 if v.startswith("-") else 1) * 10 ** 19
        if n < lo or (hi is not None and n > hi) or abs(n) >= 2 ** 63:
            value_of[v] = pd.NA
            bad_values[v] = f"{v!r} is outside {lo}..{hi if hi is not None else ''}"
            continue
        value_of[v] = n
    out = pd.Series(pd.array([value_of[v] for v in raw], dtype="Int64"), index=table.frame.index)
    _report(table, column, raw, bad_values)
    return out


def _report(table: Table, column: str, raw, bad_values: dict[object, str]) -> None:
    if bad_values:
        lines = table.frame["_line"].to_numpy()
        for i, v in enumerate(raw):
            if v in bad_values:
                table.issues.append(Issue("bad_value", bad_values[v], file=table.file,
                                          line=int(lines[i]), column=column))
