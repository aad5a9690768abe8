#!/usr/bin/env python3
"""Plot cost per notebook plot cell: build the figure, then render it as the inline backend does (PNG,
``bbox_inches="tight"``). One sample race (default barber-r1 of the sample season). Prints figures; asserts
nothing."""
from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT / "data" / "sample"))
    ap.add_argument("--race", default="barber-r1")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    import pandas as pd

    from kaizenlap import lab as nb, plots
    from kaizenlap.engines import composite, pattern, sections, weather
    race = nb.load_race(args.data, args.race)
    sd, pd_, cd = sections.analyse(race.laps, args.race), pattern.analyse(race.laps, args.race), \
        composite.analyse(race.laps, args.race)
    wd = weather.analyse_race(race.laps, race.weather, args.race)
    sset = nb.preferred_section_set(sd)
    laps = weather.join_weather(race.laps, race.weather).assign(field_pace_s=lambda d: weather.field_relative_pace(d))
    fit_laps = laps[laps["is_clean"]].dropna(subset=["track_temp_c", "field_pace_s"])
    cells = {
        "sections: section loss heatmap": lambda: plots.loss_heatmap(sections.loss_matrix(sd, sset, "section_loss"),
                                                                     cmap="vlag", center=0),
        "sections: loss heatmap": lambda: plots.loss_heatmap(sections.loss_matrix(sd, sset, "loss")),
        "sections: consistency heatmap": lambda: plots.loss_heatmap(sections.loss_matrix(sd, sset, "consistency_cost"),
                                                                    cmap="mako_r"),
        "pattern: consistency scatter": lambda: plots.consistency_scatter(pattern.stats_table(pd_)),
        "pattern: variance heatmap": lambda: plots.loss_heatmap(
            nb.variance_share_matrix(pd_, nb.preferred_section_set(pd_)), cmap="crest",
            cbar_label="share of lap-time variance"),
        "composite: figure": lambda: plots.composite_figure(composite.field_table(cd, "sectors"),
                                                            composite.cars_table(cd, "sectors")),
        "composite: lap trace": lambda: plots.lap_trace(race.laps),
        "weather: pace vs temperature": lambda: plots.pace_vs_temperature(
            fit_laps, (wd.get("pace_vs_track_temp") or {}).get("slope_s_per_c")),
        "weather: conditions": lambda: plots.conditions_trace(race.weather),
    }
    import matplotlib_inline.backend_inline as bi  # noqa: F401  (the inline backend's defaults)
    print(f"{args.race}: {race.laps['car'].nunique()} cars, {len(race.laps)} laps; best of {args.repeat}; CPU seconds of this process (the machine may be loaded)")
    print(f"{'cell':34s} {'build s':>8s} {'render s':>9s} {'total s':>8s} {'PNG KB':>7s}")
    total = 0.0
    for name, fn in cells.items():
        best = None
        for _ in range(args.repeat):
            t0 = time.process_time()
            fig = fn()
            t1 = time.process_time()
            buf = io.BytesIO()
            fig.savefig(buf, format="png", bbox_inches="tight", dpi=72 if fig.dpi < 72 else None)
            t2 = time.process_time()
            if best is None or t2 - t0 < best[0] + best[1]:
                best = (t1 - t0, t2 - t1, len(buf.getvalue()))
        total += best[0] + best[1]
        print(f"{name:34s} {best[0]:8.3f} {best[1]:9.3f} {best[0] + best[1]:8.3f} {best[2] / 1024:7.0f}")
    print(f"{'all plot cells of one race':34s} {'':8s} {'':9s} {total:8.3f}")


if __name__ == "__main__":
    main()
