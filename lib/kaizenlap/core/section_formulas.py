"""Two section formulas shared by the sections engine and the coaching (siblings that may not import each other):
the car's k fastest times' median and a deviation taken beyond the car's overall pace (docs/DATA_REFERENCE.md
§10.2)."""
from __future__ import annotations

import numpy as np


def best_k(a: np.ndarray, k: int) -> np.ndarray:
    """The median of the k smallest values along the lap axis (axis -2) of ``a`` (..., laps, sections)."""
    mid = [(k - 1) // 2] if k % 2 else [k // 2 - 1, k // 2]
    return np.partition(a, mid, axis=-2)[..., mid, :].mean(axis=-2)


def beyond_overall(dev: np.ndarray, typical: np.ndarray) -> np.ndarray:
    """A per-section deviation ``dev`` (..., sections) less the car's whole-lap deviation shared over the
    sections by the field's typical times ``typical`` (F): ``dev_s − Σdev · F_s / ΣF`` (§10.2's section loss when
    ``dev`` is median − F)."""
    return dev - dev.sum(axis=-1, keepdims=True) * typical / typical.sum()
