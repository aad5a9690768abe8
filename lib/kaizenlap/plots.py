"""Plotting helpers for the notebooks and reports: pure functions, data in, a matplotlib Figure out.

Figures are built with :class:`matplotlib.figure.Figure` directly (never through ``pyplot``), so they do not
touch global state, are not kept alive by a figure manager, and work under any backend: a notebook shows
the returned figure (it is the cell's value), a script calls ``fig.savefig(...)``. Seaborn styling is
applied per figure (``axes_style`` / ``plotting_context`` context managers), never globally.
"""
from __future__ import annotations

import contextlib
import math

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from kaizenlap.core import params
from kaizenlap.core.laptime import format_lap
from kaizenlap.ingest.flags import FLAG_CODES

STYLE = "whitegrid"
CONTEXT = "notebook"

# Sections in track order (columns of the heatmaps).
SECTION_ORDER = ["s1", "s2", "s3", "im1a", "im1", "im2a", "im2", "im3a", "fl"]

# Marker per exclusion reason (the first reason of ``exclusion_reasons`` decides), in the order of the flag
# vocabulary (kaizenlap.ingest.flags.FLAG_CODES, imported, not copied): a new flag without a marker here fails
# at import (strict zip) instead of being drawn as another flag's marker.
REASON_MARKERS = dict(zip(FLAG_CODES, ("s", "X", "D", "P", "v", "^", "<", ">", "*", "h", "o"), strict=True))


@contextlib.contextmanager
def _style():
    with sns.axes_style(STYLE), sns.plotting_context(CONTEXT, font_scale=0.9):
        yield


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _empty(message: str, title: str | None = None, width: float = 7, height: float = 2.5) -> Figure:
    """A small figure that says why there is nothing to plot (a notebook never crashes on missing data)."""
    with _style():
        fig = _figure(width, height)
        ax = fig.subplots()
        ax.axis("off")
        ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize=11, color="0.35")
        if title:
            ax.set_title(title)
    return fig


# ------------------------------------------------------------------------------------------ sections

def loss_heatmap(matrix: pd.DataFrame, title: str = "Median loss to the field composite (s)",
                 annotate: bool | None = None, cmap: str = "rocket_r", center: float | None = None,
                 cbar_label: str = "s") -> Figure:
    """Car x section heatmap of a loss statistic (``kaizenlap.engines.sections.loss_matrix``).

    ``cbar_label`` names the colour bar's unit: ``"s"`` for losses, ``"share of lap-time variance"`` for the
    pattern notebook's variance-share matrix (``kaizenlap.lab.variance_share_matrix``).

    Rows are sorted by total loss (smallest first). ``annotate=None``: every cell is annotated when the
    table is small (``params/plots.yaml``), else only each car's largest cell (its worst section), which
    keeps the figure cheap to render (text dominates its cost); ``True``/``False``: every cell / none.
    """
    if matrix is None or matrix.empty:
        return _empty("no car has enough clean laps for a section loss table", title)
    m = matrix.astype(float)
    m = m[sorted(m.columns, key=lambda c: SECTION_ORDER.index(c) if c in SECTION_ORDER else len(SECTION_ORDER))]
    m = m.loc[m.sum(axis=1, skipna=True).sort_values().index]
    if annotate is None:
        annotate = True if m.size <= int(params.load("plots")["heatmap_annotate_all_max_cells"]) else "row_max"
    with _style():
        fig = _figure(1.6 + 1.0 * m.shape[1], 1.2 + 0.32 * m.shape[0])
        ax = fig.subplots()
        sns.heatmap(m, ax=ax, cmap=cmap, center=center, annot=annotate is True, fmt=".2f",
                    annot_kws={"fontsize": 8}, linewidths=0.5, linecolor="white", cbar_kws={"label": cbar_label})
        if annotate == "row_max":
            _annotate_row_max(ax, m)
        ax.set_xlabel("section")
        ax.set_ylabel("car")
        ax.set_title(title if annotate != "row_max" else f"{title}\n(value shown: each car's largest)")
        ax.tick_params(axis="y", rotation=0)
    return fig


def _annotate_row_max(ax, m: pd.DataFrame) -> None:
    """Each row's largest value written in its cell (text colour chosen against the cell colour, as
    seaborn does)."""
    mesh = ax.collections[0]
    values = m.to_numpy()
    for i in range(values.shape[0]):
        row = values[i]
        if not np.isfinite(row).any():
            continue
        j = int(np.nanargmax(row))
        r, g, b, _ = mesh.cmap(mesh.norm(row[j]))
        lum = 0.2126 * r + 0.7152 * g + 0.0722 * b
        ax.text(j + 0.5, i + 0.5, f"{row[j]:.2f}", ha="center", va="center", fontsize=8,
                color="white" if lum < 0.408 else ".15")


# ------------------------------------------------------------------------------------------ lap trace

def _first_reason(reasons) -> str | None:
    if reasons is None or (isinstance(reasons, float) and math.isnan(reasons)) or reasons is pd.NA:
        return None
    text = str(reasons).strip()
    return text.split(";")[0] if text else None


def lap_trace(laps: pd.DataFrame, cars: list[str] | None = None, max_cars: int = 8,
              title: str | None = None) -> Figure:
    """Lap time against lap number, one line per car; flagged (non-clean) laps marked by their first reason.

    ``cars`` defaults to the ``max_cars`` cars with the fastest clean lap. The y axis is fitted to the clean
    laps; slower flagged laps (cautions, pit laps) are drawn on the top edge so they stay visible.
    """
    if laps is None or laps.empty:
        return _empty("no laps", title)
    d = laps[["car", "lap", "lap_time_s", "is_clean", "exclusion_reasons"]].copy()
    d = d[d["lap_time_s"].notna()]
    d["car"] = d["car"].astype(str)
    clean = d[d["is_clean"].astype(bool)]
    if cars is None:
        order = clean.groupby("car")["lap_time_s"].min().sort_values()
        cars = order.index[:max_cars].tolist() or sorted(d["car"].unique())[:max_cars]
    d = d[d["car"].isin([str(c) for c in cars])]
    if d.empty:
        return _empty("none of the requested cars has a lap", title)
    ref = clean[clean["car"].isin(cars)]["lap_time_s"]
    ref = ref if len(ref) else d["lap_time_s"]
    lo, hi = float(ref.min()), float(ref.quantile(0.98))
    pad = max(0.5, 0.08 * (hi - lo))
    ymin, ymax = lo - pad, hi + 3 * pad
    d["reason"] = d["exclusion_reasons"].map(_first_reason)
    d["plot_s"] = d["lap_time_s"].clip(upper=ymax)
    palette = dict(zip(cars, sns.color_palette("tab10" if len(cars) <= 10 else "husl", len(cars))))
    with _style():
        fig = _figure(10, 5)
        ax = fig.subplots()
        for car in cars:
            g = d[d["car"] == car].sort_values("lap")
            ax.plot(g["lap"], g["plot_s"], color=palette[car], lw=1.2, alpha=0.85, label=f"car {car}")
        flagged = d[d["reason"].notna()]
        handles, labels = ax.get_legend_handles_labels()
        for reason, g in flagged.groupby("reason"):
            marker = REASON_MARKERS.get(reason, "o")
            ax.scatter(g["lap"], g["plot_s"], marker=marker, s=46, c=[palette[c] for c in g["car"]],
                       edgecolors="black", linewidths=0.6, zorder=3)
            handles.append(Line2D([], [], ls="", marker=marker, markersize=7, markerfacecolor="0.85",
                                  markeredgecolor="black"))
            labels.append(f"flag: {reason.replace('_', ' ')} ({len(g)})")
        clipped = d["lap_time_s"] > ymax
        if clipped.any():
            ax.text(0.995, 0.995, f"{int(clipped.sum())} slower laps drawn at the top edge",
                    transform=ax.transAxes, ha="right", va="top", fontsize=8, color="0.4")
        ax.set_ylim(ymin, ymax)
        ax.set_xlabel("lap")
        ax.set_ylabel("lap time (s)")
        ax.set_title(title or "Lap times (flagged laps marked by reason)")
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    return fig


# ------------------------------------------------------------------------------------------ weather

def pace_vs_temperature(df: pd.DataFrame, slope: dict | None = None, x: str = "track_temp_c",
                        y: str = "field_pace_s", hue: str | None = None,
                        title: str | None = None, xlabel: str = "track temperature (°C)",
                        ylabel: str = "field-relative pace (s)") -> Figure:
    """Scatter of pace against temperature with the fitted line and the slope's 95% interval.

    ``slope`` is the engine's estimate record (``value``/``lo``/``hi``/``n``). An OLS fit with a constant
    passes through the means of the points it was fitted on, so the line is drawn through the centroid of
    ``df`` (give it exactly the laps of the fit) with the estimated slope; dashed lines show the interval.
    """
    if df is None or df.empty or x not in df or y not in df:
        return _empty("no lap has both a temperature reading and a pace", title)
    d = df.dropna(subset=[x, y])
    if d.empty:
        return _empty("no lap has both a temperature reading and a pace", title)
    with _style():
        fig = _figure(8, 4.8)
        ax = fig.subplots()
        if hue and hue in d and d[hue].nunique() <= 12:
            sns.scatterplot(data=d, x=x, y=y, hue=hue, ax=ax, s=18, alpha=0.6, linewidth=0)
        else:
            ax.scatter(d[x], d[y], s=14, alpha=0.5, color=sns.color_palette()[0], linewidths=0)
        if slope and slope.get("value") is not None:
            xs = np.linspace(float(d[x].min()), float(d[x].max()), 50)
            x0, y0 = float(d[x].mean()), float(d[y].mean())
            b = float(slope["value"])
            ax.plot(xs, y0 + b * (xs - x0), color="crimson", lw=2,
                    label=f"fit: {b:+.3f} s/°C (n={slope.get('n', len(d))})")
            if slope.get("lo") is not None and slope.get("hi") is not None:
                for bound in (slope["lo"], slope["hi"]):
                    ax.plot(xs, y0 + float(bound) * (xs - x0), color="crimson", lw=1, ls="--", alpha=0.7)
                ax.plot([], [], color="crimson", lw=1, ls="--",
                        label=f"95% interval [{slope['lo']:+.3f}, {slope['hi']:+.3f}]")
            ax.legend(loc="best", fontsize=8)
        # Keep the view on the bulk of the laps: a few very slow clean laps would flatten the cloud.
        q1, q99 = d[y].quantile([0.005, 0.995])
        pad = 0.1 * max(float(q99 - q1), 0.1)
        ax.set_ylim(float(q1) - pad, float(q99) + pad)
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title or "Pace against track temperature")
    return fig


def conditions_trace(weather: pd.DataFrame, columns: tuple[str, ...] = ("air_temp_c", "track_temp_c"),
                     title: str = "Conditions through the race") -> Figure:
    """Temperatures (or any weather columns) against UTC time."""
    cols = [c for c in columns if weather is not None and c in weather and weather[c].notna().any()]
    if not cols:
        return _empty("no weather readings for " + ", ".join(columns), title)
    with _style():
        fig = _figure(9, 3.6)
        ax = fig.subplots()
        for c in cols:
            ax.plot(weather["time_utc"], weather[c], marker=".", lw=1.2, label=c.replace("_c", " (°C)")
                    .replace("_", " "))
        ax.set_xlabel("time (UTC)")
        ax.set_ylabel("°C")
        ax.set_title(title)
        ax.legend(fontsize=8)
        fig.autofmt_xdate()
    return fig


# ------------------------------------------------------------------------------------------ composite

def composite_figure(field: pd.DataFrame, cars: pd.DataFrame, title: str | None = None,
                     max_cars: int = 30) -> Figure:
    """Left: the field composite per class as stacked section bars. Right: each car's best-k lap (with its
    95% interval) and personal composite against its best clean lap; the field composite as a line.

    ``field`` is ``composite.field_table(doc, set)``, ``cars`` is ``composite.cars_table(doc, set)``.
    """
    if field is None or field.empty:
        return _empty("no composite available", title)
    parts = field[(field["section"] != "TOTAL") & field["time_s"].notna()]
    totals = field[field["section"] == "TOTAL"].set_index("class")["time_s"]
    with _style():
        fig = _figure(12, max(3.5, 1.2 + 0.26 * min(len(cars), max_cars)))
        ax1, ax2 = fig.subplots(1, 2, width_ratios=[1, 2])
        if not parts.empty:
            wide = parts.pivot_table(index="class", columns="section", values="time_s", aggfunc="first")
            wide = wide[[s for s in dict.fromkeys(parts["section"])]]
            left = np.zeros(len(wide))
            colors = sns.color_palette("crest", wide.shape[1])
            for j, sec in enumerate(wide.columns):
                ax1.barh(wide.index, wide[sec], left=left, color=colors[j], edgecolor="white", height=0.7)
                for i, v in enumerate(wide[sec]):
                    if pd.notna(v):
                        ax1.text(left[i] + v / 2, i, f"{sec}\n{v:.3f}", ha="center", va="center", fontsize=7,
                                 color="white")
                left = left + wide[sec].fillna(0).to_numpy()
            for i, cls in enumerate(wide.index):
                ax1.text(left[i], i, " " + format_lap(totals.get(cls)), va="center", fontsize=8, fontweight="bold")
            ax1.set_xlim(0, float(left.max()) * 1.25)
        ax1.set_xlabel("seconds")
        ax1.set_title("Field composite: best clean time per section")
        c = cars.dropna(subset=["best_k_s"]).head(max_cars) if cars is not None and len(cars) else pd.DataFrame()
        if c.empty:
            ax2.axis("off")
            ax2.text(0.5, 0.5, "no car has enough clean laps", ha="center", va="center")
        else:
            yy = np.arange(len(c))[::-1]
            err = np.vstack([(c["best_k_s"] - c["bk_lo"]).clip(lower=0), (c["bk_hi"] - c["best_k_s"]).clip(lower=0)])
            ax2.errorbar(c["best_k_s"], yy, xerr=err, fmt="o", color=sns.color_palette()[0], ms=5, capsize=2,
                         label="best-k (95% interval)")
            ax2.scatter(c["personal_composite_s"], yy, marker="|", s=120, color="crimson",
                        label="personal composite", zorder=3)
            ax2.scatter(c["best_clean_lap_s"], yy, marker="x", s=30, color="0.3", label="best clean lap", zorder=3)
            if "all" in totals.index and pd.notna(totals["all"]):
                ax2.axvline(totals["all"], color="0.5", ls=":", label="field composite")
            ax2.set_yticks(yy, [f"{car} ({cls})" for car, cls in zip(c["car"], c["class"])], fontsize=8)
            ax2.set_xlabel("lap time (s)")
            ax2.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=4, frameon=False)
            ax2.set_title("Per car: achievable lap vs best clean lap")
        if title:
            fig.suptitle(title)
    return fig


# ------------------------------------------------------------------------------------------ pattern

def consistency_scatter(stats: pd.DataFrame, title: str = "Consistency: lap-to-lap SD around the car's trend against median lap",
                        annotate: bool = True) -> Figure:
    """Lap-to-lap SD around the car's own trend (the consistency measure, DATA_REFERENCE §10) against median clean lap per car, sized by n, coloured by trend
    (``kaizenlap.engines.pattern.stats_table``)."""
    if stats is None or stats.empty or "residual_sd_s" not in stats:
        return _empty("no car has enough clean laps", title)
    d = stats.dropna(subset=["residual_sd_s", "median_s"]).copy()
    if d.empty:
        return _empty("no car has enough clean laps", title)
    d["trend"] = d["trend"].fillna("not enough clean laps")
    palette = {"improving": "tab:green", "degrading": "tab:red", "no clear trend": "tab:gray",
               "not enough clean laps": "tab:olive"}
    with _style():
        fig = _figure(8.5, 5.2)
        ax = fig.subplots()
        sns.scatterplot(data=d, x="median_s", y="residual_sd_s", hue="trend", size="n", sizes=(25, 160),
                        palette={k: v for k, v in palette.items() if k in set(d["trend"])}, ax=ax, alpha=0.85)
        if annotate:
            for _, r in d.iterrows():
                ax.annotate(str(r["car"]), (r["median_s"], r["residual_sd_s"]), xytext=(3, 3),
                            textcoords="offset points", fontsize=7, color="0.25")
        ax.axhline(float(d["residual_sd_s"].median()), color="0.6", ls=":", lw=1, label="field median")
        ax.set_xlabel("median clean lap (s)")
        ax.set_ylabel("SD around own trend (s)")
        ax.set_title(title)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    return fig


# ------------------------------------------------------------------------------------------ telemetry

def telemetry_comparison(cmp: dict | None, title: str | None = None) -> Figure:
    """A car's best lap against a reference car's (:func:`kaizenlap.engines.telemetry_views.compare`): speed,
    throttle and front brake against distance for both, the delta trace below (positive: the car is behind),
    each corner marked and named."""
    if not cmp:
        return _empty("no car has a complete lap in the telemetry", title)
    s = np.asarray(cmp["distance_m"], float)
    rows = [("speed_kph", "speed (km/h)"), ("throttle_pct", "throttle (%)"), ("brake_bar", "front brake (bar)")]
    with _style():
        fig = _figure(10, 8.5)
        axes = fig.subplots(4, 1, sharex=True, height_ratios=[3, 1.4, 1.4, 2])
        for ax, (key, label) in zip(axes, rows):
            for channels, name, style in ((cmp["channels"], f"car {cmp['car']}", "-"),
                                          (cmp["reference_channels"], f"car {cmp['reference_car']} (reference)",
                                           "--")):
                y = channels.get(key)
                if y is not None:
                    ax.plot(s[:len(y)], y[:len(s)], style, lw=1, label=name)
            ax.set_ylabel(label)
        axes[0].legend(loc="lower right", fontsize=8, frameon=False)
        axes[-1].plot(s, cmp["delta_s"], color="tab:red", lw=1.2)
        axes[-1].axhline(0, color="0.5", lw=0.8)
        axes[-1].set_ylabel("delta (s)")
        axes[-1].set_xlabel("distance from the line (m)")
        for c in cmp["corners"]:
            for ax in axes:
                ax.axvline(c["distance_m"], color="0.8", lw=0.7, zorder=0)
            axes[0].annotate(c["corner"], (c["distance_m"], 1.0), xycoords=("data", "axes fraction"),
                             fontsize=7, ha="center", va="bottom", color="0.3")
        if title:
            fig.suptitle(title)
    return fig


__all__ = ["loss_heatmap", "lap_trace", "pace_vs_temperature", "conditions_trace", "composite_figure",
           "consistency_scatter", "telemetry_comparison", "REASON_MARKERS"]
