"""Store documents from races and engine documents (SCHEMA.md describes every field).

:func:`ingest_documents` gives the tracks, races, laps and data-quality documents of ingested races;
:func:`engine_documents` converts one engine document (what a notebook records, and writes to the store
as its part of the run); :func:`documents_for_races` runs the engines itself (tests, bench, ad-hoc
publishing).

Document ids are deterministic: the same data gives the same ids, so a re-run overwrites.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable

import pandas as pd

from kaizenlap.core import params
from kaizenlap.core.ids import doc_id, lap_key
from kaizenlap.core.jsonclean import plain
from kaizenlap.ingest.flags import FLAG_CODES
from kaizenlap.ingest.laps import SECTIONS
from kaizenlap.ingest.progress import race_progress
from kaizenlap.ingest.reconcile import best_laps   # the one best-lap rule (inspect's reconciliation uses it too)
from kaizenlap.tracks import turns as official

LAP_FIELDS = ("number", "class", "driver_name", "team", "manufacturer", "lap_time_s", "s1_s", "s2_s", "s3_s",
              "im1a_s", "im1_s", "im2a_s", "im2_s", "im3a_s", "fl_s", "elapsed_s", "hour_local_s", "crossing_utc",
              "flag", "pit_in", "pit_time_s", "kph", "top_speed_kph", "lap_improvement", "deleted_by", "is_clean")



def lap_section_ids(race_id: str, car: str, lap: int, section: str | None = None) -> list[str]:
    """Ids of the lap-scope section recommendations of one car-lap (one section, or all), in id order:
    the API fetches them directly instead of querying."""
    return sorted(doc_id(race_id, car, lap_key(lap), s) for s in ([section] if section else SECTIONS))




# --------------------------------------------------------------------------- tracks, races, laps, quality

def track_documents(race_ids_by_track: dict[str, list[str]]) -> list[dict]:
    out = []
    for track_id, t in sorted(params.tracks().items()):
        outline = t.get("outline")
        out.append(plain({
            "id": track_id, "track_id": track_id, "name": t.get("name", track_id), "timezone": t.get("timezone"),
            "length_m": t.get("length_m"), "sector_lengths_m": list(t.get("sector_lengths_m") or []),
            "pit_lane_s": t.get("pit_lane_s"), "reference_lap_s": t.get("reference_lap_s"),
            # The map outline traced from the official map (scripts/trace_tracks.py), normalised into the
            # unit box, starting at S/F in the direction of travel, and where S2 and S3 start along it.
            "outline": [{"x": float(p[0]), "y": float(p[1])} if isinstance(p, (list, tuple)) else p
                        for p in outline] if outline else None,
            "sector_fractions": list(t["sector_fractions"]) if t.get("sector_fractions") else None,
            # The official turns placed on the lap (ESTIMATED distances, scripts/place_turns.py) and each
            # section's name in them ("IM1A (Turns 1–4)"): the one wording coaching, reports and the app use.
            "turns": official.official_turns(t) or None,
            "section_labels": official.section_labels(t) or None,
            "races": sorted(race_ids_by_track.get(track_id, [])),
        }))
    return out


def _cars(laps: pd.DataFrame) -> list[dict]:
    bests = best_laps(laps).set_index("car")
    cars = []
    for car, g in laps.groupby("car", sort=True):
        clean = g[g["is_clean"]]
        first = g.iloc[0]
        b = bests.loc[car]
        best = None if pd.isna(b["best_lap_s"]) else {"lap_time_s": b["best_lap_s"], "lap": b["best_lap_number"]}
        best_clean = clean.loc[clean["lap_time_s"].idxmin()] if clean["lap_time_s"].notna().any() else None
        cars.append(plain({
            "car": str(car), "number": first["number"], "class": first["class"],
            "driver_name": first.get("driver_name"), "team": first.get("team"),
            "manufacturer": first.get("manufacturer"),
            "laps": int(len(g)), "clean_laps": int(len(clean)),
            "best_lap_s": None if best is None else best["lap_time_s"],
            "best_lap_number": None if best is None else best["lap"],
            "best_clean_lap_s": None if best_clean is None else best_clean["lap_time_s"],
            "best_clean_lap_number": None if best_clean is None else best_clean["lap"],
        }))
    return cars


def race_document(race) -> dict:
    laps = race.laps
    n = int(len(laps))
    cars = _cars(laps) if n else []
    return plain({
        "id": race.race_id, "race_id": race.race_id, "track_id": race.track_id, "race_number": race.race_number,
        "status": race.status, "date": race.date, "date_source": race.date_source,
        "n_laps": n, "n_clean": race.clean_laps, "n_cars": len(cars),
        "classes": sorted({c["class"] for c in cars if c["class"]}),
        "weather_rows": int(len(race.weather)), "has_weather": bool(len(race.weather)),
        "lap_event_offset_s": race.lap_event_offset_s,
        "cars": cars,
        "files": {role: list(v) for role, v in race.files.items()},
        "results_used": race.results_choice,
    })


def lap_documents(race) -> list[dict]:
    laps = race.laps
    if laps.empty:
        return []
    cols = [c for c in LAP_FIELDS if c in laps]
    flag_cols = [f"flag_{f}" for f in FLAG_CODES if f"flag_{f}" in laps]
    frame = laps[["car", "lap", *cols, *flag_cols, "exclusion_reasons"]]
    out = []
    for rec in frame.to_dict(orient="records"):
        reasons = rec.pop("exclusion_reasons")
        flags = {f[5:]: bool(rec.pop(f)) for f in flag_cols}
        doc = {"id": doc_id(race.race_id, rec["car"], lap_key(rec["lap"])), "race_id": race.race_id,
               "track_id": race.track_id, **rec, "flags": flags,
               "exclusion_reasons": [r for r in str(reasons).split(";") if r] if isinstance(reasons, str) else []}
        out.append(plain(doc))
    return out


def progress_document(race) -> dict:
    """The race lap by lap (:func:`kaizenlap.ingest.progress.race_progress`): each car's race time, position, gap
    to the leader and laps down at every line, the caution laps, each car's fastest lap and classification."""
    return plain({"id": race.race_id, "race_id": race.race_id, "track_id": race.track_id,
                  **race_progress(race.laps, race.reconciliation)})


def quality_document(race) -> dict:
    issues = [i.to_dict() for i in race.issues]
    excl = race.exclusion_summary().to_dict(orient="records") if len(race.laps) else []
    rec = race.reconciliation.to_dict(orient="records") if race.reconciliation is not None else []
    return plain({
        "id": race.race_id, "race_id": race.race_id, "track_id": race.track_id, "status": race.status,
        "n_laps": int(len(race.laps)), "n_clean": race.clean_laps,
        "counts": dict(Counter(i["severity"] for i in issues)), "by_code": dict(Counter(i["code"] for i in issues)),
        "issues": issues, "exclusions": excl, "reconciliation": rec,
    })


# --------------------------------------------------------------------------- engine documents

# --------------------------------------------------------------------------- whole runs

def ingest_documents(races: Iterable) -> dict[str, list[dict]]:
    """The documents that come from ingest alone: tracks, races, laps, race progress and data quality."""
    races = list(races)
    by_track: dict[str, list[str]] = {}
    for race in races:
        by_track.setdefault(race.track_id, []).append(race.race_id)
    docs: dict[str, list[dict]] = {"tracks": track_documents(by_track), "races": [], "laps": [], "race_progress": [],
                                   "data_quality": []}
    for race in races:
        docs["races"].append(race_document(race))
        docs["laps"].extend(lap_documents(race))
        docs["race_progress"].append(progress_document(race))
        docs["data_quality"].append(quality_document(race))
    return docs


