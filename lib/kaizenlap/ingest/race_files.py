"""A parsed race as a file (what ``run`` hands each notebook as ``race_files``, so no notebook parses the raw
files again) and the loaders a notebook calls: one race, a track's races, or either by scope."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

from kaizenlap.core.atomic import write_with
from kaizenlap.core.paths import resolve_data
from kaizenlap.ingest.loader import Race, load, load_race_by_id


def write_race_file(race, path: str | os.PathLike) -> Path:
    """Write a parsed race (what the pipeline hands its notebooks as ``race_files``), atomically."""
    return write_with(path, lambda fh: pickle.dump(race, fh, protocol=pickle.HIGHEST_PROTOCOL), binary=True)


def read_race_file(path: str | os.PathLike):
    """A race written by :func:`write_race_file` (this code version's parsed race, from the same run)."""
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
    return _checked(load_race_by_id(resolve_data(data), race_id), race_id)


def load_track(data, track_id: str, race_ids: list[str] | None = None,
               race_files: dict[str, str] | None = None) -> list:
    """Every loaded race of ``track_id`` under ``data`` (or only ``race_ids``), in race order; the
    pipeline's ``race_files`` when they cover ``race_ids``."""
    if race_files and race_ids and all(race_files.get(r) for r in race_ids):
        races = [read_race_file(race_files[r]) for r in race_ids]
    else:
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
