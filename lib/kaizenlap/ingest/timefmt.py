"""The one parser for every time and duration written in the TRD files.

Formats seen in the data (all of them are durations or times of day in seconds):
``SS.f`` (``39.57``, trailing zeros dropped), ``M:SS.fff``, ``MM:SS.fff`` with minutes past 59
(``ELAPSED`` = ``75:12.345``), ``H:MM:SS.fff`` (``PIT_TIME``, ``HOUR``), and whole numbers.
Nothing else in KaizenLap parses a time: every reader calls :func:`parse_duration` or
:func:`parse_durations`.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

# One to three colon-separated fields; only the last may carry a fraction.
_DURATION = re.compile(r"^\s*(?:(\d+):)?(?:(\d+):)?(\d+(?:\.\d*)?|\.\d+)\s*$")


class TimeFormatError(ValueError):
    """A field that should hold a time but does not."""


def parse_duration(text: str | float | int | None) -> float:
    """Seconds in ``text``; NaN for an empty field; :class:`TimeFormatError` for garbage.

    >>> parse_duration("1:02.5")
    62.5
    >>> parse_duration("75:00.000")
    4500.0
    >>> parse_duration("0:01:10.125")
    70.125
    """
    if text is None:
        return math.nan
    if isinstance(text, (int, float, np.integer, np.floating)):
        return float(text)
    s = str(text).strip()
    if s == "":
        return math.nan
    m = _DURATION.match(s)
    if not m:
        raise TimeFormatError(f"not a time: {text!r}")
    a, b, last = m.groups()
    # With two colons, group 1 is hours and group 2 minutes; with one colon only group 1 is set.
    if a is not None and b is not None:
        hours, minutes = int(a), int(b)
        if minutes >= 60:
            raise TimeFormatError(f"minutes >= 60 in H:MM:SS time: {text!r}")
    else:
        hours, minutes = 0, int(a) if a is not None else 0
    seconds = float(last)
    if (a is not None) and seconds >= 60:
        raise TimeFormatError(f"seconds >= 60 after a colon: {text!r}")
    return hours * 3600.0 + minutes * 60.0 + seconds


def _digits(part: str, fraction: bool) -> bool:
    if fraction:
        whole, dot, frac = part.partition(".")
        return (whole.isdigit() or (whole == "" and dot == ".")) and (frac == "" or frac.isdigit()) \
            and (whole != "" or frac != "")
    return part.isdigit()


def _fast(text: str) -> float:
    """:func:`parse_duration` for a string, without the regex for the common well-formed cases."""
    s = text.strip()
    if not s:
        return math.nan
    parts = s.split(":")
    if len(parts) <= 3 and all(_digits(p, i == len(parts) - 1) for i, p in enumerate(parts)) and s.isascii():
        if len(parts) == 1:
            return float(s)
        last = float(parts[-1])
        if last >= 60:
            raise TimeFormatError(f"seconds >= 60 after a colon: {text!r}")
        if len(parts) == 2:
            return int(parts[0]) * 60.0 + last
        if int(parts[1]) >= 60:
            raise TimeFormatError(f"minutes >= 60 in H:MM:SS time: {text!r}")
        return int(parts[0]) * 3600.0 + int(parts[1]) * 60.0 + last
    return parse_duration(s)   # the reference path: raises for anything it does not accept


def parse_durations(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Vectorised :func:`parse_duration` over a column of strings.

    Returns ``(seconds, bad)``: float seconds (NaN where empty or bad) and a boolean mask of
    the entries that were not empty and could not be parsed, for the caller to report with
    file, line and column. Each distinct string is parsed once (columns repeat values a lot).
    """
    raw = values.to_numpy(dtype=object, na_value=None)
    seconds_of: dict[object, float] = {}
    bad_values: set[object] = set()
    for v in set(raw):
        try:
            seconds_of[v] = _fast(v) if isinstance(v, str) else parse_duration(v)
        except TimeFormatError:
            seconds_of[v] = math.nan
            bad_values.add(v)
    out = np.fromiter((seconds_of[v] for v in raw), dtype="float64", count=len(raw))
    bad = np.fromiter((v in bad_values for v in raw), dtype=bool, count=len(raw)) if bad_values \
        else np.zeros(len(raw), dtype=bool)
    return pd.Series(out, index=values.index), pd.Series(bad, index=values.index)
