"""Clean-lap flags: boolean columns on the lap table, one per reason code. Rows are never dropped.

Two clean rules, both derived from the one flag vocabulary below:

* ``is_clean`` (lap-time statistics: best lap, pace, trend, consistency, weather): no *lap-time* flag is set.
  A lap with a valid lap time counts even when its sector splits are missing or inconsistent.
* ``is_clean_sections`` (section statistics: composites' sections, section analysis, variance shares):
  ``is_clean`` and no *section* flag (:data:`SECTION_FLAGS`) is set.

``exclusion_reasons`` lists the lap-time flags set (empty iff ``is_clean``); ``section_exclusion_reasons``
lists every flag set (empty iff ``is_clean_sections``).

Every rule is written out in docs/DATA_REFERENCE.md; every threshold is in params/ingest.yaml.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from kaizenlap.core import params
from kaizenlap.ingest.laps import SECTORS, SUBSECTIONS

# Reason codes, in the order they are listed in ``exclusion_reasons``.
FLAG_CODES = (
    "first_lap",        # lap 1: standing/rolling start, never a best lap
    "caution",          # FLAG_AT_FL is not green
    "deleted",          # the officials deleted it (faster than the car's LAP_IMPROVEMENT lap)
    "after_caution",    # the lap after a caution lap: the restart
    "pit_in",           # ended in the pit lane
    "pit_out",          # began in the pit lane
    "missing_sectors",  # one of S1..S3 missing
    "sector_sum",       # S1+S2+S3 differs from the lap time beyond the tolerance
    "slow",             # > 107% of the class median of green laps
    "glitch",           # a section below the physical floor
    "outlier",          # robust outlier from the car's own trend (modified z-score of the residual)
)
FLAG_COLUMNS = tuple(f"flag_{c}" for c in FLAG_CODES)
# Flags about the sector splits only: they exclude a lap from section statistics, never from lap-time ones.
SECTION_FLAGS = ("missing_sectors", "sector_sum")
LAP_TIME_FLAGS = tuple(c for c in FLAG_CODES if c not in SECTION_FLAGS)
# The two clean columns and their reason columns.
CLEAN = "is_clean"                      # lap-time statistics
CLEAN_SECTIONS = "is_clean_sections"    # section statistics
REASONS = "exclusion_reasons"
SECTION_REASONS = "section_exclusion_reasons"


def deleted_laps(laps: pd.DataFrame) -> pd.Series:
    """Laps the officials deleted. LAP_IMPROVEMENT (2 or 3) marks each car's official best lap; any
    faster lap of that car, lap 1 apart (never eligible), was therefore deleted."""
    official = laps["lap_improvement"].isin([2, 3]).fillna(False)
    best_marked = laps["lap_time_s"].where(official).groupby(laps["car"]).transform("min")
    return ((laps["lap"] > 1) & (laps["lap_time_s"] < best_marked - 1e-9)).fillna(False)


def pit_out_laps(laps: pd.DataFrame) -> pd.Series:
    """Laps begun in the pit lane: the lap after a pit-in lap, or a lap carrying PIT_TIME (usually
    the out-lap, sometimes written on the pit-in row itself, which is then already pit-in)."""
    prev_pit_in = laps.groupby("car", sort=False)["pit_in"].shift(1, fill_value=False).astype(bool)
    return prev_pit_in | (laps["pit_time_s"].notna() & ~laps["pit_in"].astype(bool))


def modified_z(x: pd.Series) -> pd.Series:
    """Iglewicz-Hoaglin modified z-score: (x - median) / MAD_normal, MAD_normal = 1.4826 MAD
    (``scipy.stats.median_abs_deviation(scale="normal")``; = 0.6745 (x - median) / MAD); NaN when MAD = 0."""
    v = x.to_numpy(float)
    mad = stats.median_abs_deviation(v, scale="normal", nan_policy="omit")
    if not np.isfinite(mad) or mad == 0:
        return pd.Series(np.nan, index=x.index)
    return pd.Series((v - np.nanmedian(v)) / mad, index=x.index)


def trend_residual_z(lap: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, float]:
    """Modified z-score of each lap's residual from the car's own trend: ``r = t - (a + b lap)`` with
    (a, b) the Theil-Sen line (``scipy.stats.theilslopes``, robust to the outliers it must find), then
    ``z = (r - median r) / MAD_normal(r)``. Returns (z, MAD_normal); z is NaN when the scale is 0 or the
    laps do not span two lap numbers."""
    lap, t = np.asarray(lap, float), np.asarray(t, float)
    if len(t) < 2 or np.unique(lap).size < 2:
        return np.full(len(t), np.nan), float("nan")
    res = stats.theilslopes(t, lap)
    r = t - (res.intercept + res.slope * lap)
    scale = float(stats.median_abs_deviation(r, scale="normal"))
    if not np.isfinite(scale) or scale == 0:
        return np.full(len(t), np.nan), scale
    return (r - np.median(r)) / scale, scale


def official_best_laps(laps: pd.DataFrame) -> pd.Series:
    """The lap each car's LAP_IMPROVEMENT marks as its official best (2 or 3), the fastest such lap:
    an official fastest lap is a valid timed lap and is never an outlier."""
    official = laps["lap_improvement"].isin([2, 3]).fillna(False).astype(bool)
    best_marked = laps["lap_time_s"].where(official).groupby(laps["car"]).transform("min")
    return (official & ((laps["lap_time_s"] - best_marked).abs() < 1e-9)).fillna(False).astype(bool)


def add_flags(laps: pd.DataFrame, track: dict | None = None,
              deleted_by_officials: np.ndarray | None = None) -> pd.DataFrame:
    """Return ``laps`` with ``flag_*`` columns, ``is_clean`` / ``exclusion_reasons`` (lap-time statistics) and
    ``is_clean_sections`` / ``section_exclusion_reasons`` (section statistics); see :func:`clean_columns`.

    ``deleted_by_officials``: laps the official best-10 file shows were deleted (see reconcile);
    ``deleted_by`` records which evidence flagged each deleted lap.
    """
    cfg = params.load("ingest")["flags"]
    laps = laps.copy()
    by_car = laps.groupby("car", sort=False)
    green = laps["flag"].isin(cfg["green_flags"]).fillna(False)
    laps["flag_first_lap"] = laps["lap"] == 1
    laps["flag_caution"] = ~green
    by_improvement = deleted_laps(laps)
    by_best10 = pd.Series(False if deleted_by_officials is None else deleted_by_officials, index=laps.index)
    laps["flag_deleted"] = by_improvement | by_best10
    laps["deleted_by"] = pd.Series(np.where(by_improvement, "lap_improvement",
                                            np.where(by_best10, "best10", None)), index=laps.index, dtype="string")
    prev_caution = by_car["flag_caution"].shift(1, fill_value=False).astype(bool)
    laps["flag_after_caution"] = green & prev_caution
    laps["flag_pit_in"] = laps["pit_in"].astype(bool)
    laps["flag_pit_out"] = pit_out_laps(laps)
    sectors = laps[[f"{s}_s" for s in SECTORS]]
    laps["flag_missing_sectors"] = sectors.isna().any(axis=1)
    ssum = sectors.sum(axis=1, min_count=3)
    laps["flag_sector_sum"] = ((ssum - laps["lap_time_s"]).abs() > cfg["sector_sum_tolerance_s"]) & ssum.notna()

    basic = (laps["flag_first_lap"] | laps["flag_caution"] | laps["flag_after_caution"]
             | laps["flag_pit_in"] | laps["flag_pit_out"])
    class_key = laps["class"].fillna("")
    green_median = laps["lap_time_s"].where(~basic).groupby(class_key).transform("median")
    laps["flag_slow"] = (laps["lap_time_s"] > cfg["slow_factor"] * green_median).fillna(False)

    glitch = pd.Series(False, index=laps.index)
    reference = ~basic & ~laps["flag_slow"]
    lengths = (track or {}).get("sector_lengths_m") or []
    vmax = cfg["max_speed_kph"] / 3.6
    for i, col in enumerate([f"{s}_s" for s in SECTORS] + [f"{k}_s" for k, _ in SUBSECTIONS]):
        t = laps[col]
        ref = t[reference].dropna()
        floor = cfg["glitch_floor_fraction"] * ref.median() if len(ref) else np.nan
        if i < 3 and i < len(lengths):
            floor = max(floor, lengths[i] / vmax) if np.isfinite(floor) else lengths[i] / vmax
        glitch |= ((t <= 0) | (t < floor)).fillna(False)
    lap_floor = sum(lengths) / vmax if lengths else 0.0
    ref_laps = laps["lap_time_s"][reference].dropna()
    lap_floor = max(lap_floor, cfg["glitch_floor_fraction"] * ref_laps.median() if len(ref_laps) else 0.0)
    glitch |= laps["lap_time_s"] < lap_floor
    laps["flag_glitch"] = glitch.fillna(False)

    # Candidates: the laps no other lap-time flag caught (a lap with missing or inconsistent splits still has
    # a lap time, counts for lap-time statistics, and so is tested). Modified z-score of the residual from the
    # car's own trend (a car that fades or improves is not an outlier for it); the official best lap never is one.
    candidates = ~(basic | laps["flag_deleted"] | laps["flag_slow"] | laps["flag_glitch"])
    outlier = pd.Series(False, index=laps.index)
    for _, g in laps[candidates].groupby("car", sort=False):
        if len(g) < cfg["outlier_min_laps"]:
            continue
        z, _ = trend_residual_z(g["lap"].to_numpy(float), g["lap_time_s"].to_numpy(float))
        outlier.loc[g.index] = np.abs(z) > cfg["outlier_modified_z"]
    laps["flag_outlier"] = outlier & ~official_best_laps(laps)

    flags = laps[list(FLAG_COLUMNS)]
    bad = [c for c in FLAG_COLUMNS if flags[c].dtype != bool]
    if bad:   # every rule above yields a bool column with no missing value; anything else is a bug here
        raise TypeError(f"flag columns not boolean: {bad}")
    return clean_columns(laps)


def clean_columns(laps: pd.DataFrame) -> pd.DataFrame:
    """The two clean rules from the ``flag_*`` columns (in place, returned): ``is_clean`` = no lap-time flag,
    ``exclusion_reasons`` = those set; ``is_clean_sections`` = no flag at all, ``section_exclusion_reasons`` =
    every flag set. Reasons are joined with ``;`` in :data:`FLAG_CODES` order."""
    flags = laps[list(FLAG_COLUMNS)].to_numpy(bool)
    names = np.array(FLAG_CODES, dtype=object)
    lap_time = np.array([c in LAP_TIME_FLAGS for c in FLAG_CODES])
    laps[CLEAN] = ~flags[:, lap_time].any(axis=1)
    laps[REASONS] = pd.Series([";".join(names[row & lap_time]) for row in flags], index=laps.index, dtype="string")
    laps[CLEAN_SECTIONS] = ~flags.any(axis=1)
    laps[SECTION_REASONS] = pd.Series([";".join(names[row]) for row in flags], index=laps.index, dtype="string")
    return laps


def sections_clean(laps: pd.DataFrame) -> pd.Series:
    """The section-statistics rule as a mask: ``is_clean_sections`` where the table has it; else recomputed
    from the flag columns; a table with only ``is_clean`` (hand-made engine inputs) uses it for both."""
    if CLEAN_SECTIONS in laps:
        return laps[CLEAN_SECTIONS].astype(bool)
    if all(c in laps for c in FLAG_COLUMNS):
        return ~laps[list(FLAG_COLUMNS)].astype(bool).any(axis=1)
    return laps[CLEAN].astype(bool)


def exclusion_summary(laps: pd.DataFrame) -> pd.DataFrame:
    """Per flag: laps it catches, and laps it alone catches (among all flags: the laps it alone keeps out of
    section statistics; for a lap-time flag, also out of lap-time statistics)."""
    flags = laps[list(FLAG_COLUMNS)].astype(bool)
    only = flags & (flags.sum(axis=1) == 1).to_numpy()[:, None]
    return pd.DataFrame({"flag": FLAG_CODES, "laps": flags.sum().to_numpy(),
                         "only_this_flag": only.sum().to_numpy()})
