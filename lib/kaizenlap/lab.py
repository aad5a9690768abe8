"""What the engine notebooks share beside the engines: loading a race and showing tables. The notebooks stay
thin; the logic lives in the engines."""
from __future__ import annotations

import pandas as pd

from kaizenlap.core.paths import DEFAULT_DATA, repo_root, resolve_data
from kaizenlap.ingest.race_files import load_race, load_scope, load_track, read_race_file, write_race_file

COUNT_COLUMNS = {"lap", "n", "n_laps", "n_clean", "rank", "sanitized_n", "cars", "field_size"}


def table(df: pd.DataFrame, digits: int = 3, max_rows: int = 60) -> pd.DataFrame:
    """A table ready to show: floats rounded, long tables cut (the full numbers are in the JSON document)."""
    out = df.copy()
    for c in out.columns:
        if not pd.api.types.is_float_dtype(out[c]):
            continue
        v = out[c].dropna()
        if c in COUNT_COLUMNS and len(v) and (v == v.round()).all():
            out[c] = out[c].astype("Int64")      # counts and lap numbers shown as integers despite gaps
        else:
            out[c] = out[c].round(digits)
    return out.head(max_rows)


def setup_display() -> None:
    """Pandas display options for the notebooks (wide tables, no scientific notation)."""
    pd.set_option("display.max_columns", 40)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_rows", 200)
    pd.set_option("display.max_colwidth", None)      # text (reasons, messages) whole, not cut at 50 characters




def variance_share_matrix(doc: dict, section_set: str = "subsections") -> pd.DataFrame:
    """Car x section table of each section's share of the car's lap-time variance (pattern document)."""
    rows = {c["car"]: c["variance_share"][section_set] for c in doc.get("cars", [])
            if c.get("available") and section_set in c.get("variance_share", {})}
    return pd.DataFrame.from_dict(rows, orient="index")


def preferred_section_set(doc: dict) -> str:
    """``"subsections"`` when any car of a sections/pattern document has them, else ``"sectors"``."""
    for c in doc.get("cars", []):
        if c.get("subsections", {}).get("available") or "subsections" in c.get("variance_share", {}):
            return "subsections"
    return "sectors"


__all__ = ["resolve_data", "load_race", "load_track", "load_scope", "write_race_file", "read_race_file", "table",
           "setup_display", "repo_root", "DEFAULT_DATA", "variance_share_matrix", "preferred_section_set"]
