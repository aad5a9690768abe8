"""Shared statistics for the engines: the estimate record and the trend-model bootstraps (Normal noise;
resampled residuals for the intervals)."""
from __future__ import annotations

import math
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from kaizenlap.core import params
from kaizenlap.core.laptime import format_signed
from kaizenlap.ingest.flags import CLEAN, sections_clean
from kaizenlap.ingest.laps import SECTORS, SUBSECTIONS

SECTOR_COLS = [f"{s}_s" for s in SECTORS]
SUBSECTION_COLS = [f"{k}_s" for k, _ in SUBSECTIONS]
SECTION_SETS = {"sectors": SECTOR_COLS, "subsections": SUBSECTION_COLS}
SECTION_SET_OF = {**{s: "sectors" for s in SECTORS}, **{k: "subsections" for k, _ in SUBSECTIONS}}
NOT_ENOUGH = "not enough clean laps"


_OVERRIDES: ContextVar[dict] = ContextVar("engine_overrides", default={})


def cfg() -> dict:
    """``params/engines.yaml``, with the overrides of the enclosing :func:`engine_settings` block."""
    base = params.load("engines")
    extra = _OVERRIDES.get()
    if not extra:
        return base
    out = dict(base)
    for key, value in extra.items():
        out[key] = {**base[key], **value} if isinstance(base.get(key), dict) else value
    return out


def _checked(overrides: dict) -> dict:
    """``{"trend_fdr": 0.1}`` (a key of one section, if unambiguous), ``{"pattern": {"trend_fdr": 0.1}}`` or
    ``{"pattern.trend_fdr": 0.1}`` → the nested form; an unknown key is a ValueError naming the known ones."""
    base = params.load("engines")
    sections = {k for k, v in base.items() if isinstance(v, dict)}
    out: dict = {}
    for key, value in overrides.items():
        if "." in key:
            section, _, name = key.partition(".")
            key, value = section, {name: value}
        if key in sections:
            if not isinstance(value, dict):
                raise ValueError(f"engine setting {key!r} is a section: give {{name: value}}")
            unknown = sorted(set(value) - set(base[key]))
            if unknown:
                raise ValueError(f"unknown engine setting(s) {', '.join(f'{key}.{u}' for u in unknown)}; "
                                 f"{key} has {', '.join(sorted(base[key]))}")
            out.setdefault(key, {}).update(value)
        elif key in base:
            out[key] = value
        else:
            owners = [sec for sec in sections if key in base[sec]]
            if len(owners) != 1:
                known = sorted({*base, *(f"{sec}.{k}" for sec in sections for k in base[sec])})
                raise ValueError(f"unknown engine setting {key!r}; known: {', '.join(known)}")
            out.setdefault(owners[0], {})[key] = value
    return out


@contextmanager
def engine_settings(overrides: dict | None = None) -> Iterator[dict]:
    """Within the block, the engines read ``params/engines.yaml`` with ``overrides`` applied (this call only:
    the file is not changed). ``overrides``: see :func:`_checked`. Yields the settings in force."""
    token = _OVERRIDES.set(_checked(overrides or {}))
    try:
        yield cfg()
    finally:
        _OVERRIDES.reset(token)


@dataclass
class Estimate:
    """A number a user sees: value, its 95% interval, the sample it came from, and how."""
    value: float | None
    lo: float | None = None
    hi: float | None = None
    n: int = 0
    method: str = ""
    note: str | None = None

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in asdict(self).items() if not (k == "note" and v is None)}

    @property
    def significant(self) -> bool:
        """The interval excludes zero."""
        return self.lo is not None and self.hi is not None and (self.lo > 0 or self.hi < 0)


def not_enough(n: int) -> Estimate:
    return Estimate(None, None, None, n, "", NOT_ENOUGH)


def rng(salt: str = "") -> np.random.Generator:
    """Deterministic per (seed, salt): the same race gives the same intervals on every run."""
    seed = cfg()["bootstrap"]["seed"]
    return np.random.default_rng([seed, *(ord(c) for c in salt)])


def trend_model_fit(x: np.ndarray, lap: np.ndarray) -> tuple[Callable[[np.ndarray], np.ndarray], np.ndarray]:
    """The trend model of a car's section times ``x`` (laps x sections): per section, its OLS line on lap
    number and the residual SD (ddof 2). Returns (line: lap numbers -> fitted times (laps x sections), SD)."""
    lap = np.asarray(lap, float)
    centre = lap.mean()
    A = np.column_stack([np.ones(len(lap)), lap - centre])
    coef, *_ = np.linalg.lstsq(A, x, rcond=None)
    dof = max(len(lap) - 2, 1)
    sd = np.sqrt(((x - A @ coef) ** 2).sum(axis=0) / dof)

    def line(at: np.ndarray) -> np.ndarray:
        at = np.asarray(at, float)
        return np.column_stack([np.ones(len(at)), at - centre]) @ coef
    return line, sd


def trend_model_draws(x: np.ndarray, lap: np.ndarray, salt: str, reps: int | None = None) -> np.ndarray:
    """Parametric bootstrap samples of a car's section times ``x`` (laps x sections): per section, its OLS
    line on lap number plus Normal noise with the residual SD (ddof 2). Shape (reps, n, sections)."""
    b = cfg()["bootstrap"]
    reps = reps or b["reps"]
    line, sd = trend_model_fit(x, lap)
    return line(lap)[None] + rng(salt + "|param").standard_normal((reps, *x.shape)) * sd


def interval_draws(x: np.ndarray, lap: np.ndarray, salt: str, reps: int | None = None,
                   race: np.ndarray | None = None) -> np.ndarray:
    """Draws of a car's section times ``x`` (laps x sections) for the intervals of order statistics, by
    ``bootstrap.order_stat_draws``: ``"residual"`` (default) a smoothed residual bootstrap of the trend model:
    per section the OLS line on lap number; whole rows of residuals (a lap's sections together), scaled by
    sqrt(n / (n - 2)), resampled with replacement, plus Normal smoothing h * sd (h = ``bootstrap.smoothing``),
    the sum shrunk by 1 / sqrt(1 + h^2) so its variance stays sd^2. Real laps are right-skewed (a floor near the
    car's limit, slow laps above it): the resampled residuals keep the tight lower tail the order statistics
    live in, where Normal noise with the SD (``"normal"``, :func:`trend_model_draws`) made the intervals of
    best-k and the personal composite 1.15-1.3x too wide on real laps (docs/DATA_REFERENCE.md 10.5).
    ``race`` (one label per lap; the track scope): laps of several races are drawn race by race, each race at its
    own level (:func:`race_offset_draws`). Shape (reps, n, sections)."""
    b = cfg()["bootstrap"]
    if b.get("order_stat_draws", "residual") == "normal":
        return trend_model_draws(x, lap, salt, reps)
    reps = reps or b["reps"]
    if b.get("race_offset", True) and race is not None and len(np.unique(race)) > 1:
        return race_offset_draws(x, lap, race, salt, reps)
    line, sd = trend_model_fit(x, lap)
    fit = line(lap)
    n = len(x)
    r = (x - fit) * np.sqrt(n / max(n - 2, 1))
    g = rng(salt + "|resid")
    e = r[g.integers(0, n, size=(reps, n))]
    h = float(b.get("smoothing", 0.3))
    if h:
        e = (e + h * sd * g.standard_normal(e.shape)) / np.sqrt(1 + h * h)
    return fit[None] + e


def interval_lap_draws(x: np.ndarray, lap: np.ndarray, other_laps: np.ndarray, reps: int, salt: str,
                       race: np.ndarray | None = None, other_race: np.ndarray | None = None,
                       other_times: np.ndarray | None = None) -> np.ndarray:
    """A car's clean laps without every split (``other_laps``: their lap numbers) simulated as whole laps with the
    noise of :func:`interval_draws`: the sections' OLS trends summed, plus a resampled row sum of the residuals
    (smoothed as there) or, with ``order_stat_draws: normal``, Normal noise with SD sqrt(sum of the sections'
    residual variances). ``race``/``other_race`` (the track scope, several races): each race at its own level
    (:func:`race_offset_lap_draws`; ``other_times``: the laps' own times, the level of a race without a lap having
    every split). Shape (reps, len(other_laps))."""
    b = cfg()["bootstrap"]
    if (b.get("order_stat_draws", "residual") != "normal" and b.get("race_offset", True) and race is not None
            and other_race is not None
            and len(np.unique(np.concatenate([np.asarray(race), np.asarray(other_race)]))) > 1):
        return race_offset_lap_draws(x, lap, race, other_laps, other_race, other_times, reps, salt)
    line, sd = trend_model_fit(x, lap)
    mean = line(other_laps).sum(axis=1)
    if b.get("order_stat_draws", "residual") == "normal":
        return mean[None] + rng(salt + "|other").standard_normal((reps, len(other_laps))) * np.sqrt((sd ** 2).sum())
    n = len(x)
    rs = ((x - line(lap)) * np.sqrt(n / max(n - 2, 1))).sum(axis=1)
    g = rng(salt + "|other-resid")
    e = rs[g.integers(0, n, size=(reps, len(other_laps)))]
    h = float(b.get("smoothing", 0.3))
    if h:
        e = (e + h * np.sqrt(np.mean(rs ** 2)) * g.standard_normal(e.shape)) / np.sqrt(1 + h * h)
    return mean[None] + e


def race_fits(x: np.ndarray, lap: np.ndarray, race: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict, dict]:
    """The trend model of a car's section times over several races, each race its own offset: per race and
    section its own OLS line on lap number (a race with fewer than 3 laps: its mean), residuals scaled by
    sqrt(n_r / (n_r - p_r)) (p_r = 2 for a line, 1 for a mean). Returns (fit, scaled residuals, lines: race ->
    lap numbers -> fitted times, pools: race -> the rows whose residuals its laps resample: the race's own where
    it has ``min_clean_laps`` laps, else all the car's rows)."""
    race = np.asarray(race).astype(str)
    fit, r = np.empty_like(x, dtype=float), np.empty_like(x, dtype=float)
    lines, pools = {}, {}
    everyone = np.arange(len(x))
    for g in np.unique(race):
        m = race == g
        n_g = int(m.sum())
        if n_g >= 3:
            line, _ = trend_model_fit(x[m], lap[m])
            p = 2
        else:
            mu = x[m].mean(axis=0)

            def line(at, mu=mu):
                return np.tile(mu, (len(np.atleast_1d(at)), 1))
            p = 1
        fit[m] = line(lap[m])
        r[m] = (x[m] - fit[m]) * (np.sqrt(n_g / (n_g - p)) if n_g > p else 1.0)
        lines[g] = line
        pools[g] = np.flatnonzero(m) if (n_g >= cfg()["min_clean_laps"]) else everyone
    return fit, r, lines, pools


def race_offset_draws(x: np.ndarray, lap: np.ndarray, race: np.ndarray, salt: str, reps: int) -> np.ndarray:
    """:func:`interval_draws` for a car's laps of several races (the track scope): each race its own level and
    lap trend (:func:`race_fits`), its laps drawn from its own residual rows (smoothed as there with its own
    residual SD), so a slower race (a damp track) shifts that race's laps instead of widening every lap's
    noise. Shape (reps, n, sections)."""
    h = float(cfg()["bootstrap"].get("smoothing", 0.3))
    fit, r, _, pools = race_fits(x, lap, race)
    race = np.asarray(race).astype(str)
    g = rng(salt + "|resid-race")
    e = np.empty((reps, *x.shape))
    for name in np.unique(race):
        rows, pool = np.flatnonzero(race == name), pools[name]
        sd = np.sqrt(np.mean(r[pool] ** 2, axis=0))
        ee = r[pool[g.integers(0, len(pool), size=(reps, len(rows)))]]
        if h:
            ee = (ee + h * sd * g.standard_normal(ee.shape)) / np.sqrt(1 + h * h)
        e[:, rows] = ee
    return fit[None] + e


def race_offset_lap_draws(x: np.ndarray, lap: np.ndarray, race: np.ndarray, other_laps: np.ndarray,
                          other_race: np.ndarray, other_times: np.ndarray | None, reps: int,
                          salt: str) -> np.ndarray:
    """:func:`interval_lap_draws` over several races: a lap without every split at its race's level (the
    race's section trends summed; a race where the car has no lap with every split: the mean of those laps'
    own times), plus a resampled (smoothed) row sum of the residuals of its race's pool. Shape (reps, m)."""
    h = float(cfg()["bootstrap"].get("smoothing", 0.3))
    _, r, lines, pools = race_fits(x, lap, race)
    rs = r.sum(axis=1)
    other_race = np.asarray(other_race).astype(str)
    other_laps = np.asarray(other_laps, float)
    g = rng(salt + "|other-resid-race")
    out = np.empty((reps, len(other_laps)))
    for name in np.unique(other_race):
        cols = np.flatnonzero(other_race == name)
        if name in lines:
            mean = lines[name](other_laps[cols]).sum(axis=1)
            pool = pools[name]
        else:
            if other_times is None:
                raise ValueError(f"race {name!r} has no lap with every split: give the laps' own times")
            mean = np.full(len(cols), float(np.mean(np.asarray(other_times, float)[cols])))
            pool = np.arange(len(x))
        e = rs[pool[g.integers(0, len(pool), size=(reps, len(cols)))]]
        if h:
            e = (e + h * np.sqrt(np.mean(rs[pool] ** 2)) * g.standard_normal(e.shape)) / np.sqrt(1 + h * h)
        out[:, cols] = mean[None] + e
    return out


def centred_interval(point: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Interval for the expectation of a statistic: point - quantiles of (draw - mean of draws), the
    spread of the statistic's sampling distribution centred on the observed value (its bootstrap bias,
    an artefact of order statistics, is not added)."""
    alpha = (1 - cfg()["bootstrap"]["level"]) / 2
    d = dist - dist.mean(axis=0)
    q_lo, q_hi = np.quantile(d, [alpha, 1 - alpha], axis=0)
    return point - q_hi, point - q_lo


def order_stat_interval(point: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The interval of an order statistic (best-k, pace gap, personal best-k, personal composite) from its
    bootstrap-t draws ``dist`` (:func:`studentized`): the :func:`centred_interval`, its lower arm (value - lo)
    times a and its upper arm (hi - value) times b, (a, b) = ``bootstrap.order_stat_arms``, **calibrated** on
    the sample season's truth (seeds 2025 and 11) and checked on a held-out seed (7) (docs/DATA_REFERENCE.md
    10.5). The bootstrap of a minimum (or of the k fastest of n) is inconsistent: the draws resample the same
    few fast laps, and a car whose fast laps were unlucky shows a slower value *and* a tighter spread, so the
    draws' lower arm is short exactly when the value is too slow; even the bootstrap-t left the truth below
    the interval 2-3x as often as above (coverage 89-92%). [1, 1] is the uncalibrated interval."""
    lo, hi = centred_interval(point, dist)
    a, b = (float(v) for v in cfg()["bootstrap"].get("order_stat_arms", (1.0, 1.0)))
    return point - a * (point - lo), point + b * (hi - point)


def order_stat_method() -> str:
    """How an order statistic's interval is made, in words (an estimate's ``method``; :func:`order_stat_interval`)."""
    a, b = (float(v) for v in cfg()["bootstrap"].get("order_stat_arms", (1.0, 1.0)))
    arms = "" if (a, b) == (1.0, 1.0) else \
        f", its lower arm times {a:g}" + ("" if b == 1.0 else f" and its upper arm times {b:g}") + \
        " (calibrated on the sample season's truth)"
    return ("smoothed residual bootstrap (per section: the car's OLS lap trend + its resampled residuals), "
            "each draw scaled by its own spread (bootstrap-t), interval centred on the observed value" + arms)


def ratio_interval(point: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Interval for the expectation C of a spread statistic (a non-negative scale, such as the consistency cost):
    the ratio pivot c / C, its law read from the draws as c* / mean(c*): [c / q97.5, c / q2.5] of c* / mean(c*).
    A scale's error is multiplicative (a car whose laps happened to bunch shows a small cost *and* draws of a small
    cost, so an interval of fixed offsets around c is narrow exactly when c is too low), so the interval is c times
    a factor. Where the observed value, the draws' mean or their lower quantile is not positive (a car whose
    median equals its best-k: a ratio interval would be [0, 0]) the :func:`centred_interval` of the draws is used,
    its lower end at least 0 (a spread's expectation is never negative)."""
    alpha = (1 - cfg()["bootstrap"]["level"]) / 2
    m = dist.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        q_lo, q_hi = np.quantile(dist / m, [alpha, 1 - alpha], axis=0)
        lo, hi = point / q_hi, point / q_lo
    c_lo, c_hi = centred_interval(point, dist)
    ok = (point > 0) & (m > 0) & (q_lo > 0) & np.isfinite(lo) & np.isfinite(hi)
    return np.where(ok, lo, np.maximum(c_lo, 0.0)), np.where(ok, hi, c_hi)


def trend_design(lap: np.ndarray, race: np.ndarray | None = None) -> np.ndarray:
    """The trend model's design matrix (laps x parameters): an intercept and a slope on lap number; with
    ``race`` (several races, the track scope) per race its own intercept and slope (its intercept only where the
    race has fewer than 3 laps), as :func:`race_fits`."""
    lap = np.asarray(lap, float)
    if race is None or len(np.unique(race)) < 2:
        return np.column_stack([np.ones(len(lap)), lap - lap.mean()])
    race = np.asarray(race).astype(str)
    cols = []
    for g in np.unique(race):
        m = (race == g).astype(float)
        cols.append(m)
        if m.sum() >= 3:
            cols.append(m * (lap - lap[race == g].mean()))
    return np.column_stack(cols)


def residual_scale(x: np.ndarray, lap: np.ndarray, race: np.ndarray | None = None) -> np.ndarray:
    """Per section, the residual SD of section times ``x`` (..., laps, sections) about their own trend model
    (:func:`trend_design`, refitted on each leading slice: a draw of the bootstrap gets its own fit), degrees of
    freedom n - p. Shape (..., sections)."""
    A = trend_design(lap, race)
    n, p = A.shape
    M = np.eye(n) - A @ np.linalg.pinv(A)
    r = np.einsum("ij,...jk->...ik", M, x)
    dof = max(n - np.linalg.matrix_rank(A), 1)
    if cfg()["bootstrap"].get("studentize_scale", "lower") == "sd":
        return np.sqrt((r ** 2).sum(axis=-2) / dof)
    d = np.minimum(r - np.median(r, axis=-2, keepdims=True), 0.0)
    return np.sqrt(2 * (d ** 2).sum(axis=-2) / dof)


def scale_ratio(x: np.ndarray, lap: np.ndarray, draws: np.ndarray, race: np.ndarray | None = None) -> np.ndarray:
    """Per draw, (s / s*)^lam, the same for every section: s = sqrt(sum over sections of the squared residual
    scales of the car's laps ``x``), s* that of the draw (:func:`residual_scale`, refitted on the draw; ``race``:
    the track scope's model, as :func:`interval_draws` drew it), lam = ``bootstrap.studentize_power``; all ones
    with ``bootstrap.studentized: false``. Pooled over the sections: one section's scale from 3-10 residuals (a
    half of a short race) is too unsteady a divisor (per section, the real split-half SD(z) fell to 0.51-0.80;
    DATA_REFERENCE 10.5). Shape (reps, sections)."""
    b = cfg()["bootstrap"]
    if not b.get("studentized", True):
        return np.ones((draws.shape[0], x.shape[1]))
    if not (b.get("race_offset", True) and race is not None and len(np.unique(race)) > 1):
        race = None
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.sqrt((residual_scale(x, lap, race) ** 2).sum(axis=-1)
                        / (residual_scale(draws, lap, race) ** 2).sum(axis=-1)) ** float(b.get("studentize_power", 1.0))
    ratio = np.where(np.isfinite(ratio), ratio, 1.0)
    return np.repeat(ratio[:, None], x.shape[1], axis=1)


def studentized(terms: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """Bootstrap-t draws of per-section statistics ``terms`` (reps, sections): mean + (term - mean) * ratio
    (:func:`scale_ratio`); :func:`centred_interval` of these (or of their sum over sections, for a lap) is the
    bootstrap-t interval point - q(t*) * s with t* = (term* - mean) / s*. An order statistic's error and the
    spread of the laps it came from go together (a car whose fast laps were unlucky shows a slower best-k and a
    tighter spread: correlation -0.2 to -0.4 between the error and the interval's width on the sample); dividing
    each draw by its own spread carries that into the interval, where the plain draws put the truth below the
    interval 2-4x as often as above (docs/DATA_REFERENCE.md 10.5)."""
    m = terms.mean(axis=0)
    return m + (terms - m) * ratio


def median_of_k_fastest(k: int) -> Callable[[np.ndarray], np.ndarray]:
    """Per section, the median of the k fastest values; summed over sections when 2-D."""
    def stat(x: np.ndarray) -> np.ndarray:
        s = np.sort(x, axis=1)[:, :k]
        m = np.median(s, axis=1)
        return m.sum(axis=-1) if m.ndim > 1 else m
    return stat


def min_stat(x: np.ndarray) -> np.ndarray:
    m = x.min(axis=1)
    return m.sum(axis=-1) if m.ndim > 1 else m


def median_stat(x: np.ndarray) -> np.ndarray:
    return np.median(x, axis=1)


def clean(laps: pd.DataFrame) -> pd.DataFrame:
    """Laps that count for lap-time statistics (``is_clean``: a valid lap time; splits may be missing)."""
    return laps[laps[CLEAN].astype(bool)]


def clean_sections(laps: pd.DataFrame) -> pd.DataFrame:
    """Laps that count for section statistics (``is_clean_sections``: clean, and splits present and
    consistent; kaizenlap.ingest.flags)."""
    return laps[sections_clean(laps)]


def fmt3(x: float | None) -> str:
    """A number in a store message: three decimals, ``n/a`` when missing."""
    return "n/a" if x is None else f"{x:.3f}"


def interval_text(est: dict, unit: str) -> str:
    """``+0.032 s/°C [+0.016, +0.048] (n=331)`` for the run index's headlines."""
    lo, hi = est.get("lo"), est.get("hi")
    ci = f" [{format_signed(lo)}, {format_signed(hi)}]" if lo is not None and hi is not None else ""
    return f"{format_signed(est.get('value'))} {unit}{ci} (n={est.get('n')})"
