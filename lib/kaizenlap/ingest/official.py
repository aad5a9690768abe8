"""The official timing-system documents: results (00/03 overall, 05 by class) and best-10 laps (99).

They were produced independently of the lap file, so they are the oracle for reconciliation.
"""
from __future__ import annotations

import re

import pandas as pd

from kaizenlap.core.ledger import Issue
from kaizenlap.ingest.readers import duration_column, integer_column, read_table
from kaizenlap.ingest.files import SourceFile

RESULTS_COLUMNS = {
    "number": "string", "class": "string", "position": "Int64", "class_position": "Int64",
    "status": "string", "laps": "Int64", "total_time_s": "float64", "gap_first": "string",
    "fl_lapnum": "Int64", "fl_time_s": "float64", "source_line": "int64",
}


def results_status(src: SourceFile) -> str:
    """'official', 'provisional' or 'unlabelled', from the file name."""
    name = src.name.lower()
    if "provisional" in name:
        return "provisional"
    if "official" in name:
        return "official"
    return "unlabelled"


# Preference when a race has several results files of one kind, and why (docs/DATA_REFERENCE.md).
STATUS_PREFERENCE = ("official", "unlabelled", "provisional")


def read_results(src: SourceFile, by_class: bool, data: bytes | None = None) -> tuple[pd.DataFrame, list[Issue]]:
    if by_class:
        table = read_table(src, ";", ["NUMBER", "LAPS"], data=data)
        f = table.frame
        out = pd.DataFrame({
            "number": f["NUMBER"], "class": f.get("CLASS_TYPE"),
            "position": pd.NA, "class_position": integer_column(table, "PIC"),
            "status": pd.NA, "laps": integer_column(table, "LAPS"),
            "total_time_s": duration_column(table, "ELAPSED"),
            "gap_first": f.get("GAP_FIRST"),
            "fl_lapnum": integer_column(table, "BEST_LAP_NUM"),
            "fl_time_s": duration_column(table, "BEST_LAP_TIME"),
        })
    else:
        table = read_table(src, ";", ["NUMBER", "LAPS"], data=data)
        f = table.frame
        out = pd.DataFrame({
            "number": f["NUMBER"], "class": f.get("CLASS"),
            "position": integer_column(table, "POSITION"), "class_position": pd.NA,
            "status": f.get("STATUS"), "laps": integer_column(table, "LAPS"),
            "total_time_s": duration_column(table, "TOTAL_TIME"),
            "gap_first": f.get("GAP_FIRST"),
            "fl_lapnum": integer_column(table, "FL_LAPNUM"),
            "fl_time_s": duration_column(table, "FL_TIME"),
        })
    out["source_line"] = f["_line"].astype("int64")
    for col, dtype in RESULTS_COLUMNS.items():
        out[col] = out[col].astype(dtype)
    return out.reset_index(drop=True), table.issues


def read_best10(src: SourceFile, data: bytes | None = None) -> tuple[pd.DataFrame, list[Issue]]:
    """Long table: one row per car-entry and rank k = 1..10 with a lap (empty ranks dropped).

    ``entry`` numbers the rows of one car number in file order (two cars can share a number).
    """
    table = read_table(src, ";", ["NUMBER", "BESTLAP_1", "BESTLAP_1_LAPNUM"], data=data)
    f = table.frame
    ranks = sorted(int(m.group(1)) for c in f.columns if (m := re.fullmatch(r"BESTLAP_(\d+)", c)))
    rows = []
    entry = f.groupby("NUMBER", sort=False).cumcount() + 1
    total = integer_column(table, "TOTAL_DRIVER_LAPS")
    for k in ranks:
        t = duration_column(table, f"BESTLAP_{k}")
        n = integer_column(table, f"BESTLAP_{k}_LAPNUM")
        rows.append(pd.DataFrame({"number": f["NUMBER"], "entry": entry, "rank": k, "lap_time_s": t,
                                  "lap": n, "total_driver_laps": total,
                                  "class": f.get("CLASS"), "source_line": f["_line"]}))
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["number", "entry", "rank", "lap_time_s", "lap", "total_driver_laps", "class", "source_line"])
    # Keep one row per car entry even when it has no timed lap (rank 1 with NaN), so the car is seen.
    out = out[(out["lap_time_s"].notna()) | (out["rank"] == 1)]
    out = out.astype({"number": "string", "entry": "int64", "rank": "int64", "lap_time_s": "float64",
                      "lap": "Int64", "total_driver_laps": "Int64", "class": "string", "source_line": "int64"})
    return out.sort_values(["number", "entry", "rank"]).reset_index(drop=True), table.issues
