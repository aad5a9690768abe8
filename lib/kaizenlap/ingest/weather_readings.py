"""Weather (``26_Weather``): one row per ~63 s, UTC. Sentinels become missing, with a ledger entry."""
from __future__ import annotations

import numpy as np
import pandas as pd

from kaizenlap.core import params
from kaizenlap.core.ledger import Issue
from kaizenlap.ingest.readers import Table, number_column, read_table
from kaizenlap.ingest.files import SourceFile

WEATHER_COLUMNS = {
    "time_utc": "datetime64[ns, UTC]",
    "air_temp_c": "float64", "track_temp_c": "float64", "humidity_pct": "float64",
    "pressure_hpa": "float64", "wind_speed_kph": "float64", "wind_direction_deg": "float64",
    "rain": "float64", "source_line": "int64",
}
_NAMES = {"AIR_TEMP": "air_temp_c", "TRACK_TEMP": "track_temp_c", "HUMIDITY": "humidity_pct",
          "PRESSURE": "pressure_hpa", "WIND_SPEED": "wind_speed_kph", "WIND_DIRECTION": "wind_direction_deg"}


def _drop_repeats(out: pd.DataFrame, table: Table) -> tuple[pd.DataFrame, list[Issue]]:
    """A row repeating an earlier one exactly (every field) is dropped (``duplicate_rows`` warning); a row whose
    time repeats an earlier row's with other readings is dropped too, which of them is right being unknown
    (``bad_value`` error, one per such row, first ten)."""
    issues: list[Issue] = []
    raw = table.frame.loc[out.index].drop(columns=["_line"])
    exact = raw.duplicated(keep="first")
    if exact.any():
        lines = [int(x) for x in out.loc[exact, "source_line"]]
        issues.append(Issue("duplicate_rows", f"{len(lines)} rows repeat an earlier row exactly; the copies "
                            f"dropped (lines {', '.join(map(str, lines[:10]))}{', ...' if len(lines) > 10 else ''})",
                            file=table.file, line=lines[0]))
        out = out[~exact]
    same_time = out["time_utc"].duplicated(keep="first")
    if same_time.any():
        first_line = out.drop_duplicates("time_utc").set_index("time_utc")["source_line"]
        for _, row in out[same_time].head(10).iterrows():
            issues.append(Issue("bad_value", f"the time repeats line {int(first_line[row['time_utc']])} with "
                                "other readings; row dropped", file=table.file, line=int(row["source_line"]),
                                column="TIME_UTC_SECONDS"))
        if same_time.sum() > 10:
            issues[-1].message += f" ({int(same_time.sum())} such rows, the first ten listed)"
        out = out[~same_time]
    return out, issues


def read_weather(src: SourceFile, data: bytes | None = None) -> tuple[pd.DataFrame, list[Issue]]:
    table: Table = read_table(src, ";", ["TIME_UTC_SECONDS"], data=data)
    cfg = params.load("ingest")["weather"]
    lo, hi = params.load("ingest")["limits"]["epoch_range_s"]
    epoch = number_column(table, "TIME_UTC_SECONDS", lo, hi)     # 1e30 is no time (and would overflow)
    out = pd.DataFrame({"time_utc": pd.to_datetime(epoch, unit="s", utc=True)})
    issues: list[Issue] = []
    for raw, name in _NAMES.items():
        values = number_column(table, raw)
        if raw not in table.frame:
            out[name] = np.nan
            continue
        if raw in cfg["absent_sensor_columns"] and len(values) and (values == cfg["absent_sensor_value"]).all():
            issues.append(Issue("sentinel_value",
                                f"{raw} reads {cfg['absent_sensor_value']} on every row: no sensor; set missing",
                                file=table.file, column=raw))
            values = values * np.nan
        sentinel = values.isin(cfg["missing_values"])
        if sentinel.any():
            first = int(table.frame.loc[sentinel, "_line"].iloc[0])
            issues.append(Issue("sentinel_value",
                                f"{int(sentinel.sum())} {raw} readings are a missing-value sentinel "
                                f"({values[sentinel].iloc[0]:g}); set missing",
                                file=table.file, line=first, column=raw))
            values = values.mask(sentinel)
        out[name] = values
    out["rain"] = number_column(table, "RAIN")
    out["source_line"] = table.frame["_line"].astype("int64")
    out = out[out["time_utc"].notna()]
    out, dup_issues = _drop_repeats(out, table)
    issues += dup_issues
    out = out.sort_values("time_utc", kind="stable").reset_index(drop=True)
    for col, dtype in WEATHER_COLUMNS.items():
        out[col] = out[col].astype(dtype)
    return out, table.issues + issues
