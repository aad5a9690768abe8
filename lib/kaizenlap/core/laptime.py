"""The one lap-time formatter (the web app's ``fmtTime`` follows the same rule): rounded to the millisecond
first, so 119.9999 s reads ``2:00.000``, never ``1:60.000``."""
from __future__ import annotations

import math

MISSING = "-"


def format_lap(seconds: float | None) -> str:
    """``97.123`` → ``"1:37.123"``; under a minute ``"27.900"``; negative keeps its sign; None/NaN → ``"-"``."""
    if seconds is None:
        return MISSING
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        return MISSING
    if not math.isfinite(s):
        return MISSING
    ms = round(abs(s) * 1000)
    minutes, rest_ms = divmod(ms, 60000)
    body = f"{minutes}:{rest_ms / 1000:06.3f}" if minutes else f"{rest_ms / 1000:.3f}"
    return ("-" if s < 0 and ms else "") + body


def format_signed(value: float | None, digits: int = 3) -> str:
    """``+0.123`` / ``-0.045`` (seconds, deltas); None/NaN → ``"-"``."""
    if value is None or not math.isfinite(float(value)):
        return MISSING
    return f"{float(value):+.{digits}f}"
