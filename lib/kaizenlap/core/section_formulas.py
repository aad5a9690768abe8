"""Section formulas shared by the sections engine and the coaching (siblings that may not import each other):
the car's k fastest times' median and a deviation taken beyond the car's overall pace (docs/DATA_REFERENCE.md
§10.2); and a quicker median along one axis, bit for bit numpy's."""
from __future__ import annotations

import numpy as np


def best_k(a: np.ndarray, k: int) -> np.ndarray:
    """The median of the k smallest values along the lap axis (axis -2) of ``a`` (..., laps, sections)."""
    mid = [(k - 1) // 2] if k % 2 else [k // 2 - 1, k // 2]
    return np.partition(a, mid, axis=-2)[..., mid, :].mean(axis=-2)


def median(a: np.ndarray, axis: int = -2, keepdims: bool = False) -> np.ndarray:
    """``np.median(a, axis=axis, keepdims=keepdims)`` bit for bit for data without NaN (the middle value, or the two
    middle values added and halved, as numpy's mean of two does), by a sort: several times quicker than numpy's
    partition on the bootstraps' many short rows."""
    n = a.shape[axis]
    s = np.sort(a, axis=axis)
    if n % 2:
        out = np.take(s, [n // 2], axis=axis)
    else:
        out = (np.take(s, [n // 2 - 1], axis=axis) + np.take(s, [n // 2], axis=axis)) / 2
    return out if keepdims else np.squeeze(out, axis=axis)


def beyond_overall(dev: np.ndarray, typical: np.ndarray) -> np.ndarray:
    """A per-section deviation ``dev`` (..., sections) less the car's whole-lap deviation shared over the
    sections by the field's typical times ``typical`` (F): ``dev_s − Σdev · F_s / ΣF`` (§10.2's section loss when
    ``dev`` is median − F)."""
    return dev - dev.sum(axis=-1, keepdims=True) * typical / typical.sum()
