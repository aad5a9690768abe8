"""Coverage is a product feature: every interval type with a counterpart in the sample season's truth
covers that truth 85-99% of the time (kaizenlap.coverage; bench/coverage.py prints the full table)."""
import pytest

from kaizenlap import coverage
from kaizenlap.ingest.loader import load
from kaizenlap.sample import write_season

TYPES = {"median", "best_k", "pace_gap", "consistency_cost", "loss", "section_loss", "personal_composite",
         "personal_best_k"}


@pytest.fixture(scope="module")
def season(tmp_path_factory):
    out = tmp_path_factory.mktemp("coverage-season")
    write_season(out, seed=2025)
    races, _ = load([out], use_cache=False)
    return {r.race_id: r for r in races}


@pytest.fixture(scope="module")
def table(season):
    return coverage.coverage_table(coverage.coverage_rows(season, seed=2025, draws=200))


def test_every_interval_type_is_measured(table):
    assert set(table["statistic"]) == TYPES
    assert (table["n_intervals"] >= 300).all(), table


def test_coverage_between_85_and_99_percent(table):
    bad = table[~table["coverage"].between(0.85, 0.99)]
    assert bad.empty, bad.to_string()


def test_track_composite_covers_the_sample_truth(season):
    """The track composite (each track's two races pooled, each race at its own level: the damp Road America
    race 1, the rubbered races 2) covers the expectation of the pooled statistic as the race scope does."""
    table = coverage.coverage_table(coverage.track_coverage_rows(season, seed=2025, draws=200))
    assert set(table["statistic"]) == {"personal_composite", "personal_best_k"}
    assert (table["n_intervals"] >= 200).all(), table
    bad = table[~table["coverage"].between(0.85, 0.99)]
    assert bad.empty, bad.to_string()


def test_split_half_z_is_standard_when_the_intervals_are_right():
    """Hand-made: two halves whose estimates differ by draws of N(0, 1) with SE 1/sqrt(2) each give SD(z) ~ 1;
    intervals twice too wide give SD(z) ~ 0.5."""
    import numpy as np
    import pandas as pd
    rng = np.random.default_rng(7)
    d = rng.standard_normal(4000)
    for scale, want in ((1.0, 1.0), (2.0, 0.5)):
        half = scale * coverage.Z95 / np.sqrt(2)          # each half's interval half-width
        se = np.hypot(2 * half / (2 * coverage.Z95), 2 * half / (2 * coverage.Z95))
        rows = pd.DataFrame({"statistic": "best_k", "section_set": "sectors", "z": d / se})
        t = coverage.split_half_table(rows)
        assert abs(t["sd_z"].iloc[0] - want) < 0.05 and t["pairs"].iloc[0] == 4000


@pytest.fixture(scope="module")
def sample_halves(season):
    return coverage.split_half_table(coverage.split_half_rows(season)).set_index(["statistic", "section_set"])


def test_split_half_on_the_sample_where_the_model_holds(sample_halves):
    """The generator is the trend-plus-noise model: the order statistics' halves (pairs of neighbouring laps
    alternating) agree as their intervals say (SD(z) 0.8-1.2). Intervals that cover the truth of all the laps
    93-96% read 0.82-0.87 here (arms [1, 1], 88-93% covered: 0.95-1.02): on halves of 5-10 laps a calibrated
    order-statistic interval reads under 1 (DATA_REFERENCE 10.5)."""
    for st in ("best_k", "personal_best_k", "personal_composite"):
        for set_name in ("sectors", "subsections"):
            assert 0.8 <= sample_halves.loc[(st, set_name), "sd_z"] <= 1.2, (st, set_name)


def test_split_pattern():
    import pandas as pd
    lap = pd.Series(range(1, 11))
    assert lap[coverage.half_a(lap)].tolist() == [1, 4, 5, 8, 9]
    assert lap[coverage.half_a(lap, "odd_even")].tolist() == [1, 3, 5, 7, 9]
    with pytest.raises(ValueError, match="unknown split"):
        coverage.half_a(lap, "thirds")


def test_split_half_on_the_real_races(real_races):
    """Issue 19 item 5: on the real races the order-statistic intervals are calibrated within 0.8-1.2 of what a
    calibrated interval reads there: the SD(z) of the pairs split over the real laps against the SD(z) of the same
    rule on the races' model twins (``coverage.model_twins``: each real car's lap numbers, trend and own residual
    rows, exchangeable, with the field's conditions per lap held fixed as the sample's truth holds the race's
    conditions fixed; three twin draws pooled). The raw SD(z) rewards intervals that are too narrow (a calibrated
    interval reads under 1 at real half sizes). With the field's shared slow laps resampled as each car's own noise
    (``field="none"``, the reference before) the personal best-k over the sub-sections read 0.74-0.78 and failed
    here; with them held fixed, 0.86-0.97 (DATA_REFERENCE 10.5)."""
    loaded = {k: r for k, r in real_races.items() if r.status == "loaded"}
    rows = coverage.split_half_rows(loaded)
    t = coverage.split_half_table(rows).set_index(["statistic", "section_set"])
    ref = coverage.split_half_table(coverage.twin_split_half_rows(loaded)).set_index(["statistic", "section_set"])
    for st in ("best_k", "personal_best_k", "personal_composite"):
        for set_name in ("sectors", "subsections"):
            ratio = t.loc[(st, set_name), "sd_z"] / ref.loc[(st, set_name), "sd_z"]
            assert 0.8 <= ratio <= 1.2, (st, set_name, ratio, t.to_string(), ref.to_string())
    # the pattern engine's lap-to-lap SD (chi-square interval, log scale) and trend slope are checked too: 0.97 and
    # 0.80 over ~195 pairs (the Theil-Sen interval is conservative: 0.76 on the sample)
    assert (rows.loc[rows["statistic"] == "consistency_sd", "scale"] == "log").all()
    assert t.loc[("consistency_sd", "laps"), "pairs"] >= 150 and t.loc[("trend_slope", "laps"), "pairs"] >= 150
    assert 0.8 <= t.loc[("consistency_sd", "laps"), "sd_z"] <= 1.2, t.to_string()
    assert 0.6 <= t.loc[("trend_slope", "laps"), "sd_z"] <= 1.2, t.to_string()
    # the consistency cost's ratio interval, compared on the log scale (coverage.RATIO_STATS): 1.04 / 1.05
    assert (rows.loc[rows["statistic"] == "consistency_cost", "scale"] == "log").all()
    for set_name in ("sectors", "subsections"):
        assert 0.8 <= t.loc[("consistency_cost", set_name), "sd_z"] <= 1.2, t.to_string()


def test_field_lap_fit_holds_the_fields_conditions_per_lap():
    """Hand-made: 8 cars x 12 laps, each car its level and trend, lap 3 slow by 1.5 s for the whole field and
    lap 7 by 0.8 s, no noise: the fit with a level per shared lap is exact; without it lap 3's 1.5 s is left in the
    residuals; a lap fewer than ``min_cars`` cars share keeps no level of its own."""
    import numpy as np
    rng = np.random.default_rng(3)
    cars = np.repeat(np.arange(8), 12).astype(str)
    lap = np.tile(np.arange(1, 13), 8).astype(float)
    level, trend = rng.normal(90, 1, 8), rng.normal(0, 0.05, 8)
    idx = cars.astype(int)
    x = (level[idx] + trend[idx] * (lap - 6.5) + 1.5 * (lap == 3) + 0.8 * (lap == 7))[:, None]
    fit, rank = coverage.field_lap_fit(lap, cars, x, min_cars=5)
    # 8 levels + 8 trends + 11 lap levels (the first lap is in the cars' levels), less one: a trend common to
    # every car is a sum of lap levels
    assert np.abs(x - fit).max() < 1e-9 and rank == 8 + 8 + 11 - 1
    fit0, _ = coverage.field_lap_fit(lap, cars, x, min_cars=0)
    assert np.abs(x - fit0)[lap == 3].mean() > 1.0
    fit9, rank9 = coverage.field_lap_fit(lap, cars, x, min_cars=9)     # no lap has 9 cars
    assert rank9 == 16 and np.allclose(fit9, fit0)


def test_model_twins_keep_the_real_sizes_and_hold_the_field_fixed(real_races):
    """Every twin car keeps its lap numbers; with ``field="laps"`` the fixed part varies from lap to lap as the
    field does, and the twins of one seed are the same twice."""
    import numpy as np
    loaded = {k: r for k, r in real_races.items() if r.status == "loaded"}
    one = {"cota-r1": loaded["cota-r1"]}
    twins, laws = coverage.model_twins(one, seed=5)
    again, _ = coverage.model_twins(one, seed=5)
    tl, al = twins["cota-r1"].laps, again["cota-r1"].laps
    assert tl[coverage.TWIN_COLS[:3]].equals(al[coverage.TWIN_COLS[:3]])
    real = loaded["cota-r1"].laps
    for car, (lap, fixed, r, cols) in laws["cota-r1"].items():
        kept = tl[tl["is_clean"] & (tl["car"] == car)]
        assert sorted(kept["lap"]) == sorted(lap) and len(set(lap)) == len(lap)
        assert set(kept["lap"]) <= set(real.loc[real["car"] == car, "lap"])
    with pytest.raises(ValueError, match="unknown field"):
        coverage.model_twins(one, field="track")
    _, flat = coverage.model_twins(one, seed=5, field="none")
    car = next(iter(flat["cota-r1"]))
    lap, fixed, _, _ = flat["cota-r1"][car]
    # without the field's conditions the fixed part is the car's straight line; with them it is not
    assert np.polyfit(lap, fixed[:, -1], 1, full=True)[1][0] < 1e-9
    lap, fixed, _, _ = laws["cota-r1"][car]
    assert np.polyfit(lap, fixed[:, -1], 1, full=True)[1][0] > 1e-3


def test_order_statistic_intervals_follow_a_skewed_noise():
    """Hand-made truth: 100 cars, 16 laps, each sector = a linear trend + a floor-like noise (exponential, SD 0.2 s:
    laps bunch near the car's limit, slow laps above it, as real laps do). The expectation of the personal
    best-k and composite is computed from 20,000 simulated races. The residual bootstrap keeps the tight lower
    tail: its intervals cover the truth and are under 0.7x as wide as the Normal trend model's (which covers
    100% at about twice the width), both centred on the draws' mean; the bootstrap-t on the residual draws (the
    default, ``bootstrap.studentized``) covers too."""
    import numpy as np
    import pandas as pd
    from kaizenlap.engines import composite
    from kaizenlap.engines.common import SECTION_SETS, engine_settings
    cols = SECTION_SETS["sectors"]
    rng = np.random.default_rng(11)
    n, cars = 16, 100
    lap = np.arange(2, 2 + n)
    det = np.array([30.0, 40.0, 35.0]) + np.outer(lap, [0.01, 0.0, -0.005])
    noise = lambda size: rng.exponential(0.2, size) - 0.2                      # noqa: E731
    big = det[None] + noise((20000, n, 3))
    truth = {"best_k": np.median(np.sort(big, axis=1)[:, :3], axis=1).sum(-1).mean(),
             "personal_composite": big.min(axis=1).sum(-1).mean()}
    samples = [det + noise((n, 3)) for _ in range(cars)]
    width, cover = {}, {}
    for how, studentized in (("normal", False), ("residual", False), ("default", True)):
        with engine_settings({"bootstrap.order_stat_draws": "residual" if how == "default" else how,
                              "bootstrap.studentized": studentized}):
            for c, x in enumerate(samples):
                laps = pd.DataFrame(x, columns=cols).assign(lap=lap, lap_time_s=x.sum(1))
                r = composite.car_composites(laps, cols, f"skew|{c}")
                for key, t in truth.items():
                    e = r[key]
                    width.setdefault((how, key), []).append(e["hi"] - e["lo"])
                    cover.setdefault((how, key), []).append(e["lo"] <= t <= e["hi"])
    for key in truth:
        assert np.mean(cover[("residual", key)]) >= 0.95, key
        assert np.mean(cover[("default", key)]) >= 0.95, key
        assert np.median(width[("residual", key)]) < 0.7 * np.median(width[("normal", key)]), key


def test_theil_sen_z_is_the_ingest_rule():
    """The truth's guard computes the ingest's robust outlier z (flags.trend_residual_z) for many draws at once."""
    import numpy as np
    from kaizenlap.ingest.flags import trend_residual_z
    rng = np.random.default_rng(3)
    lap = np.array([2, 3, 4, 6, 7, 8, 9, 12, 13, 14, 15, 16], float)
    t = 90 + 0.02 * lap + rng.standard_normal((6, len(lap))) * 0.3
    t[2, 5] += 4.0                                                   # an outlier
    z, scale = coverage.theil_sen_z(lap, t)
    for d in range(len(t)):
        z0, s0 = trend_residual_z(lap, t[d])
        assert np.allclose(z[d], z0) and np.isclose(scale[d], s0)
    assert abs(z[2, 5]) > 3


def test_truth_noise_goes_through_the_generators_outlier_guard():
    """Issue 19 item 5: the generator shrinks the noise of any lap its Theil-Sen rule would flag, which thins both
    tails of the noise the recorded laps carry (lap-sum z: SD 0.948, 1.47% below -2, against 0.986 and 2.07% for
    the law without the guard). The truth's redraws (coverage.guarded_noise) go through the same guard: they
    match the recorded laps (the old truth, without it, was lower than the recorded laps' expectation for
    minima and put misses of best-k and the personal composite below the interval)."""
    import numpy as np
    from kaizenlap.sample import simulate_season
    rng = np.random.default_rng(4)
    rec, guarded, plain = [], [], []
    for pair in simulate_season(2025):
        for sim in pair:
            for car in sim.cars:
                glitch = {g[0] for g in car.glitch}
                elig = np.array([k for k in range(1, car.laps + 1) if not sim.basic(car, k) and k not in car.deleted
                                 and k not in car.deleted_hidden and k not in glitch
                                 and k not in car.missing_sectors])
                if len(elig) < 5:
                    continue
                norm = np.sqrt((car.noise ** 2).sum())
                rec.append(car.eta[elig - 1].sum(1) / norm)
                guarded.append(coverage.guarded_noise(sim, car, elig, 20, rng).sum(-1).ravel() / norm)
                plain.append((np.clip(rng.standard_normal((20, len(elig), 6)), -2.5, 2.5) * car.noise).sum(-1)
                             .ravel() / norm)
    rec, guarded, plain = (np.concatenate(a) for a in (rec, guarded, plain))
    # Bounds from the recorded laps' own sampling error (one season, ~5,600 laps: SD to +-0.009, the share below
    # -2 to +-0.0017): the redraws must sit within 3 standard errors of the recorded laps, the unguarded law
    # beyond them. (A fixed 0.002 on the share was 1.2 standard errors: any change to the sample's laps moved it.)
    n = len(rec)
    se_sd = rec.std() / np.sqrt(2 * n)
    assert abs(guarded.std() - rec.std()) < 3 * se_sd < plain.std() - rec.std()
    tail = (rec < -2).mean()
    se_tail = np.sqrt(tail * (1 - tail) / n)
    assert abs((guarded < -2).mean() - tail) < 3 * se_tail < (plain < -2).mean() - tail


def test_order_statistic_misses_are_centred_on_a_hand_made_truth():
    """Issue 19 item 5, hand-made truth: 300 cars, 12 laps, each sector a linear trend + Normal noise (the
    sample's law); the expectation of best-k per sector, the personal best-k and the personal composite from
    20,000 simulated races. A car whose fast laps were unlucky shows a slower best-k *and* a tighter spread, so
    draws at its own spread made the interval too narrow exactly when the value was too slow: the truth fell
    below 2.2-2.6x as often as above and coverage was 89%. The bootstrap-t (each draw scaled by its own spread,
    ``bootstrap.studentized``) took part of that into the interval (90.9%, misses 6.1% below / 2.9% above: 2.1x);
    the calibrated arms (``bootstrap.order_stat_arms``, calibrated on the sample, not on this law) cover 93-97%
    with misses within 2x each way (DATA_REFERENCE 10.5). Fails with arms [1, 1]."""
    import numpy as np
    import pandas as pd
    from kaizenlap.engines import composite, sections
    from kaizenlap.engines.common import SECTION_SETS
    cols = SECTION_SETS["sectors"]
    rng = np.random.default_rng(19)
    n, cars = 12, 300
    lap = np.arange(2, 2 + n)
    det = np.array([30.0, 40.0, 35.0]) + np.outer(lap, [0.01, 0.0, -0.005])
    sd = np.array([0.15, 0.2, 0.1])
    noise = lambda size: np.clip(rng.standard_normal(size), -2.5, 2.5) * sd     # noqa: E731
    big = det[None] + noise((20000, n, 3))
    bk = np.median(np.sort(big, axis=1)[:, :3], axis=1)
    truth = {"best_k": bk.sum(-1).mean(), "personal_composite": big.min(axis=1).sum(-1).mean(),
             "section": bk.mean(0)}
    below = above = total = 0
    for c in range(cars):
        x = det + noise((n, 3))
        laps = pd.DataFrame(x, columns=cols).assign(lap=lap, lap_time_s=x.sum(1))
        r = composite.car_composites(laps, cols, f"hand|{c}")
        for key in ("best_k", "personal_composite"):
            below += truth[key] < r[key]["lo"]
            above += truth[key] > r[key]["hi"]
            total += 1
        _, lo, hi = sections.car_section_stats(x, det.mean(0) - 0.3, det.mean(0), f"hand|{c}",
                                               lap.astype(float))["best_k"]
        below += int((truth["section"] < lo).sum())
        above += int((truth["section"] > hi).sum())
        total += 3
    assert 0.93 <= 1 - (below + above) / total <= 0.97, (below, above, total)
    assert below <= 2 * above and above <= 2 * below, (below, above, total)


def test_order_statistics_cover_the_sample_truth_on_both_sides(table):
    """Issue 19 item 5: on the sample's truth (seed 2025, 200 draws) best-k and pace gap (per section), personal
    best-k and personal composite (per car) cover 92-97% each, 93-97% pooled, with the misses pooled within 2x each
    way (per type only ~5-10 misses a side for the personal statistics). Arms [1, 1]: 88.2-92.6% each, pooled
    89.6% / 90.9%, the truth below 2.5x as often as above; the calibrated arms (DATA_REFERENCE 10.5) 93.0-95.9%,
    pooled 93.3% / 94.6%, 3.7%:3.0% and 2.8%:2.6%."""
    t = table[table["statistic"].isin(["best_k", "pace_gap", "personal_best_k", "personal_composite"])]
    assert t["coverage"].between(0.92, 0.97).all(), t.to_string()
    for group in (("best_k", "pace_gap"), ("personal_best_k", "personal_composite")):
        g = t[t["statistic"].isin(group)]
        w = g["n_intervals"] / g["n_intervals"].sum()
        below, above = (g["miss_below"] * w).sum(), (g["miss_above"] * w).sum()
        assert 0.93 <= 1 - below - above <= 0.97, (group, below, above)
        assert below <= 2 * above and above <= 2 * below, (group, below, above)


def test_consistency_cost_misses_fall_on_both_sides_on_a_hand_made_truth():
    """Issue 19 item 5 ("consistency cost never misses below"), hand-made truth: 150 cars, 14 laps, each sector a
    linear trend + Normal noise (the sample's law, each car its own SD); the truth is the expectation of median -
    best-k per sector from 20,000 simulated races. The consistency cost is a spread: a car whose laps happened to
    bunch shows a small cost *and* a narrow percentile interval, so the percentile bootstrap of the laps put every
    miss above the interval (here 0 below, 13 above of 450: fails on the old rule). The trend-model draws with a
    ratio pivot (``common.ratio_interval``) miss on both sides, within ~2x of each other (22 below, 11 above,
    coverage 92.7%), and cover >= 90%."""
    import numpy as np
    from kaizenlap.engines import sections
    rng = np.random.default_rng(23)
    n, cars = 14, 150
    lap = np.arange(2, 2 + n, dtype=float)
    det = np.array([30.0, 40.0, 35.0]) + np.outer(lap, [0.01, 0.0, -0.005])
    below = above = total = 0
    for c in range(cars):
        sd = rng.uniform(0.08, 0.25, 3)
        big = det[None] + np.clip(rng.standard_normal((20000, n, 3)), -2.5, 2.5) * sd
        truth = (np.median(big, axis=1) - np.median(np.sort(big, axis=1)[:, :3], axis=1)).mean(axis=0)
        x = det + np.clip(rng.standard_normal((n, 3)), -2.5, 2.5) * sd
        _, lo, hi = sections.car_section_stats(x, det.mean(0) - 0.3, det.mean(0), f"cc|{c}", lap)["consistency_cost"]
        below += int((truth < lo).sum())
        above += int((truth > hi).sum())
        total += 3
    assert 1 - (below + above) / total >= 0.90, (below, above, total)
    assert below <= 2.1 * above and above <= 2.1 * below, (below, above, total)


def test_ratio_interval_is_multiplicative_and_falls_back():
    """``common.ratio_interval`` by hand: draws c* = C * {0.5, 1, 1.5} (mean C) give c / 1.5 .. c / 0.5 at the
    extremes of a 100% level; draws whose mean is not positive, or an observed value of 0, fall back to the centred
    interval."""
    import numpy as np
    from kaizenlap.engines.common import centred_interval, engine_settings, ratio_interval
    dist = np.array([[0.5], [1.0], [1.5]]) * 0.2
    with engine_settings({"bootstrap.level": 1.0}):
        lo, hi = ratio_interval(np.array([0.3]), dist)
        assert np.allclose([lo[0], hi[0]], [0.3 / 1.5, 0.3 / 0.5])
        flat = np.zeros((3, 1))
        assert np.allclose(ratio_interval(np.array([0.0]), flat), centred_interval(np.array([0.0]), flat))
        # an observed cost of 0 (median = best-k) would give [0, 0]: the centred interval instead, from 0
        lo, hi = ratio_interval(np.array([0.0]), dist)
        assert np.allclose([lo[0], hi[0]], [0.0, 0.0 + 0.1])      # a spread's expectation is never negative
