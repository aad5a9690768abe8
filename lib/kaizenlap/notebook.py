"""What the engine notebooks share: finding the data, loading a race (or a track's races) from the ingest
cache, and table display. The notebooks stay thin; the logic lives here and in the engines.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable

import pandas as pd

from . import params

DEFAULT_DATA = "data/sample"
DATA_ENV = "KAIZENLAP_DATA"
COUNT_COLUMNS = {"lap", "n", "n_laps", "n_clean", "rank", "sanitized_n", "cars", "field_size"}


def repo_root() -> Path:
    """The repository root (the folder holding ``params/``)."""
    return params.params_dir().resolve().parent


def split_data_env(value: str) -> list[str]:
    """``$KAIZENLAP_DATA``: paths separated by ``os.pathsep``; the ``:`` of a ``gs://`` URL is not one."""
    sep = re.escape(os.pathsep)
    return [p for p in re.split(rf"{sep}(?!//)", value) if p]


def resolve_data(data: str | os.PathLike | Iterable[str | os.PathLike] | None = DEFAULT_DATA) -> list[Path | str]:
    """The notebook's ``data`` parameter as absolute paths.

    ``$KAIZENLAP_DATA`` (``os.pathsep``-separated) replaces the default ``data/sample`` when set. A relative
    path is taken from the current directory, else from the repository root (JupyterLab starts kernels
    in ``notebooks/``, papermill in the repository root): the notebooks run the same from either.
    A ``gs://BUCKET/PREFIX`` URL is passed on as it is (the ingest lists and reads the bucket).
    """
    if data is None or (isinstance(data, str) and data == DEFAULT_DATA and os.environ.get(DATA_ENV)):
        data = os.environ.get(DATA_ENV) or DEFAULT_DATA
        items = split_data_env(str(data))
    elif isinstance(data, (str, os.PathLike)):
        items = [data]
    else:
        items = list(data)
    out = []
    for item in items:
        if isinstance(item, str) and item.startswith("gs://"):
            out.append(item)             # Cloud Storage (kaizenlap.gcs): checked when listed
            continue
        p = Path(item).expanduser()
        if not p.is_absolute():
            for base in (Path.cwd(), repo_root()):
                if (base / p).exists():
                    p = base / p
                    break
        if not p.exists():
            hint = " (write the sample season with `make sample` or `make run`)" if Path(item) == Path(DEFAULT_DATA) \
                else ""
            raise FileNotFoundError(f"data not found: {item}{hint}; looked in {Path.cwd()} and {repo_root()}")
        out.append(p.resolve())
    return out


def write_race_file(race, path: str | os.PathLike) -> Path:
    """Write a parsed race (what the pipeline hands its notebooks as ``race_files``), atomically."""
    import pickle
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(race, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
    return path


def read_race_file(path: str | os.PathLike):
    """A race written by :func:`write_race_file` (this code version's parsed race, from the same run)."""
    import pickle
    from .ingest import Race
    with open(path, "rb") as fh:
        race = pickle.load(fh)
    if not isinstance(race, Race):
        raise TypeError(f"{path} does not hold a parsed race")
    return race


def _checked(race, race_id: str):
    if race.status != "loaded" or race.laps.empty:
        problems = "; ".join(f"{i.code}: {i.message}" for i in race.issues if i.severity == "error") \
            if race.issues else ""
        raise RuntimeError(f"race {race_id} could not be analysed (status {race.status}, {len(race.laps)} laps)"
                           + (f": {problems}" if problems else ""))
    return race


def load_race(data, race_id: str, race_files: dict[str, str] | None = None):
    """The race ``race_id``: from ``race_files[race_id]`` when the pipeline handed it over (the race it
    parsed once for the whole run), else from ``data`` (ingest cache when possible, what a notebook run by
    hand does); raises if it is missing or did not load."""
    if race_files and race_files.get(race_id):
        return _checked(read_race_file(race_files[race_id]), race_id)
    from .ingest import load_race_by_id
    return _checked(load_race_by_id(resolve_data(data), race_id), race_id)


def load_track(data, track_id: str, race_ids: list[str] | None = None,
               race_files: dict[str, str] | None = None) -> list:
    """Every loaded race of ``track_id`` under ``data`` (or only ``race_ids``), in race order; the
    pipeline's ``race_files`` when they cover ``race_ids``."""
    if race_files and race_ids and all(race_files.get(r) for r in race_ids):
        races = [read_race_file(race_files[r]) for r in race_ids]
    else:
        from .ingest import load
        races, _ = load(resolve_data(data), race_ids=race_ids)
    out = [r for r in races if r.track_id == track_id and r.status == "loaded" and not r.laps.empty]
    if not out:
        raise RuntimeError(f"no loaded race of track {track_id!r} under {data}"
                           + (f" among {race_ids}" if race_ids else ""))
    return sorted(out, key=lambda r: r.race_number)


def load_scope(data, scope: str, race_id: str, track_id: str | None = None,
               race_ids: list[str] | None = None, race_files: dict[str, str] | None = None) -> tuple[list, str, str]:
    """What an engine notebook analyses: ``(races, track_id, subject)``. ``scope="race"``: the race
    ``race_id``; ``scope="track"``: the loaded races of ``track_id`` (default: ``race_id``'s track), or only
    ``race_ids``. ``subject`` names it in titles and store parts (the race id, or the track id).
    ``race_files`` (set by ``run_pipeline.py run``): the parsed races of the run, read instead of ``data``."""
    if scope == "race":
        race = load_race(data, race_id, race_files)
        return [race], race.track_id, race_id
    if scope == "track":
        track_id = track_id or load_race(data, race_id, race_files).track_id
        return load_track(data, track_id, race_ids, race_files), track_id, track_id
    raise ValueError(f"scope must be 'race' or 'track', not {scope!r}")


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


__all__ = ["resolve_data", "load_race", "load_track", "load_scope", "write_race_file", "read_race_file", "table", "setup_display", "repo_root", "DEFAULT_DATA",
           "variance_share_matrix", "preferred_section_set"]
