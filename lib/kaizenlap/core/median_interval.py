"""The distribution-free interval of a median from order statistics: one rule for the telemetry engine and the
coaching's telemetry facts (DATA_REFERENCE 10.7)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=4096)
def order_rank(n: int, level: float) -> tuple[int, float]:
    """The rank j and coverage for n values: the largest j whose coverage 1 - 2 P(Bin(n, 1/2) <= j - 1) is at
    least ``level`` (j = 1 when none is; its coverage is returned). Depends on n and the level only."""
    from scipy.stats import binom   # scipy.stats is slow to import; only the first call pays
    j, cover = 1, 1 - 2 * binom.cdf(0, n, 0.5)
    for k in range(2, n // 2 + 1):
        c = 1 - 2 * binom.cdf(k - 1, n, 0.5)
        if c < level:
            break
        j, cover = k, c
    return j, float(cover)


def order_interval(x: np.ndarray, level: float) -> tuple[float, float, float]:
    """(x_(j), x_(n+1-j), coverage) with j from :func:`order_rank`."""
    x = np.sort(np.asarray(x, float))
    n = len(x)
    j, cover = order_rank(n, float(level))
    return float(x[j - 1]), float(x[n - j]), cover
