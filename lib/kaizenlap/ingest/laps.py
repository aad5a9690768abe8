"""The lap table: one row per car-lap, from a ``23_AnalysisEnduranceWithSections`` file.

Column names, dtypes and units are listed in :data:`LAP_COLUMNS` and docs/DATA_REFERENCE.md.
"""
from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

from kaizenlap.core import params
from kaizenlap.core.ids import CAR_NUMBER_MAX_CHARS, CAR_NUMBER_PATTERN
from kaizenlap.core.ledger import Issue
from kaizenlap.ingest.readers import Table, duration_column, integer_column, number_column, read_table
from kaizenlap.ingest.files import SourceFile

SECTORS = ("s1", "s2", "s3")
# Sub-sections in track order, with the TRD column stem; S1 = IM1a+IM1, S2 = IM2a+IM2, S3 = IM3a+FL.
SUBSECTIONS = (("im1a", "IM1a"), ("im1", "IM1"), ("im2a", "IM2a"), ("im2", "IM2"),
               ("im3a", "IM3a"), ("fl", "FL"))
SECTIONS = (*SECTORS, *(k for k, _ in SUBSECTIONS))   # every section key, sectors first
SUBSECTION_OF_SECTOR = {"s1": ("im1a", "im1"), "s2": ("im2a", "im2"), "s3": ("im3a", "fl")}

LAP_COLUMNS: dict[str, str] = {
    "track_id": "string", "race_id": "string",
    "car": "string",            # unique car instance in the race: NUMBER, or NUMBER-k when shared
    "number": "string",         # car number as written (text: '03' and '3' differ)
    "instance": "int64",        # 1, 2, ... among cars sharing the number, in file order
    "class": "string", "group": "string", "manufacturer": "string",
    "driver_name": "string", "team": "string",
    "lap": "int64", "lap_time_s": "float64",
    "s1_s": "float64", "s2_s": "float64", "s3_s": "float64",
    "im1a_s": "float64", "im1_s": "float64", "im2a_s": "float64", "im2_s": "float64",
    "im3a_s": "float64", "fl_s": "float64",
    "elapsed_s": "float64",     # race time at the line for this car
    "hour_local_s": "float64",  # local time of day at the line, seconds since midnight
    "crossing_utc": "datetime64[ns, UTC]",
    "flag": "string",           # FLAG_AT_FL: GF, FCY, FF
    "pit_in": "bool",           # the lap ended in the pit lane (CROSSING_FINISH_LINE_IN_PIT = B)
    "pit_time_s": "float64", "kph": "float64", "top_speed_kph": "float64",
    "lap_improvement": "Int64",  # 2 = car's best of the race, 3 = overall best
    "source_line": "int64",
}

REQUIRED = ["NUMBER", "LAP_NUMBER", "LAP_TIME"]


def canonical_header(name: str) -> str:
    """``INT-1_time`` (Sonoma) -> ``IM1_time``; other names unchanged."""
    return re.sub(r"^INT-?(\d)(_)", r"IM\1\2", name, flags=re.I)


_CAR_NUMBER = re.compile(CAR_NUMBER_PATTERN)


def normalise_car_number(raw: str) -> str | None:
    """The car number ``raw`` names, or None when it names none (docs/DATA_REFERENCE.md 3.2).

    Unicode compatibility forms are folded (NFKC: full-width ``１３`` is ``13``) and invisible format characters
    (category Cf: zero-width space, joiners, BOM) removed; what is left must be 1-16 ASCII letters or digits
    (``core.ids.CAR_NUMBER_PATTERN``), so every car id is a valid document id and API path parameter."""
    text = unicodedata.normalize("NFKC", raw)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf").strip()
    return text if _CAR_NUMBER.match(text) else None


def _check_numbers(table: Table, number: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Normalised car numbers and the mask of rows whose number names no car, with one ledger entry per
    distinct raw value (line of its first row, column NUMBER)."""
    f = table.frame
    fixed = number.copy()
    bad = pd.Series(False, index=number.index)
    for raw in pd.unique(number.dropna()):
        if raw == "":
            continue
        value = normalise_car_number(raw)
        if value == raw:
            continue
        rows = number == raw
        line = int(f.loc[rows, "_line"].iloc[0])
        shown = raw if len(raw) <= 40 else raw[:40] + "..."
        if value is None:
            bad |= rows.fillna(False)
            table.issues.append(Issue(
                "bad_car_number", f"car number {shown!r} ({len(raw.encode())} bytes) is not 1-"
                f"{CAR_NUMBER_MAX_CHARS} letters or digits; its {int(rows.sum())} row(s) dropped",
                file=table.file, line=line, column="NUMBER", car=shown))
        else:
            fixed[rows.fillna(False)] = value
            table.issues.append(Issue(
                "car_number_normalised", f"car number {raw!r} read as {value!r} (invisible or compatibility "
                f"characters; {int(rows.sum())} row(s))", file=table.file, line=line, column="NUMBER", car=value))
    return fixed, bad.astype(bool)


def read_sections(src: SourceFile, data: bytes | None = None) -> Table:
    return read_table(src, ";", REQUIRED, rename=canonical_header, data=data)


def build_laps(table: Table, track_id: str, race_id: str) -> tuple[pd.DataFrame, list[Issue]]:
    """Typed lap table from a read sections file; issues for what it had to drop or derive."""
    f = table.frame
    issues: list[Issue] = []
    # A lap number is a whole number in 0..limits.max_lap_number: '2.5', '-5', '1e30' are bad values.
    lap = integer_column(table, "LAP_NUMBER", 0, params.load("ingest")["limits"]["max_lap_number"])
    lap_time = duration_column(table, "LAP_TIME")
    number = f["NUMBER"].astype("string").str.strip()
    number, bad_number = _check_numbers(table, number)
    unusable = (lap.isna() | lap_time.isna() | number.isna() | (number == "")).astype(bool)
    for idx in unusable[unusable].index:
        col = "NUMBER" if (pd.isna(number[idx]) or number[idx] == "") else \
            ("LAP_NUMBER" if pd.isna(lap[idx]) else "LAP_TIME")
        if not any(i.line == int(f.at[idx, "_line"]) and i.code == "bad_value" for i in table.issues):
            table.issues.append(Issue("bad_value", f"row has no usable {col}; dropped", file=table.file,
                                      line=int(f.at[idx, "_line"]), column=col))
        else:
            for i in table.issues:
                if i.line == int(f.at[idx, "_line"]) and i.code == "bad_value":
                    i.message += "; row dropped"
    # Exact repeats of a row (same car, lap, times and every other field) are one lap written twice.
    data_cols = [c for c in f.columns if c != "_line"]
    repeated = f.duplicated(subset=data_cols, keep="first") & ~unusable & ~bad_number
    if repeated.any():
        lines = [int(x) for x in f.loc[repeated, "_line"]]
        issues.append(Issue("duplicate_rows", f"{len(lines)} rows repeat an earlier row exactly (same car, lap "
                            f"and times); the copies dropped (lines {', '.join(map(str, lines[:10]))}"
                            f"{', ...' if len(lines) > 10 else ''})", file=table.file, line=lines[0]))
    keep = ~unusable & ~repeated & ~bad_number
    f, lap, lap_time, number = f[keep], lap[keep].astype("int64"), lap_time[keep], number[keep]
    # Which rows in `table.frame` survive: align helper columns on the kept index.

    def dur(col: str, rows: pd.Series | None = None) -> pd.Series:
        if col not in f:
            return pd.Series(np.nan, index=f.index)
        return duration_column(table, col, None if rows is None else rows.reindex(table.frame.index,
                                                                                  fill_value=False))[keep]

    def num(col: str) -> pd.Series:
        return number_column(table, col)[keep] if col in f else pd.Series(np.nan, index=f.index)

    def whole(col: str) -> pd.Series:
        return integer_column(table, col)[keep] if col in f else pd.Series(pd.NA, index=f.index, dtype="Int64")

    def text(col: str) -> pd.Series:
        return f[col].replace("", pd.NA).astype("string") if col in f else pd.Series(pd.NA, index=f.index,
                                                                                   dtype="string")

    out = pd.DataFrame(index=f.index)
    out["track_id"] = track_id
    out["race_id"] = race_id
    # Another car with the same number starts only where that number's lap sequence restarts (its lap
    # counter does not go up from the number's previous row): rows of one car need not be contiguous.
    prev_lap = lap.groupby(number, sort=False).shift()
    restart = (lap <= prev_lap).fillna(False).astype("int64")
    instance = restart.groupby(number, sort=False).cumsum() + 1
    new_car = (prev_lap.isna() | (restart == 1)).to_numpy()
    first_rows = f.index[new_car]
    seen: dict[str, int] = {str(n): int(k) for n, k in instance.groupby(number, sort=False).max().items()}
    out["number"] = number
    out["instance"] = instance.astype("int64")
    shared = {n for n, k in seen.items() if k > 1}
    out["car"] = np.where(number.isin(shared), number + "-" + out["instance"].astype(str), number)
    for n in sorted(shared):
        lines = [int(f.at[r, "_line"]) for r in first_rows if number[r] == n]
        issues.append(Issue("shared_car_number",
                            f"{seen[n]} cars use number {n}; named " +
                            ", ".join(f"{n}-{k}" for k in range(1, seen[n] + 1)) +
                            " in file order (their rows start at lines " + ", ".join(map(str, lines)) + ")",
                            file=table.file, line=lines[1], column="NUMBER", car=n))
    out["class"] = text("CLASS")
    out["group"] = text("GROUP")
    out["manufacturer"] = text("MANUFACTURER")
    out["driver_name"] = text("DRIVER_NAME")
    out["team"] = text("TEAM")
    out["lap"] = lap.astype("int64")
    out["lap_time_s"] = lap_time.astype("float64")
    for s in SECTORS:
        sec = num(f"{s.upper()}_SECONDS")
        # S1..S3 (M:SS.fff) are read only where S*_SECONDS is empty.
        out[f"{s}_s"] = sec.fillna(dur(s.upper(), rows=sec.isna())) if sec.isna().any() else sec
    derived_laps = []
    times = {stem: dur(f"{stem}_time") for _, stem in SUBSECTIONS}
    # The cumulative *_elapsed columns are read only on laps with an empty sub-section time.
    gaps = pd.concat(list(times.values()), axis=1).isna().any(axis=1)
    prev_elapsed = pd.Series(0.0, index=f.index)
    for key, stem in SUBSECTIONS:
        t = times[stem]
        el = dur(f"{stem}_elapsed", rows=gaps)
        from_elapsed = el - prev_elapsed
        use_derived = t.isna() & from_elapsed.notna()
        derived_laps.append(use_derived)
        out[f"{key}_s"] = t.where(~use_derived, from_elapsed.round(3))
        prev_elapsed = el
    derived_any = pd.concat(derived_laps, axis=1).any(axis=1)
    if derived_any.any():
        issues.append(Issue("subsections_from_elapsed",
                            f"{int(derived_any.sum())} laps had empty *_time sub-section columns; "
                            "times taken as differences of the cumulative *_elapsed columns",
                            file=table.file))
    # Sectors missing but rebuildable from their two sub-sections.
    for s, (a, b) in SUBSECTION_OF_SECTOR.items():
        out[f"{s}_s"] = out[f"{s}_s"].fillna((out[f"{a}_s"] + out[f"{b}_s"]).round(3))
    out["elapsed_s"] = dur("ELAPSED")
    out["hour_local_s"] = dur("HOUR")
    out["crossing_utc"] = pd.Series(pd.NaT, index=f.index, dtype="datetime64[ns, UTC]")
    out["flag"] = text("FLAG_AT_FL")
    out["pit_in"] = (f["CROSSING_FINISH_LINE_IN_PIT"].str.upper() == "B") if "CROSSING_FINISH_LINE_IN_PIT" in f \
        else False
    out["pit_time_s"] = dur("PIT_TIME")
    out["kph"] = num("KPH")
    out["top_speed_kph"] = num("TOP_SPEED")
    out["lap_improvement"] = whole("LAP_IMPROVEMENT")
    out["source_line"] = f["_line"].astype("int64")
    out = out.reset_index(drop=True)
    for col, dtype in LAP_COLUMNS.items():
        out[col] = out[col].astype(dtype)
    return out[list(LAP_COLUMNS)], issues


def add_crossing_utc(laps: pd.DataFrame, race_date: str | None, timezone: str | None,
                     reference: pd.Timestamp | None = None) -> tuple[pd.DataFrame, str | None, bool]:
    """UTC time of each line crossing from ``HOUR`` (a time of day) and the race date, in the track's time zone
    (docs/DATA_REFERENCE.md 3.4). Returns ``(laps, date, crosses_midnight)``.

    A race is shorter than 12 h, so its times of day lie on an arc of the 24 h clock shorter than half of
    it: the arc's centre is their circular mean, and each crossing is placed within 12 h of it, a lap at
    23:58 before one at 00:03. The centre is dated on ``race_date``, or on the day before or after it when
    that puts it nearer ``reference`` (the instant the date came from: the weather's median time, the lap
    events' median), so a race dated by readings taken after midnight keeps its laps before midnight on the
    day before. ``date`` is the local date of the race's centre."""
    if race_date is None or timezone is None or laps.empty:
        return laps, race_date, False
    hour = laps["hour_local_s"].to_numpy(dtype="float64")
    ok = np.isfinite(hour)
    if not ok.any():
        return laps, race_date, False
    day_s = 86400.0
    angle = hour[ok] / day_s * 2 * np.pi
    centre = float(np.arctan2(np.sin(angle).mean(), np.cos(angle).mean()) / (2 * np.pi) * day_s) % day_s
    t = centre + (hour - centre + day_s / 2) % day_s - day_s / 2       # seconds from the centre day's midnight
    day = pd.Timestamp(race_date)
    if reference is not None and not pd.isna(reference):
        days = [day + pd.Timedelta(days=k) for k in (0, -1, 1)]
        day = min(days, key=lambda d: abs(d.tz_localize(timezone) + pd.Timedelta(seconds=centre) - reference))
    midnight = day.tz_localize(timezone)
    local = midnight + pd.to_timedelta(pd.Series(t, index=laps.index), unit="s")
    laps = laps.copy()
    laps["crossing_utc"] = local.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    crosses = bool(((t[ok] < 0) | (t[ok] >= day_s)).any())
    return laps, str(day.date()), crosses
