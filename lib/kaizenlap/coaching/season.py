"""The coaching task's inputs: a race's engine documents, its track documents and its quality ledger —
read from a pipeline run's JSON files (``<run_dir>/<race_id>/<engine>.json``,
``<run_dir>/<track_id>/weather_track.json``, ``composite_track.json``) or computed in this process by the
engines (tests, bench, a notebook run without a run directory).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pandas as pd

RACE_ENGINES = ("composite", "sections", "weather", "pattern")
TRACK_DOCS = ("weather_track", "composite_track")


@dataclass
class Inputs:
    race_id: str
    track_id: str
    race_docs: dict[str, dict | None]
    track_docs: dict[str, dict | None]
    quality: dict | None

    def missing(self) -> list[str]:
        return [k for k, v in {**self.race_docs, **self.track_docs}.items() if v is None]


def track_documents(track_races: list) -> dict[str, dict | None]:
    """The track tasks' documents for a track's loaded races (composite_track only with several races)."""
    from ..engines import composite, weather

    track_id = track_races[0].track_id
    out: dict[str, dict | None] = {"weather_track": weather.analyse_track([(r.laps, r.weather) for r in track_races],
                                                                          track_id),
                                   "composite_track": None}
    if len(track_races) > 1:
        pooled = pd.concat([r.laps for r in track_races], ignore_index=True)
        out["composite_track"] = composite.analyse(pooled, track_id, scope="track")
    return out


def race_documents(race) -> dict[str, dict]:
    from ..engines import composite, pattern, sections, weather

    rid = race.race_id
    return {"composite": composite.analyse(race.laps, rid), "sections": sections.analyse(race.laps, rid),
            "weather": weather.analyse_race(race.laps, race.weather, rid), "pattern": pattern.analyse(race.laps, rid)}


def compute(races: Iterable) -> list[Inputs]:
    """Inputs of every loaded race, engines run in this process (each track's documents once)."""
    from ..store.build import quality_document

    loaded = [r for r in races if r.status == "loaded" and len(r.laps)]
    by_track: dict[str, list] = {}
    for r in loaded:
        by_track.setdefault(r.track_id, []).append(r)
    tracks = {t: track_documents(sorted(rs, key=lambda r: r.race_number)) for t, rs in by_track.items()}
    return [Inputs(r.race_id, r.track_id, race_documents(r), tracks[r.track_id], quality_document(r)) for r in loaded]


def from_run_dir(run_dir: str | Path, race_id: str, track_id: str, quality: dict | None = None) -> Inputs:
    """Inputs from a pipeline run's JSON files (a file that is absent is None: a missing-data fact)."""
    from ..results import document_name, load_document

    run_dir = Path(run_dir)

    def doc(target: str, name: str) -> dict | None:
        path = run_dir / target / f"{name}.json"
        return load_document(path)[0] if path.exists() else None

    return Inputs(race_id, track_id, {e: doc(race_id, e) for e in RACE_ENGINES},
                  {name: doc(track_id, document_name(name.split("_")[0], "track")) for name in TRACK_DOCS}, quality)


def inputs_for(data, race_id: str, engine_dir: str | Path | None = None) -> tuple[object, Inputs, list[str]]:
    """``(race, inputs, computed)`` for the coaching notebook: the race's documents from ``engine_dir`` (a
    pipeline run directory) where they are, the rest computed here by the engines (``computed`` names them)."""
    from .. import notebook as nb
    from ..store.build import quality_document

    race = nb.load_race(data, race_id)
    quality = quality_document(race)
    if engine_dir is not None and Path(engine_dir).is_dir():
        inp = from_run_dir(engine_dir, race_id, race.track_id, quality)
    else:
        inp = Inputs(race_id, race.track_id, {e: None for e in RACE_ENGINES}, {t: None for t in TRACK_DOCS}, quality)
    computed = []
    if any(v is None for v in inp.race_docs.values()):
        fresh = race_documents(race)
        for k, v in inp.race_docs.items():
            if v is None:
                inp.race_docs[k] = fresh[k]
                computed.append(k)
    if inp.track_docs.get("weather_track") is None:
        track = track_documents(nb.load_track(data, race.track_id))
        for k, v in track.items():
            if inp.track_docs.get(k) is None and v is not None:
                inp.track_docs[k] = v
                computed.append(k)
    return race, inp, computed
