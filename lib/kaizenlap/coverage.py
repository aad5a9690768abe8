"""Measured coverage of the engines' intervals on the sample season's truth (bench/coverage.py prints it,
tests/test_coverage.py asserts it).

The truth of a statistic of a car's clean laps is its expectation under the generator, with everything but
the noise fixed: the generator's own noise ``eta`` (sample.Car.eta) is taken off the recorded section times,
leaving the deterministic part D (skill, trend, temperature, race effects) of every clean lap, and the noise
is redrawn ``draws`` times from the generator's law (sigma_dj * clip(z, -2.5, 2.5)); the mean of the statistic
over the draws is its truth (for best-k it depends on n, so it is computed at the car's n). References
(field composite, field typical) are the race's fixed values, as the engines treat them.
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from kaizenlap import sample_telemetry as stel
from kaizenlap.core import params
from kaizenlap.core.median_interval import order_rank
from kaizenlap.engines import composite, pattern, sections
from kaizenlap.engines import telemetry as te
from kaizenlap.engines.common import SECTION_SETS, cfg
from kaizenlap.ingest.loader import load
from kaizenlap.sample import SUBS, simulate_season

SUB_COLS = [f"{s}_s" for s in SUBS]


def _to_set(x: np.ndarray, set_name: str) -> np.ndarray:
    """Sub-section arrays (..., 6) -> the section set's columns."""
    return x if set_name == "subsections" else x[..., 0::2] + x[..., 1::2]


def theil_sen_z(lap: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`kaizenlap.ingest.flags.trend_residual_z` over many draws at once: ``t`` (draws, laps) lap times at
    lap numbers ``lap``; the Theil-Sen line (median of the pairwise slopes; intercept median(t) - slope *
    median(lap)), the residuals' modified z and their MAD_normal. Returns (z (draws, laps), scale (draws,))."""
    lap = np.asarray(lap, float)
    i, j = np.triu_indices(len(lap), 1)
    keep = lap[j] != lap[i]
    i, j = i[keep], j[keep]
    slope = np.median((t[:, j] - t[:, i]) / (lap[j] - lap[i]), axis=1)
    icpt = np.median(t, axis=1) - slope * np.median(lap)
    r = t - (icpt[:, None] + slope[:, None] * lap[None])
    med = np.median(r, axis=1, keepdims=True)
    scale = 1.482602218505602 * np.median(np.abs(r - med), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (r - med) / scale[:, None]
    return z, scale


def guarded_noise(sim, car, laps: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """The generator's noise at a car's laps ``laps`` (lap numbers), ``draws`` times: sigma_dj * clip(z, +-2.5)
    and then the generator's outlier guard (``sample.RaceSim.simulate``/``_outliers``), which the recorded laps
    went through: on the car's eligible laps (not lap 1, FCY, pit, deleted, glitch or missing-sector laps; at
    least 5) a lap whose lap time is more than 3 modified z from the car's Theil-Sen trend has its noise shrunk
    (x 0.4, the first two rounds) or moved to z = 2.5 (later rounds). The guard thins both tails of the noise a
    car's laps show; a truth drawn without it (the rule before issue 19 item 5) is lower than the recorded laps'
    expectation for minima (the fast tail it thins) and put misses of best-k and the personal composite below
    the interval twice as often. Laps outside the eligible set keep their unguarded noise. Shape
    (draws, len(laps), 6)."""
    glitch = {g[0] for g in car.glitch}
    elig = np.array([k for k in range(1, car.laps + 1) if not sim.basic(car, k) and k not in car.deleted
                     and k not in car.deleted_hidden and k not in glitch and k not in car.missing_sectors], int)
    laps = np.asarray(laps, int)
    extra = np.setdiff1d(laps, elig)
    every = np.concatenate([elig, extra])
    eta = np.clip(rng.standard_normal((draws, len(every), 6)), -2.5, 2.5) * car.noise
    if len(elig) >= 5:
        det = car.ms[elig - 1].sum(axis=1) / 1000.0 - car.eta[elig - 1].sum(axis=1)
        frac = sim.base / sim.R
        e = eta[:, :len(elig)]
        for it in range(20):
            z, scale = theil_sen_z(elig, det[None] + e.sum(axis=2))
            out = (np.abs(z) > 3.0) & np.isfinite(z) & (scale[:, None] > 0)
            if not out.any():
                break
            if it < 2:
                e[out] *= 0.4
            else:
                excess = np.where(out, (z - np.sign(z) * 2.5) * scale[:, None], 0.0)
                e -= excess[..., None] * frac
        eta[:, :len(elig)] = e
    pos = {k: i for i, k in enumerate(every)}
    return eta[:, [pos[k] for k in laps]]


def coverage_rows(races: dict, seed: int = 2025, draws: int = 300) -> pd.DataFrame:
    """One row per interval: race, car, section set, section, statistic, lo, hi, value, truth, n; and
    truth_unguarded, the truth without the generator's outlier guard (the rule before issue 19 item 5;
    :func:`guarded_noise`).

    ``races``: ingested sample races by race id (``kaizenlap.ingest.load`` of ``write_season(seed)``)."""
    c = cfg()
    k = c["best_k"]
    sims = {f"{s.tid}-r{s.race_no}": s for pair in simulate_season(seed) for s in pair}
    rows = []
    for rid, race in sorted(races.items()):
        sim = sims[rid]
        cars = {car.car: car for car in sim.cars}
        sdoc = sections.analyse(race.laps, rid)
        cdoc = composite.analyse(race.laps, rid)
        cbycar = {x["car"]: x for x in cdoc["cars"]}
        pool = race.laps[race.laps["is_clean"]]
        rng = np.random.default_rng([seed, 99, sum(map(ord, rid))])
        for entry in sdoc["cars"]:
            car = cars.get(entry["car"])
            g = pool[pool["car"] == entry["car"]]
            for set_name, cols in SECTION_SETS.items():
                s = entry.get(set_name, {})
                if not s.get("available") or car is None:
                    continue
                full = g.dropna(subset=cols)
                if full[SUB_COLS].isna().any(axis=None):
                    continue            # sectors without sub-sections: no per-sub-section truth
                ks = full["lap"].to_numpy(int) - 1
                det = car.ms[ks] / 1000.0 - car.eta[ks]                       # (n, 6) deterministic part
                z = guarded_noise(sim, car, ks + 1, draws, rng)
                sim_x = _to_set(det[None] + z, set_name)
                # the truth before issue 19 item 5: the noise law without the generator's outlier guard
                sim_u = _to_set(det[None] + np.clip(rng.standard_normal(z.shape), -2.5, 2.5) * car.noise, set_name)
                secs = {x["section"]: x for x in s["sections"]}
                names = [col[:-2] for col in cols]
                ref = np.array([secs[nm]["composite_s"] for nm in names])
                typ = np.array([secs[nm]["field_typical_s"] for nm in names])
                truth = {st: v.mean(axis=0) for st, v in sections.section_stats(sim_x, ref, typ, k).items()}
                unguarded = {st: v.mean(axis=0) for st, v in sections.section_stats(sim_u, ref, typ, k).items()}
                for j, nm in enumerate(names):
                    for st in sections.STATS:
                        e = secs[nm][st]
                        rows.append({"race_id": rid, "car": entry["car"], "section_set": set_name, "section": nm,
                                     "statistic": st, "value": e["value"], "lo": e.get("lo"), "hi": e.get("hi"),
                                     "truth": float(truth[st][j]), "truth_unguarded": float(unguarded[st][j]),
                                     "n": e["n"]})
                cc = cbycar[entry["car"]][set_name]
                for st, fn in (("personal_composite", lambda a: a.min(axis=-2).sum(axis=-1)),
                               ("personal_best_k", lambda a: np.median(np.sort(a, axis=-2)[..., :k, :],
                                                                       axis=-2).sum(axis=-1))):
                    e = cc["personal_composite" if st == "personal_composite" else "best_k"]
                    rows.append({"race_id": rid, "car": entry["car"], "section_set": set_name, "section": "lap",
                                 "statistic": st, "value": e["value"], "lo": e.get("lo"), "hi": e.get("hi"),
                                 "truth": float(fn(sim_x).mean()), "truth_unguarded": float(fn(sim_u).mean()),
                                 "n": e["n"]})
    return pd.DataFrame(rows)


def track_coverage_rows(races: dict, seed: int = 2025, draws: int = 300) -> pd.DataFrame:
    """The track composite's intervals (``composite.analyse(scope="track")``, each track's two races pooled)
    against the truth: per car and section set, the expectation of the pooled statistic over the car's clean laps
    of both races, each race's laps with that race's deterministic part (its conditions: a damp race, a rubbered
    race 2) and its noise redrawn as in :func:`coverage_rows`. One row per interval, as there (``race_id``: the
    track)."""
    k = cfg()["best_k"]
    sims = {f"{s.tid}-r{s.race_no}": s for pair in simulate_season(seed) for s in pair}
    by_track: dict[str, list] = {}
    for rid, race in sorted(races.items()):
        by_track.setdefault(race.track_id, []).append((rid, race))
    rows = []
    stats = (("personal_composite", "personal_composite", lambda a: a.min(axis=-2).sum(axis=-1)),
             ("personal_best_k", "best_k", lambda a: np.median(np.sort(a, axis=-2)[..., :k, :], axis=-2).sum(axis=-1)))
    for track, rr in sorted(by_track.items()):
        if len(rr) < 2:
            continue
        laps = pd.concat([r.laps for _, r in rr], ignore_index=True)
        doc = composite.analyse(laps, track, scope="track")
        pool = laps[laps["is_clean"].astype(bool)]
        rng = np.random.default_rng([seed, 98, sum(map(ord, track))])
        cars = {rid: {c.car: c for c in sims[rid].cars} for rid, _ in rr}
        for entry in doc["cars"]:
            g = pool[pool["car"] == entry["car"]]
            for set_name, cols in SECTION_SETS.items():
                full = g.dropna(subset=cols)
                if full.empty or full[SUB_COLS].isna().any(axis=None):
                    continue
                if any(entry["car"] not in cars[r] for r in full["race_id"].unique()):
                    continue
                det = np.concatenate([cars[r][entry["car"]].ms[f["lap"].to_numpy(int) - 1] / 1000.0
                                      - cars[r][entry["car"]].eta[f["lap"].to_numpy(int) - 1]
                                      for r, f in full.groupby("race_id", sort=True)])
                z = np.concatenate([guarded_noise(sims[r], cars[r][entry["car"]], f["lap"].to_numpy(int), draws, rng)
                                    for r, f in full.groupby("race_id", sort=True)], axis=1)
                sim_x = _to_set(det[None] + z, set_name)
                for st, key, fn in stats:
                    e = entry[set_name][key]
                    rows.append({"race_id": track, "car": entry["car"], "section_set": set_name, "section": "lap",
                                 "statistic": st, "value": e["value"], "lo": e.get("lo"), "hi": e.get("hi"),
                                 "truth": float(fn(sim_x).mean()), "n": e["n"],
                                 "n_races": int(full["race_id"].nunique())})
    return pd.DataFrame(rows)


def track_widths(races: dict) -> pd.DataFrame:
    """Median interval width of the personal composite and best-k per track with two or more races: each race
    alone (``composite.analyse`` per race) and the races pooled (``scope="track"``). One row per track, section
    set and statistic: ``track, section_set, statistic, cars, pooled_s`` and ``<race id>_s`` for each race."""
    by_track: dict[str, list] = {}
    for rid, race in sorted(races.items()):
        by_track.setdefault(race.track_id, []).append((rid, race))

    def widths(doc: dict, set_name: str, key: str) -> list[float]:
        return [c[set_name][key]["hi"] - c[set_name][key]["lo"] for c in doc["cars"]
                if c[set_name][key].get("lo") is not None and c[set_name][key].get("hi") is not None]
    rows = []
    for track, rr in sorted(by_track.items()):
        if len(rr) < 2:
            continue
        pooled = composite.analyse(pd.concat([r.laps for _, r in rr], ignore_index=True), track, scope="track")
        single = {rid: composite.analyse(r.laps, rid) for rid, r in rr}
        for set_name in SECTION_SETS:
            for key in ("personal_composite", "best_k"):
                w = widths(pooled, set_name, key)
                row = {"track": track, "section_set": set_name, "statistic": key, "cars": len(w),
                       "pooled_s": float(np.median(w)) if w else float("nan")}
                for rid, d in single.items():
                    ws = widths(d, set_name, key)
                    row[f"{rid}_s"] = float(np.median(ws)) if ws else float("nan")
                rows.append(row)
    return pd.DataFrame(rows)


def coverage_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per statistic and section set: intervals (n), coverage, the share of misses with the truth below the
    interval and above it (a centred interval misses about equally on each side), median width; statistics
    reported without an interval show n_intervals 0."""
    out = []
    for (st, set_name), g in rows.groupby(["statistic", "section_set"], sort=True):
        has = g["lo"].notna() & g["hi"].notna()
        h = g[has]
        nan = float("nan")
        cov = float(((h["lo"] <= h["truth"]) & (h["truth"] <= h["hi"])).mean()) if len(h) else nan
        out.append({"statistic": st, "section_set": set_name, "n_estimates": int(len(g)), "n_intervals": int(len(h)),
                    "coverage": cov,
                    "miss_below": float((h["truth"] < h["lo"]).mean()) if len(h) else nan,
                    "miss_above": float((h["truth"] > h["hi"]).mean()) if len(h) else nan,
                    "median_width_s": float((h["hi"] - h["lo"]).median()) if len(h) else nan,
                    "median_abs_error_s": float((g["value"] - g["truth"]).abs().median())})
    return pd.DataFrame(out)


# ------------------------------------------------------------------ calibration on real laps (no truth needed)

Z95 = 1.959963984540054


def _estimates(laps: pd.DataFrame, race_id: str) -> dict[tuple, dict]:
    """(car, section set, section, statistic) -> the engine's Estimate, for sections and personal composites."""
    out = {}
    sdoc = sections.analyse(laps, race_id)
    for entry in sdoc["cars"]:
        for set_name in SECTION_SETS:
            s = entry.get(set_name, {})
            if not s.get("available"):
                continue
            for sec in s["sections"]:
                for st in sections.STATS:
                    e = sec.get(st)
                    if isinstance(e, dict) and e.get("lo") is not None and e.get("hi") is not None:
                        out[(entry["car"], set_name, sec["section"], st)] = e
    cdoc = composite.analyse(laps, race_id)
    for entry in cdoc["cars"]:
        for set_name in SECTION_SETS:
            cc = entry.get(set_name) or {}
            for st, key in (("personal_composite", "personal_composite"), ("personal_best_k", "best_k")):
                e = cc.get(key)
                if isinstance(e, dict) and e.get("lo") is not None and e.get("hi") is not None:
                    out[(entry["car"], set_name, "lap", st)] = e
    # the pattern engine's field-relative pace: lap-to-lap SD around the car's trend (chi-square interval) and the
    # trend's slope (Theil-Sen with its interval); over all the car's clean laps, so the set is "laps"
    for entry in pattern.analyse(laps, race_id)["cars"]:
        if not entry.get("available"):
            continue
        for st, e in (("consistency_sd", entry.get("consistency")),
                      ("trend_slope", (entry.get("trend") or {}).get("slope_s_per_lap"))):
            if isinstance(e, dict) and e.get("lo") is not None and e.get("hi") is not None:
                out[(entry["car"], "laps", "lap", st)] = e
    return out


# Statistics measured against a reference the field sets (the composite, the field's typical lap) are left out of
# the split-half check: each half has its own field reference, so their difference is not the car's alone. The
# pattern engine's field-relative pace is in: its reference is the field's median on the same lap, which is the
# same in a half as in the whole race (a lap number is all in one half).
SPLIT_HALF_STATS = ("median", "best_k", "consistency_cost", "personal_composite", "personal_best_k",
                    "consistency_sd", "trend_slope")

# Spreads whose interval is multiplicative (``bootstrap.consistency_interval: ratio``, ``common.ratio_interval``):
# their split-half z is taken on the log scale, z = log(a / b) / sqrt(se_a^2 + se_b^2), se = log(hi / lo) / (2 *
# 1.96). On the linear scale the long upper arm of a ratio interval reads as ~2x too wide (SD(z) 0.53 on the sample,
# where the same intervals cover the truth 93% with misses on both sides; DATA_REFERENCE 10.5).
RATIO_STATS = ("consistency_cost",)
# A standard deviation's chi-square interval is multiplicative too (sd * sqrt(df / chi2)): always on the log scale.
LOG_STATS = ("consistency_sd",)


def _log_scale(st: str) -> bool:
    return st in LOG_STATS or (st in RATIO_STATS
                               and cfg()["bootstrap"].get("consistency_interval", "ratio") == "ratio")


SPLITS = ("pairs", "odd_even")


def half_a(lap: pd.Series, split: str = "pairs") -> pd.Series:
    """Which laps go to the first half. ``"pairs"``: laps 1, 4, 5, 8, 9, ... (pattern A B B A by lap number):
    blocks of two neighbouring laps alternate between the halves, so each lap has one neighbour in its own half
    and one in the other, and a linear trend is balanced over every four laps. ``"odd_even"``: odd lap numbers;
    every neighbour of a lap is then in the other half, and real laps' positive correlation between neighbours
    (shared noise) makes the halves agree more than independent halves would (DATA_REFERENCE 10.5)."""
    if split == "odd_even":
        return lap % 2 == 1
    if split == "pairs":
        return ((lap - 1) % 4).isin([0, 3])
    raise ValueError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")


def split_half_rows(races: dict, split: str = "pairs") -> pd.DataFrame:
    """A calibration check that needs no truth: each race's laps split into two interleaved halves by lap number
    (:func:`half_a`), every statistic estimated on each half by the engines, and the two estimates of one car
    compared. For two independent halves with calibrated intervals, z = (a - b) / sqrt(se_a^2 + se_b^2),
    se = (hi - lo) / (2 * 1.96), has SD 1 and |z| > 1.96 in 5% of pairs; an SD of 0.66 says the intervals are
    ~1.5x too wide, or that the halves share noise. A spread with a multiplicative interval (:data:`RATIO_STATS`)
    is compared on the log scale."""
    rows = []
    for rid, race in sorted(races.items()):
        laps = race.laps
        if laps is None or not len(laps):
            continue
        in_a = half_a(laps["lap"], split)
        halves = [_estimates(laps[in_a], rid), _estimates(laps[~in_a], rid)]
        for key in sorted(set(halves[0]) & set(halves[1])):
            a, b = halves[0][key], halves[1][key]
            car, set_name, section, st = key
            if st not in SPLIT_HALF_STATS:
                continue
            if _log_scale(st):
                if not min(a["lo"], b["lo"], a["value"], b["value"]) > 0:
                    continue
                se = np.hypot(np.log(a["hi"] / a["lo"]) / (2 * Z95), np.log(b["hi"] / b["lo"]) / (2 * Z95))
                diff = np.log(a["value"] / b["value"])
            else:
                se = np.hypot((a["hi"] - a["lo"]) / (2 * Z95), (b["hi"] - b["lo"]) / (2 * Z95))
                diff = a["value"] - b["value"]
            if not se > 0:
                continue
            rows.append({"race_id": rid, "car": car, "section_set": set_name, "section": section, "statistic": st,
                         "a": a["value"], "b": b["value"], "n_a": a.get("n"), "n_b": b.get("n"),
                         "lo_a": a["lo"], "hi_a": a["hi"], "lo_b": b["lo"], "hi_b": b["hi"],
                         "z": diff / se, "scale": "log" if _log_scale(st) else "linear"})
    return pd.DataFrame(rows)


def split_half_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per statistic and section set: pairs (n), SD of z (1 when calibrated), share |z| > 1.96 (5%), and the
    spread ratio SD(z) that would rescale the intervals (an interval scaled by it would be calibrated)."""
    out = []
    for (st, set_name), g in rows.groupby(["statistic", "section_set"], sort=True):
        z = g["z"].to_numpy(float)
        z = z[np.isfinite(z)]
        out.append({"statistic": st, "section_set": set_name, "pairs": int(len(z)),
                    "sd_z": float(np.std(z, ddof=1)) if len(z) > 1 else float("nan"),
                    "beyond_1_96": float((np.abs(z) > Z95).mean()) if len(z) else float("nan")})
    return pd.DataFrame(out)


# ------------------------------------------------------------------ the fair real check: model twins of the real races

TWIN_COLS = [*SECTION_SETS["sectors"], *SECTION_SETS["subsections"], "lap_time_s"]


TWIN_FIELDS = ("laps", "none")


def field_lap_fit(lap: np.ndarray, car: np.ndarray, x: np.ndarray, min_cars: int) -> tuple[np.ndarray, int]:
    """Least-squares fit of every timing column (``x``: rows x columns) on each car's level and lap trend (lap
    minus the car's mean lap) and, with ``min_cars`` > 0, one level per lap number that at least ``min_cars`` cars
    share (the field's conditions on that lap: a slow lap for everybody, a yellow in one sector, the start, a
    restart); laps of fewer cars keep no level of their own. Returns (fitted rows, the fit's rank)."""
    codes, _ = pd.factorize(pd.Series(car).astype(str))
    U = np.eye(codes.max() + 1)[codes]
    centred = lap - pd.Series(lap).groupby(codes).transform("mean").to_numpy()
    D = [U, U * centred[:, None]]
    if min_cars > 0:
        laps, counts = np.unique(lap, return_counts=True)
        shared = laps[counts >= min_cars][1:]                  # the first is in the cars' levels
        D.append((lap[:, None] == shared[None, :]).astype(float))
    D = np.column_stack(D)
    coef, _, rank, _ = np.linalg.lstsq(D, x, rcond=None)
    return D @ coef, int(rank)


def twin_laps(laps: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The laps a model twin is built from, and their timing columns: laps clean for section statistics with
    every timing column (``TWIN_COLS`` present on most of the race's clean laps) of cars with at least
    ``min_clean_laps`` of them, ordered by car and lap."""
    ok = laps["is_clean"].astype(bool) & laps["is_clean_sections"].astype(bool)
    cols = [c for c in TWIN_COLS if c in laps and laps.loc[ok, c].notna().mean() > 0.5]
    full = ok & laps[cols].notna().all(axis=1)
    sizes = laps[full].groupby("car").size()
    g = laps[full & laps["car"].isin(sizes[sizes >= cfg()["min_clean_laps"]].index)]
    return g.sort_values(["car", "lap"], kind="stable"), cols


def model_twins(races: dict, seed: int = 2025, field: str = "laps") -> tuple[dict, dict]:
    """A twin of each real race where the engines' model holds, at the race's own sizes: every car's laps
    clean for section statistics with every timing column (``TWIN_COLS`` present in the race) keep their lap
    numbers, and their times are redrawn as a fixed part plus whole rows of the car's own residuals resampled
    with replacement: the real cars' lap counts, trends, spreads and skew, with exchangeable noise. The fixed
    part is, per column, the least-squares fit of :func:`field_lap_fit`: each car's level and lap trend and,
    with ``field="laps"``, the field's conditions per lap (a level per lap number that ``weather.field_min_cars``
    cars or more share), held fixed as the sample's truth holds the race's conditions fixed (``coverage_rows``);
    ``field="none"``: each car's own OLS trend only (the reference before; the field's shared slow laps then
    become the car's own resampled noise, and a resample may take one twice or not at all). Residuals are scaled
    by sqrt(N / (N - rank)) (``"none"``: sqrt(n / (n - 2)) per car). A row's sections keep their sums (a lap's
    sectors add up to its time as on the real lap). Other laps are taken out of every statistic (``is_clean``
    and ``is_clean_sections`` false). The split-half check on the twins is the reference of a real split-half
    SD(z) (DATA_REFERENCE 10.5: at halves of 5-10 laps a calibrated interval reads under 1). Returns (twins:
    race id -> object with ``laps``, ``status``; laws: race id -> car -> (lap numbers, fixed rows, residual rows,
    columns), the twin's truth)."""
    if field not in TWIN_FIELDS:
        raise ValueError(f"unknown field {field!r}; known: {', '.join(TWIN_FIELDS)}")
    min_cars = int(cfg()["weather"]["field_min_cars"]) if field == "laps" else 0
    twins, laws = {}, {}
    for rid, race in sorted(races.items()):
        laps = race.laps
        if laps is None or not len(laps) or getattr(race, "status", "loaded") != "loaded":
            continue
        laps = laps.copy()
        rng = np.random.default_rng([seed, 7, sum(map(ord, rid))])
        g, cols = twin_laps(laps)
        keep = pd.Series(False, index=laps.index)
        laws[rid] = {}
        if len(g):
            x = g[cols].to_numpy(float)
            lap, car = g["lap"].to_numpy(float), g["car"].to_numpy()
            fit, rank = field_lap_fit(lap, car, x, min_cars)
            resid = x - fit
            if field == "laps":
                resid = resid * np.sqrt(len(x) / max(len(x) - rank, 1))
            for c in pd.unique(car):
                m = car == c
                n = int(m.sum())
                r = resid[m] if field == "laps" else resid[m] * np.sqrt(n / (n - 2))
                laps.loc[g.index[m], cols] = fit[m] + r[rng.integers(0, n, size=n)]
                keep[g.index[m]] = True
                laws[rid][c] = (lap[m], fit[m], r, cols)
        for c in ("is_clean", "is_clean_sections"):
            laps[c] = keep
        twins[rid] = SimpleNamespace(race_id=rid, laps=laps, status="loaded")
    return twins, laws


def field_share(races: dict) -> pd.DataFrame:
    """Per race (rows) and timing column: the share of the residual variance around each car's own level and lap
    trend that the field's conditions per lap take (:func:`field_lap_fit`), 1 - s2_field / s2_own, each variance
    on its residual degrees of freedom, over the laps :func:`model_twins` uses."""
    min_cars = int(cfg()["weather"]["field_min_cars"])
    out = []
    for rid, race in sorted(races.items()):
        laps = race.laps
        if laps is None or not len(laps) or getattr(race, "status", "loaded") != "loaded":
            continue
        g, cols = twin_laps(laps)
        if not len(g):
            continue
        x, lap, car = g[cols].to_numpy(float), g["lap"].to_numpy(float), g["car"].to_numpy()
        var = []
        for m in (0, min_cars):
            fit, rank = field_lap_fit(lap, car, x, m)
            var.append(((x - fit) ** 2).sum(axis=0) / max(len(x) - rank, 1))
        out.append(pd.Series(1 - var[1] / var[0], index=cols, name=rid))
    return pd.DataFrame(out)


def twin_split_half_rows(races: dict, seeds: tuple[int, ...] = (2025, 1, 2), field: str = "laps") -> pd.DataFrame:
    """The split-half rows (:func:`split_half_rows`, pairs split) of the races' model twins (:func:`model_twins`)
    drawn once per seed and pooled, with the seed in ``twin_seed``: the reference SD(z) of a real split-half
    check. One twin's SD(z) over ~150 pairs moves by ~0.05 from draw to draw; three draws pooled hold the
    reference steadier than the real figure it is compared with."""
    out = [split_half_rows(model_twins(races, seed=s, field=field)[0]).assign(twin_seed=s) for s in seeds]
    return pd.concat(out, ignore_index=True)


def twin_coverage_rows(twins: dict, laws: dict, draws: int = 300, seed: int = 2025) -> pd.DataFrame:
    """The order-statistic intervals of the model twins (:func:`model_twins`) against the twin's truth: the
    expectation of the statistic at the car's n under its trend plus its resampled residual rows (``draws``
    redraws). Rows as :func:`coverage_rows` (best-k per section, personal best-k, personal composite)."""
    k = cfg()["best_k"]
    rows = []
    for rid, race in sorted(twins.items()):
        sdoc = sections.analyse(race.laps, rid)
        cdoc = composite.analyse(race.laps, rid)
        cbycar = {x["car"]: x for x in cdoc["cars"]}
        rng = np.random.default_rng([seed, 8, sum(map(ord, rid))])
        for entry in sdoc["cars"]:
            law = laws[rid].get(entry["car"])
            if law is None:
                continue
            lap, fit, r, cols = law
            sim = fit[None] + r[rng.integers(0, len(r), size=(draws, len(r)))]
            for set_name, set_cols in SECTION_SETS.items():
                s = entry.get(set_name, {})
                if not s.get("available") or not set(set_cols) <= set(cols):
                    continue
                x = sim[..., [cols.index(c) for c in set_cols]]
                bk = np.median(np.sort(x, axis=1)[:, :k], axis=1)              # (draws, sections)
                for sec in s["sections"]:
                    j = set_cols.index(f"{sec['section']}_s")
                    e = sec["best_k"]
                    rows.append({"race_id": rid, "car": entry["car"], "section_set": set_name,
                                 "section": sec["section"], "statistic": "best_k", "value": e["value"],
                                 "lo": e.get("lo"), "hi": e.get("hi"), "truth": float(bk[:, j].mean()), "n": e["n"]})
                cc = cbycar.get(entry["car"], {}).get(set_name) or {}
                for st, key, truth in (("personal_composite", "personal_composite",
                                        np.minimum(x.min(axis=1).sum(-1), sim[..., cols.index("lap_time_s")].min(1)
                                                   if "lap_time_s" in cols else np.inf)),
                                       ("personal_best_k", "best_k", bk.sum(-1))):
                    e = cc.get(key)
                    if isinstance(e, dict) and e.get("value") is not None:
                        rows.append({"race_id": rid, "car": entry["car"], "section_set": set_name, "section": "lap",
                                     "statistic": st, "value": e["value"], "lo": e.get("lo"), "hi": e.get("hi"),
                                     "truth": float(np.mean(truth)), "n": e["n"]})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ telemetry medians (issue 22; DATA_REFERENCE 10.7)

TELEMETRY_QUANTITIES = ("brake_m", "brake_peak_bar", "min_kph", "min_m", "pickup_m", "exit_kph", "delta_s")


def timing_laws(seed: int = 2025) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """{race id: {car: (sub-section times without noise (s; laps x 6, row 0 is lap 1), noise SD per sub-section
    (s))}}: each lap's recorded sub-section times minus the timing generator's simulated noise ``eta``
    (sample.Car.eta), and the law that noise is drawn from (``Car.noise * clip(z, -2.5, 2.5)`` per
    sub-section)."""
    out: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for pair in simulate_season(seed):
        for s in pair:
            out[f"{s.tid}-r{s.race_no}"] = {c.car: (c.ms / 1000.0 - c.eta, np.asarray(c.noise, float))
                                            for c in s.cars}
    return out


def _measured(tr, prof: dict, pickup: np.ndarray, zones: list | None = None) -> np.ndarray:
    """One profile measured as the generator measures its laps: per corner [brake_m, brake peak (bar),
    min_kph, min_m, pickup_m, exit_kph, segment_s] (NaN: no braking), the peak being the highest front pressure
    between the brake point and the apex (``zones``: those grid points per corner, :func:`_zones`, when the
    same brake points are measured many times)."""
    rows = stel.lap_truth(tr, prof, tr.apex + pickup)
    zones = _zones(tr, rows) if zones is None else zones
    return np.array([[np.nan if r[0] is None else r[0], float(prof["brake"][z].max()) if len(z) else np.nan,
                      r[1], r[2], r[3], r[4], r[5]] for r, z in zip(rows, zones)], float)


def _zones(tr, rows: list) -> list[np.ndarray]:
    """Per corner the grid points from its brake point (``rows[i][0]``, :func:`lap_truth`) to its apex."""
    return [np.flatnonzero((tr.s - r[0]) % tr.L <= (a - r[0]) % tr.L) if r[0] is not None else np.array([], int)
            for a, r in zip(tr.apex, rows)]


_COLS = ("brake_m", "brake_peak_bar", "min_kph", "min_m", "pickup_m", "exit_kph", "segment_s")


def telemetry_truth(race: dict, laws: dict[str, tuple[np.ndarray, np.ndarray]], seed: int = 2025,
                    draws: int = 0) -> dict[str, dict]:
    """What each lap of each car is worth, per quantity and corner, under the generator (``sample_telemetry``),
    as values to take the median of. ``race``: a race of ground_truth.json with its ``telemetry`` key;
    ``laws``: the race's :func:`timing_laws`.

    ``draws=0``, the *noise-free* value: the car's nominal parameters (``car_parameters``, made feasible as the
    generator does) give one profile, scaled as the generator scales its laps to each lap's noise-free
    sub-section times (``section_weights``: a time multiplier per timing section, blended across the lines; a
    race without timing lines: one factor to the noise-free lap time) and measured as the generator measures its
    laps (``lap_truth``). ``draws > 0``, the *lap distribution*: ``draws`` laps of the generator's own law
    (``lap_parameters``: the per-lap noise on minimum speed, deceleration and pick-up, made feasible) each scaled
    to the lap's noise-free sub-section times plus a redrawn timing noise: the median of these is the car's
    typical value with the vehicle model's systematic effects (a brake point is not linear in the speeds).

    Returns {car: {lap: {corner: {quantity: array of values}}}} (``segment_s`` for the per-corner deltas)."""
    tracks = params.tracks()
    tid = race["track_id"]
    tix = sorted(tracks).index(tid)
    tr = stel.Track(tracks[tid])
    v_top, a_full = stel._calibrated(tr)
    lines = np.asarray(race["subsection_lines_m"], float) if race.get("subsection_lines_m") else None
    basis = None if lines is None else stel.pace_basis(tr, lines)
    out = {}
    for car, tel in race["telemetry"]["cars"].items():
        info = race["cars"][car]
        chassis = int(info["vehicle_id"].split("-")[1])
        nom = stel.car_parameters(tr, seed, tix, chassis, float(info["pace_fraction"]))
        nom["vmin"] = stel.feasible(tr, nom["vmin"], nom["decel"], nom["pickup"], v_top, a_full)
        rng = np.random.default_rng([seed, 22_900, chassis])
        sets = [nom] if draws == 0 else [stel.lap_parameters(nom, rng) for _ in range(draws)]
        envs = []
        for lp in sets:
            vmin = lp["vmin"] if draws == 0 else stel.feasible(tr, lp["vmin"], lp["decel"], lp["pickup"], v_top, a_full)
            env = stel.envelope(tr, vmin, lp["decel"], lp["pickup"], v_top, a_full)
            inv_a = None if lines is None else np.linalg.inv(stel.section_matrix(tr, env["v0"], basis, lines))
            envs.append((env, inv_a, lp["pickup"]))
        det, sd = laws[car]                                          # (laps, 6) s, (6,) s
        laps = {}
        zones: list = [None] * len(envs)        # a draw's brake points do not move with its scaling
        for k in range(tel["laps"][0], tel["laps"][1] + 1):          # the complete laps in the file
            target = np.tile(det[k - 1], (len(sets), 1))
            if draws:
                target = target + np.clip(rng.standard_normal((len(sets), len(sd))), -2.5, 2.5) * sd
            meas = []
            for d, ((env, inv_a, pickup), tt) in enumerate(zip(envs, target)):
                w_s = (inv_a @ tt) @ basis if lines is not None else np.full(len(tr.s), tt.sum() / env["total0"])
                prof = stel.finish_profile(tr, env, w_s)
                if zones[d] is None:
                    zones[d] = _zones(tr, stel.lap_truth(tr, prof, tr.apex + pickup))
                meas.append(_measured(tr, prof, pickup, zones[d]))
            meas = np.array(meas)                                    # (draws, corners, columns)
            laps[k] = {n: {q: meas[:, i, j] for j, q in enumerate(_COLS)} for i, n in enumerate(tr.names)}
        out[car] = laps
    return out


def telemetry_coverage_rows(doc: dict, truth: dict[str, dict], observed: dict[str, dict] | None = None
                            ) -> pd.DataFrame:
    """One row per interval of the telemetry document ``doc`` (``telemetry.analyse``; per car and corner, each
    quantity's median with its order-statistic interval): race, car, corner, quantity, value, lo, hi, n, the
    interval's stated coverage, its truth, and how many of the laps behind it lie below the truth. The truth of
    a median is the median of ``truth`` (:func:`telemetry_truth`) pooled over the laps the engine used (its
    clean complete laps). For ``delta_s`` the reference is the engine's (the car's best lap, as measured), so
    its truth is the median of the laps' segment times minus the reference lap's recorded one (``observed``: the
    race's ``telemetry.cars`` of ground_truth.json, per lap ``corners[i][5]``); without ``observed`` no delta
    rows."""
    level = float(doc.get("params", {}).get("level", 0.95))
    rows = []
    for car in doc.get("cars", []):
        t = truth.get(car.get("car"))
        if t is None or not car.get("corners"):
            continue
        pool = [r["lap"] for r in car["laps"] if r.get("is_clean") and r.get("lap") is not None]
        ref_lap = (car.get("reference") or {}).get("lap")
        ref_obs = None
        if observed is not None and ref_lap is not None:
            ref_obs = next(p for p in observed[car["car"]]["per_lap"] if p["lap"] == ref_lap)["corners"]
        for i, item in enumerate(car["corners"]):
            name = item["corner"]
            for q in TELEMETRY_QUANTITIES:
                e = item.get(q) or {}
                if e.get("value") is None:
                    continue
                if q == "delta_s":
                    if ref_obs is None:
                        continue
                    vals = np.concatenate([t[k][name]["segment_s"] for k in pool]) - ref_obs[i][5]
                else:
                    vals = np.concatenate([t[k][name][q] for k in pool])
                if not len(vals) or np.isnan(vals).any():
                    continue
                n = int(e["n"])
                tv = float(np.median(vals))
                laps = np.array([r["corners"][i][q] for r in car["laps"] if r.get("lap") in pool
                                 and r["corners"][i].get(q) is not None], float)
                rows.append({"race_id": doc.get("race_id"), "car": car["car"], "corner": name, "quantity": q,
                             "value": e["value"], "lo": e.get("lo"), "hi": e.get("hi"), "n": n,
                             "stated": order_rank(n, level)[1], "rank": order_rank(n, level)[0], "truth": tv,
                             "laps_below": int((laps < tv).sum()), "laps_n": int(len(laps))})
    return pd.DataFrame(rows, columns=["race_id", "car", "corner", "quantity", "value", "lo", "hi", "n", "stated",
                                       "rank", "truth", "laps_below", "laps_n"])


def telemetry_coverage_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per quantity: intervals (n), how many contain the truth, misses with the truth below the interval and
    above it (counts), coverage, the intervals' stated coverage (mean), median width and median |value - truth|;
    and where the truth falls among each interval's own lap values: ``share_below`` (the share of the laps
    below it, 0.5 when the truth is the laps' median) and ``rank_dispersion`` (the variance of the count of laps
    below it over the binomial's n/4: 1 when each lap is below the truth with probability 1/2 independently;
    below 1, the truth sits more centrally among the laps than that and the intervals cover more than stated;
    above 1, less); ``inner``: the coverage the next narrower order-statistic interval (x_(j+1), x_(n-j)) of the
    same laps would have (the truth has at least j + 1 laps on either side), and ``inner_stated`` its stated
    coverage: with few intervals of a high stated coverage (n = 7: 98.4%) a miss is rare either way, the inner
    interval's misses say more about calibration."""
    from scipy.stats import binom
    out = []
    for q in TELEMETRY_QUANTITIES:
        g = rows[rows["quantity"] == q]
        h = g[g["lo"].notna() & g["hi"].notna()]
        if not len(g):
            continue
        inside = int(((h["lo"] <= h["truth"]) & (h["truth"] <= h["hi"])).sum())
        out.append({"quantity": q, "n_intervals": int(len(h)), "n_covering": inside,
                    "miss_below": int((h["truth"] < h["lo"]).sum()), "miss_above": int((h["truth"] > h["hi"]).sum()),
                    "coverage": inside / len(h) if len(h) else float("nan"),
                    "stated": float(h["stated"].mean()) if len(h) else float("nan"),
                    "median_width": float((h["hi"] - h["lo"]).median()) if len(h) else float("nan"),
                    "median_abs_error": float((g["value"] - g["truth"]).abs().median()),
                    "share_below": float(g["laps_below"].sum() / g["laps_n"].sum()),
                    "rank_dispersion": float(((g["laps_below"] - g["laps_n"] / 2) ** 2).sum()
                                             / (g["laps_n"] / 4).sum()),
                    "inner": float(((g["laps_below"] >= g["rank"] + 1)
                                    & (g["laps_n"] - g["laps_below"] >= g["rank"] + 1)).mean()),
                    "inner_stated": float(np.mean([1 - 2 * binom.cdf(j, m, 0.5) for j, m in zip(g["rank"], g["n"])]))})
    return pd.DataFrame(out)


def telemetry_recovery(doc: dict, observed: dict[str, dict]) -> dict[str, list[float]]:
    """Per-lap errors of the engine against the generator's per-lap truth (``observed``: the race's
    ``telemetry.cars`` of ground_truth.json): brake onset (m), minimum speed (km/h) and the per-corner delta to
    the car's reference lap (s), each lap and corner once (tests/test_telemetry_truth.py asserts 5 m / 1 km/h /
    0.02 s)."""
    errs: dict[str, list[float]] = {"brake_m": [], "min_kph": [], "delta_s": []}
    for car in doc.get("cars", []):
        if car.get("car") not in observed or not car.get("reference"):
            continue
        per = {p["lap"]: p for p in observed[car["car"]]["per_lap"]}
        ref = per.get(car["reference"]["lap"])
        for lap in car["laps"]:
            p = per.get(lap["lap"])
            if p is None or ref is None:
                continue
            for i, x in enumerate(lap["corners"]):
                brake, vmin, *_, seg = p["corners"][i]
                if brake is not None and x.get("brake_m") is not None:
                    errs["brake_m"].append(x["brake_m"] - brake)
                if x.get("min_kph") is not None:
                    errs["min_kph"].append(x["min_kph"] - vmin)
                if x.get("delta_s") is not None:
                    errs["delta_s"].append(x["delta_s"] - (seg - ref["corners"][i][5]))
    return errs


def sample_telemetry_coverage(season: str, truth: dict, cache_root: str, seed: int = 2025,
                              draws: int = 200) -> dict:
    """The sample season's telemetry races (``season``: a folder :func:`kaizenlap.sample.write_season` wrote,
    ``truth`` what it returned) through the telemetry engine, and the coverage of its intervals: {"rows": one
    per interval against the lap distribution's truth (``draws``), "rows_noise_free": against the noise-free
    truth, "recovery": per-lap errors (:func:`telemetry_recovery`), "docs": the engine's documents}."""
    with_tel = [r for r in truth["races"] if "telemetry" in r]
    races, _ = load([Path(season)], use_cache=False, race_ids=[r["race_id"] for r in with_tel])
    laws = timing_laws(seed)
    by_id = {r["race_id"]: r for r in with_tel}
    out: dict = {"rows": [], "rows_noise_free": [], "recovery": {}, "docs": {}}
    for race in sorted(races, key=lambda r: r.race_id):
        src = te.find_telemetry(season, race.track_id, int(race.race_id.rsplit("r", 1)[1]))
        cache = te.load(src, Path(cache_root) / race.race_id)
        doc = te.analyse(cache, race.laps, params.tracks()[race.track_id], race.race_id)
        obs = by_id[race.race_id]["telemetry"]["cars"]
        out["docs"][race.race_id] = doc
        for key, d in (("rows", draws), ("rows_noise_free", 0)):
            r = telemetry_coverage_rows(doc, telemetry_truth(by_id[race.race_id], laws[race.race_id], seed, d), obs)
            if len(r):
                out[key].append(r)
        for q, e in telemetry_recovery(doc, obs).items():
            out["recovery"].setdefault(q, []).extend(e)
    for key in ("rows", "rows_noise_free"):
        out[key] = pd.concat(out[key], ignore_index=True) if out[key] else telemetry_coverage_rows({}, {})
    return out
