import math

import pandas as pd
import pytest
from hypothesis import given, strategies as st

from kaizenlap.ingest.timefmt import TimeFormatError, parse_duration, parse_durations


@pytest.mark.parametrize("text,seconds", [
    ("39.57", 39.57),            # SS.f, trailing zeros dropped
    ("39.570", 39.57),
    ("0.5", 0.5),
    ("1:02.000", 62.0),          # M:SS.fff
    ("2:31.035", 151.035),
    ("59:59.999", 3599.999),
    ("75:12.345", 4512.345),     # MM:SS.fff with minutes past 59 (ELAPSED)
    ("0:00:35.000", 35.0),       # H:MM:SS.fff (PIT_TIME)
    ("15:58:26.323", 57506.323), # time of day (HOUR)
    ("1:05:00", 3900.0),
    ("62", 62.0),
    (" 1:00.1 ", 60.1),
])
def test_formats(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds, abs=1e-9)


@pytest.mark.parametrize("text", ["", "   ", None])
def test_empty_is_missing(text):
    assert math.isnan(parse_duration(text))


@pytest.mark.parametrize("text", ["abc", "1:2:3:4", "1:75.0", "1:60:00.0", "-1.0", "1,5", "12:", "1:x0.0", "--"])
def test_garbage_raises(text):
    with pytest.raises(TimeFormatError):
        parse_duration(text)


def _fmt(seconds_ms: int, style: str) -> str:
    s = seconds_ms / 1000
    if style == "ss":
        return f"{s:.3f}".rstrip("0").rstrip(".") if "." in f"{s:.3f}" else f"{s:.3f}"
    if style == "mss":
        m, r = divmod(seconds_ms, 60000)
        return f"{m}:{r / 1000:06.3f}"
    h, r = divmod(seconds_ms, 3600000)
    m, r = divmod(r, 60000)
    return f"{h}:{m:02d}:{r / 1000:06.3f}"


@given(st.integers(min_value=0, max_value=30 * 3600 * 1000), st.sampled_from(["ss", "mss", "hmmss"]))
def test_round_trip(ms, style):
    # Every format KaizenLap meets, written from a whole number of ms, parses back to it.
    text = _fmt(ms, style)
    assert parse_duration(text) == pytest.approx(ms / 1000, abs=5e-7)


@given(st.lists(st.one_of(st.integers(0, 10_000_000).map(lambda ms: _fmt(ms, "mss")),
                          st.just(""), st.just("garbage")), max_size=30))
def test_vectorised_matches_scalar(values):
    seconds, bad = parse_durations(pd.Series(values, dtype="string"))
    for v, s, b in zip(values, seconds, bad):
        if v == "garbage":
            assert b and math.isnan(s)
        elif v == "":
            assert not b and math.isnan(s)
        else:
            assert not b and s == parse_duration(v)


@given(st.text(alphabet="0123456789:. x-", max_size=12))
def test_fast_path_agrees_with_reference(text):
    # parse_durations' fast path must accept and reject exactly what parse_duration does.
    from kaizenlap.ingest.timefmt import _fast
    try:
        want = parse_duration(text)
    except TimeFormatError:
        with pytest.raises(TimeFormatError):
            _fast(text)
        return
    got = _fast(text)
    assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want)


# ------------------------------------------------------------------------------------ the one lap-time formatter

def test_format_lap_rounds_before_splitting_minutes():
    from kaizenlap.core.laptime import format_lap
    assert format_lap(119.9999) == "2:00.000"          # never 1:60.000
    assert format_lap(97.4284) == "1:37.428"
    assert format_lap(59.9996) == "1:00.000"
    assert format_lap(27.9) == "27.900"                 # under a minute as the web app writes it
    assert format_lap(-61.5) == "-1:01.500"
    assert format_lap(None) == format_lap(float("nan")) == "-"


def test_every_lap_time_goes_through_the_one_formatter():
    """No other m:ss.mmm formatting in the library (the web app's fmtTime follows the same rule)."""
    from pathlib import Path
    lib = Path(__file__).resolve().parents[1] / "lib" / "kaizenlap"
    others = [p.relative_to(lib).as_posix() for p in lib.rglob("*.py")
              if ":06.3f}" in p.read_text(encoding="utf-8") and p.name != "laptime.py"]
    assert others == []
