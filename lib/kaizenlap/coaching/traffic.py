"""Traffic from crossing times (issue 20, item 4; docs/DATA_REFERENCE.md §11.6).

Pure functions of the sections document (``crossings``: each car-lap's race clock at the finish line,
``elapsed_s``, and its ``lap_time_s``; ``laps``: its section times):

* :func:`line_crossings` — when each car crossed each timing line on each lap. Six lines on one lap: the S/F
  line (``L0``, where the lap starts: ``elapsed_s − lap_time_s``), then the end of IM1A (``L1``), of S1 = IM1
  (``L2``), of IM2A (``L3``), of S2 = IM2 (``L4``) and of IM3A (``L5``): the lap start plus the section times
  before it (the sector lines from the sector times, the first-part lines from the sector line before plus the
  first part's time);
* :func:`gaps_at_lines` — at every crossing, the car physically ahead on track: the nearest earlier crossing
  of the same line by another car (on any lap: a car being lapped or lapping counts), and the gap to it;
* :func:`traffic_at_entry` — per car, lap and section: the gap at the section's entry line, the car ahead and
  its time in that section on its lap, and whether the lap was **in traffic** there: the gap is under
  ``traffic.gap_s`` (1.0 s) *and* the car ahead went through the section slower than the following car's own
  median clean time there (it could not have gone its usual pace without passing; a faster car ahead does not
  hold it up). ``traffic.rule: gap`` drops the second condition (the plain rule, measured in docs/DESIGN.md);
* :func:`section_loss_on` — the sections engine's section loss (§10.2) of one car recomputed on a subset of
  its laps (e.g. the laps out of traffic), with its percentile-bootstrap interval.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from kaizenlap.coaching import conf
from kaizenlap.core.section_formulas import beyond_overall, median as fast_median

LINES = ("L0", "L1", "L2", "L3", "L4", "L5")
# the line a section starts at (its entry), per section
ENTRY_LINE = {"im1a": "L0", "s1": "L0", "im1": "L1", "im2a": "L2", "s2": "L2", "im2": "L3", "im3a": "L4",
              "s3": "L4", "fl": "L5"}
SETS = {"sectors": ("s1", "s2", "s3"), "subsections": ("im1a", "im1", "im2a", "im2", "im3a", "fl")}
SET_OF = {s: name for name, secs in SETS.items() for s in secs}


def cfg() -> dict:
    return conf.load("coaching")["traffic"]


_CACHE: dict[int, tuple[dict, pd.DataFrame]] = {}
_FRAMES: dict[int, tuple[dict, pd.DataFrame]] = {}


def _frame(sections_doc: dict) -> pd.DataFrame:
    """The document's per-lap table (car, lap, section, time_s, is_clean), read once per document object."""
    hit = _FRAMES.get(id(sections_doc))
    if hit is not None and hit[0] is sections_doc:
        return hit[1]
    df = pd.DataFrame.from_records(sections_doc.get("laps") or [],
                                   columns=["car", "lap", "section", "time_s", "is_clean"])
    df = df.assign(car=df["car"].astype(str), lap=df["lap"].astype(int), section=df["section"].astype(str),
                   time_s=df["time_s"].astype(float), is_clean=df["is_clean"].fillna(False).astype(bool))
    if len(_FRAMES) > 64:
        _FRAMES.clear()
    _FRAMES[id(sections_doc)] = (sections_doc, df)
    return df


def _times(sections_doc: dict) -> pd.DataFrame:
    """car, lap -> one column per section (time_s), all laps (clean or not)."""
    df = _frame(sections_doc)
    if df.empty:
        return pd.DataFrame()
    return df.pivot_table(index=["car", "lap"], columns="section", values="time_s", aggfunc="first")


def line_crossings(sections_doc: dict | None, times: pd.DataFrame | None = None) -> pd.DataFrame:
    """``car, lap, line, t`` (race clock, s) for every lap with a crossing time; a line whose time cannot be
    placed (a section time missing) is left out."""
    cross = (sections_doc or {}).get("crossings") or []
    if not cross:
        return pd.DataFrame(columns=["car", "lap", "line", "t"])
    c = pd.DataFrame.from_records(cross, columns=["car", "lap", "elapsed_s", "lap_time_s"])
    c = c.assign(car=c["car"].astype(str), lap=c["lap"].astype(int)).set_index(["car", "lap"])
    c = c.astype({"elapsed_s": float, "lap_time_s": float})
    times = (_times(sections_doc) if times is None else times).reindex(c.index)

    def col(name: str) -> pd.Series:
        return times[name].astype(float) if name in times else pd.Series(np.nan, index=c.index)

    start = c["elapsed_s"] - c["lap_time_s"]
    l2 = start + col("s1")
    l4 = l2 + col("s2")
    lines = {"L0": start, "L1": start + col("im1a"), "L2": l2, "L3": l2 + col("im2a"), "L4": l4,
             "L5": l4 + col("im3a")}
    out = pd.concat([s.rename("t").to_frame().assign(line=k) for k, s in lines.items()]).reset_index()
    out = out[np.isfinite(out["t"].to_numpy(float))]
    return out[["car", "lap", "line", "t"]].reset_index(drop=True)


def gaps_at_lines(crossings: pd.DataFrame) -> pd.DataFrame:
    """``crossings`` with ``ahead`` (car), ``ahead_lap`` and ``gap_s``: at the same line, the nearest earlier (or
    simultaneous) crossing by another car, on any lap; NaN where no other car crossed before."""
    parts = []
    for line, g in crossings.groupby("line", sort=False):
        g = g.sort_values(["t", "car"], kind="stable").reset_index(drop=True)
        cars, laps, t = g["car"].to_numpy(), g["lap"].to_numpy(), g["t"].to_numpy(float)
        n = len(g)
        j = np.arange(n) - 1                              # the crossing just before, usually another car
        for i in np.flatnonzero((j >= 0) & (cars[np.maximum(j, 0)] == cars[np.arange(n)])):
            k = i - 1
            while k >= 0 and cars[k] == cars[i]:          # the same car again (no one between): look further back
                k -= 1
            j[i] = k
        # a car crossing at the same instant is beside it: both count the other as ahead (gap 0)
        for i in np.flatnonzero(np.r_[t[1:] == t[:-1], False]):
            k = i + 1
            while k < n and t[k] == t[i]:
                if cars[k] != cars[i]:
                    j[i] = k
                    break
                k += 1
        ok = j >= 0
        jj = np.where(ok, j, 0)
        ahead = np.where(ok, cars[jj], None).astype(object)
        ahead_lap = np.where(ok, laps[jj], -1).astype(np.int64)
        gap = np.where(ok, t - t[jj], np.nan)
        parts.append(g.assign(ahead=ahead, ahead_lap=ahead_lap, gap_s=gap))
    if not parts:
        return crossings.assign(ahead=None, ahead_lap=-1, gap_s=np.nan)
    return pd.concat(parts, ignore_index=True)


def _median_clean(sections_doc: dict) -> dict[tuple[str, str], float]:
    df = _frame(sections_doc)
    df = df[df["is_clean"] & df["time_s"].notna()]
    return {(str(c), str(s)): float(v) for (c, s), v in df.groupby(["car", "section"])["time_s"].median().items()}


def traffic_at_entry(sections_doc: dict | None, gap_s: float | None = None, rule: str | None = None) -> pd.DataFrame:
    """``car, lap, section, gap_s, ahead, ahead_lap, ahead_time_s, own_median_s, in_traffic`` for every car-lap-
    section whose entry line has a crossing time (module doc). Memoised per document object (default params)."""
    default = gap_s is None and rule is None
    if default and sections_doc is not None:
        hit = _CACHE.get(id(sections_doc))
        if hit is not None and hit[0] is sections_doc:
            return hit[1]
    c = cfg()
    gap_s = float(c["gap_s"] if gap_s is None else gap_s)
    rule = str(c["rule"] if rule is None else rule)
    cols = ["car", "lap", "section", "gap_s", "ahead", "ahead_lap", "ahead_time_s", "own_median_s", "in_traffic"]
    times = _times(sections_doc) if (sections_doc or {}).get("crossings") else pd.DataFrame()
    x = line_crossings(sections_doc, times)
    if x.empty:
        return pd.DataFrame(columns=cols)
    g = gaps_at_lines(x).set_index(["line"])
    med = _median_clean(sections_doc)
    rows = []
    for sec, line in ENTRY_LINE.items():
        if line not in g.index:
            continue
        part = g.loc[[line]].reset_index(drop=True).assign(section=sec)
        if sec in times:
            key = pd.MultiIndex.from_arrays([part["ahead"].astype(str), part["ahead_lap"].astype(int)])
            part["ahead_time_s"] = times[sec].reindex(key).to_numpy(float)
        else:
            part["ahead_time_s"] = np.nan
        part["own_median_s"] = [med.get((str(car), sec), np.nan) for car in part["car"]]
        rows.append(part)
    out = pd.concat(rows, ignore_index=True)
    close = out["gap_s"].to_numpy(float) < gap_s
    if rule == "gap":
        out["in_traffic"] = close
    elif rule == "slower_ahead":
        slower = out["ahead_time_s"].to_numpy(float) > out["own_median_s"].to_numpy(float)
        out["in_traffic"] = close & slower
    else:
        raise ValueError(f"params/coaching.yaml traffic.rule: {rule!r} is not 'gap' or 'slower_ahead'")
    out = out[cols]
    if default and sections_doc is not None:
        if len(_CACHE) > 64:
            _CACHE.clear()
        _CACHE[id(sections_doc)] = (sections_doc, out)
    return out


_LAPS: dict[int, tuple[dict, dict]] = {}


def traffic_laps(car: str, section: str, sections_doc: dict | None) -> set[int]:
    """The laps on which ``car`` entered ``section`` in traffic (module doc; params' rule)."""
    if not sections_doc:
        return set()
    hit = _LAPS.get(id(sections_doc))
    if hit is None or hit[0] is not sections_doc:
        t = traffic_at_entry(sections_doc)
        t = t[t["in_traffic"].astype(bool)] if not t.empty else t
        by: dict[tuple[str, str], set[int]] = {}
        for c, s, lap in zip(t["car"], t["section"], t["lap"]):
            by.setdefault((str(c), str(s)), set()).add(int(lap))
        if len(_LAPS) > 64:
            _LAPS.clear()
        hit = _LAPS[id(sections_doc)] = (sections_doc, by)
    return set(hit[1].get((str(car), str(section)), set()))


def car_laps(car: str, set_name: str, sections_doc: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The car's laps clean for section statistics with every section of the set timed: (lap numbers,
    times [laps, sections], the field's typical time per section), or None."""
    entry = next((e for e in sections_doc.get("cars") or [] if str(e.get("car")) == str(car)), None)
    block = (entry or {}).get(set_name) or {}
    if not block.get("available"):
        return None
    typical = {s["section"]: s.get("field_typical_s") for s in block.get("sections") or []}
    secs = SETS[set_name]
    if any(typical.get(s) is None for s in secs):
        return None
    wide = _clean_wide(sections_doc, set_name).get(str(car))
    if wide is None:
        return None
    return wide[0], wide[1], np.array([float(typical[s]) for s in secs])


_WIDE: dict[tuple[int, str], tuple[dict, dict]] = {}


def _clean_wide(sections_doc: dict, set_name: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """car -> (lap numbers, times [laps, sections of the set]) over its clean laps with every section timed,
    once per document object and set."""
    hit = _WIDE.get((id(sections_doc), set_name))
    if hit is not None and hit[0] is sections_doc:
        return hit[1]
    secs = list(SETS[set_name])
    df = _frame(sections_doc)
    df = df[df["section"].isin(secs) & df["is_clean"]]
    wide = df.pivot_table(index=["car", "lap"], columns="section", values="time_s", aggfunc="first")
    wide = wide.reindex(columns=secs).dropna().sort_index()
    out = {str(car): (g.index.get_level_values("lap").to_numpy(int), g.to_numpy(float))
           for car, g in wide.groupby(level="car", sort=False)}
    if len(_WIDE) > 128:
        _WIDE.clear()
    _WIDE[(id(sections_doc), set_name)] = (sections_doc, out)
    return out


def _section_loss(x: np.ndarray, typical: np.ndarray) -> np.ndarray:
    """§10.2's section loss per section of ``x`` (..., laps, sections): (median − F) − Σ(median − F) · F / ΣF."""
    return beyond_overall(fast_median(x, axis=-2) - typical, typical)


def section_loss_on(car: str, section: str, sections_doc: dict | None, exclude: set[int] = frozenset(),
                    reps: int | None = None) -> dict | None:
    """The section loss of ``car`` in ``section`` (§10.2, the engine's formula with the race's ``F`` held fixed)
    on its clean laps except ``exclude``: ``{value, lo, hi, n}`` with a 95% percentile bootstrap over the laps
    kept (``objective.bootstrap_reps``, seeded by car, section and n) and ``n_out``, the clean laps left out; None
    without the set; value and interval None with fewer laps kept than ``min_clean_laps``."""
    set_name = SET_OF.get(str(section))
    if set_name is None or not sections_doc:
        return None
    got = car_laps(car, set_name, sections_doc)
    if got is None:
        return None
    laps, x, typical = got
    keep = ~np.isin(laps, list(exclude))
    x = x[keep]
    n = int(len(x))
    out = int((~keep).sum())
    if n < int(conf.load("engines")["min_clean_laps"]):
        return {"value": None, "lo": None, "hi": None, "n": n, "n_out": out}
    j = SETS[set_name].index(str(section))
    reps = int(conf.load("coaching")["objective"]["bootstrap_reps"] if reps is None else reps)
    seed = int(hashlib.sha256(f"traffic|{car}|{section}|{n}".encode()).hexdigest()[:12], 16)
    idx = np.random.default_rng(seed).integers(0, n, (reps, n))
    boot = _section_loss(x[idx], typical)[:, j]
    lo, hi = np.quantile(boot, [0.025, 0.975])
    return {"value": float(_section_loss(x, typical)[j]), "lo": float(lo), "hi": float(hi), "n": n, "n_out": out}
