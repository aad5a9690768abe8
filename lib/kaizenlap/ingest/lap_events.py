"""Car-side lap events (``*_lap_time``, ``*_lap_start``, ``*_lap_end``): ECU stream, UTC.

Three schemas exist (docs/DATA_REFERENCE.md); all become one table. The ``lap`` counter is not
reliable (32768, 0, offsets), so events are aligned to the official laps by time and car number,
never by lap number. The timing file stays the source of truth.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from kaizenlap.core import params
from kaizenlap.core.ledger import Issue
from kaizenlap.ingest.readers import Table, integer_column, number_column, read_table
from kaizenlap.ingest.files import SourceFile

EVENT_COLUMNS = {
    "role": "string",             # lap_time | lap_start | lap_end
    "timestamp_utc": "datetime64[ns, UTC]",
    "vehicle_id": "string", "vehicle_number": "Int64", "ecu_lap": "Int64",
    "meta_event": "string", "meta_session": "string",
    "duration_s": "float64",      # lap duration (lap_time files: value in ms; else NaN)
    "car": "string", "lap": "Int64", "offset_s": "float64",   # aligned official lap, if any
    "source_file": "string", "source_line": "int64",
}


def read_lap_events(src: SourceFile, role: str, data: bytes | None = None) -> tuple[pd.DataFrame, list[Issue]]:
    table: Table = read_table(src, ",", ["timestamp", "vehicle_id", "meta_session"], data=data)
    f = table.frame
    ts = pd.to_datetime(f["timestamp"], utc=True, errors="coerce", format="ISO8601")
    bad = ts.isna() & f["timestamp"].ne("")
    for idx in bad[bad].index[:20]:
        table.issues.append(Issue("bad_value", f"{f.at[idx, 'timestamp']!r} is not an ISO timestamp",
                                  file=table.file, line=int(f.at[idx, "_line"]), column="timestamp"))
    # vehicle_id = GR86-<chassis>-<number> with inconsistent zero padding: the number is an integer.
    number_of = {}
    for vid in pd.unique(f["vehicle_id"]):      # few distinct vehicles: parse each id once
        m = re.search(r"-(\d+)\s*$", vid or "")
        number_of[vid] = int(m.group(1)) if m else None
    vnum = pd.array([number_of[v] for v in f["vehicle_id"]], dtype="Int64")
    out = pd.DataFrame({
        "role": role, "timestamp_utc": ts, "vehicle_id": f["vehicle_id"],
        "vehicle_number": vnum,
        "ecu_lap": integer_column(table, "lap") if "lap" in f else pd.NA,
        "meta_event": f.get("meta_event"), "meta_session": f["meta_session"],
        "duration_s": (number_column(table, "value") / 1000.0) if (role == "lap_time" and "value" in f)
        else np.nan,
        "car": pd.NA, "lap": pd.NA, "offset_s": np.nan,
        "source_file": table.file, "source_line": f["_line"],
    })
    out = out[out["timestamp_utc"].notna()]
    for col, dtype in EVENT_COLUMNS.items():
        out[col] = out[col].astype(dtype)
    out = out.sort_values(["vehicle_number", "timestamp_utc"]).reset_index(drop=True)
    if role == "lap_time" and out["duration_s"].isna().all():
        # Schema 1 has no duration: derive it from consecutive events of the same vehicle.
        out["duration_s"] = out.groupby("vehicle_id")["timestamp_utc"].diff().dt.total_seconds()
    return out, table.issues


def event_date(events: pd.DataFrame, timezone: str) -> str | None:
    """The local date most events fall on (used for the race date when there is no weather)."""
    if events.empty:
        return None
    local = events["timestamp_utc"].dt.tz_convert(timezone).dt.date
    return str(local.mode().iloc[0])


def check_and_align(events: pd.DataFrame, laps: pd.DataFrame, race_number: int,
                    ) -> tuple[pd.DataFrame, float, list[Issue]]:
    """Drop a file that belongs to another session; align the rest to official laps by time."""
    cfg = params.load("ingest")["lap_events"]
    issues: list[Issue] = []
    if events.empty:
        return events, float("nan"), issues
    keep = []
    for source, ev in events.groupby("source_file", sort=False):
        sessions = sorted(set(ev["meta_session"].dropna().str.upper()))
        expected = f"R{race_number}"
        if sessions and sessions != [expected]:
            issues.append(Issue("lap_events_mismatch",
                                f"meta_session is {', '.join(sessions)}, this race is {expected}; file not used",
                                file=source, line=int(ev["source_line"].min()), column="meta_session"))
            continue
        crossing = laps["crossing_utc"].dropna()
        if not crossing.empty:
            margin = pd.Timedelta(seconds=cfg["race_window_margin_s"])
            ours = ev[ev["vehicle_number"].isin(pd.to_numeric(laps["number"], errors="coerce"))]
            inside = ours["timestamp_utc"].between(crossing.min() - margin, crossing.max() + margin)
            share = float(inside.mean()) if len(ours) else 0.0
            if share < cfg["min_share_in_race_window"]:
                first = ev["timestamp_utc"].min().date()
                issues.append(Issue("lap_events_mismatch",
                                    f"only {share:.0%} of events fall within this race's laps "
                                    f"({crossing.min():%Y-%m-%d %H:%M}-{crossing.max():%H:%M} UTC; file starts "
                                    f"{first}); file not used",
                                    file=source, column="timestamp"))
                continue
        keep.append(ev)
    if not keep:
        return events.iloc[0:0], float("nan"), issues
    events = pd.concat(keep, ignore_index=True)
    aligned, offset = align(events, laps, cfg["align_tolerance_s"], cfg["offset_search_s"])
    if np.isfinite(offset):
        per_vehicle = aligned.groupby("vehicle_id")["lap"].count()
        for vid in per_vehicle[per_vehicle == 0].index:
            first = aligned[aligned["vehicle_id"] == vid].iloc[0]
            number = first["vehicle_number"]
            issues.append(Issue("car_missing_from_source",
                                f"vehicle {vid} (car {number}) in the lap events matches no car of the lap file",
                                file=str(first["source_file"]), line=int(first["source_line"]),
                                column="vehicle_id", car=None if pd.isna(number) else str(number)))
    return aligned, offset, issues


def clock_offset(events: pd.DataFrame, crossings: pd.DataFrame, search_s: float) -> float:
    """Median gap between car-side events and the nearest official crossing of the same car.

    The ECU's lap trigger need not sit on the timing line (at COTA the map's start-line offset is
    296 m, about 7 s at speed), so a constant offset is estimated per race before aligning.
    """
    ev = events.dropna(subset=["vehicle_number"]).sort_values("timestamp_utc")
    if ev.empty:
        return float("nan")
    merged = pd.merge_asof(ev[["timestamp_utc", "vehicle_number"]], crossings, left_on="timestamp_utc",
                           right_on="crossing", by="vehicle_number", direction="nearest",
                           tolerance=pd.Timedelta(seconds=search_s))
    gaps = (merged["timestamp_utc"] - merged["crossing"]).dt.total_seconds().dropna()
    return float(gaps.median()) if len(gaps) else float("nan")


def align(events: pd.DataFrame, laps: pd.DataFrame, tolerance_s: float, search_s: float = 30.0,
          ) -> tuple[pd.DataFrame, float]:
    """Attach each event to the official line crossing of a car with the same number nearest to
    (event time - the race's clock offset), within ``tolerance_s``. Returns (events, offset)."""
    crossings = laps.loc[laps["crossing_utc"].notna(), ["car", "number", "lap", "crossing_utc"]].copy()
    if crossings.empty or events.empty:
        return events, float("nan")
    crossings["vehicle_number"] = pd.to_numeric(crossings["number"], errors="coerce").astype("Int64")
    crossings = crossings.dropna(subset=["vehicle_number"]).sort_values("crossing_utc")
    crossings = crossings.rename(columns={"crossing_utc": "crossing"})
    ends = events[events["role"] != "lap_start"]
    offset = clock_offset(ends if not ends.empty else events, crossings[["crossing", "vehicle_number"]], search_s)
    if not np.isfinite(offset):
        return events, offset
    ev = events.drop(columns=["car", "lap", "offset_s"]).reset_index()
    ev["shifted"] = ev["timestamp_utc"] - pd.Timedelta(seconds=offset)
    ev = ev.dropna(subset=["vehicle_number"]).sort_values("shifted")
    tol = pd.Timedelta(seconds=tolerance_s)
    # Two cars can map to one integer (Indianapolis has '021' and '21'): first give each vehicle
    # (chassis) the car whose crossings its events meet most often, then align to that car only.
    trial = pd.merge_asof(ev, crossings[["crossing", "vehicle_number", "car"]], left_on="shifted",
                          right_on="crossing", by="vehicle_number", direction="nearest", tolerance=tol)
    counts = trial.dropna(subset=["car"]).groupby(["vehicle_id", "car"]).size().rename("n").reset_index()
    car_of_vehicle = counts.sort_values(["vehicle_id", "n", "car"], ascending=[True, False, True]) \
        .drop_duplicates("vehicle_id").set_index("vehicle_id")["car"]
    ev["car"] = ev["vehicle_id"].map(car_of_vehicle)
    ev = ev.dropna(subset=["car"])
    merged = pd.merge_asof(ev, crossings.drop(columns=["vehicle_number"]), left_on="shifted", right_on="crossing",
                           by="car", direction="nearest", tolerance=tol)
    merged = merged.dropna(subset=["crossing"])
    merged["offset_s"] = (merged["timestamp_utc"] - merged["crossing"]).dt.total_seconds()
    # A lap-start event at crossing n is the start of lap n+1.
    merged["lap"] = merged["lap"].astype("Int64")
    merged.loc[merged["role"] == "lap_start", "lap"] += 1
    out = events.copy()
    m = merged.set_index("index")
    out.loc[m.index, "car"] = m["car"].astype("string")
    out.loc[m.index, "lap"] = m["lap"].astype("Int64")
    out.loc[m.index, "offset_s"] = m["offset_s"]
    return out.astype({"car": "string", "lap": "Int64", "offset_s": "float64"}), offset
