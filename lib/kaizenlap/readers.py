"""Read one delimited TRD file into strings, tolerating every encoding variant in the data and
reporting what it cannot read with file, line and column.

Variants handled: UTF-8 BOM, CRLF, a trailing delimiter on every line (an empty extra column),
header names with leading spaces, quoted fields. Each row keeps its 1-based source line number in
``_line`` (the header is line 1) so later checks can point at it.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from .ledger import Issue
from .sources import SourceFile
from .timefmt import parse_durations


class UnreadableFile(Exception):
    """The file cannot be used at all; ``issue`` says why and where."""

    def __init__(self, issue: Issue):
        super().__init__(str(issue))
        self.issue = issue


@dataclass
class Table:
    frame: pd.DataFrame          # all columns as strings, plus ``_line``
    source: SourceFile
    issues: list[Issue]

    @property
    def file(self) -> str:
        return self.source.display


def decode(src: SourceFile, data: bytes | None = None) -> str:
    data = src.read_bytes() if data is None else data
    if not data.strip():
        raise UnreadableFile(Issue("unreadable_file", "file is empty", file=src.display))
    if b"\x00" in data[:4096]:
        raise UnreadableFile(Issue("unreadable_file", "binary content (NUL bytes), not a CSV text file",
                                   file=src.display, line=1))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        try:  # Latin-1 text is still text; binary junk has many control bytes.
            text = data.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
            text = ""
        controls = sum(ch < " " and ch not in "\r\n\t" for ch in text[:4096])
        if controls > 8:
            raise UnreadableFile(Issue("unreadable_file", "binary content, not a CSV text file",
                                       file=src.display, line=line)) from None
        return text


def read_table(src: SourceFile, delimiter: str, required: list[str],
               rename: Callable[[str], str] | None = None, data: bytes | None = None) -> Table:
    """Parse ``src`` into a string DataFrame; raise :class:`UnreadableFile` if it cannot be used.

    ``rename`` maps a header variant to its canonical name (e.g. ``INT-1_time`` -> ``IM1_time``).
    Rows with the wrong number of fields are dropped with a ``malformed_row`` issue.
    """
    text = decode(src, data)
    # Only \n, \r\n and \r end a line (str.splitlines would also split on \x85, \u2028, ...).
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows: list[list[str]] = []
    line_of_row: list[int] = []
    start = 1
    for row in reader:
        rows.append(row)
        line_of_row.append(start)         # the line the record starts on (quoted newlines span lines)
        start = reader.line_num + 1
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
    missing = [c for c in required if c not in header]
    if missing:
        raise UnreadableFile(Issue("missing_column", f"required column(s) {', '.join(missing)} not in header",
                                   file=src.display, line=1, column=missing[0]))
    issues: list[Issue] = []
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
    frame = pd.DataFrame(good, columns=header, dtype=object) if good else \
        pd.DataFrame({c: pd.Series(dtype=object) for c in header})
    frame["_line"] = pd.array(line_numbers, dtype="int64")
    return Table(frame, src, issues)


def duration_column(table: Table, column: str, rows: pd.Series | None = None) -> pd.Series:
    """Seconds from a time column of ``table`` (only ``rows`` when given, NaN elsewhere); bad values
    become NaN and ``bad_value`` issues."""
    if column not in table.frame:
        return pd.Series(float("nan"), index=table.frame.index)
    frame = table.frame if rows is None else table.frame[rows]
    seconds, bad = parse_durations(frame[column])
    if rows is not None:
        seconds = seconds.reindex(table.frame.index)
    if bad.any():
        values, lines = frame[column].to_numpy(), frame["_line"].to_numpy()
        for i in np.flatnonzero(bad.to_numpy()):
            table.issues.append(Issue("bad_value", f"{values[i]!r} is not a time", file=table.file,
                                      line=int(lines[i]), column=column))
    return seconds


def number_column(table: Table, column: str) -> pd.Series:
    """Floats from a numeric column of ``table``; bad values become NaN and ``bad_value`` issues."""
    if column not in table.frame:
        return pd.Series(float("nan"), index=table.frame.index)
    raw = table.frame[column].to_numpy(dtype=object)
    value_of: dict[object, float] = {}
    bad_values = set()
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
            bad_values.add(v)
    out = pd.Series(np.fromiter((value_of[v] for v in raw), dtype="float64", count=len(raw)),
                    index=table.frame.index)
    if bad_values:
        lines = table.frame["_line"].to_numpy()
        for i, v in enumerate(raw):
            if v in bad_values:
                table.issues.append(Issue("bad_value", f"{v!r} is not a number", file=table.file,
                                          line=int(lines[i]), column=column))
    return out
