"""The one JSON cleaner: what the engines return and the stores keep holds JSON values only."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


def plain(obj: Any) -> Any:
    """JSON values only: numpy/pandas scalars to Python, NaN/inf/NA/NaT to None, timestamps to ISO-8601,
    an object with ``to_dict()`` (an engine's estimate) to its dict."""
    if type(obj) is float:                     # the common case first (long traces of floats): same result
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if obj is None or obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, pd.Timestamp):
        return obj.isoformat()
    if hasattr(obj, "to_dict") and not isinstance(obj, (pd.DataFrame, pd.Series)):
        return plain(obj.to_dict())
    return obj
